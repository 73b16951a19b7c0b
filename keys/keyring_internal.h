/*
 * keys/keyring_internal.h - what the files of keys/ share and nobody else sees.
 *
 * The layout of struct keyring and struct keyholder, the locked-memory
 * allocator (secmem.c), the master key file (keyfile.c), the wrapping of
 * secrets by the master key (wrap.c) and the error helpers.  Code outside
 * keys/ uses keys.h only; the unit tests include this header to look inside.
 */
#ifndef HUDUMA_KEYRING_INTERNAL_H
#define HUDUMA_KEYRING_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
/* SHA256_CTX: the prepared HMAC states of the index key (mac.c) are kept in
 * the locked keyring as plain structs, which only the low-level API offers. */
#include <openssl/sha.h>

#include "keys/keys.h"

#define KEYS_INDEX_KEY_LEN    32
#define KEYS_NONCE_LEN        12
#define KEYS_ENVELOPE_VERSION 1

/* Key file: magic (8 bytes, the last one is the format version) | master key. */
#define KEYS_FILE_MAGIC     "HUDUMAK1"
#define KEYS_FILE_MAGIC_LEN 8
#define KEYS_FILE_LEN       (KEYS_FILE_MAGIC_LEN + KEYS_MASTER_LEN)

/* Files of <register>/keys. */
#define KEYS_DIR            "keys"
#define KEYS_HIERARCHY_FILE "hierarchy"   /* TPM: sealed master key and names */
#define KEYS_MASTER_FILE    "master.key"  /* software: the master key itself */
#define KEYS_SIGNING_FILE   "signing.key" /* software: wrapped signing key */
#define KEYS_PUBLIC_FILE    "signing.pem" /* the signing key's public key */

struct keys_dek {
    uint32_t id;
    uint8_t key[KEYS_DEK_LEN];
};

/*
 * Lives in its own locked, never-dumped mapping (secmem.c).  deks[] only
 * grows: a slot is filled, then dek_count is raised (release), so a reader
 * that loads dek_count (acquire) sees whole keys only.  `current` indexes
 * deks[]; SIZE_MAX while there is none.
 */
struct keyring {
    size_t map_len;  /* size of the mapping that holds this struct */
    bool mem_locked; /* mlock succeeded; false when RLIMIT_MEMLOCK refused it */
    EVP_CIPHER *gcm; /* AES-256-GCM, fetched once */
    pthread_mutex_t add_lock;
    _Atomic size_t dek_count;
    _Atomic size_t current;
    struct keys_dek deks[KEYS_MAX_DEKS];
    uint8_t index_key[KEYS_INDEX_KEY_LEN];
    SHA256_CTX mac_inner, mac_outer; /* SHA-256 after (index_key ^ ipad), (^ opad): mac.c */
    uint8_t hn_key[KEYS_HN_KEY_LEN];
    uint8_t scratch[KEYS_FILE_LEN]; /* the key file while it is parsed; wiped after */
};

/* secmem.c: a zeroed, page-rounded anonymous mapping, mlock'd and MADV_DONTDUMP. */
void *secmem_alloc(size_t len, size_t *map_len, bool *locked);
void secmem_free(void *p, size_t map_len, bool locked);
/* A keys_buf of `len` bytes (zeroed) in its own locked mapping. */
struct keys_buf *keys_buf_new(size_t len);
uint8_t *keys_buf_mut(struct keys_buf *b);

/* keyring.c: allocation and key derivation. */
int keyring_alloc(struct keyring **out, struct keys_err *err);
int keyring_derive(struct keyring *kr, const uint8_t master[KEYS_MASTER_LEN], struct keys_err *err);
/* The keyring of an index key and an HN key given as they are (remote holders). */
int keyring_from_parts(const uint8_t index_key[KEYS_INDEX_KEY_LEN],
                       const uint8_t hn_key[KEYS_HN_KEY_LEN], struct keyring **out,
                       struct keys_err *err);
/* mac.c: prepares the HMAC states of kr->index_key; after every change to it. */
void keyring_prepare_mac(struct keyring *kr);
const struct keys_dek *keyring_find_dek(const struct keyring *kr, uint32_t id);
const struct keys_dek *keyring_current_dek(const struct keyring *kr);
/* HKDF-SHA-256 expansion of the master key with `info` (RFC 5869, empty salt). */
int keys_hkdf(const uint8_t master[KEYS_MASTER_LEN], const char *info, uint8_t *out, size_t len,
              struct keys_err *err);

/* True when the keyring's memory could be mlock'd. */
bool keyring_memory_locked(const struct keyring *kr);

