/*
 * keys/tpm_file.c - <register>/keys/hierarchy: what the register keeps of its
 * TPM key hierarchy.  Nothing in it is secret: the master key's private area
 * is encrypted and integrity-protected by the TPM's storage key.
 *
 * Layout (big-endian; TPM2B structures as the TPM marshals them, Tss2_MU):
 *
 *   "HUDUMAT1"                 magic; the final character is the version
 *   u32  PCR mask              bit n: PCR n, at least one, PCRs 0-23 only
 *   u8   PIN                   0 or 1
 *   u16  PCR bank              TPM2_ALG_SHA256
 *   32 bytes per PCR of the mask, lowest first: its value when sealed
 *   TPM2B_NAME   storage key   SHA-256 name (34 bytes)
 *   u32  signing key handle    persistent, TPM_SIGN_HANDLE_FIRST..LAST
 *   TPM2B_NAME   signing key   SHA-256 name (34 bytes)
 *   TPM2B_PUBLIC  sealed master key: keyed hash, SHA-256, a 32-byte policy,
 *                 fixedTPM, fixedParent, no userWithAuth
 *   TPM2B_PRIVATE sealed master key
 *
 * Decoding is strict: every field is checked, the file must end exactly
 * after the private area, and it must be byte for byte what encoding the
 * decoded fields gives back (tss2-mu alone lets some size fields slide).  The TPM checks the rest
 * (a changed byte of the sealed areas fails its integrity check at Load).
 */
#include <string.h>

#include <tss2/tss2_mu.h>

#include "keys/tpm_internal.h"

#define MAGIC_LEN    8
#define NAME_LEN     34 /* TPM2_ALG_SHA256 (2 bytes) | digest (32) */
#define PIN_FLAG_MAX 1

/* ---- encoding ------------------------------------------------------------------------ */

