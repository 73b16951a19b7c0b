/*
 * storage/biometrics_json.c - the JSON form of a person's biometrics.
 *
 *   {"fingerprints": [{"position": 1-10, "template": base64, "format": ...}],
 *    "face": {"model": id, "embedding": base64}}
 *
 * A template is an ISO/IEC 19794-2:2005 finger minutiae record, or an ANSI
 * INCITS 378-2004 one ("format": "ansi378-2004", or recognised by its length
 * field when "format" is absent), checked field by field by fmr_parse() and
 * always kept in the ISO form (ANSI is converted on input, so encoding gives
 * back ISO).  "position" names the finger; the record's own finger position
 * field is checked (0-10) but not compared with it.  An embedding (which
 * faces are compared by the direction of, so not all zeros) is little-endian float32 values,
 * all finite. Base64 is checked here (alphabet, length a multiple of 4, padding only at the end)
 * before OpenSSL decodes it, and the true length is the decoded block less the padding.  Unknown
 * members are always refused, so nothing but these two kinds of biometrics can enter the register
 * (no DNA), and a null member counts as absent.  Error paths are relative to the object given, e.g.
 * "fingerprints[0].template"; person_from_json() puts "biometrics." in front.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "storage/iso19794.h"
#include "storage/storage.h"

#define MODEL_MIN_LEN   1
#define FORMAT_ISO      "iso19794-2:2005"
#define FORMAT_ANSI     "ansi378-2004"
#define FACE_MAX_BYTES  (FACE_MAX_DIM * 4)
#define B64_MAX_BYTES   (TEMPLATE_MAX_LEN > FACE_MAX_BYTES ? TEMPLATE_MAX_LEN : FACE_MAX_BYTES)
#define B64_TEXT_LEN(n) (((n) + 2) / 3 * 4)

__attribute__((format(printf, 3, 4))) static int fail(struct st_err *err, const char *field,
                                                      const char *fmt, ...)
{
    if (err != NULL) {
        snprintf(err->field, sizeof err->field, "%s", field);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return ST_INVALID;
}

/* A member's value, or NULL when it is absent or null. */
static const json_t *member(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

/* Refuses any member of obj not in names (NULL-terminated); prefix is obj's path. */
static int only_members(const json_t *obj, const char *const *names, const char *prefix,
                        struct st_err *err)
{
    const char *key;
    json_t *v;
    /* json_object_foreach() does not take a const object; it only reads. */
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (names[i] != NULL && strcmp(names[i], key) != 0) {
            i++;
        }
        if (names[i] == NULL) {
            char field[sizeof err->field];
            snprintf(field, sizeof field, "%s%s%.32s", prefix, *prefix ? "." : "", key);
            for (char *c = field; *c; c++) {
                *c = (*c < 0x20 || *c > 0x7e) ? '?' : *c;
            }
            return fail(err, field, "unknown member");
        }
    }
    return ST_OK;
}

/* ---- base64 ------------------------------------------------------------------ */

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Number of '=' at the end, or -1 when s is not well-formed base64. */
static int b64_padding(const char *s, size_t len)
{
    if (len % 4 != 0) {
        return -1;
    }
    size_t pad = 0;
    while (pad < 2 && pad < len && s[len - 1 - pad] == '=') {
        pad++;
    }
    for (size_t i = 0; i < len - pad; i++) {
        if (!b64_char(s[i])) {
            return -1;
        }
    }
    return (int)pad;
}

/* Decodes the base64 string v into out (room for max bytes); sets *n. */
static int b64_decode(const json_t *v, uint8_t *out, size_t max, size_t *n, const char *field,
                      struct st_err *err)
{
    if (!json_is_string(v)) {
        return fail(err, field, "expected a string");
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    int pad = b64_padding(s, len);
    if (pad < 0) {
        return fail(err, field, "is not valid base64");
    }
    if (len == 0) {
        return fail(err, field, "must not be empty");
    }
    if (len > B64_TEXT_LEN(max) || len / 4 * 3 - (size_t)pad > max) {
        return fail(err, field, "must decode to at most %zu bytes", max);
    }
    uint8_t buf[B64_MAX_BYTES + 3];
    if (EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) < 0) {
        return fail(err, field, "is not valid base64");
    }
    *n = len / 4 * 3 - (size_t)pad;
    memcpy(out, buf, *n);
    return ST_OK;
}

static json_t *b64_encode(const uint8_t *data, size_t n)
{
    char text[B64_TEXT_LEN(B64_MAX_BYTES) + 1];
    if (n > B64_MAX_BYTES) {
        return NULL;
    }
    int len = EVP_EncodeBlock((unsigned char *)text, data, (int)n);
    return len < 0 ? NULL : json_stringn(text, (size_t)len);
}

