/*
 * storage/bioindex_keys.c - the keys the 1:N index files fingers under:
 * triangles of neighbouring minutiae, described by what no rotation or
 * translation changes.
 *
 * For a minutia and each two of its nearest neighbours (sides 12-160
 * pixels), the triangle's vertices are put in a canonical order - each
 * vertex named by the length of the side facing it, shortest first - and
 * the key is: the three side lengths in 10-pixel bins (4 bits each) and each
 * vertex's direction relative to the longest side, in 45-degree bins (3 bits
 * each): 21 bits.  With it go the direction of that longest side and the
 * triangle's centre (from the finger's centroid): two triangles that match
 * imply the rotation and translation between the captures, which the index
 * votes on.
 *
 * Every minutia of the record counts (not only those with a valid
 * cylinder), so keys need no cylinders and are cheap to make.  A gallery
 * finger files the triangles of its BIO_CENTRAL most central minutiae (4
 * neighbours each); a probe looks up the triangles of all its minutiae (5
 * neighbours each), and for every feature within a small margin
 * of a bin's edge it also tries the neighbouring bin, so that noise and skin
 * distortion do not push a mated triangle into another key.
 */
#include "storage/mcc_internal.h"

#include <math.h>
#include <string.h>

#define MIN_SIDE     12.0f
#define MAX_SIDE     160.0f
#define SIDE_BIN     10.0f
#define SIDE_BINS    16
#define ANGLE_BINS   8
#define SIDE_MARGIN  2.5f  /* pixels */
#define ANGLE_MARGIN 0.14f /* radians, 8 degrees */
#define GALLERY_NEAR 4
#define PROBE_NEAR   5
#define MAX_NEAR     6
#define TWO_PI       (2.0f * (float)M_PI)

struct triangle {
    float side[3];  /* side[k] faces vertex k, shortest first */
    float angle[3]; /* each vertex's direction relative to the longest side, [0, 2 pi) */
    float ref;      /* the longest side's direction */
    float cx, cy;   /* its centre */
};

static float wrap(float a)
{
    a = fmodf(a, TWO_PI);
    return a < 0 ? a + TWO_PI : a;
}

static float dist(const struct mcc_finger *f, unsigned a, unsigned b)
{
    float dx = f->ax[a] - f->ax[b], dy = f->ay[a] - f->ay[b];
    return sqrtf(dx * dx + dy * dy);
}

/* Up to want nearest neighbours of m within the side limits. */
static unsigned nearest(const struct mcc_finger *f, unsigned m, unsigned want, unsigned *out)
{
    float d[MAX_NEAR];
    unsigned n = 0;
    for (unsigned t = 0; t < f->nall; t++) {
        float e = dist(f, m, t);
        if (t == m || e < MIN_SIDE || e > MAX_SIDE)
            continue;
        unsigned at = n < want ? n++ : want;
        while (at > 0 && d[at - 1] > e) {
            if (at < want)
                d[at] = d[at - 1], out[at] = out[at - 1];
            at--;
        }
        if (at < want)
            d[at] = e, out[at] = t;
    }
    return n;
}

