/*
 * keys/keys.h - the door to the appliance's key hierarchy (docs/keys.md).
 *
 *   TPM storage primary key (re-created on demand, checked by its name)
 *    `- master key: 32 random bytes sealed in the TPM to a PCR policy
 *        |          (PolicyPCR, default PCR 7) and, optionally, a PIN
 *        |          (PolicyAuthValue); file <register>/keys/hierarchy
 *        |- data-encryption keys (DEKs): random, wrapped by the master key,
 *        |  kept in RocksDB; one AES-256-GCM key per key id
 *        |- index key and Huduma Number key: derived from it (HKDF-SHA-256)
 *        `- the TLS server key and the agency CA key: wrapped by it on disk
 *   audit signing key: ECDSA P-256, made inside the TPM and resident there
 *   (a persistent handle); only its public key (PEM) ever leaves it.
 *
 * Three kinds of object:
 *
 *   a keyring   what the register needs per record: the DEKs (by key id),
 *               the index key and the HN key, in locked memory.  Sealing
 *               and opening envelopes go through it.
 *   a key holder  where the master key lives: in this process after
 *               unsealing it from the TPM (`huduma`), in this process from
 *               a plain file (only with the insecure software-key flag), or
 *               in the key process (hudumad: a "remote" holder that asks).
 *               It makes and unwraps DEKs, wraps and unwraps the TLS and CA
 *               keys, and signs digests with the TPM-resident key.
 *   the key process  hudumad forks it first thing: it alone talks to the
 *               TPM and holds the master key; the network process asks it
 *               over a socketpair, one fixed-size validated message at a
 *               time (keyproc_*), and is itself cut off from the TPM
 *               (keys_forget_tpm).
 *
 * Every function returns 0 on success or a negative KEYS_E* code, and writes a
 * human-readable reason into `err` (when not NULL) on failure.  No message
 * ever holds key bytes.
 *
 * Threads: a keyring may be used by any number of threads at once (seal,
 * open, index MACs) while one thread adds a DEK or changes the current one;
 * it must not be closed meanwhile.  A key holder may be used by several
 * threads: a remote holder serialises its requests.
 */
#ifndef HUDUMA_KEYS_H
#define HUDUMA_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYS_MASTER_LEN 32
#define KEYS_DEK_LEN    32
#define KEYS_MAC_LEN    16 /* truncated HMAC-SHA-256 used for index keys */
#define KEYS_HN_KEY_LEN 16
#define KEYS_MAX_DEKS   64 /* rotations a register can go through */

/* Sealed envelope: version(1) | key id(4) | nonce(12) | ciphertext | tag(16). */
#define KEYS_SEAL_HEADER_LEN 17
#define KEYS_SEAL_TAG_LEN    16
#define KEYS_SEAL_OVERHEAD   (KEYS_SEAL_HEADER_LEN + KEYS_SEAL_TAG_LEN)

/* A wrapped secret: "HUDUMAW1" | nonce(12) | ciphertext | tag(16). */
#define KEYS_WRAP_MAGIC      "HUDUMAW1"
#define KEYS_WRAP_OVERHEAD   (8 + 12 + 16)
#define KEYS_WRAPPED_DEK_LEN (KEYS_DEK_LEN + KEYS_WRAP_OVERHEAD)
#define KEYS_WRAPPED_MAX     4000 /* a wrapped secret is never larger */

#define KEYS_DIGEST_LEN     32  /* SHA-256 */
#define KEYS_SIG_RAW_LEN    64  /* ECDSA P-256 r || s, each 32 bytes big-endian */
#define KEYS_ORIGIN_MAX     255 /* a checkpoint's origin line */
#define KEYS_CHECKPOINT_MAX 512 /* a checkpoint body: origin, size and root lines */
#define KEYS_PROOF_MAX      64  /* hashes in a consistency proof */
#define KEYS_SIG_DER_MAX    72  /* the same as a DER ECDSA-Sig-Value */
#define KEYS_PUBKEY_PEM_MAX 256 /* "-----BEGIN PUBLIC KEY-----" ... of a P-256 key */

#define KEYS_PCR_DEFAULT_MASK (1u << 7)
#define KEYS_PCR_COUNT        24

