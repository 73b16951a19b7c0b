/*
 * keys/tpm_sign.c - the audit signing key, resident in the TPM.
 *
 * Made at init under the storage key: ECC NIST P-256, ECDSA with SHA-256,
 * fixedTPM | fixedParent | sensitiveDataOrigin (the TPM drew the private key,
 * and it can never be duplicated out), sign, userWithAuth with an authValue
 * derived from the master key (HKDF "huduma signing auth"), noDA since that
 * value has 256 bits.  It is then made persistent (EvictControl) at the first
 * free handle of TPM_SIGN_HANDLE_FIRST..LAST, so it lives in the TPM's NV
 * memory and nothing of it is on disk but its handle and name.  Whoever can
 * talk to the TPM still cannot sign without the master key, which only the
 * key process holds (and which the TPM releases only to the right PCRs).
 *
 * Before signing, the handle's name (a digest of the public area, computed
 * by ESAPI from what the TPM reports) is compared with the one recorded at
 * init, so another key put at that handle is refused (KEYS_ETAMPER).  The
 * authValue crosses the bus only as an HMAC under the salted session.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "keys/tpm_internal.h"

static void signing_template(TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    TPMT_PUBLIC *p = &t->publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                          TPMA_OBJECT_NODA | TPMA_OBJECT_SIGN_ENCRYPT;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

static int pem_of_public(const TPM2B_PUBLIC *pub, char pem[KEYS_PUBKEY_PEM_MAX],
                         struct keys_err *err)
{
    const TPMS_ECC_POINT *q = &pub->publicArea.unique.ecc;
    if (pub->publicArea.type != TPM2_ALG_ECC || q->x.size > 32 || q->y.size > 32)
        return keys_fail(err, KEYS_ETAMPER, "the TPM signing key is not an ECC P-256 key");
    uint8_t x[32] = {0}, y[32] = {0};
    memcpy(x + 32 - q->x.size, q->x.buffer, q->x.size);
    memcpy(y + 32 - q->y.size, q->y.buffer, q->y.size);
    return keys_pem_from_point(x, y, pem, err);
}

/* The first persistent handle of our range that holds nothing. */
static int free_handle(struct tpm_conn *c, uint32_t *out, struct keys_err *err)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more;
    TSS2_RC rc =
        Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                           TPM_SIGN_HANDLE_FIRST, TPM2_MAX_CAP_HANDLES, &more, &cap);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_ETPM, "listing the TPM's persistent handles", rc);
    uint32_t want = TPM_SIGN_HANDLE_FIRST;
    for (uint32_t i = 0; i < cap->data.handles.count; i++)
        if (cap->data.handles.handle[i] == want)
            want++;
    Esys_Free(cap);
    if (want > TPM_SIGN_HANDLE_LAST)
        return keys_fail(err, KEYS_ETPM, "no free persistent handle in 0x%x-0x%x",
                         TPM_SIGN_HANDLE_FIRST, TPM_SIGN_HANDLE_LAST);
    *out = want;
    return KEYS_OK;
}

static int create_key(struct tpm_conn *c, const uint8_t auth[32], ESYS_TR *obj, TPM2B_PUBLIC **pub,
                      struct keys_err *err)
{
    TPM2B_PUBLIC tmpl;
    signing_template(&tmpl);
    TPM2B_SENSITIVE_CREATE sens = {0};
    sens.sensitive.userAuth.size = 32;
    memcpy(sens.sensitive.userAuth.buffer, auth, 32);
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION none = {0};
    TPM2B_PRIVATE *priv = NULL;
    int rc = tpm_encrypt(c, c->session, true, false, err);
    TSS2_RC trc = rc == KEYS_OK
                      ? Esys_Create(c->esys, c->srk, c->session, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
                                    &tmpl, &outside, &none, &priv, pub, NULL, NULL, NULL)
                      : TSS2_RC_SUCCESS;
    OPENSSL_cleanse(&sens, sizeof(sens));
    if (rc != KEYS_OK)
        return rc;
    if (trc != TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_ETPM, "creating the signing key", trc);
    rc = tpm_encrypt(c, c->session, false, false, err);
    trc = rc == KEYS_OK
              ? Esys_Load(c->esys, c->srk, c->session, ESYS_TR_NONE, ESYS_TR_NONE, priv, *pub, obj)
              : TSS2_RC_SUCCESS;
    Esys_Free(priv);
    if (rc == KEYS_OK && trc != TSS2_RC_SUCCESS)
        rc = tpm_fail(err, KEYS_ETPM, "loading the new signing key", trc);
    return rc;
}