static void describe(const struct mcc_finger *f, const unsigned v[3], struct triangle *t)
{
    unsigned order[3] = {0, 1, 2};
    float side[3];
    for (unsigned k = 0; k < 3; k++)
        side[k] = dist(f, v[(k + 1) % 3], v[(k + 2) % 3]);
    for (unsigned i = 1; i < 3; i++)
        for (unsigned j = i; j > 0 && side[order[j - 1]] > side[order[j]]; j--) {
            unsigned tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    unsigned a = v[order[0]], b = v[order[1]]; /* the longest side joins these two */
    t->cx = (f->ax[v[0]] + f->ax[v[1]] + f->ax[v[2]]) / 3.0f;
    t->cy = (f->ay[v[0]] + f->ay[v[1]] + f->ay[v[2]]) / 3.0f;
    t->ref = atan2f(f->ay[b] - f->ay[a], f->ax[b] - f->ax[a]);
    for (unsigned k = 0; k < 3; k++) {
        t->side[k] = side[order[k]];
        float th = (float)f->atheta[v[order[k]]] * (TWO_PI / 65536.0f);
        t->angle[k] = wrap(th - t->ref);
    }
}

static unsigned side_bin(float s)
{
    int b = (int)(s / SIDE_BIN);
    return (unsigned)(b < 0 ? 0 : b >= SIDE_BINS ? SIDE_BINS - 1 : b);
}

static unsigned angle_bin(float a)
{
    return (unsigned)(a / (TWO_PI / ANGLE_BINS)) % ANGLE_BINS;
}

static uint32_t pack(const unsigned sb[3], const unsigned ab[3])
{
    return (uint32_t)sb[0] << 17 | (uint32_t)sb[1] << 13 | (uint32_t)sb[2] << 9 |
           (uint32_t)ab[0] << 6 | (uint32_t)ab[1] << 3 | (uint32_t)ab[2];
}

static uint8_t ref_of(const struct triangle *t)
{
    return (uint8_t)((unsigned)lrintf(wrap(t->ref) / TWO_PI * 256.0f) & 255);
}

/* A set of vertex triples already seen (open addressing; 0 is never an id). */
#define SEEN_CAP 2048

static bool seen_before(uint64_t *set, uint64_t id)
{
    unsigned i = (unsigned)((id * 0x9e3779b97f4a7c15ull) >> 53) & (SEEN_CAP - 1);
    while (set[i] && set[i] != id)
        i = (i + 1) & (SEEN_CAP - 1);
    if (set[i])
        return true;
    set[i] = id;
    return false;
}

/* Calls add for each distinct triangle of a listed minutia and two of its
 * nearest ones (at most SEEN_CAP / 2 triangles). */
static unsigned triangles(const struct mcc_finger *f, const unsigned *minutiae, unsigned count,
                          unsigned near, unsigned (*add)(void *, const struct triangle *),
                          void *ctx)
{
    static _Thread_local uint64_t seen[SEEN_CAP];
    memset(seen, 0, sizeof seen);
    unsigned nseen = 0, added = 0;
    for (unsigned i = 0; i < count; i++) {
        unsigned m = minutiae[i], nb[MAX_NEAR];
        unsigned n = nearest(f, m, near, nb);
        for (unsigned a = 0; a < n; a++) {
            for (unsigned b = a + 1; b < n && nseen < SEEN_CAP / 2; b++) {
                unsigned v[3] = {m, nb[a], nb[b]};
                unsigned s0 = v[0], s1 = v[1], s2 = v[2], tmp;
                if (s0 > s1)
                    tmp = s0, s0 = s1, s1 = tmp;
                if (s1 > s2)
                    tmp = s1, s1 = s2, s2 = tmp;
                if (s0 > s1)
                    tmp = s0, s0 = s1, s1 = tmp;
                if (seen_before(seen, (uint64_t)(s0 + 1) << 32 | (uint64_t)s1 << 16 | s2))
                    continue;
                nseen++;
                struct triangle t;
                describe(f, v, &t);
                if (t.side[0] < MIN_SIDE)
                    continue;
                added += add(ctx, &t);
            }
        }
    }
    return added;
}

/* ---- gallery ---------------------------------------------------------------------------- */

struct gallery_out {
    struct bio_triplet *out;
    unsigned n, max;
    float cx, cy; /* the finger's centroid */
};

static int16_t offset(float v, float from)
{
    float d = v - from;
    return (int16_t)lrintf(d < -8000 ? -8000 : d > 8000 ? 8000 : d);
}

static unsigned add_gallery(void *ctx, const struct triangle *t)
{
    struct gallery_out *g = ctx;
    if (g->n == g->max)
        return 0;
    unsigned sb[3], ab[3];
    for (unsigned k = 0; k < 3; k++)
        sb[k] = side_bin(t->side[k]), ab[k] = angle_bin(t->angle[k]);
    g->out[g->n++] =
        (struct bio_triplet){pack(sb, ab), ref_of(t), offset(t->cx, g->cx), offset(t->cy, g->cy)};
    return 1;
}

unsigned bio_gallery_triplets(const struct mcc_finger *f, struct bio_triplet *out, unsigned max)
{
    float cx = 0, cy = 0;
    for (unsigned i = 0; i < f->nall; i++)
        cx += f->ax[i], cy += f->ay[i];
    cx /= f->nall ? (float)f->nall : 1.0f;
    cy /= f->nall ? (float)f->nall : 1.0f;
    unsigned order[MCC_MAX_MINUTIAE];
    float d[MCC_MAX_MINUTIAE];
    for (unsigned i = 0; i < f->nall; i++) {
        float dx = f->ax[i] - cx, dy = f->ay[i] - cy;
        d[i] = dx * dx + dy * dy;
        unsigned j = i;
        while (j > 0 && d[order[j - 1]] > d[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    struct gallery_out g = {out, 0, max, cx, cy};
    triangles(f, order, f->nall < BIO_CENTRAL ? f->nall : BIO_CENTRAL, GALLERY_NEAR, add_gallery,
              &g);
    return g.n;
}

/* ---- probe ---------------------------------------------------------------------------------- */

struct probe_out {
    struct bio_triplet *out;
    unsigned n, max;
    float cx, cy;
};

/* The bin of a value and, when it lies within margin of an edge, the neighbour bin. */
static unsigned bins(float v, float width, float margin, unsigned count, bool circular,
                     unsigned out[2])
{
    int b = (int)floorf(v / width);
    float in = v - (float)b * width;
    int other = in < margin ? b - 1 : in > width - margin ? b + 1 : b;
    if (circular) {
        out[0] = (unsigned)((b % (int)count + (int)count) % (int)count);
        out[1] = (unsigned)((other % (int)count + (int)count) % (int)count);
    } else {
        int last = (int)count - 1;
        out[0] = (unsigned)(b < 0 ? 0 : b > last ? last : b);
        out[1] = (unsigned)(other < 0 ? 0 : other > last ? last : other);
    }
    return out[1] != out[0] ? 2 : 1;
}

static unsigned add_probe(void *ctx, const struct triangle *t)
{
    struct probe_out *p = ctx;
    unsigned sb[3][2], ab[3][2], ns[3], na[3];
    for (unsigned k = 0; k < 3; k++) {
        ns[k] = bins(t->side[k], SIDE_BIN, SIDE_MARGIN, SIDE_BINS, false, sb[k]);
        na[k] = bins(t->angle[k], TWO_PI / ANGLE_BINS, ANGLE_MARGIN, ANGLE_BINS, true, ab[k]);
    }
    uint8_t ref = ref_of(t);
    int16_t cx = offset(t->cx, p->cx), cy = offset(t->cy, p->cy);
    unsigned added = 0;
    for (unsigned c = 0; c < 64; c++) {
        unsigned s[3], a[3];
        bool ok = true;
        for (unsigned k = 0; k < 3 && ok; k++) {
            unsigned cs = c >> k & 1, ca = c >> (3 + k) & 1;
            ok = cs < ns[k] && ca < na[k];
            s[k] = sb[k][cs];
            a[k] = ab[k][ca];
        }
        if (!ok || p->n == p->max)
            continue;
        p->out[p->n++] = (struct bio_triplet){pack(s, a), ref, cx, cy};
        added++;
    }
    return added;
}

unsigned bio_probe_triplets(const struct mcc_finger *f, struct bio_triplet *out, unsigned max)
{
    unsigned all[MCC_MAX_MINUTIAE];
    float cx = 0, cy = 0;
    for (unsigned i = 0; i < f->nall; i++) {
        all[i] = i;
        cx += f->ax[i], cy += f->ay[i];
    }
    struct probe_out p = {out, 0, max, cx / (f->nall ? (float)f->nall : 1.0f),
                          cy / (f->nall ? (float)f->nall : 1.0f)};
    triangles(f, all, f->nall, PROBE_NEAR, add_probe, &p);
    return p.n;
}