enum keys_status {
    KEYS_OK = 0,
    KEYS_EIO = -1,      /* a file could not be read or written */
    KEYS_EFORMAT = -2,  /* a key file, sealed blob, envelope or checkpoint is malformed */
    KEYS_EAUTH = -3,    /* authentication failed: wrong key, AAD or tampering */
    KEYS_EUNKNOWN = -4, /* the envelope names a key id this keyring lacks */
    KEYS_ECRYPTO = -5,  /* OpenSSL refused an operation */
    KEYS_ENOMEM = -6,
    KEYS_EEXIST = -7,  /* refused: a key hierarchy (or a DEK with this id) is already there */
    KEYS_ETPM = -8,    /* no TPM answered, or it failed a command */
    KEYS_EPOLICY = -9, /* the TPM refused to unseal: PCRs differ from when it was sealed */
    KEYS_EPIN = -10,   /* PIN wrong or missing, or the TPM locked out after wrong PINs */
    KEYS_ETAMPER =
        -11, /* a sealed blob, the storage key or the signing key is not the one made at init */
    KEYS_EDENIED = -12, /* not allowed here: software key without the flag, remote wrap, ... */
    KEYS_EFULL = -13,   /* KEYS_MAX_DEKS keys already */
    KEYS_EPEER = -14,   /* the key process is gone or broke the protocol */
};

struct keys_err {
    char msg[512];
};

/* ==== keyrings ================================================================== */

struct keyring;

/* A keyring with the index key and the HN key derived from `master`, and no
 * DEK yet (keys_add_dek).  Tests and key holders use it. */
int keys_from_master(const uint8_t master[KEYS_MASTER_LEN], struct keyring **out,
                     struct keys_err *err);

/* Adds DEK `id` (not 0).  KEYS_EEXIST when the id is there with other bytes
 * (the same bytes again succeed), KEYS_EFULL past KEYS_MAX_DEKS.  The first
 * DEK added becomes the current one. */
int keys_add_dek(struct keyring *kr, uint32_t id, const uint8_t key[KEYS_DEK_LEN],
                 struct keys_err *err);

/* Makes DEK `id` the one keys_seal() uses from now on (KEYS_EUNKNOWN when absent). */
int keys_use_dek(struct keyring *kr, uint32_t id, struct keys_err *err);

/* Key id written into new envelopes; 0 while the keyring has no DEK. */
uint32_t keys_current_id(const struct keyring *kr);

/* Whether DEK `id` is in the keyring. */
bool keys_has_dek(const struct keyring *kr, uint32_t id);

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
 * `aad` may be NULL when their length is 0.  KEYS_EUNKNOWN without any DEK.
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

/* The key id an envelope names, without opening it; 0 when it is too short or
 * of another version. */
uint32_t keys_envelope_key_id(const uint8_t *sealed, size_t sealed_len);

/*
 * Keyed hash for index keys: HMAC-SHA-256(index key, domain || 0x00 || data), truncated.
 * `domain` is a NUL-terminated string; `data` may be NULL when `len` is 0.  OpenSSL
 * fails here only when out of memory; `out` is then all zeros.
 */
void keys_index_mac(const struct keyring *kr, const char *domain, const void *data, size_t len,
                    uint8_t out[KEYS_MAC_LEN]);

/* The key of the Huduma Number permutation: KEYS_HN_KEY_LEN bytes, valid until keys_close(). */
const uint8_t *keys_hn_key(const struct keyring *kr);

/* ==== key holders ================================================================ */

struct keyholder;

/*
 * Where the TPM is and how to unlock the master key.  Everything may be left
 * zero: the TPM is then found by keys_tcti_default(), no PIN is given, and a
 * plain-file master key is refused.
 */
struct keys_options {
    const char *tcti;     /* TCTI configuration, e.g. "device:/dev/tpmrm0" or
                             "swtpm:path=/var/lib/huduma/tpm/swtpm.sock" */
    const char *pin_file; /* its first line is the PIN (at most 128 bytes) */
    /* A plain file master key (<register>/keys/master.key), for machines
     * without any TPM.  Callers must log loudly when they set it. */
    bool insecure_software_key;
    uint32_t pcr_mask; /* keys_create(): bit n seals to PCR n (0-23); 0 means PCR 7 */
};

/* The TCTI used when none is given: "device:/dev/tpmrm0" when that device
 * exists, else the swtpm socket <register_dir>/tpm/swtpm.sock. */
void keys_tcti_default(const char *register_dir, char *out, size_t len);

/*
 * Makes a new key hierarchy in <register_dir>/keys (created, mode 0700): with
 * a TPM, the storage primary key, the master key sealed to the PCRs of
 * o->pcr_mask (as they are now) and the PIN of o->pin_file, and the audit
 * signing key made persistent in the TPM; its public key is written to
 * <register_dir>/keys/signing.pem.  With o->insecure_software_key, a plain
 * master key file and a software signing key instead.  KEYS_EEXIST when a
 * hierarchy is already there (nothing is touched).  On failure nothing is
 * left behind.  *out is the holder, with the master key in memory.
 */
int keys_create(const char *register_dir, const struct keys_options *o, struct keyholder **out,
                struct keys_err *err);