/* ---- fingerprints ---------------------------------------------------------- */

static int decode_position(const json_t *obj, size_t i, struct fingerprint *fp, struct st_err *err)
{
    char field[sizeof err->field];
    snprintf(field, sizeof field, "fingerprints[%zu].position", i);
    const json_t *v = member(obj, "position");
    if (v == NULL) {
        return fail(err, field, "is required");
    }
    if (!json_is_integer(v)) {
        return fail(err, field, "expected an integer");
    }
    json_int_t pos = json_integer_value(v);
    if (pos < 1 || pos > PERSON_MAX_FINGERS) {
        return fail(err, field, "must be a finger position from 1 to 10");
    }
    fp->position = (uint8_t)pos;
    return ST_OK;
}

/* The record's format: the "format" member when given, else what its length field says. */
static int decode_format(const json_t *obj, size_t i, const uint8_t *rec, size_t n,
                         enum fmr_format *f, struct st_err *err)
{
    char field[sizeof err->field];
    snprintf(field, sizeof field, "fingerprints[%zu].format", i);
    const json_t *v = member(obj, "format");
    if (v == NULL) {
        *f = fmr_detect(rec, n);
        return ST_OK;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(s, FORMAT_ISO) == 0) {
        *f = FMR_ISO_2005;
    } else if (strcmp(s, FORMAT_ANSI) == 0) {
        *f = FMR_ANSI_2004;
    } else {
        return fail(err, field, "expected \"" FORMAT_ISO "\" or \"" FORMAT_ANSI "\"");
    }
    return ST_OK;
}

static int decode_template(const json_t *obj, size_t i, struct fingerprint *fp, struct st_err *err)
{
    char field[sizeof err->field];
    snprintf(field, sizeof field, "fingerprints[%zu].template", i);
    const json_t *v = member(obj, "template");
    if (v == NULL) {
        return fail(err, field, "is required");
    }
    size_t n;
    uint8_t raw[TEMPLATE_MAX_LEN];
    enum fmr_format format = FMR_ISO_2005;
    int rc = b64_decode(v, raw, TEMPLATE_MAX_LEN, &n, field, err);
    if (rc == ST_OK) {
        rc = decode_format(obj, i, raw, n, &format, err);
    }
    if (rc != ST_OK) {
        return rc;
    }
    char why[160];
    if (fmr_parse(raw, n, format, NULL, why, sizeof why) != 0) {
        return fail(err, field, "is not an %s record: %s",
                    format == FMR_ANSI_2004 ? "ANSI INCITS 378" : "ISO/IEC 19794-2", why);
    }
    if (format == FMR_ANSI_2004) {
        n = fmr_ansi_to_iso(raw, n, fp->data, TEMPLATE_MAX_LEN, why, sizeof why);
        if (n == 0) {
            return fail(err, field, "cannot be converted to ISO/IEC 19794-2: %s", why);
        }
    } else {
        memcpy(fp->data, raw, n);
    }
    fp->len = (uint16_t)n;
    return ST_OK;
}

static int decode_finger(const json_t *obj, size_t i, struct fingerprint *fp, struct st_err *err)
{
    static const char *const names[] = {"position", "template", "format", NULL};
    char path[sizeof err->field];
    snprintf(path, sizeof path, "fingerprints[%zu]", i);
    if (!json_is_object(obj)) {
        return fail(err, path, "expected an object");
    }
    int rc = only_members(obj, names, path, err);
    if (rc == ST_OK) {
        rc = decode_position(obj, i, fp, err);
    }
    if (rc == ST_OK) {
        rc = decode_template(obj, i, fp, err);
    }
    return rc;
}

static int decode_fingers(const json_t *arr, struct biometrics *b, struct st_err *err)
{
    if (!json_is_array(arr)) {
        return fail(err, "fingerprints", "expected an array");
    }
    if (json_array_size(arr) > PERSON_MAX_FINGERS) {
        return fail(err, "fingerprints", "must hold at most %d fingerprints", PERSON_MAX_FINGERS);
    }
    unsigned seen = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct fingerprint *fp = &b->fingers[i];
        int rc = decode_finger(json_array_get(arr, i), i, fp, err);
        if (rc != ST_OK) {
            return rc;
        }
        if (seen & 1u << fp->position) {
            char field[sizeof err->field];
            snprintf(field, sizeof field, "fingerprints[%zu].position", i);
            return fail(err, field, "finger %u is given twice", fp->position);
        }
        seen |= 1u << fp->position;
        b->nfingers = (uint8_t)(i + 1);
    }
    return ST_OK;
}

/* ---- face ------------------------------------------------------------------ */

