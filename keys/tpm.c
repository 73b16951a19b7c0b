/*
 * keys/tpm.c - one conversation with the TPM through tpm2-tss (ESAPI).
 *
 * tpm_begin() loads the TCTI named by the configuration ("device:/dev/tpmrm0"
 * for the kernel's resource manager, "swtpm:path=..." for the embedded swtpm)
 * and then, before anything secret is said:
 *
 *   1. re-creates the storage primary key from the owner hierarchy's seed: an
 *      ECC NIST P-256 restricted decryption key with the TCG template (AES-128
 *      CFB, unique x = y = 32 zero bytes), so it comes out the same on every
 *      call of the same TPM and needs no NV slot.  Its name (a digest of its
 *      public area) is compared with the one recorded at init: a different
 *      TPM, or one whose owner seed was changed, is refused (KEYS_ETAMPER).
 *   2. starts an HMAC session salted with that key (ECDH: the salt is known
 *      only to this process and the TPM) with AES-128-CFB parameter
 *      encryption, which every later command uses: the master key, the PIN's
 *      authValue and the signing key's authValue never cross the bus in the
 *      clear (tpm_encrypt() picks the direction per command).
 *
 * Conversations are short: one per unseal, per signature, per init.  With
 * swtpm (no resource manager) each holds only its primary key, its session
 * and at most one more object, so a `huduma` run and the daemon's key process
 * fit side by side in the TPM's three object and session slots.  But there a
 * process killed in the middle of a conversation (hudumad under SIGKILL, the
 * OOM killer) leaves what it had loaded, and a few such deaths fill the slots:
 * every later conversation, the daemon's next start included, would fail with
 * TPM_RC_OBJECT_MEMORY.  So, with no resource manager, the conversation that
 * opens the keys (a process's first: hudumad's start, a `huduma` command),
 * when it finds fewer free slots than it needs (two objects, one session),
 * first flushes every transient object and session loaded: on such a TPM
 * they are most likely what dead conversations left (flush_leftovers).  A
 * live conversation caught by it fails and is retried (the checkpointer's
 * signature, every second); signatures themselves reclaim nothing, so that
 * the daemon's once-a-second signing never breaks an operator's command.
 * With /dev/tpmrm0 the kernel flushes a process's objects when it dies.
 *
 * The TSS's own log lines (stderr) are silenced unless TSS2_LOG is set: every
 * failure comes back here with its response code and is reported in words.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tctildr.h>

#include "keys/tpm_internal.h"

int tpm_fail(struct keys_err *err, int code, const char *what, TSS2_RC rc)
{
    return keys_fail(err, code, "%s: %s (TPM response 0x%x)", what, Tss2_RC_Decode(rc),
                     (unsigned)rc);
}

TSS2_RC tpm_rc_base(TSS2_RC rc)
{
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
        return rc;
    if (rc & TPM2_RC_FMT1)
        return rc & (TPM2_RC_FMT1 | 0x3f);
    return rc & 0xfff;
}

void tpm_pcr_selection(uint32_t mask, TPML_PCR_SELECTION *sel)
{
    memset(sel, 0, sizeof(*sel));
    sel->count = 1;
    sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel->pcrSelections[0].sizeofSelect = 3;
    for (unsigned i = 0; i < KEYS_PCR_COUNT; i++)
        if (mask & (1u << i))
            sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
}

int tpm_pcr_read(struct tpm_conn *c, unsigned pcr, uint8_t value[32], struct keys_err *err)
{
    TPML_PCR_SELECTION sel, *sel_out = NULL;
    TPML_DIGEST *values = NULL;
    tpm_pcr_selection(1u << pcr, &sel);
    TSS2_RC rc = Esys_PCR_Read(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, NULL,
                               &sel_out, &values);
    int out = KEYS_OK;
    if (rc != TSS2_RC_SUCCESS)
        out = tpm_fail(err, KEYS_ETPM, "reading a PCR", rc);
    else if (values->count != 1 || values->digests[0].size != 32)
        out = keys_fail(err, KEYS_ETPM, "the TPM has no SHA-256 value for PCR %u", pcr);
    else
        memcpy(value, values->digests[0].buffer, 32);
    Esys_Free(sel_out);
    Esys_Free(values);
    return out;
}

/* ---- connecting ---------------------------------------------------------------------- */

