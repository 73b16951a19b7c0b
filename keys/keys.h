/*
 * keys/keys.h - the door to the appliance's key hierarchy.
 *
 * A keyring holds every secret the register needs at run time:
 *   - data-encryption keys (DEKs) for personal fields, AES-256-GCM, each with a
 *     32-bit key id written in front of every ciphertext so that old records
 *     stay readable after a rotation;
 *   - an index key, for keyed hashes (HMAC-SHA-256) of searchable values such
 *     as document numbers, so that no index key in the database discloses them;
 *   - the Huduma Number permutation key, which turns the issue counter into
 *     numbers that cannot be guessed from their neighbours.
 *
 * All of them are derived (HKDF-SHA-256) from one 32-byte master key.  In this
 * release the master key is read from a file created by `huduma init`; the
 * TPM-sealed provider replaces it on the production path.  The keyring lives in
 * locked memory (mlock, MADV_DONTDUMP) and is wiped when closed.
 *
 * Every function returns 0 on success or a negative KEYS_E* code, and writes a
 * human-readable reason into `err` (when not NULL) on failure.
 *
 * A keyring never changes after it is made: any number of threads may use one
 * keyring at the same time (keys_seal, keys_open, keys_index_mac, ...), as long
 * as none of them calls keys_close() meanwhile.
 */
#ifndef HUDUMA_KEYS_H
#define HUDUMA_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_MASTER_LEN 32
#define KEYS_MAC_LEN 16 /* truncated HMAC-SHA-256 used for index keys */
#define KEYS_HN_KEY_LEN 16

/* Sealed envelope: version(1) | key id(4) | nonce(12) | ciphertext | tag(16). */
#define KEYS_SEAL_HEADER_LEN 17
#define KEYS_SEAL_TAG_LEN 16
#define KEYS_SEAL_OVERHEAD (KEYS_SEAL_HEADER_LEN + KEYS_SEAL_TAG_LEN)

enum keys_status {
    KEYS_OK = 0,
    KEYS_EIO = -1,      /* the key file could not be read or written */
    KEYS_EFORMAT = -2,  /* the key file or an envelope is malformed */
    KEYS_EAUTH = -3,    /* authentication failed: wrong key, AAD or tampering */
    KEYS_EUNKNOWN = -4, /* the envelope names a key id this keyring lacks */
    KEYS_ECRYPTO = -5,  /* OpenSSL refused an operation */
    KEYS_ENOMEM = -6,
    KEYS_EEXIST = -7, /* init refused: a key file is already there */
};

struct keyring;

struct keys_err {
    char msg[256];
};

/*
 * Creates a new random master key at `path` (mode 0600, O_EXCL).  The file is
 * 40 bytes: the magic "HUDUMAK1" (its last character is the format version)
 * followed by the 32-byte master key; file and directory are fsync'd before
 * success is reported.  KEYS_EEXIST when `path` exists (it is left untouched),
 * KEYS_EIO when it cannot be written (no partial file is left behind).
 */
int keys_create_file(const char *path, struct keys_err *err);

/*
 * Opens the key file at `path` and derives the keyring from it.  KEYS_EIO when
 * the file is missing, unreadable, not a regular file, or accessible in any way
 * to group or others (it must be 0600 or stricter); KEYS_EFORMAT when its magic,
 * version or length is wrong.
 */
int keys_open_file(const char *path, struct keyring **out, struct keys_err *err);

/* Builds a keyring from raw master key bytes (tests and future providers). */
int keys_from_master(const uint8_t master[KEYS_MASTER_LEN], struct keyring **out,
                     struct keys_err *err);

/* Wipes and frees the keyring.  NULL is allowed. */
void keys_close(struct keyring *kr);

/* Size of the envelope that keys_seal() writes for `plain_len` bytes. */
static inline size_t keys_sealed_len(size_t plain_len)
{
    return plain_len + KEYS_SEAL_OVERHEAD;
}

/*
 * Encrypts `plain` with the current DEK and a fresh random nonce, binding `aad`
 * (for personal records: the Huduma Number).  `out` must hold
 * keys_sealed_len(plain_len) bytes.  The GCM associated data is the envelope's
 * version and key id followed by `aad`, so neither can be altered.  `plain` and
 * `aad` may be NULL when their length is 0.
 */
int keys_seal(const struct keyring *kr, const void *aad, size_t aad_len, const void *plain,
              size_t plain_len, uint8_t *out, struct keys_err *err);

/*
 * Decrypts an envelope made by keys_seal() with the same `aad`.  `out` must hold
 * sealed_len - KEYS_SEAL_OVERHEAD bytes; *out_len receives the plaintext length.
 * Checks, in order: length (KEYS_EFORMAT when shorter than KEYS_SEAL_OVERHEAD),
 * version (KEYS_EFORMAT), key id (KEYS_EUNKNOWN), tag (KEYS_EAUTH).  On any
 * failure *out_len is 0 and `out` holds no plaintext.
 */
int keys_open(const struct keyring *kr, const void *aad, size_t aad_len, const uint8_t *sealed,
              size_t sealed_len, uint8_t *out, size_t *out_len, struct keys_err *err);

/*
 * Keyed hash for index keys: HMAC-SHA-256(index key, domain || 0x00 || data), truncated.
 * `domain` is a NUL-terminated string; `data` may be NULL when `len` is 0.  OpenSSL
 * fails here only when out of memory; `out` is then all zeros.
 */
void keys_index_mac(const struct keyring *kr, const char *domain, const void *data, size_t len,
                    uint8_t out[KEYS_MAC_LEN]);

/* The key of the Huduma Number permutation: KEYS_HN_KEY_LEN bytes, valid until keys_close(). */
const uint8_t *keys_hn_key(const struct keyring *kr);

/* Key id written into new envelopes. */
uint32_t keys_current_id(const struct keyring *kr);

#endif
