/*
 * keys/tpm_seal.c - the master key sealed in the TPM.
 *
 * Sealing (huduma init): the policy is computed by the TPM itself in a trial
 * session: PolicyPCR over the SHA-256 values of the chosen PCRs as they are
 * now, then, with a PIN, PolicyAuthValue.  The master key becomes the data of
 * a keyed-hash object under the storage key with that authPolicy,
 * fixedTPM | fixedParent (it can never be duplicated to another TPM),
 * adminWithPolicy and without userWithAuth (the policy is the only way in),
 * and noDA when there is no PIN (a policy failure is not a guess).  With a PIN
 * the authValue is SHA-256(PIN), and dictionary-attack protection counts wrong
 * ones.  Create's first parameter (the master key and authValue) travels
 * encrypted by the salted session.  Only the TPM-encrypted blobs (public and
 * private area) are kept, in <register>/keys/hierarchy.
 *
 * Unsealing (every start): Load the blobs (the TPM checks their integrity:
 * a changed byte is KEYS_ETAMPER), start a salted policy session, replay
 * PolicyPCR (the TPM uses the current PCR values) and PolicyAuthValue, and
 * Unseal with response encryption, so the master key is encrypted on the bus.
 * The TPM answers POLICY_FAIL when a PCR moved: the PCRs are then read again
 * and compared with their values at sealing time, to name the ones that
 * changed.  AUTH_FAIL is a wrong PIN, LOCKOUT too many of them.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "keys/tpm_internal.h"

static int start_policy(struct tpm_conn *c, TPM2_SE type, ESYS_TR *s, struct keys_err *err)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    TPMT_SYM_DEF none = {.algorithm = TPM2_ALG_NULL};
    ESYS_TR salt = type == TPM2_SE_TRIAL ? ESYS_TR_NONE : c->srk;
    TSS2_RC rc =
        Esys_StartAuthSession(c->esys, salt, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              NULL, type, type == TPM2_SE_TRIAL ? &none : &sym, TPM2_ALG_SHA256, s);
    if (rc != TSS2_RC_SUCCESS) {
        *s = ESYS_TR_NONE;
        return tpm_fail(err, KEYS_ETPM, "starting a policy session", rc);
    }
    return KEYS_OK;
}

/* PolicyPCR over the current values of `mask`, then PolicyAuthValue when `pin`. */
static int run_policy(struct tpm_conn *c, ESYS_TR s, uint32_t mask, bool pin, struct keys_err *err)
{
    TPML_PCR_SELECTION sel;
    TPM2B_DIGEST current = {0};
    tpm_pcr_selection(mask, &sel);
    TSS2_RC rc =
        Esys_PolicyPCR(c->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &sel);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_ETPM, "PolicyPCR", rc);
    if (pin && (rc = Esys_PolicyAuthValue(c->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE)) !=
                   TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_ETPM, "PolicyAuthValue", rc);
    return KEYS_OK;
}

static int policy_digest(struct tpm_conn *c, uint32_t mask, bool pin, TPM2B_DIGEST *out,
                         struct keys_err *err)
{
    ESYS_TR trial;
    int rc = start_policy(c, TPM2_SE_TRIAL, &trial, err);
    if (rc != KEYS_OK)
        return rc;
    rc = run_policy(c, trial, mask, pin, err);
    TPM2B_DIGEST *d = NULL;
    TSS2_RC trc = rc == KEYS_OK ? Esys_PolicyGetDigest(c->esys, trial, ESYS_TR_NONE, ESYS_TR_NONE,
                                                       ESYS_TR_NONE, &d)
                                : TSS2_RC_SUCCESS;
    if (rc == KEYS_OK && trc != TSS2_RC_SUCCESS)
        rc = tpm_fail(err, KEYS_ETPM, "reading the policy digest", trc);
    if (rc == KEYS_OK)
        *out = *d;
    Esys_Free(d);
    Esys_FlushContext(c->esys, trial);
    return rc;
}