/*
 * Opens the hierarchy of <register_dir>/keys: unseals the master key (the
 * TPM checks the PCRs and the PIN) and checks that the storage key and the
 * signing key in the TPM are the ones made at init.  KEYS_EPOLICY, KEYS_EPIN,
 * KEYS_ETAMPER, KEYS_ETPM and KEYS_EFORMAT say why it could not, in words an
 * operator can act on.  KEYS_EDENIED for a plain-file master key without
 * o->insecure_software_key, or the flag on a register sealed in a TPM.
 */
int keys_open_holder(const char *register_dir, const struct keys_options *o, struct keyholder **out,
                     struct keys_err *err);

/* Undoes keys_create(): removes the signing key from the TPM and the files of
 * <register_dir>/keys.  For an init that failed after keys_create(). */
int keys_destroy(const char *register_dir, struct keyholder *h, struct keys_err *err);

/* Wipes the master key and frees the holder.  NULL is allowed. */
void keys_holder_close(struct keyholder *h);

struct keys_info {
    bool software; /* a plain-file master key, no TPM */
    bool remote;   /* a holder that asks the key process */
    bool has_pin;
    uint32_t pcr_mask;       /* PCRs the master key is sealed to */
    uint32_t signing_handle; /* persistent TPM handle of the signing key (0: software) */
    char tcti[256];
};
/* What the holder is; for `huduma keys status` and the daemon's start-up log. */
void keys_holder_info(const struct keyholder *h, struct keys_info *out);

/* A new keyring with the index key and the HN key of the holder's master key. */
int keys_keyring(struct keyholder *h, struct keyring **out, struct keys_err *err);

/* Makes a new random DEK with key id `id`, adds it to `kr` (not as the current
 * one) and writes it, wrapped by the master key, into `wrapped`. */
int keys_dek_create(struct keyholder *h, struct keyring *kr, uint32_t id,
                    uint8_t wrapped[KEYS_WRAPPED_DEK_LEN], struct keys_err *err);

/* Unwraps DEK `id` (as keys_dek_create() wrote it) and adds it to `kr`.
 * KEYS_EAUTH when it is not DEK `id` of this master key. */
int keys_dek_unwrap(struct keyholder *h, struct keyring *kr, uint32_t id, const uint8_t *wrapped,
                    size_t len, struct keys_err *err);

/* Secrets stored on disk wrapped by the master key; each is bound to its kind,
 * so one never unwraps as another. */
enum keys_secret {
    KEYS_SECRET_TLS_SERVER_KEY = 1, /* DER PKCS#8 */
    KEYS_SECRET_AGENCY_CA_KEY = 2,  /* DER PKCS#8 */
};

/* True when `data` starts like a wrapped secret (KEYS_WRAP_MAGIC). */
bool keys_is_wrapped(const void *data, size_t len);

/* Wraps `plain` into a new buffer (*out, malloc'd, *out_len bytes).  Only a
 * local holder wraps; a remote one answers KEYS_EDENIED. */
int keys_secret_wrap(struct keyholder *h, enum keys_secret what, const void *plain, size_t len,
                     uint8_t **out, size_t *out_len, struct keys_err *err);

/* A secret in locked memory, wiped when freed. */
struct keys_buf;
const uint8_t *keys_buf_data(const struct keys_buf *b);
size_t keys_buf_len(const struct keys_buf *b);
void keys_buf_free(struct keys_buf *b);

/* Unwraps a secret of kind `what`.  A remote holder unwraps only the TLS
 * server key (the CA key never enters the daemon). */
int keys_secret_unwrap(struct keyholder *h, enum keys_secret what, const uint8_t *wrapped,
                       size_t len, struct keys_buf **out, struct keys_err *err);

/*
 * THE SIGNING SERVICE (the audit log's checkpoints).
 *
 * Signs a checkpoint of the audit log with the audit signing key, which
 * lives in the TPM and never leaves it: in hudumad the network process's
 * (remote) holder sends the body to the key process, which alone talks to the
 * TPM; in `huduma` the local holder asks the TPM itself.  The body is the
 * three lines of c2sp.org/tlog-checkpoint ("<origin>\n<size>\n<base64
 * root>\n", at most KEYS_CHECKPOINT_MAX bytes) and the signature is over its
 * SHA-256.  The holder that talks to the TPM remembers the last checkpoint it
 * signed and refuses (KEYS_EDENIED) another origin, a smaller tree, another
 * root at the same size, and a larger tree without a consistency proof
 * (RFC 9162 2.1.4) from the last one: `proof` (nproof hashes, at most
 * KEYS_PROOF_MAX; NULL and 0 when the tree did not grow or nothing was signed
 * yet).  So a network process that was taken over cannot have the log's
 * history rewritten or forked under the key (keys/checkpoint.c).  A body of
 * another form is KEYS_EFORMAT.  `sig` receives the ECDSA P-256 signature as
 * r || s (32 bytes each, big-endian); keys_sig_to_der() turns it into the DER
 * form OpenSSL and `openssl dgst -sha256 -verify signing.pem -signature SIG
 * FILE` take, where FILE holds the body.  Each call costs a few TPM commands
 * (milliseconds on swtpm, more on a hardware TPM).  Thread-safe.
 */