static int persist(struct tpm_conn *c, ESYS_TR obj, struct tpm_hierarchy *h, struct keys_err *err)
{
    ESYS_TR resident = ESYS_TR_NONE;
    int rc = free_handle(c, &h->sign_handle, err);
    if (rc == KEYS_OK)
        rc = tpm_encrypt(c, c->session, false, false, err);
    TSS2_RC trc = rc == KEYS_OK
                      ? Esys_EvictControl(c->esys, ESYS_TR_RH_OWNER, obj, c->session, ESYS_TR_NONE,
                                          ESYS_TR_NONE, h->sign_handle, &resident)
                      : TSS2_RC_SUCCESS;
    if (rc == KEYS_OK && trc != TSS2_RC_SUCCESS)
        rc = tpm_fail(err, KEYS_ETPM, "making the signing key resident", trc);
    TPM2B_NAME *name = NULL;
    if (rc == KEYS_OK && (trc = Esys_TR_GetName(c->esys, resident, &name)) != TSS2_RC_SUCCESS)
        rc = tpm_fail(err, KEYS_ETPM, "reading the signing key's name", trc);
    if (rc == KEYS_OK)
        h->sign_name = *name;
    Esys_Free(name);
    if (resident != ESYS_TR_NONE)
        Esys_TR_Close(c->esys, &resident);
    return rc;
}

int tpm_signing_create(struct tpm_conn *c, const uint8_t auth[32], struct tpm_hierarchy *h,
                       char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err)
{
    ESYS_TR obj = ESYS_TR_NONE;
    TPM2B_PUBLIC *pub = NULL;
    int rc = create_key(c, auth, &obj, &pub, err);
    if (rc == KEYS_OK)
        rc = pem_of_public(pub, pem, err);
    if (rc == KEYS_OK)
        rc = persist(c, obj, h, err);
    Esys_Free(pub);
    if (obj != ESYS_TR_NONE)
        Esys_FlushContext(c->esys, obj);
    return rc;
}

/* ---- using it ----------------------------------------------------------------------------- */

/* The resident key at h->sign_handle, if it is the one made at init. */
static int open_resident(struct tpm_conn *c, const struct tpm_hierarchy *h, ESYS_TR *obj,
                         struct keys_err *err)
{
    TSS2_RC rc = Esys_TR_FromTPMPublic(c->esys, h->sign_handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, obj);
    if (rc != TSS2_RC_SUCCESS) {
        *obj = ESYS_TR_NONE;
        return tpm_fail(err, KEYS_ETAMPER,
                        "the audit signing key is gone from the TPM (persistent handle missing)",
                        rc);
    }
    TPM2B_NAME *name = NULL;
    rc = Esys_TR_GetName(c->esys, *obj, &name);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_ETPM, "reading the signing key's name", rc);
    bool same =
        name->size == h->sign_name.size && memcmp(name->name, h->sign_name.name, name->size) == 0;
    Esys_Free(name);
    if (!same)
        return keys_fail(err, KEYS_ETAMPER,
                         "the key at TPM handle 0x%x is not the audit signing key made at init",
                         (unsigned)h->sign_handle);
    return KEYS_OK;
}