static int connect_tcti(struct tpm_conn *c, const char *tcti, struct keys_err *err)
{
    snprintf(c->where, sizeof(c->where), "%s", tcti);
    setenv("TSS2_LOG", "all+none", 0);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &c->tcti);
    if (rc != TSS2_RC_SUCCESS)
        return keys_fail(err, KEYS_ETPM,
                         "no TPM answers at \"%s\" (%s): with no /dev/tpmrm0, start the "
                         "embedded swtpm first (scripts/swtpm.sh start REGISTER_DIR)",
                         tcti, Tss2_RC_Decode(rc));
    rc = Esys_Initialize(&c->esys, c->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_ETPM, "starting the TPM software stack", rc);
    return KEYS_OK;
}

/* The TCG template of an ECC P-256 storage key. */
static void srk_template(TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    TPMT_PUBLIC *p = &t->publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                          TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.eccDetail.symmetric.keyBits.aes = 128;
    p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    p->unique.ecc.x.size = 32;
    p->unique.ecc.y.size = 32;
}

static int create_srk(struct tpm_conn *c, const TPM2B_NAME *expect, TPM2B_NAME *name_out,
                      struct keys_err *err)
{
    TPM2B_PUBLIC tmpl;
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION none = {0};
    srk_template(&tmpl);
    TSS2_RC rc =
        Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &sens, &tmpl, &outside, &none, &c->srk, NULL, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        c->srk = ESYS_TR_NONE;
        return tpm_fail(err, KEYS_ETPM, "creating the TPM storage key", rc);
    }
    TPM2B_NAME *name = NULL;
    rc = Esys_TR_GetName(c->esys, c->srk, &name);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_ETPM, "reading the storage key's name", rc);
    bool same = expect == NULL ||
                (expect->size == name->size && memcmp(expect->name, name->name, name->size) == 0);
    if (name_out != NULL)
        *name_out = *name;
    Esys_Free(name);
    if (!same)
        return keys_fail(err, KEYS_ETAMPER,
                         "this TPM (%s) is not the one the master key was sealed in: its storage "
                         "key differs (another machine, or a TPM whose owner was cleared); a "
                         "register's disk is useless without its machine",
                         c->where);
    return KEYS_OK;
}

static int start_session(struct tpm_conn *c, struct keys_err *err)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    TSS2_RC rc =
        Esys_StartAuthSession(c->esys, c->srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &c->session);
    if (rc != TSS2_RC_SUCCESS) {
        c->session = ESYS_TR_NONE;
        return tpm_fail(err, KEYS_ETPM, "starting a salted session with the TPM", rc);
    }
    return KEYS_OK;
}

int tpm_encrypt(struct tpm_conn *c, ESYS_TR session, bool in, bool out, struct keys_err *err)
{
    TPMA_SESSION flags = TPMA_SESSION_CONTINUESESSION;
    if (in)
        flags |= TPMA_SESSION_DECRYPT;
    if (out)
        flags |= TPMA_SESSION_ENCRYPT;
    TSS2_RC rc = Esys_TRSess_SetAttributes(c->esys, session, flags, 0xff);
    return rc == TSS2_RC_SUCCESS ? KEYS_OK : tpm_fail(err, KEYS_ETPM, "session attributes", rc);
}

/* ---- what dead conversations left loaded --------------------------------------------- */

#define OBJECTS_NEEDED  2 /* the storage key and one more */
#define SESSIONS_NEEDED 1
/* The first handles of each kind (TPM2_TRANSIENT_FIRST and the like, whose
 * macros shift a signed int into its sign bit). */
