/*
 * storage/mcc_person.c - a person's biometrics prepared for comparison, the
 * scores of two persons, and the bands that turn scores into decisions.
 *
 * A prepared person holds one prepared finger per fingerprint (mcc.c) and
 * the face embedding scaled to unit length.  Two persons are compared on
 * what both have: each finger position present on both sides is matched and
 * the finger score is the mean of those scores (the sum rule, which with two
 * fingers already lowers the false match rate of one finger's threshold);
 * the face score is the cosine of the two embeddings, and only embeddings of
 * the same model and size are compared.
 *
 * Bands: a score at or above a modality's `low`, `medium` or `high`
 * threshold is in that band; a person's band is the higher of the finger
 * band and the face band (either modality may raise a possible duplicate).
 * The default thresholds are the scores measured to give a false match rate
 * of 1%, 0.1% and 0.01% (docs/biometrics.md, where the measurements are);
 * every one is configuration.
 */
#include "storage/mcc_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Defaults: fingers from the 24,320 impostor comparisons of one finger among
 * FVC2002 DB1_B and DB2_B (within and across the sets): the scores above which
 * 1%, 0.1% and 0.01% of them lie.  Faces: for 512-dimension embeddings whose
 * impostor cosines spread as random directions do (standard deviation
 * 1/sqrt(512)), 5.7, 6.8 and 7.9 of those deviations; a real model must be
 * calibrated on its own impostors (docs/biometrics.md). */
#define FINGER_LOW    0.019f
#define FINGER_MEDIUM 0.026f
#define FINGER_HIGH   0.036f
#define FACE_LOW      0.25f
#define FACE_MEDIUM   0.30f
#define FACE_HIGH     0.35f

void bio_thresholds_default(struct bio_thresholds *t)
{
    *t = (struct bio_thresholds){
        .finger = {FINGER_LOW, FINGER_MEDIUM, FINGER_HIGH},
        .face = {FACE_LOW, FACE_MEDIUM, FACE_HIGH},
    };
}

static enum bio_band band_of(float score, const float th[3])
{
    if (score >= th[2])
        return BIO_BAND_HIGH;
    if (score >= th[1])
        return BIO_BAND_MEDIUM;
    if (score >= th[0])
        return BIO_BAND_LOW;
    return BIO_BAND_NONE;
}

enum bio_band bio_band_of(const struct bio_scores *s, const struct bio_thresholds *t)
{
    enum bio_band f = s->fingers ? band_of(s->finger, t->finger) : BIO_BAND_NONE;
    enum bio_band g = s->face_compared ? band_of(s->face, t->face) : BIO_BAND_NONE;
    return f > g ? f : g;
}

const char *bio_band_name(enum bio_band b)
{
    static const char *const names[] = {"none", "low", "medium", "high"};
    return (unsigned)b <= BIO_BAND_HIGH ? names[b] : "none";
}

/* ---- prepared persons -------------------------------------------------------------- */

static int face_prepare(const struct biometrics *b, struct bio_person *p, struct st_err *err)
{
    double norm = 0;
    for (unsigned i = 0; i < b->face_dim; i++)
        norm += (double)b->face[i] * b->face[i];
    if (!(norm > 0)) {
        if (err) {
            snprintf(err->field, sizeof err->field, "face.embedding");
            snprintf(err->msg, sizeof err->msg, "has no direction (every value is 0)");
        }
        return ST_INVALID;
    }
    p->face = malloc(sizeof(float) * b->face_dim);
    if (!p->face)
        return ST_NOMEM;
    float scale = (float)(1.0 / sqrt(norm));
    for (unsigned i = 0; i < b->face_dim; i++)
        p->face[i] = b->face[i] * scale;
    p->face_dim = b->face_dim;
    memcpy(p->face_model, b->face_model, sizeof p->face_model);
    return ST_OK;
}

static int person_new(const struct biometrics *b, bool cylinders, struct bio_person **out,
                      struct st_err *err)
{
    struct bio_person *p = calloc(1, sizeof *p);
    if (!p)
        return ST_NOMEM;
    int rc = ST_OK;
    for (unsigned i = 0; rc == ST_OK && i < b->nfingers && i < PERSON_MAX_FINGERS; i++) {
        const struct fingerprint *fp = &b->fingers[i];
        rc = mcc_finger_build(fp->data, fp->len, fp->position, cylinders, &p->finger[i], err);
        if (rc == ST_INVALID && err) {
            char field[sizeof err->field];
            snprintf(field, sizeof field, "fingerprints[%u].%.40s", i, err->field);
            memcpy(err->field, field, sizeof field);
        }
        p->nfingers = i + 1;
    }
    if (rc == ST_OK && b->face_model[0] && b->face_dim > 0)
        rc = face_prepare(b, p, err);
    if (rc != ST_OK) {
        bio_person_free(p);
        return rc;
    }
    *out = p;
    return ST_OK;
}

int bio_person_new(const struct biometrics *b, struct bio_person **out, struct st_err *err)
{
    return person_new(b, true, out, err);
}

int bio_person_points(const struct biometrics *b, struct bio_person **out, struct st_err *err)
{
    return person_new(b, false, out, err);
}

void bio_person_free(struct bio_person *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->nfingers; i++)
        mcc_finger_free(p->finger[i]);
    if (p->face) {
        explicit_bzero(p->face, sizeof(float) * p->face_dim);
        free(p->face);
    }
    free(p);
}

bool bio_person_empty(const struct bio_person *p)
{
    return !p || (p->nfingers == 0 && !p->face);
}

/* ---- scores ------------------------------------------------------------------------ */

static const struct mcc_finger *finger_at(const struct bio_person *p, uint8_t position)
{
    for (unsigned i = 0; i < p->nfingers; i++)
        if (p->finger[i]->position == position)
            return p->finger[i];
    return NULL;
}

float bio_face_cosine(const float *a, const float *b, unsigned dim)
{
    float sum = 0.0f;
    for (unsigned i = 0; i < dim; i++)
        sum += a[i] * b[i];
    return sum;
}

void bio_compare(const struct bio_person *a, const struct bio_person *b, struct bio_scores *s)
{
    memset(s, 0, sizeof *s);
    float sum = 0.0f;
    for (unsigned i = 0; i < a->nfingers; i++) {
        const struct mcc_finger *other = finger_at(b, a->finger[i]->position);
        if (!other)
            continue;
        sum += mcc_match(a->finger[i], other);
        s->fingers++;
    }
    s->finger = s->fingers ? sum / (float)s->fingers : 0.0f;
    if (a->face && b->face && a->face_dim == b->face_dim &&
        strcmp(a->face_model, b->face_model) == 0) {
        s->face = bio_face_cosine(a->face, b->face, a->face_dim);
        s->face_compared = true;
    }
}
