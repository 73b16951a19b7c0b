/*
 * keys/keyring_internal.h - what the files of keys/ share and nobody else sees.
 *
 * The layout of struct keyring, the locked-memory allocator (secmem.c), the
 * key file reader (keyfile.c) and the error helpers.  Code outside keys/ uses
 * keys.h only; the unit tests include this header to look inside a keyring.
 */
#ifndef HUDUMA_KEYRING_INTERNAL_H
#define HUDUMA_KEYRING_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "keys/keys.h"

#define KEYS_DEK_LEN          32
#define KEYS_INDEX_KEY_LEN    32
#define KEYS_NONCE_LEN        12
#define KEYS_ENVELOPE_VERSION 1
#define KEYS_FIRST_DEK_ID     1
#define KEYS_MAX_DEKS         8

/* Key file: magic (8 bytes, the last one is the format version) | master key. */
#define KEYS_FILE_MAGIC     "HUDUMAK1"
#define KEYS_FILE_MAGIC_LEN 8
#define KEYS_FILE_LEN       (KEYS_FILE_MAGIC_LEN + KEYS_MASTER_LEN)

struct keys_dek {
    uint32_t id;
    uint8_t key[KEYS_DEK_LEN];
};

/*
 * Lives in its own locked, never-dumped mapping (secmem.c).  After creation
 * nothing in it changes, so any number of threads may share one keyring.
 */
struct keyring {
    size_t map_len;   /* size of the mapping that holds this struct */
    bool mem_locked;  /* mlock succeeded; false when RLIMIT_MEMLOCK refused it */
    EVP_CIPHER *gcm;  /* AES-256-GCM, fetched once */
    EVP_MAC *hmac;    /* HMAC, fetched once */
    size_t dek_count; /* deks[0 .. dek_count-1] are valid */
    size_t current;   /* index in deks[] of the key used by keys_seal() */
    struct keys_dek deks[KEYS_MAX_DEKS];
    uint8_t index_key[KEYS_INDEX_KEY_LEN];
    uint8_t hn_key[KEYS_HN_KEY_LEN];
    uint8_t scratch[KEYS_FILE_LEN]; /* the key file while it is parsed; wiped after */
};

/* secmem.c: a zeroed, page-rounded anonymous mapping, mlock'd and MADV_DONTDUMP. */
void *secmem_alloc(size_t len, size_t *map_len, bool *locked);
void secmem_free(void *p, size_t map_len, bool locked);

/* keyring.c: allocation and key derivation. */
int keyring_alloc(struct keyring **out, struct keys_err *err);
int keyring_derive(struct keyring *kr, const uint8_t master[KEYS_MASTER_LEN], struct keys_err *err);
const struct keys_dek *keyring_find_dek(const struct keyring *kr, uint32_t id);

/* True when the keyring's memory could be mlock'd. */
bool keyring_memory_locked(const struct keyring *kr);

/* keyfile.c: reads the key file into `buf` and checks it; `buf` is wiped on failure. */
int keyfile_read(const char *path, uint8_t buf[KEYS_FILE_LEN], struct keys_err *err);

/* Error helpers: each returns `code` so that callers can `return keys_fail(...)`. */
int keys_fail(struct keys_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with OpenSSL's reason appended; also clears the thread's error queue. */
int keys_fail_crypto(struct keys_err *err, const char *what);

#endif