int tpm_signing_check(struct tpm_conn *c, const struct tpm_hierarchy *h,
                      char pem[KEYS_PUBKEY_PEM_MAX], struct keys_err *err)
{
    ESYS_TR obj;
    int rc = open_resident(c, h, &obj, err);
    TPM2B_PUBLIC *pub = NULL;
    if (rc == KEYS_OK) {
        TSS2_RC trc = Esys_ReadPublic(c->esys, obj, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
                                      NULL, NULL);
        rc = trc == TSS2_RC_SUCCESS ? pem_of_public(pub, pem, err)
                                    : tpm_fail(err, KEYS_ETPM, "reading the signing key", trc);
    }
    Esys_Free(pub);
    if (obj != ESYS_TR_NONE)
        Esys_TR_Close(c->esys, &obj);
    return rc;
}

static int copy_signature(const TPMT_SIGNATURE *s, uint8_t sig[KEYS_SIG_RAW_LEN],
                          struct keys_err *err)
{
    const TPM2B_ECC_PARAMETER *r = &s->signature.ecdsa.signatureR;
    const TPM2B_ECC_PARAMETER *ss = &s->signature.ecdsa.signatureS;
    if (s->sigAlg != TPM2_ALG_ECDSA || r->size > 32 || ss->size > 32)
        return keys_fail(err, KEYS_ETPM, "the TPM answered with a signature of another kind");
    memset(sig, 0, KEYS_SIG_RAW_LEN);
    memcpy(sig + 32 - r->size, r->buffer, r->size);
    memcpy(sig + 64 - ss->size, ss->buffer, ss->size);
    return KEYS_OK;
}

int tpm_sign(struct tpm_conn *c, const struct tpm_hierarchy *h, const uint8_t auth[32],
             const uint8_t digest[KEYS_DIGEST_LEN], uint8_t sig[KEYS_SIG_RAW_LEN],
             struct keys_err *err)
{
    ESYS_TR obj;
    int rc = open_resident(c, h, &obj, err);
    TPM2B_AUTH a = {.size = 32};
    memcpy(a.buffer, auth, 32);
    TSS2_RC trc = TSS2_RC_SUCCESS;
    if (rc == KEYS_OK && (trc = Esys_TR_SetAuth(c->esys, obj, &a)) != TSS2_RC_SUCCESS)
        rc = tpm_fail(err, KEYS_ETPM, "setting the signing key's authValue", trc);
    OPENSSL_cleanse(&a, sizeof(a));
    if (rc == KEYS_OK)
        rc = tpm_encrypt(c, c->session, true, false, err);
    TPM2B_DIGEST d = {.size = KEYS_DIGEST_LEN};
    memcpy(d.buffer, digest, KEYS_DIGEST_LEN);
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_ECDSA, .details.ecdsa.hashAlg = TPM2_ALG_SHA256};
    TPMT_TK_HASHCHECK none = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
    TPMT_SIGNATURE *s = NULL;
    if (rc == KEYS_OK && (trc = Esys_Sign(c->esys, obj, c->session, ESYS_TR_NONE, ESYS_TR_NONE, &d,
                                          &scheme, &none, &s)) != TSS2_RC_SUCCESS)
        rc = tpm_fail(err, KEYS_ETPM, "signing in the TPM", trc);
    if (rc == KEYS_OK)
        rc = copy_signature(s, sig, err);
    Esys_Free(s);
    if (obj != ESYS_TR_NONE)
        Esys_TR_Close(c->esys, &obj);
    return rc;
}

int tpm_signing_evict(struct tpm_conn *c, const struct tpm_hierarchy *h, struct keys_err *err)
{
    ESYS_TR obj, gone = ESYS_TR_NONE;
    int rc = open_resident(c, h, &obj, err);
    if (rc == KEYS_OK)
        rc = tpm_encrypt(c, c->session, false, false, err);
    if (rc == KEYS_OK) {
        TSS2_RC trc = Esys_EvictControl(c->esys, ESYS_TR_RH_OWNER, obj, c->session, ESYS_TR_NONE,
                                        ESYS_TR_NONE, h->sign_handle, &gone);
        if (trc != TSS2_RC_SUCCESS)
            rc = tpm_fail(err, KEYS_ETPM, "removing the signing key from the TPM", trc);
    }
    if (obj != ESYS_TR_NONE)
        Esys_TR_Close(c->esys, &obj);
    return rc;
}