int keys_sign_checkpoint(struct keyholder *h, const char *body, size_t len,
                         const uint8_t (*proof)[KEYS_DIGEST_LEN], size_t nproof,
                         uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err);

/* RFC 9162 2.1.3.2 and 2.1.4.2 (keys/merkle.c): true when the proof holds.
 * An index outside the tree fails; m == n holds with an empty proof and equal
 * roots; m == 0 holds with an empty proof. */
bool keys_merkle_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[KEYS_DIGEST_LEN],
                           const uint8_t path[][KEYS_DIGEST_LEN], size_t npath,
                           const uint8_t root[KEYS_DIGEST_LEN]);
bool keys_merkle_consistency(uint64_t m, uint64_t n, const uint8_t old_root[KEYS_DIGEST_LEN],
                             const uint8_t new_root[KEYS_DIGEST_LEN],
                             const uint8_t path[][KEYS_DIGEST_LEN], size_t npath);

/* Signs any SHA-256 digest with the audit signing key: local holders only
 * (`huduma`, run by the operator, and tests); the key process refuses it, so
 * a remote holder answers KEYS_EDENIED.  Thread-safe. */
int keys_sign_digest(struct keyholder *h, const uint8_t digest[KEYS_DIGEST_LEN],
                     uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err);

/* r || s to DER (ECDSA-Sig-Value); returns the length written (at most
 * KEYS_SIG_DER_MAX), or 0 on failure. */
size_t keys_sig_to_der(const uint8_t sig[KEYS_SIG_RAW_LEN], uint8_t der[KEYS_SIG_DER_MAX]);

/* The signing key's public key as PEM (SubjectPublicKeyInfo, NUL-terminated):
 * all an auditor needs to verify.  Also in <register_dir>/keys/signing.pem. */
int keys_public_pem(struct keyholder *h, char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err);

/* ==== the key process (hudumad) ================================================== */

struct keyproc;

/* How the key process reports what it does (in hudumad: the daemon's log).
 * level: 0 debug, 1 info, 2 warning, 3 error.  Never given key bytes. */
typedef void (*keys_log_fn)(int level, const char *event, const char *detail);

/*
 * Forks the key process; call it before any thread exists and before the
 * register is opened.  Returns twice: in the child with *in_child true (the
 * child must then `return keyproc_serve(kp)` from main), and in the parent
 * with *in_child false.  Nothing is unsealed yet.  `log` may be NULL.
 */
int keyproc_start(const char *register_dir, const struct keys_options *o, keys_log_fn log,
                  struct keyproc **out, bool *in_child, struct keys_err *err);

/* Child: unseals the master key, reports the outcome to the parent, then
 * answers its requests until the parent closes the socket or exits.  Returns
 * the exit status for main(); wipes every secret first. */
int keyproc_serve(struct keyproc *kp);

/* Parent: waits for the unseal outcome; on success *holder is the remote
 * holder (valid until keyproc_stop), on failure err is the key process's
 * reason (KEYS_EPOLICY, KEYS_EPIN, ...). */
int keyproc_ready(struct keyproc *kp, struct keyholder **holder, struct keys_err *err);

/* Parent: closes the socket and reaps the key process (SIGKILL after 5 s). */
void keyproc_stop(struct keyproc *kp);

/*
 * For the network process, after keyproc_ready(): moves this process into a
 * mount namespace of its own in which the TPM devices and the swtpm sockets
 * of `o` are replaced by /dev/null, so that nothing in it can reach the TPM
 * any more, then drops every capability (keys_drop_privileges), without
 * which the covers could be unmounted.  Whatever it returns, the process is
 * left without capabilities (the message says when even that failed), and,
 * when it had to use a user namespace (no CAP_SYS_ADMIN), without any outside
 * it: call it once everything that needs one (loading XDP) is done, and
 * before any thread is started.  KEYS_EDENIED when the kernel allows no mount
 * namespace (not root, no user namespaces); the caller decides whether to go
 * on.
 */
int keys_forget_tpm(const char *register_dir, const struct keys_options *o, struct keys_err *err);

/*
 * Gives up every capability for good: no_new_privs, then the ambient,
 * bounding (when allowed), effective, permitted and inheritable sets
 * emptied, and checked.  Capabilities belong to a thread: KEYS_EDENIED once
 * the process has more than one.  The key process calls it at start, the
 * network process through keys_forget_tpm().
 */
int keys_drop_privileges(struct keys_err *err);

#endif
