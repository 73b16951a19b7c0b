/*
 * appliance/audit_note.c - checkpoints as signed notes: writing, parsing and
 * verifying them.
 *
 * The form is c2sp.org/tlog-checkpoint inside c2sp.org/signed-note:
 *
 *   huduma.appliance/audit/5f1c0a9e2b7d4c13      origin
 *   4096                                          tree size
 *   3mKx...Q=                                     root hash, base64
 *                                                 blank line
 *   — huduma.appliance/audit/5f1c0a9e2b7d4c13 AAECAzBFAiEA...
 *
 * A signature line is an em dash (U+2014), a space, the key name (the
 * origin), a space and base64(key id || signature).  The signature type is
 * the note registry's 0x02, ECDSA: a DER ECDSA-Sig-Value over the SHA-256 of
 * the note text (the three lines with their newlines), and the key id is the
 * first four bytes of SHA-256 of the key's DER SubjectPublicKeyInfo.
 *
 * Parsing follows both specifications strictly: valid UTF-8 and no control
 * character but newline; the text ends at the last blank line; origin
 * non-empty without spaces or '+'; the size decimal without leading zeros;
 * the root exactly 32 bytes of canonical base64; at least one well-formed
 * signature line and at most AUDIT_NOTE_SIGS; extension lines non-empty.
 * Verification looks for the lines whose name is the origin and whose key id
 * is the key's: none is AUDIT_SIG_MISSING, and one that fails to verify is
 * AUDIT_SIG_BAD (the note is refused, as the signed-note rules ask).
 */
#include "audit_impl.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_DASH     "\xe2\x80\x94"
#define SIG_PREFIX  EM_DASH " "
#define SIG_TYPE_EC 0x02

struct audit_key {
    EVP_PKEY *pkey;
    uint8_t id[4];
};

int audit_errorf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- base64 (RFC 4648 section 4, canonical) --------------------------------------------- */

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decodes exactly n base64 characters; -1 unless canonical.  Returns the length. */
int audit_b64_decode(const char *in, size_t n, uint8_t *out, size_t outmax)
{
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > outmax + 2)
        return -1;
    size_t pad = (in[n - 1] == '=') + (n >= 2 && in[n - 2] == '=');
    for (size_t i = 0; i < n - pad; i++)
        if (!b64_char(in[i]))
            return -1;
    uint8_t buf[AUDIT_NOTE_MAX];
    if (n / 4 * 3 > sizeof buf)
        return -1;
    int len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
    if (len < 0 || (size_t)len < pad || (size_t)len - pad > outmax)
        return -1;
    len -= (int)pad;
    char again[AUDIT_NOTE_MAX / 3 * 4 + 4]; /* canonical: re-encoding gives the same text */
    if (b64_encode(buf, (size_t)len, again) != n || memcmp(again, in, n) != 0)
        return -1;
    memcpy(out, buf, (size_t)len);
    return len;
}

/* ---- writing --------------------------------------------------------------------------- */

int audit_checkpoint_text(const struct audit_checkpoint *cp, char *out, size_t outlen)
{
    char root[64];
    b64_encode(cp->root, AUDIT_HASH_LEN, root);
    int n = snprintf(out, outlen, "%s\n%llu\n%s\n", cp->origin, (unsigned long long)cp->size, root);
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}

static void sha256(const void *data, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
        memset(out, 0, AUDIT_HASH_LEN);
}

/* SHA-256 of the DER SubjectPublicKeyInfo, first 4 bytes. */
static int key_id_of(EVP_PKEY *pkey, uint8_t id[4])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);
    if (n <= 0)
        return -1;
    uint8_t h[AUDIT_HASH_LEN];
    sha256(der, (size_t)n, h);
    OPENSSL_free(der);
    memcpy(id, h, 4);
    return 0;
}

