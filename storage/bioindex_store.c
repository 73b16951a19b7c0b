/*
 * storage/bioindex_store.c - the biometric index in RocksDB: what an entry
 * holds, its sealed bytes, staging it in an enrolment's transaction, and
 * loading every entry when the index is opened.
 *
 * An entry is the index's codes of one subject (a Huduma Number, or "P" and
 * the enrolment id of an enrolment held for adjudication), in the column
 * family "indexes" under 'F' + subject, sealed with AES-256-GCM (associated
 * data "bioindex:" + subject) like every personal field: the codes derive
 * from biometrics.  It is written in the same transaction - one WriteBatch -
 * as the record and templates it indexes, so the index on disk never
 * disagrees with the register; the in-memory index follows after the commit.
 * Opening reads the entries back (no template is parsed, no cylinder
 * rebuilt), so a restart costs one decryption per person.
 *
 * Encoding, version 1 (bytes):
 *   1                 version
 *   1                 fingers
 *   per finger:       position (1), triangles (1), then per triangle 8 bytes
 *                     (big-endian): its 21-bit key and its reference
 *                     direction (8 bits, 1/256 turns) in 4, its centre from
 *                     the finger's centroid (x, y: 2 + 2, signed pixels)
 *   1                 face model length (0: no face), the model, the
 *                     dimension (2, big-endian), then ceil(dim / 8) bytes of
 *                     embedding signs
 */
#include "storage/mcc_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND          'F'
#define CODES_VERSION 1
#define AAD_PREFIX    "bioindex:"

/* ---- the codes of a person ----------------------------------------------------------- */

void bio_codes_of(const struct bio_person *p, struct bio_codes *c)
{
    memset(c, 0, sizeof *c);
    c->nfingers = p->nfingers;
    for (unsigned f = 0; f < p->nfingers; f++) {
        c->finger[f].position = p->finger[f]->position;
        c->finger[f].n =
            (uint8_t)bio_gallery_triplets(p->finger[f], c->finger[f].t, BIO_TRIPLETS_PER_FINGER);
    }
    if (p->face) {
        snprintf(c->face_model, sizeof c->face_model, "%s", p->face_model);
        c->face_dim = p->face_dim;
        for (unsigned i = 0; i < p->face_dim; i++)
            if (p->face[i] > 0.0f)
                c->face[i / 64] |= 1ull << (i % 64);
    }
}

/* ---- bytes ------------------------------------------------------------------------------ */

static void put_bits(uint8_t *out, const uint64_t *words, unsigned nbytes)
{
    for (unsigned i = 0; i < nbytes; i++)
        out[i] = (uint8_t)(words[i / 8] >> (8 * (i % 8)));
}

static void get_bits(const uint8_t *in, uint64_t *words, unsigned nbytes)
{
    for (unsigned i = 0; i < nbytes; i++)
        words[i / 8] |= (uint64_t)in[i] << (8 * (i % 8));
}

size_t bio_codes_encode(const struct bio_codes *c, uint8_t *out)
{
    size_t n = 0;
    out[n++] = CODES_VERSION;
    out[n++] = (uint8_t)c->nfingers;
    for (unsigned f = 0; f < c->nfingers; f++) {
        out[n++] = c->finger[f].position;
        out[n++] = c->finger[f].n;
        for (unsigned i = 0; i < c->finger[f].n; i++) {
            const struct bio_triplet *t = &c->finger[f].t[i];
            uint32_t v = t->key << 8 | t->ref;
            out[n++] = (uint8_t)(v >> 24);
            out[n++] = (uint8_t)(v >> 16);
            out[n++] = (uint8_t)(v >> 8);
            out[n++] = (uint8_t)v;
            out[n++] = (uint8_t)((uint16_t)t->cx >> 8);
            out[n++] = (uint8_t)t->cx;
            out[n++] = (uint8_t)((uint16_t)t->cy >> 8);
            out[n++] = (uint8_t)t->cy;
        }
    }
    size_t mlen = strlen(c->face_model);
    out[n++] = (uint8_t)mlen;
    if (mlen) {
        memcpy(out + n, c->face_model, mlen);
        n += mlen;
        out[n++] = (uint8_t)(c->face_dim >> 8);
        out[n++] = (uint8_t)c->face_dim;
        put_bits(out + n, c->face, (c->face_dim + 7u) / 8u);
        n += (c->face_dim + 7u) / 8u;
    }
    return n;
}

