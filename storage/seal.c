/*
 * storage/seal.c - records at rest: a record's encoding, sealed with
 * AES-256-GCM by keys/ under associated data that names the record (its
 * Huduma Number, or the enrolment id while it is pending).  A sealed value
 * copied under another key does not open, and a changed byte does not either.
 *
 * The plaintext carries its format "v": records are written in format 2, the
 * CBOR map of record_cbor.c (cheap to read: a verification decodes one per
 * request); format 1, JSON text, is still read.  The first plaintext byte
 * tells them apart: '{' opens JSON, a CBOR map's major type is 5.  Decoding
 * is lenient about members it does not know.  Plaintext buffers are wiped
 * before they are freed.
 */
#include "storage/storage.h"
#include "storage/record_table.h"

#include "keys/keys.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct st_err *err, int rc, const char *what, const char *detail)
{
    if (err) {
        err->field[0] = '\0';
        snprintf(err->msg, sizeof err->msg, "%s%s%.180s", what, detail ? ": " : "",
                 detail ? detail : "");
    }
    return rc;
}

int blob_seal(struct keyring *kr, const char *aad, const void *plain, size_t len, char **out,
              size_t *out_len, struct st_err *err)
{
    size_t n = keys_sealed_len(len);
    uint8_t *buf = malloc(n);
    if (!buf)
        return fail(err, ST_NOMEM, "out of memory", NULL);
    struct keys_err kerr;
    if (keys_seal(kr, aad, strlen(aad), plain, len, buf, &kerr) != KEYS_OK) {
        free(buf);
        return fail(err, ST_CRYPTO, "cannot seal a record", kerr.msg);
    }
    *out = (char *)buf;
    *out_len = n;
    return ST_OK;
}

int blob_unseal(struct keyring *kr, const char *aad, const char *sealed, size_t len, char **out,
                size_t *out_len, struct st_err *err)
{
    if (len < KEYS_SEAL_OVERHEAD)
        return fail(err, ST_CORRUPT, "stored record is truncated", aad);
    /* One spare byte so callers may NUL-terminate text. */
    uint8_t *buf = malloc(len - KEYS_SEAL_OVERHEAD + 1);
    if (!buf)
        return fail(err, ST_NOMEM, "out of memory", NULL);
    struct keys_err kerr;
    size_t n = 0;
    int rc = keys_open(kr, aad, strlen(aad), (const uint8_t *)sealed, len, buf, &n, &kerr);
    if (rc != KEYS_OK) {
        free(buf);
        return fail(err, ST_CORRUPT, "stored record does not authenticate", kerr.msg);
    }
    buf[n] = '\0';
    *out = (char *)buf;
    *out_len = n;
    return ST_OK;
}

static void wipe_free(char *p, size_t n)
{
    if (p) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

int person_seal(struct keyring *kr, const struct person *p, const char *aad, char **out,
                size_t *out_len, struct st_err *err)
{
    uint8_t *plain = NULL;
    size_t len = 0;
    int rc = person_to_cbor(p, &plain, &len);
    if (rc != ST_OK)
        return fail(err, rc, "cannot encode a record", NULL);
    rc = blob_seal(kr, aad, plain, len, out, out_len, err);
    wipe_free((char *)plain, len);
    return rc;
}

/* Format 1: {"v": 1, ...members of docs/record.md}. */
static int person_from_json_text(const char *text, size_t n, const char *aad, struct person *p,
                                 struct st_err *err)
{
    json_error_t jerr;
    json_t *obj = json_loadb(text, n, 0, &jerr);
    if (!obj)
        return fail(err, ST_CORRUPT, "stored record is not valid JSON", aad);
    json_t *v = json_object_get(obj, "v");
    if (!json_is_integer(v) || json_integer_value(v) != RECORD_FORMAT_JSON) {
        json_decref(obj);
        return fail(err, ST_CORRUPT, "stored record has no format version", aad);
    }
    json_object_del(obj, "v");
    int rc = person_from_json(obj, false, p, err);
    json_decref(obj);
    return rc == ST_OK ? ST_OK : ST_CORRUPT;
}

int person_unseal(struct keyring *kr, const char *aad, const char *sealed, size_t len,
                  struct person *p, struct st_err *err)
{
    char *text = NULL;
    size_t n = 0;
    int rc = blob_unseal(kr, aad, sealed, len, &text, &n, err);
    if (rc != ST_OK)
        return rc;
    if (n > 0 && text[0] == '{')
        rc = person_from_json_text(text, n, aad, p, err);
    else
        rc = person_from_cbor((const uint8_t *)text, n, p, err);
    wipe_free(text, n);
    return rc;
}
