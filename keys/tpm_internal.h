/*
 * keys/tpm_internal.h - what the TPM files of keys/ share: one conversation
 * with the TPM (tpm.c), the sealed master key (tpm_seal.c), the resident
 * signing key (tpm_sign.c), the hierarchy file (tpm_file.c) and the TPM key
 * holder built from them (tpm_holder.c).  tss2 types stay behind this header.
 */
#ifndef HUDUMA_TPM_INTERNAL_H
#define HUDUMA_TPM_INTERNAL_H

#include <tss2/tss2_esys.h>

#include "keys/keyring_internal.h"

#define TPM_HIERARCHY_MAGIC "HUDUMAT1"
#define TPM_HIERARCHY_MAX   4096

/* Persistent handles the signing key may take: the first free one. */
#define TPM_SIGN_HANDLE_FIRST 0x81000100u
#define TPM_SIGN_HANDLE_LAST  0x810001ffu

/* What <register>/keys/hierarchy holds (tpm_file.c has the byte layout). */
struct tpm_hierarchy {
    uint32_t pcr_mask; /* bit n: PCR n of the SHA-256 bank */
    bool has_pin;
    uint8_t pcr_values[KEYS_PCR_COUNT][32]; /* at sealing time, for diagnosis */
    TPM2B_NAME srk_name;                    /* the storage primary key */
    uint32_t sign_handle;
    TPM2B_NAME sign_name;
    TPM2B_PUBLIC sealed_pub;
    TPM2B_PRIVATE sealed_priv;
};

int tpm_hierarchy_encode(const struct tpm_hierarchy *h, uint8_t *out, size_t cap, size_t *len,
                         struct keys_err *err);
int tpm_hierarchy_decode(const uint8_t *buf, size_t len, struct tpm_hierarchy *h,
                         struct keys_err *err);

/*
 * One conversation: the TCTI, the ESAPI context, the storage primary key
 * (re-created from the owner seed; its name is checked) and a salted HMAC
 * session bound to nothing, through which every secret crosses encrypted.
 */
struct tpm_conn {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR srk;
    ESYS_TR session;
    char where[256]; /* the TCTI configuration, for messages */
};

/* Connects and starts: primary key, salted session.  With `expect_srk` the
 * primary key's name must equal it (KEYS_ETAMPER otherwise); `srk_name` (may
 * be NULL) receives it.  `reclaim`: first flush what dead conversations left
 * in a TPM without a resource manager, when too few slots are free (tpm.c). */
int tpm_begin(struct tpm_conn *c, const char *tcti, bool reclaim, const TPM2B_NAME *expect_srk,
              TPM2B_NAME *srk_name, struct keys_err *err);
/* Flushes what the conversation loaded and disconnects.  Safe on a zeroed conn. */
void tpm_end(struct tpm_conn *c);
/* Sets the session's parameter encryption for the next command:
 * `in` encrypts its first parameter, `out` the first of the response. */
int tpm_encrypt(struct tpm_conn *c, ESYS_TR session, bool in, bool out, struct keys_err *err);
/* A message for a failed TPM command, with the TSS's decoding of `rc`. */
int tpm_fail(struct keys_err *err, int code, const char *what, TSS2_RC rc);
/* The TPM's response code without session or parameter numbers. */
TSS2_RC tpm_rc_base(TSS2_RC rc);
/* The SHA-256 bank selection of the PCRs of `mask`. */
void tpm_pcr_selection(uint32_t mask, TPML_PCR_SELECTION *sel);
/* Reads the SHA-256 value of PCR `pcr`. */
int tpm_pcr_read(struct tpm_conn *c, unsigned pcr, uint8_t value[32], struct keys_err *err);

/* tpm_seal.c */
int tpm_seal_master(struct tpm_conn *c, const uint8_t master[KEYS_MASTER_LEN],
                    const uint8_t *pin_auth, struct tpm_hierarchy *h, struct keys_err *err);
int tpm_unseal_master(struct tpm_conn *c, const struct tpm_hierarchy *h, const uint8_t *pin_auth,
                      uint8_t master[KEYS_MASTER_LEN], struct keys_err *err);

/* tpm_sign.c */
int tpm_signing_create(struct tpm_conn *c, const uint8_t auth[32], struct tpm_hierarchy *h,
                       char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err);
int tpm_signing_check(struct tpm_conn *c, const struct tpm_hierarchy *h,
                      char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err);
int tpm_sign(struct tpm_conn *c, const struct tpm_hierarchy *h, const uint8_t auth[32],
             const uint8_t digest[KEYS_DIGEST_LEN], uint8_t sig[KEYS_SIG_RAW_LEN],
             struct keys_err *err);
int tpm_signing_evict(struct tpm_conn *c, const struct tpm_hierarchy *h, struct keys_err *err);

/* tpm_holder.c */
int tpm_holder_create(struct keyholder *h, const struct keys_options *o, struct keys_err *err);
int tpm_holder_open(struct keyholder *h, const struct keys_options *o, struct keys_err *err);
int tpm_holder_sign(struct keyholder *h, const uint8_t digest[KEYS_DIGEST_LEN],
                    uint8_t sig[KEYS_SIG_RAW_LEN], struct keys_err *err);
int tpm_holder_destroy(struct keyholder *h, struct keys_err *err);

#endif