/* keyfile.c: the plain master key file of --insecure-software-key. */
int keys_create_file(const char *path, struct keys_err *err);
int keys_open_file(const char *path, struct keyring **out, struct keys_err *err);
/* Reads the key file into `buf` and checks it; `buf` is wiped on failure. */
int keyfile_read(const char *path, uint8_t buf[KEYS_FILE_LEN], struct keys_err *err);
/* Writes `len` bytes to a new file `path` (mode, O_EXCL when `exclusive`, else
 * through a temporary file and rename), fsyncs file and directory.  Nothing
 * is left behind on failure. */
int keys_write_file(const char *path, const void *data, size_t len, unsigned mode, bool exclusive,
                    struct keys_err *err);
/* Reads a whole file of at most `max` bytes into a malloc'd buffer. */
int keys_read_file(const char *path, size_t max, uint8_t **out, size_t *len, struct keys_err *err);

/* wrap.c: AES-256-GCM under the key-encryption key (HKDF "huduma kek"), the
 * associated data naming what is wrapped ("huduma dek 7", ...). */
#define KEYS_LABEL_MAX 48
void keys_dek_label(uint32_t id, char out[KEYS_LABEL_MAX]);
const char *keys_secret_label(enum keys_secret what); /* NULL for an unknown kind */
#define KEYS_LABEL_SIGNING "huduma audit signing key"
int keys_wrap(const uint8_t kek[32], const char *label, const void *plain, size_t len, uint8_t *out,
              struct keys_err *err); /* out: len + KEYS_WRAP_OVERHEAD */
int keys_unwrap(const uint8_t kek[32], const char *label, const uint8_t *wrapped, size_t len,
                uint8_t *out, size_t *out_len, struct keys_err *err); /* out: len - overhead */

/* ---- key holders ---------------------------------------------------------------- */

enum holder_kind { HOLDER_TPM, HOLDER_SOFTWARE, HOLDER_REMOTE };

/* The secrets of a local holder, in one locked page. */
struct holder_secrets {
    uint8_t master[KEYS_MASTER_LEN];
    uint8_t kek[32];          /* wraps DEKs and secrets */
    uint8_t signing_auth[32]; /* the TPM signing key's authValue */
};

struct tpm_hierarchy;

struct keyholder {
    enum holder_kind kind;
    pthread_mutex_t lock; /* one TPM conversation or key-process request at a time */
    char register_dir[PATH_MAX];
    char tcti[256];
    /* local holders */
    struct holder_secrets *sec;
    size_t sec_map_len;
    bool sec_locked;
    struct tpm_hierarchy *hier; /* TPM */
    EVP_PKEY *soft_signer;      /* software */
    char pem[KEYS_PUBKEY_PEM_MAX];
    /* remote holders */
    int fd;
    uint32_t seq;
    /* the last checkpoint this (local) holder signed: checkpoint.c */
    bool signed_any;
    char signed_origin[KEYS_ORIGIN_MAX + 1];
    uint64_t signed_size;
    uint8_t signed_root[KEYS_DIGEST_LEN];
};

/* holder.c */
int holder_new(enum holder_kind kind, const char *register_dir, struct keyholder **out,
               struct keys_err *err);
int holder_set_master(struct keyholder *h, const uint8_t master[KEYS_MASTER_LEN],
                      struct keys_err *err);
void keys_path(char *out, size_t len, const char *register_dir, const char *file);
/* A local holder's signature of a digest, h->lock held. */
int holder_sign_locked(struct keyholder *h, const uint8_t digest[KEYS_DIGEST_LEN],
                       uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err);

/* soft.c: the software holder. */
int soft_create(struct keyholder *h, struct keys_err *err);
int soft_open(struct keyholder *h, struct keys_err *err);
int soft_sign(struct keyholder *h, const uint8_t digest[KEYS_DIGEST_LEN],
              uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err);

/* Public key helpers (soft.c): an EC P-256 point to PEM; an OpenSSL ECDSA
 * signature (DER) to r || s. */
int keys_pem_from_point(const uint8_t x[32], const uint8_t y[32], char pem[KEYS_PUBKEY_PEM_MAX],
                        struct keys_err *err);
int keys_pem_of(EVP_PKEY *pkey, char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err);

/* Error helpers: each returns `code` so that callers can `return keys_fail(...)`. */
int keys_fail(struct keys_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with OpenSSL's reason appended; also clears the thread's error queue. */
int keys_fail_crypto(struct keys_err *err, const char *what);

#endif