struct cursor {
    const uint8_t *p;
    size_t left;
};

static const uint8_t *take(struct cursor *k, size_t n)
{
    if (k->left < n)
        return NULL;
    const uint8_t *at = k->p;
    k->p += n;
    k->left -= n;
    return at;
}

static int decode_finger(struct cursor *k, struct bio_codes *c, unsigned f)
{
    const uint8_t *h = take(k, 2);
    if (!h || h[0] < 1 || h[0] > PERSON_MAX_FINGERS || h[1] > BIO_TRIPLETS_PER_FINGER)
        return ST_CORRUPT;
    c->finger[f].position = h[0];
    c->finger[f].n = h[1];
    for (unsigned i = 0; i < h[1]; i++) {
        const uint8_t *b = take(k, 8);
        if (!b || b[0] >> 5)
            return ST_CORRUPT; /* keys are 21 bits */
        uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        c->finger[f].t[i] = (struct bio_triplet){v >> 8, (uint8_t)v, (int16_t)(b[4] << 8 | b[5]),
                                                 (int16_t)(b[6] << 8 | b[7])};
    }
    return ST_OK;
}

static int decode_face(struct cursor *k, struct bio_codes *c)
{
    const uint8_t *m = take(k, 1);
    if (!m)
        return ST_CORRUPT;
    if (m[0] == 0)
        return ST_OK;
    const uint8_t *model = take(k, m[0]), *dim = model ? take(k, 2) : NULL;
    if (!dim || m[0] > ID_MAX_LEN)
        return ST_CORRUPT;
    for (unsigned i = 0; i < m[0]; i++)
        if (model[i] <= 0x20 || model[i] > 0x7e)
            return ST_CORRUPT; /* model ids are printable ASCII (biometrics_json.c) */
    memcpy(c->face_model, model, m[0]);
    c->face_dim = (uint16_t)(dim[0] << 8 | dim[1]);
    const uint8_t *bits =
        c->face_dim && c->face_dim <= FACE_MAX_DIM ? take(k, (c->face_dim + 7u) / 8u) : NULL;
    if (!bits)
        return ST_CORRUPT;
    get_bits(bits, c->face, (c->face_dim + 7u) / 8u);
    return ST_OK;
}

int bio_codes_decode(const uint8_t *in, size_t len, struct bio_codes *c)
{
    memset(c, 0, sizeof *c);
    struct cursor k = {in, len};
    const uint8_t *h = take(&k, 2);
    if (!h || h[0] != CODES_VERSION || h[1] > PERSON_MAX_FINGERS)
        return ST_CORRUPT;
    c->nfingers = h[1];
    for (unsigned f = 0; f < c->nfingers; f++)
        if (decode_finger(&k, c, f) != ST_OK)
            return ST_CORRUPT;
    if (decode_face(&k, c) != ST_OK || k.left != 0)
        return ST_CORRUPT;
    return ST_OK;
}

/* ---- in RocksDB ----------------------------------------------------------------------------- */

static size_t entry_key(const char *subject, char *key)
{
    size_t n = strlen(subject);
    key[0] = KIND;
    memcpy(key + 1, subject, n);
    return n + 1;
}

static void entry_aad(const char *subject, char *aad, size_t len)
{
    snprintf(aad, len, AAD_PREFIX "%s", subject);
}

static int bad_subject(const char *subject, struct st_err *err)
{
    if (subject && subject[0] && strlen(subject) <= BIO_SUBJECT_MAX)
        return ST_OK;
    if (err) {
        snprintf(err->field, sizeof err->field, "subject");
        snprintf(err->msg, sizeof err->msg, "an index subject is 1-%d bytes", BIO_SUBJECT_MAX);
    }
    return ST_INVALID;
}