static int decode_model(const json_t *face, struct biometrics *b, struct st_err *err)
{
    const json_t *v = member(face, "model");
    if (v == NULL) {
        return fail(err, "face.model", "is required");
    }
    if (!json_is_string(v)) {
        return fail(err, "face.model", "expected a string");
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len < MODEL_MIN_LEN || len > ID_MAX_LEN) {
        return fail(err, "face.model", "must be 1-%d bytes", ID_MAX_LEN);
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] <= 0x20 || s[i] > 0x7e) {
            return fail(err, "face.model", "may contain only printable ASCII without spaces");
        }
    }
    memcpy(b->face_model, s, len);
    b->face_model[len] = '\0';
    return ST_OK;
}

static float float_le(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int decode_embedding(const json_t *face, struct biometrics *b, struct st_err *err)
{
    const json_t *v = member(face, "embedding");
    if (v == NULL) {
        return fail(err, "face.embedding", "is required");
    }
    uint8_t raw[FACE_MAX_BYTES];
    size_t n;
    int rc = b64_decode(v, raw, sizeof raw, &n, "face.embedding", err);
    if (rc != ST_OK) {
        return rc;
    }
    if (n % 4 != 0) {
        return fail(err, "face.embedding", "must hold whole float32 values (%zu bytes)", n);
    }
    for (size_t i = 0; i < n / 4; i++) {
        b->face[i] = float_le(raw + 4 * i);
        if (!isfinite(b->face[i])) {
            return fail(err, "face.embedding", "value %zu is not a finite number", i);
        }
    }
    b->face_dim = (uint16_t)(n / 4);
    bool direction = false;
    for (size_t i = 0; i < b->face_dim && !direction; i++)
        direction = b->face[i] != 0.0f;
    if (!direction) {
        return fail(err, "face.embedding", "has no direction (every value is 0)");
    }
    return ST_OK;
}

static int decode_face(const json_t *face, struct biometrics *b, struct st_err *err)
{
    static const char *const names[] = {"model", "embedding", NULL};
    if (!json_is_object(face)) {
        return fail(err, "face", "expected an object");
    }
    int rc = only_members(face, names, "face", err);
    if (rc == ST_OK) {
        rc = decode_model(face, b, err);
    }
    if (rc == ST_OK) {
        rc = decode_embedding(face, b, err);
    }
    return rc;
}

int biometrics_from_json(const json_t *obj, struct biometrics *b, struct st_err *err)
{
    static const char *const names[] = {"fingerprints", "face", NULL};
    if (b == NULL) {
        return fail(err, "", "no biometrics to decode into");
    }
    memset(b, 0, sizeof *b);
    if (!json_is_object(obj)) {
        return fail(err, "", "expected an object");
    }
    int rc = only_members(obj, names, "", err);
    const json_t *v = member(obj, "fingerprints");
    if (rc == ST_OK && v != NULL) {
        rc = decode_fingers(v, b, err);
    }
    v = member(obj, "face");
    if (rc == ST_OK && v != NULL) {
        rc = decode_face(v, b, err);
    }
    if (rc != ST_OK) {
        memset(b, 0, sizeof *b);
    }
    return rc;
}

/* ---- encoding ---------------------------------------------------------------- */

static json_t *encode_fingers(const struct biometrics *b)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < b->nfingers; i++) {
        const struct fingerprint *fp = &b->fingers[i];
        json_t *t = fp->len <= TEMPLATE_MAX_LEN ? b64_encode(fp->data, fp->len) : NULL;
        json_t *o = t ? json_pack("{s:i, s:o}", "position", fp->position, "template", t) : NULL;
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *encode_face(const struct biometrics *b)
{
    uint8_t raw[FACE_MAX_BYTES];
    if (b->face_dim > FACE_MAX_DIM) {
        return NULL;
    }
    for (size_t i = 0; i < b->face_dim; i++) {
        uint32_t u;
        memcpy(&u, &b->face[i], sizeof u);
        for (int k = 0; k < 4; k++) {
            raw[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
        }
    }
    json_t *model = json_stringn(b->face_model, strnlen(b->face_model, sizeof b->face_model));
    json_t *emb = b64_encode(raw, (size_t)b->face_dim * 4);
    if (model == NULL || emb == NULL) {
        json_decref(model);
        json_decref(emb);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "model", model, "embedding", emb);
}

json_t *biometrics_to_json(const struct biometrics *b)
{
    if (b == NULL || b->nfingers > PERSON_MAX_FINGERS) {
        return NULL;
    }
    json_t *obj = json_object();
    if (obj != NULL && b->nfingers > 0 &&
        json_object_set_new(obj, "fingerprints", encode_fingers(b)) != 0) {
        json_decref(obj);
        return NULL;
    }
    if (obj != NULL && b->face_model[0] != '\0' &&
        json_object_set_new(obj, "face", encode_face(b)) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}