#define TRANSIENT_FIRST      0x80000000u
#define HMAC_SESSION_FIRST   0x02000000u
#define POLICY_SESSION_FIRST 0x03000000u

static bool has_resource_manager(const char *tcti)
{
    return strncmp(tcti, "device:/dev/tpmrm", 17) == 0;
}

/* A TPM property's value; `fallback` when the TPM does not say. */
static uint32_t tpm_property(struct tpm_conn *c, TPM2_PT property, uint32_t fallback)
{
    TPMS_CAPABILITY_DATA *data = NULL;
    TPMI_YES_NO more = TPM2_NO;
    TSS2_RC rc = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_TPM_PROPERTIES, property, 1, &more, &data);
    uint32_t value = fallback;
    if (rc == TSS2_RC_SUCCESS && data->data.tpmProperties.count == 1 &&
        data->data.tpmProperties.tpmProperty[0].property == property)
        value = data->data.tpmProperties.tpmProperty[0].value;
    Esys_Free(data);
    return value;
}

/* Flushes every handle of the kind `first` begins (transient objects, HMAC or
 * policy sessions).  One that will not go is left: the conversation then
 * fails as it would have, with the TPM's own response. */
static void flush_kind(struct tpm_conn *c, TSS2_SYS_CONTEXT *sys, TPM2_HANDLE first)
{
    TPMS_CAPABILITY_DATA *data = NULL;
    TPMI_YES_NO more = TPM2_NO;
    TSS2_RC rc = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES, &more, &data);
    for (uint32_t i = 0; rc == TSS2_RC_SUCCESS && i < data->data.handles.count; i++) {
        TPM2_HANDLE h = data->data.handles.handle[i];
        if (h >> 24 == first >> 24) /* TPM2_HR_SHIFT: the same kind */
            Tss2_Sys_FlushContext(sys, h);
    }
    Esys_Free(data);
}

static void flush_leftovers(struct tpm_conn *c, const char *tcti)
{
    TSS2_SYS_CONTEXT *sys = NULL;
    if (has_resource_manager(tcti) ||
        (tpm_property(c, TPM2_PT_HR_TRANSIENT_AVAIL, OBJECTS_NEEDED) >= OBJECTS_NEEDED &&
         tpm_property(c, TPM2_PT_HR_LOADED_AVAIL, SESSIONS_NEEDED) >= SESSIONS_NEEDED) ||
        Esys_GetSysContext(c->esys, &sys) != TSS2_RC_SUCCESS)
        return;
    flush_kind(c, sys, TRANSIENT_FIRST);
    flush_kind(c, sys, HMAC_SESSION_FIRST);
    flush_kind(c, sys, POLICY_SESSION_FIRST);
}

int tpm_begin(struct tpm_conn *c, const char *tcti, bool reclaim, const TPM2B_NAME *expect_srk,
              TPM2B_NAME *srk_name, struct keys_err *err)
{
    memset(c, 0, sizeof(*c));
    c->srk = ESYS_TR_NONE;
    c->session = ESYS_TR_NONE;
    int rc = connect_tcti(c, tcti, err);
    if (rc == KEYS_OK && reclaim)
        flush_leftovers(c, tcti);
    if (rc == KEYS_OK)
        rc = create_srk(c, expect_srk, srk_name, err);
    if (rc == KEYS_OK)
        rc = start_session(c, err);
    if (rc != KEYS_OK)
        tpm_end(c);
    return rc;
}

void tpm_end(struct tpm_conn *c)
{
    if (c->esys != NULL) {
        if (c->session != ESYS_TR_NONE)
            Esys_FlushContext(c->esys, c->session);
        if (c->srk != ESYS_TR_NONE)
            Esys_FlushContext(c->esys, c->srk);
        Esys_Finalize(&c->esys);
    }
    if (c->tcti != NULL)
        Tss2_TctiLdr_Finalize(&c->tcti);
    c->srk = c->session = ESYS_TR_NONE;
}