int audit_checkpoint_sign(const struct audit_checkpoint *cp, const struct audit_signer *s,
                          const uint8_t (*proof)[AUDIT_HASH_LEN], size_t nproof, char *out,
                          size_t outlen, char *err, size_t errlen)
{
    struct audit_key *k = NULL;
    if (audit_key_from_pem(s->pem, strlen(s->pem), &k, err, errlen) != 0)
        return -1;
    uint8_t blob[4 + AUDIT_SIG_MAX];
    memcpy(blob, k->id, 4);
    audit_key_free(k);
    int n = audit_checkpoint_text(cp, out, outlen);
    if (n < 0)
        return audit_errorf(err, errlen, "the checkpoint does not fit in %zu bytes", outlen);
    size_t siglen = AUDIT_SIG_MAX;
    if (s->sign(s->ctx, out, (size_t)n, proof, nproof, blob + 4, &siglen, err, errlen) != 0)
        return -1;
    char b64[(4 + AUDIT_SIG_MAX) / 3 * 4 + 8];
    b64_encode(blob, 4 + siglen, b64);
    int m = snprintf(out + n, outlen - (size_t)n, "\n" SIG_PREFIX "%s %s\n", cp->origin, b64);
    if (m < 0 || (size_t)m >= outlen - (size_t)n)
        return audit_errorf(err, errlen, "the signed checkpoint does not fit in %zu bytes", outlen);
    return n + m;
}

/* ---- parsing ------------------------------------------------------------------------------- */

/* Valid UTF-8 without control characters other than newline. */
static bool clean_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t more = c < 0x80             ? 0
                      : (c & 0xe0) == 0xc0 ? 1
                      : (c & 0xf0) == 0xe0 ? 2
                      : (c & 0xf8) == 0xf0 ? 3
                                           : 9;
        if (more == 9 || (c < 0x20 && c != '\n') || c == 0x7f || (more && i + more >= n))
            return false;
        if (more == 1 && c < 0xc2) /* overlong */
            return false;
        for (size_t j = 1; j <= more; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        if (more == 2 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0)))
            return false; /* overlong, or a surrogate */
        if (more == 3 &&
            ((c == 0xf0 && s[i + 1] < 0x90) || c > 0xf4 || (c == 0xf4 && s[i + 1] >= 0x90)))
            return false;
        i += more + 1;
    }
    return true;
}

/* Key names and origins: printable ASCII without space or '+' (stricter than
 * the specifications, which allow other Unicode than spaces). */
static bool good_name(const char *s, size_t n)
{
    if (n == 0 || n > AUDIT_ORIGIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '+')
            return false;
    return true;
}