int bioindex_stage_put(struct bioindex *ix, struct store_txn *tx, const char *subject,
                       const struct bio_person *p, struct st_err *err)
{
    int rc = bad_subject(subject, err);
    if (rc != ST_OK)
        return rc;
    struct bio_codes *c = malloc(sizeof *c);
    uint8_t *bytes = malloc(BIO_CODES_MAX);
    char *sealed = NULL, key[BIO_SUBJECT_MAX + 2], aad[BIO_SUBJECT_MAX + 16];
    size_t slen = 0;
    rc = c && bytes ? ST_OK : ST_NOMEM;
    if (rc == ST_OK) {
        bio_codes_of(p, c);
        size_t n = bio_codes_encode(c, bytes);
        entry_aad(subject, aad, sizeof aad);
        rc = blob_seal(store_keyring(bioindex_store(ix)), aad, bytes, n, &sealed, &slen, err);
        explicit_bzero(bytes, n);
    }
    if (rc == ST_OK)
        rc = store_txn_put(tx, CF_INDEXES, key, entry_key(subject, key), sealed, slen, err);
    if (c)
        explicit_bzero(c, sizeof *c);
    free(c);
    free(bytes);
    free(sealed);
    return rc;
}

int bioindex_stage_delete(struct bioindex *ix, struct store_txn *tx, const char *subject,
                          struct st_err *err)
{
    (void)ix;
    int rc = bad_subject(subject, err);
    char key[BIO_SUBJECT_MAX + 2];
    return rc == ST_OK ? store_txn_delete(tx, CF_INDEXES, key, entry_key(subject, key), err) : rc;
}

struct loader {
    struct bioindex *ix;
    struct keyring *kr;
    struct bio_codes codes;
    int rc;
    struct st_err *err;
};

static int load_one(void *ctx, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct loader *l = ctx;
    char subject[BIO_SUBJECT_MAX + 1], aad[BIO_SUBJECT_MAX + 16];
    if (klen < 2 || klen - 1 > BIO_SUBJECT_MAX) {
        l->rc = ST_CORRUPT;
        snprintf(l->err->msg, sizeof l->err->msg, "a biometric index key has a bad length");
        return 1;
    }
    memcpy(subject, key + 1, klen - 1);
    subject[klen - 1] = '\0';
    entry_aad(subject, aad, sizeof aad);
    char *plain = NULL;
    size_t plen = 0;
    l->rc = blob_unseal(l->kr, aad, val, vlen, &plain, &plen, l->err);
    if (l->rc == ST_OK && bio_codes_decode((const uint8_t *)plain, plen, &l->codes) != ST_OK) {
        l->rc = ST_CORRUPT;
        snprintf(l->err->msg, sizeof l->err->msg,
                 "the biometric index entry of %.64s does not decode", subject);
    }
    if (plain) {
        explicit_bzero(plain, plen);
        free(plain);
    }
    if (l->rc == ST_OK)
        l->rc = bioindex_insert(l->ix, subject, &l->codes);
    return l->rc != ST_OK;
}

int bioindex_open(struct store *st, struct bioindex **out, struct st_err *err)
{
    struct bioindex *ix = bioindex_new(st);
    struct loader *l = malloc(sizeof *l);
    if (!ix || !l) {
        bioindex_close(ix);
        free(l);
        return ST_NOMEM;
    }
    struct st_err local;
    *l = (struct loader){.ix = ix, .kr = store_keyring(st), .err = err ? err : &local};
    l->err->field[0] = '\0';
    const char prefix = KIND;
    int rc = store_scan(st, CF_INDEXES, &prefix, 1, load_one, l, l->err);
    if (rc == ST_OK)
        rc = l->rc;
    explicit_bzero(&l->codes, sizeof l->codes);
    free(l);
    if (rc != ST_OK) {
        bioindex_close(ix);
        return rc;
    }
    *out = ix;
    return ST_OK;
}