static void sealed_template(const TPM2B_DIGEST *policy, bool pin, TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    TPMT_PUBLIC *p = &t->publicArea;
    p->type = TPM2_ALG_KEYEDHASH;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes =
        TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_ADMINWITHPOLICY;
    if (!pin)
        p->objectAttributes |= TPMA_OBJECT_NODA;
    p->authPolicy = *policy;
    p->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
}

static int record_pcrs(struct tpm_conn *c, struct tpm_hierarchy *h, struct keys_err *err)
{
    for (unsigned i = 0; i < KEYS_PCR_COUNT; i++)
        if (h->pcr_mask & (1u << i)) {
            int rc = tpm_pcr_read(c, i, h->pcr_values[i], err);
            if (rc != KEYS_OK)
                return rc;
        }
    return KEYS_OK;
}

int tpm_seal_master(struct tpm_conn *c, const uint8_t master[KEYS_MASTER_LEN],
                    const uint8_t *pin_auth, struct tpm_hierarchy *h, struct keys_err *err)
{
    TPM2B_DIGEST policy;
    TPM2B_PUBLIC tmpl;
    int rc = record_pcrs(c, h, err);
    if (rc == KEYS_OK)
        rc = policy_digest(c, h->pcr_mask, pin_auth != NULL, &policy, err);
    if (rc == KEYS_OK)
        rc = tpm_encrypt(c, c->session, true, false, err);
    if (rc != KEYS_OK)
        return rc;
    sealed_template(&policy, pin_auth != NULL, &tmpl);
    TPM2B_SENSITIVE_CREATE sens = {0};
    sens.sensitive.data.size = KEYS_MASTER_LEN;
    memcpy(sens.sensitive.data.buffer, master, KEYS_MASTER_LEN);
    if (pin_auth != NULL) {
        sens.sensitive.userAuth.size = 32;
        memcpy(sens.sensitive.userAuth.buffer, pin_auth, 32);
    }
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION none = {0};
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    TSS2_RC trc = Esys_Create(c->esys, c->srk, c->session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                              &outside, &none, &priv, &pub, NULL, NULL, NULL);
    OPENSSL_cleanse(&sens, sizeof(sens));
    if (trc != TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_ETPM, "sealing the master key", trc);
    h->sealed_pub = *pub;
    h->sealed_priv = *priv;
    Esys_Free(pub);
    Esys_Free(priv);
    return KEYS_OK;
}

/* ---- unsealing ------------------------------------------------------------------------- */

static int load_sealed(struct tpm_conn *c, const struct tpm_hierarchy *h, ESYS_TR *obj,
                       struct keys_err *err)
{
    int rc = tpm_encrypt(c, c->session, false, false, err);
    if (rc != KEYS_OK)
        return rc;
    TSS2_RC trc = Esys_Load(c->esys, c->srk, c->session, ESYS_TR_NONE, ESYS_TR_NONE,
                            &h->sealed_priv, &h->sealed_pub, obj);
    if (trc == TSS2_RC_SUCCESS)
        return KEYS_OK;
    *obj = ESYS_TR_NONE;
    bool warning = !(trc & TPM2_RC_FMT1) && (trc & TPM2_RC_WARN); /* busy, out of memory */
    if ((trc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER || warning)
        return tpm_fail(err, KEYS_ETPM, "loading the sealed master key", trc);
    return tpm_fail(err, KEYS_ETAMPER,
                    "the TPM refuses the sealed master key (keys/hierarchy): it was altered, or "
                    "sealed by another TPM",
                    trc);
}

/* Names the PCRs whose value moved since sealing, e.g. "7" or "0, 7". */
static void changed_pcrs(struct tpm_conn *c, const struct tpm_hierarchy *h, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < KEYS_PCR_COUNT && used + 8 < len; i++) {
        uint8_t now[32];
        if (!(h->pcr_mask & (1u << i)) || tpm_pcr_read(c, i, now, NULL) != KEYS_OK ||
            memcmp(now, h->pcr_values[i], 32) == 0)
            continue;
        used += (size_t)snprintf(out + used, len - used, "%s%u", used ? ", " : "", i);
    }
}

static void mask_list(uint32_t mask, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < KEYS_PCR_COUNT && used + 8 < len; i++)
        if (mask & (1u << i))
            used += (size_t)snprintf(out + used, len - used, "%s%u", used ? ", " : "", i);
}