static int parse_size(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20 || strspn(s, "0123456789") < n || (n > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* The text's lines: origin, size, root, then extension lines. */
static int parse_text(const char *t, size_t n, struct audit_checkpoint *cp, char *err,
                      size_t errlen)
{
    const char *line = t, *end = t + n;
    int i = 0;
    for (; line < end; i++) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = (size_t)(nl - line);
        if (len == 0)
            return audit_errorf(err, errlen, "line %d of the checkpoint is empty", i + 1);
        if (i == 0 && !good_name(line, len))
            return audit_errorf(err, errlen, "the origin line is too long, or has a space or '+'");
        if (i == 0) {
            memcpy(cp->origin, line, len);
            cp->origin[len] = '\0';
        } else if (i == 1 && parse_size(line, len, &cp->size) != 0) {
            return audit_errorf(err, errlen,
                                "the tree size is not a decimal number without leading zeros");
        } else if (i == 2 &&
                   audit_b64_decode(line, len, cp->root, AUDIT_HASH_LEN) != AUDIT_HASH_LEN) {
            return audit_errorf(err, errlen, "the root hash is not the base64 of 32 bytes");
        }
        line = nl + 1;
    }
    if (i < 3)
        return audit_errorf(err, errlen,
                            "the checkpoint text has %d lines, not origin, size and root", i);
    return 0;
}

static int parse_sig_line(const char *s, size_t n, struct audit_note_sig *sig, char *err,
                          size_t errlen)
{
    size_t plen = strlen(SIG_PREFIX);
    if (n <= plen || memcmp(s, SIG_PREFIX, plen) != 0)
        return audit_errorf(err, errlen,
                            "a signature line does not start with an em dash and a space");
    s += plen;
    n -= plen;
    const char *space = memchr(s, ' ', n);
    if (!space || !good_name(s, (size_t)(space - s)))
        return audit_errorf(err, errlen, "a signature line has no valid key name");
    size_t namelen = (size_t)(space - s);
    memcpy(sig->name, s, namelen);
    sig->name[namelen] = '\0';
    uint8_t blob[4 + AUDIT_SIG_MAX];
    int len = audit_b64_decode(space + 1, n - namelen - 1, blob, sizeof blob);
    if (len < 5)
        return audit_errorf(
            err, errlen, "a signature line's signature is not base64 of a key id and a signature");
    memcpy(sig->key_id, blob, 4);
    sig->len = (size_t)len - 4;
    memcpy(sig->sig, blob + 4, sig->len);
    return 0;
}

/* The index of the last blank line's newline ("\n\n"), or -1. */
static long last_blank_line(const char *s, size_t n)
{
    for (size_t i = n - 1; i >= 1; i--)
        if (s[i] == '\n' && s[i - 1] == '\n')
            return (long)i;
    return -1;
}

int audit_note_parse(const char *text, size_t len, struct audit_note *n, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    if (len < 2 || len > AUDIT_NOTE_MAX)
        return audit_errorf(err, errlen, "a signed checkpoint is 2-%d bytes", AUDIT_NOTE_MAX);
    if (!clean_utf8((const unsigned char *)text, len))
        return audit_errorf(err, errlen, "the note is not UTF-8 text without control characters");
    if (text[len - 1] != '\n')
        return audit_errorf(err, errlen, "the note does not end with a newline");
    long blank = last_blank_line(text, len);
    if (blank < 1)
        return audit_errorf(err, errlen, "the note has no blank line before its signatures");
    n->text_len = (size_t)blank; /* the text's final newline is at blank - 1 */
    if (parse_text(text, n->text_len, &n->cp, err, errlen) != 0)
        return -1;
    const char *line = text + blank + 1, *end = text + len;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (n->nsigs == AUDIT_NOTE_SIGS)
            return audit_errorf(err, errlen, "the note has more than %d signatures",
                                AUDIT_NOTE_SIGS);
        if (parse_sig_line(line, (size_t)(nl - line), &n->sigs[n->nsigs], err, errlen) != 0)
            return -1;
        n->nsigs++;
        line = nl + 1;
    }
    if (n->nsigs == 0)
        return audit_errorf(err, errlen, "the note has no signature line");
    return 0;
}

/* ---- keys and verification ------------------------------------------------------------------ */

int audit_key_from_pem(const char *pem, size_t len, struct audit_key **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pkey)
        return audit_errorf(err, errlen, "the key is not a PEM public key (BEGIN PUBLIC KEY)");
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
        EVP_PKEY_free(pkey);
        return audit_errorf(err, errlen, "the key is not an ECDSA key (P-256, P-384 or P-521)");
    }
    struct audit_key *k = calloc(1, sizeof *k);
    if (!k || key_id_of(pkey, k->id) != 0) {
        EVP_PKEY_free(pkey);
        free(k);
        return audit_errorf(err, errlen, "out of memory");
    }
    k->pkey = pkey;
    *out = k;
    return 0;
}

void audit_key_free(struct audit_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

void audit_key_id_hex(const struct audit_key *k, char out[9])
{
    audit_hex(k->id, 4, out);
}

static bool signature_holds(const struct audit_key *k, const char *text, size_t len,
                            const struct audit_note_sig *sig)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
              EVP_DigestVerify(ctx, sig->sig, sig->len, (const unsigned char *)text, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

enum audit_sig_result audit_note_verify(const char *text, const struct audit_note *n,
                                        const struct audit_key *k)
{
    bool found = false;
    for (size_t i = 0; i < n->nsigs; i++) {
        const struct audit_note_sig *s = &n->sigs[i];
        if (strcmp(s->name, n->cp.origin) != 0 || memcmp(s->key_id, k->id, 4) != 0)
            continue; /* another key's: ignored */
        if (!signature_holds(k, text, n->text_len, s))
            return AUDIT_SIG_BAD;
        found = true;
    }
    return found ? AUDIT_SIG_OK : AUDIT_SIG_MISSING;
}