int tpm_hierarchy_encode(const struct tpm_hierarchy *h, uint8_t *out, size_t cap, size_t *len,
                         struct keys_err *err)
{
    size_t off = 0;
    if (cap < MAGIC_LEN)
        return keys_fail(err, KEYS_EFORMAT, "no room for the hierarchy file");
    memcpy(out, TPM_HIERARCHY_MAGIC, MAGIC_LEN);
    off = MAGIC_LEN;
    TSS2_RC rc = Tss2_MU_UINT32_Marshal(h->pcr_mask, out, cap, &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_UINT8_Marshal(h->has_pin ? 1 : 0, out, cap, &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_UINT16_Marshal(TPM2_ALG_SHA256, out, cap, &off);
    for (unsigned i = 0; i < KEYS_PCR_COUNT && rc == TSS2_RC_SUCCESS; i++) {
        if (!(h->pcr_mask & (1u << i)))
            continue;
        if (cap - off < 32)
            rc = TSS2_MU_RC_INSUFFICIENT_BUFFER;
        else
            memcpy(out + off, h->pcr_values[i], 32), off += 32;
    }
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_NAME_Marshal(&h->srk_name, out, cap, &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_UINT32_Marshal(h->sign_handle, out, cap, &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_NAME_Marshal(&h->sign_name, out, cap, &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&h->sealed_pub, out, cap, &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&h->sealed_priv, out, cap, &off);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(err, KEYS_EFORMAT, "encoding the hierarchy file", rc);
    *len = off;
    return KEYS_OK;
}

/* ---- decoding ------------------------------------------------------------------------ */

static bool sha256_name(const TPM2B_NAME *n)
{
    return n->size == NAME_LEN && n->name[0] == (TPM2_ALG_SHA256 >> 8) &&
           n->name[1] == (TPM2_ALG_SHA256 & 0xff);
}

static const char *sealed_fault(const TPMT_PUBLIC *p)
{
    TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
    if (p->type != TPM2_ALG_KEYEDHASH || p->nameAlg != TPM2_ALG_SHA256)
        return "the sealed master key is not a SHA-256 keyed-hash object";
    if ((p->objectAttributes & need) != need)
        return "the sealed master key may leave its TPM (fixedTPM or fixedParent unset)";
    if (p->objectAttributes & TPMA_OBJECT_USERWITHAUTH)
        return "the sealed master key opens without its policy (userWithAuth set)";
    if (p->authPolicy.size != 32)
        return "the sealed master key has no SHA-256 policy";
    return NULL;
}

static const char *header_fault(const struct tpm_hierarchy *h, uint16_t bank)
{
    if (h->pcr_mask == 0 || h->pcr_mask >> KEYS_PCR_COUNT != 0)
        return "its PCR mask names no PCR, or PCRs beyond 23";
    if (bank != TPM2_ALG_SHA256)
        return "its PCR bank is not SHA-256";
    return NULL;
}

static const char *names_fault(const struct tpm_hierarchy *h)
{
    if (!sha256_name(&h->srk_name) || !sha256_name(&h->sign_name))
        return "a key name is not a SHA-256 name";
    if (h->sign_handle < TPM_SIGN_HANDLE_FIRST || h->sign_handle > TPM_SIGN_HANDLE_LAST)
        return "the signing key's handle is out of range";
    return NULL;
}

static TSS2_RC read_header(const uint8_t *buf, size_t len, size_t *off, struct tpm_hierarchy *h,
                           uint16_t *bank)
{
    uint8_t pin = 0;
    TSS2_RC rc = Tss2_MU_UINT32_Unmarshal(buf, len, off, &h->pcr_mask);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_UINT8_Unmarshal(buf, len, off, &pin);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_UINT16_Unmarshal(buf, len, off, bank);
    h->has_pin = pin != 0;
    if (rc == TSS2_RC_SUCCESS && pin > PIN_FLAG_MAX)
        rc = TSS2_MU_RC_BAD_VALUE;
    return rc;
}

static TSS2_RC read_pcrs(const uint8_t *buf, size_t len, size_t *off, struct tpm_hierarchy *h)
{
    for (unsigned i = 0; i < KEYS_PCR_COUNT; i++) {
        if (!(h->pcr_mask & (1u << i)))
            continue;
        if (len - *off < 32)
            return TSS2_MU_RC_INSUFFICIENT_BUFFER;
        memcpy(h->pcr_values[i], buf + *off, 32);
        *off += 32;
    }
    return TSS2_RC_SUCCESS;
}

static TSS2_RC read_objects(const uint8_t *buf, size_t len, size_t *off, struct tpm_hierarchy *h)
{
    TSS2_RC rc = Tss2_MU_TPM2B_NAME_Unmarshal(buf, len, off, &h->srk_name);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_UINT32_Unmarshal(buf, len, off, &h->sign_handle);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_NAME_Unmarshal(buf, len, off, &h->sign_name);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, off, &h->sealed_pub);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, len, off, &h->sealed_priv);
    return rc;
}

/* tss2-mu accepts some sizes it then ignores; only the bytes encode()
 * writes back are a hierarchy file. */
static bool canonical(const struct tpm_hierarchy *h, const uint8_t *buf, size_t len)
{
    uint8_t again[TPM_HIERARCHY_MAX];
    size_t n = 0;
    return len <= sizeof again &&
           tpm_hierarchy_encode(h, again, sizeof again, &n, NULL) == KEYS_OK && n == len &&
           memcmp(again, buf, len) == 0;
}

int tpm_hierarchy_decode(const uint8_t *buf, size_t len, struct tpm_hierarchy *h,
                         struct keys_err *err)
{
    memset(h, 0, sizeof(*h));
    if (len < MAGIC_LEN || memcmp(buf, TPM_HIERARCHY_MAGIC, MAGIC_LEN - 1) != 0)
        return keys_fail(err, KEYS_EFORMAT, "keys/hierarchy is not a Huduma key hierarchy file");
    if (buf[MAGIC_LEN - 1] != (uint8_t)TPM_HIERARCHY_MAGIC[MAGIC_LEN - 1])
        return keys_fail(err, KEYS_EFORMAT,
                         "keys/hierarchy has a format version this release "
                         "does not read");
    size_t off = MAGIC_LEN;
    uint16_t bank = 0;
    TSS2_RC rc = read_header(buf, len, &off, h, &bank);
    const char *fault = rc == TSS2_RC_SUCCESS ? header_fault(h, bank) : NULL;
    if (rc == TSS2_RC_SUCCESS && fault == NULL)
        rc = read_pcrs(buf, len, &off, h);
    if (rc == TSS2_RC_SUCCESS && fault == NULL)
        rc = read_objects(buf, len, &off, h);
    if (rc == TSS2_RC_SUCCESS && fault == NULL)
        fault = names_fault(h);
    if (rc == TSS2_RC_SUCCESS && fault == NULL)
        fault = sealed_fault(&h->sealed_pub.publicArea);
    if (rc == TSS2_RC_SUCCESS && fault == NULL && h->sealed_priv.size == 0)
        fault = "the sealed master key has no private area";
    if (rc == TSS2_RC_SUCCESS && fault == NULL && off != len)
        fault = "bytes follow the sealed master key";
    if (rc != TSS2_RC_SUCCESS)
        fault = "it is truncated or a field does not decode";
    if (fault == NULL && !canonical(h, buf, len))
        fault = "a size field disagrees with what it sizes";
    if (fault != NULL) {
        memset(h, 0, sizeof(*h));
        return keys_fail(err, KEYS_EFORMAT, "keys/hierarchy is malformed: %s", fault);
    }
    return KEYS_OK;
}