static int unseal_refused(struct tpm_conn *c, const struct tpm_hierarchy *h, TSS2_RC trc,
                          struct keys_err *err)
{
    TSS2_RC base = tpm_rc_base(trc);
    if (base == TPM2_RC_POLICY_FAIL || base == TPM2_RC_VALUE || base == TPM2_RC_PCR_CHANGED) {
        char changed[96], sealed[96];
        changed_pcrs(c, h, changed, sizeof(changed));
        mask_list(h->pcr_mask, sealed, sizeof(sealed));
        return keys_fail(err, KEYS_EPOLICY,
                         "the TPM refuses to unseal the master key: PCR %s no longer hold%s the "
                         "value it was sealed to (sealed to PCR %s): this machine booted a "
                         "changed system; nothing was opened",
                         changed[0] ? changed : sealed, strchr(changed, ',') ? "" : "s", sealed);
    }
    if (base == TPM2_RC_AUTH_FAIL || base == TPM2_RC_BAD_AUTH)
        return keys_fail(err, KEYS_EPIN,
                         "wrong PIN: the TPM refuses to unseal the master key (it counts wrong "
                         "PINs and locks out after a few)");
    if (base == TPM2_RC_LOCKOUT)
        return keys_fail(err, KEYS_EPIN,
                         "the TPM is in lockout after wrong PINs: wait for its recovery time, "
                         "then try again with the right PIN");
    return tpm_fail(err, KEYS_ETPM, "unsealing the master key", trc);
}

static int unseal_with(struct tpm_conn *c, const struct tpm_hierarchy *h, ESYS_TR obj,
                       ESYS_TR policy, const uint8_t *pin_auth, uint8_t master[KEYS_MASTER_LEN],
                       struct keys_err *err)
{
    if (pin_auth != NULL) {
        TPM2B_AUTH auth = {.size = 32};
        memcpy(auth.buffer, pin_auth, 32);
        TSS2_RC trc = Esys_TR_SetAuth(c->esys, obj, &auth);
        OPENSSL_cleanse(&auth, sizeof(auth));
        if (trc != TSS2_RC_SUCCESS)
            return tpm_fail(err, KEYS_ETPM, "setting the PIN", trc);
    }
    int rc = tpm_encrypt(c, policy, false, true, err);
    if (rc != KEYS_OK)
        return rc;
    TPM2B_SENSITIVE_DATA *out = NULL;
    TSS2_RC trc = Esys_Unseal(c->esys, obj, policy, ESYS_TR_NONE, ESYS_TR_NONE, &out);
    if (trc != TSS2_RC_SUCCESS)
        return unseal_refused(c, h, trc, err);
    rc = out->size == KEYS_MASTER_LEN
             ? KEYS_OK
             : keys_fail(err, KEYS_ETAMPER, "the sealed master key has %u bytes, not %d",
                         (unsigned)out->size, KEYS_MASTER_LEN);
    if (rc == KEYS_OK)
        memcpy(master, out->buffer, KEYS_MASTER_LEN);
    OPENSSL_cleanse(out, sizeof(*out));
    Esys_Free(out);
    return rc;
}

int tpm_unseal_master(struct tpm_conn *c, const struct tpm_hierarchy *h, const uint8_t *pin_auth,
                      uint8_t master[KEYS_MASTER_LEN], struct keys_err *err)
{
    ESYS_TR obj = ESYS_TR_NONE, policy = ESYS_TR_NONE;
    int rc = load_sealed(c, h, &obj, err);
    if (rc == KEYS_OK)
        rc = start_policy(c, TPM2_SE_POLICY, &policy, err);
    if (rc == KEYS_OK)
        rc = run_policy(c, policy, h->pcr_mask, h->has_pin, err);
    if (rc == KEYS_OK)
        rc = unseal_with(c, h, obj, policy, pin_auth, master, err);
    if (policy != ESYS_TR_NONE)
        Esys_FlushContext(c->esys, policy);
    if (obj != ESYS_TR_NONE)
        Esys_FlushContext(c->esys, obj);
    return rc;
}
