/*
 * storage/mcc_synth.c - synthetic fingerprints and faces for tests and
 * benchmarks: the same (seed, person, finger) always gives the same finger,
 * and each impression of it is a new capture.
 *
 * A master finger is 35-65 minutiae spread over an elliptical print (at
 * least 13 pixels apart), whose directions follow a loop-shaped orientation
 * field (a core and a delta, the zero-pole model), each minutia a ridge
 * ending or a bifurcation (directions 180 degrees apart).  A realistic field
 * matters: minutiae of different fingers then look alike locally, as real
 * ones do, so impostor scores are not flattered.
 *
 * An impression of it applies, in this order: elastic distortion (around a
 * contact point the skin is still; farther out it turns and stretches, up to
 * a few pixels, growing with the square of the distance), a rotation of up
 * to 15 degrees and a translation of up to 25 pixels, noise on positions
 * (sigma 2 pixels) and directions (sigma 5 degrees), a sensor window that
 * cuts the edges (moved up to 35 and 45 pixels: partial overlap), missing
 * minutiae (each with probability 0.15) and spurious ones (up to 6).  These
 * make the matcher's genuine scores about those of FVC2002 DB1_B (median
 * near 0.09; docs/biometrics.md).  The first impression of a finger is the
 * one "enrolled"; later ones are re-captures.
 *
 * A synthetic face is an identity direction (one Gaussian vector per person)
 * plus per-capture Gaussian noise of the given strength, in `dim` dimensions.
 *
 * Everything comes from splitmix64 streams keyed by the arguments: no
 * clock, no rand().
 */
#include "storage/mcc_internal.h"

#include <math.h>
#include <string.h>

#define WIDTH        320
#define HEIGHT       440
#define RESOLUTION   197 /* pixels per centimetre: 500 dpi */
#define MIN_SPACING  13.0f
#define MAX_MINUTIAE 80
#define TWO_PI       (2.0f * (float)M_PI)

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_init(struct rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    r->s = seed;
    r->s = next(r) ^ a;
    r->s = next(r) ^ (b << 32 | c);
    next(r);
}

static float uniform(struct rng *r) /* [0, 1) */
{
    return (float)(next(r) >> 40) / (float)(1u << 24);
}

static float between(struct rng *r, float lo, float hi)
{
    return lo + (hi - lo) * uniform(r);
}

static float gaussian(struct rng *r)
{
    float u = uniform(r), v = uniform(r);
    return sqrtf(-2.0f * logf(u + 1e-12f)) * cosf(TWO_PI * v);
}

/* ---- fingers -------------------------------------------------------------------------- */

struct master {
    unsigned n;
    float x[MAX_MINUTIAE], y[MAX_MINUTIAE], theta[MAX_MINUTIAE];
    uint8_t type[MAX_MINUTIAE];
};

static float orientation(float x, float y, float cx, float cy, float dx, float dy, float base)
{
    return 0.5f * (atan2f(y - cy, x - cx) - atan2f(y - dy, x - dx)) + base;
}

static bool far_enough(const struct master *m, float x, float y)
{
    for (unsigned i = 0; i < m->n; i++) {
        float dx = m->x[i] - x, dy = m->y[i] - y;
        if (dx * dx + dy * dy < MIN_SPACING * MIN_SPACING)
            return false;
    }
    return true;
}

static void make_master(uint64_t seed, uint64_t person, unsigned finger, struct master *m)
{
    struct rng r;
    rng_init(&r, seed, person, finger, 0);
    float cx = WIDTH / 2.0f + between(&r, -30, 30), cy = HEIGHT / 2.0f - 40 + between(&r, -30, 30);
    float side = uniform(&r) < 0.5f ? -1.0f : 1.0f;
    float dx = cx + side * between(&r, 60, 110), dy = cy + between(&r, 100, 150);
    float base = between(&r, -0.3f, 0.3f);
    unsigned want = 35 + (unsigned)(uniform(&r) * 31);
    m->n = 0;
    for (unsigned tries = 0; m->n < want && tries < 4000; tries++) {
        float x = between(&r, 0, WIDTH), y = between(&r, 0, HEIGHT);
        float ex = (x - WIDTH / 2.0f) / 150.0f, ey = (y - HEIGHT / 2.0f) / 205.0f;
        if (ex * ex + ey * ey > 1.0f || !far_enough(m, x, y))
            continue;
        bool bifurcation = uniform(&r) < 0.4f;
        float th = orientation(x, y, cx, cy, dx, dy, base) + (uniform(&r) < 0.5f ? 0 : (float)M_PI);
        m->x[m->n] = x, m->y[m->n] = y, m->theta[m->n] = th;
        m->type[m->n] = bifurcation ? 2 : 1;
        m->n++;
    }
}

struct capture {
    float cx, cy; /* contact point: no distortion near it */
    float twist, stretch;
    float rot, tx, ty;
    float wx, wy; /* sensor window offset */
};

static void make_capture(struct rng *r, struct capture *c)
{
    c->cx = WIDTH / 2.0f + between(r, -40, 40);
    c->cy = HEIGHT / 2.0f + between(r, -40, 40);
    c->twist = between(r, -0.10f, 0.10f);
    c->stretch = between(r, -0.06f, 0.06f);
    c->rot = between(r, -15, 15) * (float)M_PI / 180.0f;
    c->tx = between(r, -25, 25);
    c->ty = between(r, -25, 25);
    c->wx = between(r, -35, 35);
    c->wy = between(r, -45, 45);
}

/* Moves a point (and a direction) as this capture does. */
static void capture_point(const struct capture *c, float *x, float *y, float *theta)
{
    float px = *x - c->cx, py = *y - c->cy, d = sqrtf(px * px + py * py);
    float s = d > 60.0f ? (d - 60.0f) / 150.0f : 0.0f;
    s = s > 1.5f ? 1.5f : s;
    float twist = c->twist * s * s, grow = 1.0f + c->stretch * s * s;
    float ct = cosf(twist), st = sinf(twist);
    float qx = (px * ct - py * st) * grow, qy = (px * st + py * ct) * grow;
    float cr = cosf(c->rot), sr = sinf(c->rot);
    float rx = qx * cr - qy * sr, ry = qx * sr + qy * cr;
    *x = rx + c->cx + c->tx;
    *y = ry + c->cy + c->ty;
    *theta += twist + c->rot;
}

static bool in_window(const struct capture *c, float x, float y)
{
    return x >= 8 + c->wx && x < WIDTH - 8 + c->wx && y >= 10 + c->wy && y < HEIGHT - 10 + c->wy &&
           x >= 0 && y >= 0 && x < WIDTH && y < HEIGHT;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_minutia(uint8_t *p, unsigned type, float x, float y, float theta)
{
    /* the record's y grows downwards and its angles count counter-clockwise as seen */
    float t = -theta / TWO_PI;
    t -= floorf(t);
    put16(p, type << 14 | (unsigned)x);
    put16(p + 2, (unsigned)y);
    p[4] = (uint8_t)((unsigned)lrintf(t * 256.0f) & 0xff);
    p[5] = 60;
}

/* Writes the record header and view header for n minutiae; returns the length. */
static size_t record_frame(uint8_t *t, unsigned position, unsigned n)
{
    size_t len = 24 + 4 + 6 * (size_t)n + 2;
    memset(t, 0, len);
    memcpy(t, "FMR\0 20\0", 8);
    put16(t + 8, (unsigned)(len >> 16));
    put16(t + 10, (unsigned)(len & 0xffff));
    put16(t + 14, WIDTH);
    put16(t + 16, HEIGHT);
    put16(t + 18, RESOLUTION);
    put16(t + 20, RESOLUTION);
    t[22] = 1;
    t[24] = (uint8_t)position;
    t[26] = 60;
    t[27] = (uint8_t)n;
    return len;
}

void bio_synth_finger(uint64_t seed, uint64_t person, unsigned position, unsigned impression,
                      struct fingerprint *out)
{
    struct master m;
    make_master(seed, person, position, &m);
    struct rng r;
    rng_init(&r, seed ^ 0x5bd1e995u, person, position, impression + 1);
    struct capture c;
    make_capture(&r, &c);
    uint8_t *t = out->data;
    unsigned n = 0;
    for (unsigned i = 0; i < m.n && n < MAX_MINUTIAE; i++) {
        float x = m.x[i], y = m.y[i], th = m.theta[i]; /* image coordinates: y down */
        capture_point(&c, &x, &y, &th);
        x += 2.0f * gaussian(&r);
        y += 2.0f * gaussian(&r);
        th += 5.0f * (float)M_PI / 180.0f * gaussian(&r);
        if (uniform(&r) < 0.15f || !in_window(&c, x, y))
            continue;
        put_minutia(t + 28 + 6 * n++, m.type[i], x, y, th);
    }
    unsigned spurious = (unsigned)(uniform(&r) * 7);
    for (unsigned i = 0; i < spurious && n < MAX_MINUTIAE; i++) {
        float x = between(&r, 20, WIDTH - 20), y = between(&r, 20, HEIGHT - 20);
        put_minutia(t + 28 + 6 * n++, 1, x, y, between(&r, 0, TWO_PI));
    }
    /* the frame last: it needs the count, and it leaves the minutiae alone */
    uint8_t mins[6 * MAX_MINUTIAE];
    memcpy(mins, t + 28, 6 * (size_t)n);
    size_t len = record_frame(t, position, n);
    memcpy(t + 28, mins, 6 * (size_t)n);
    out->position = (uint8_t)position;
    out->len = (uint16_t)len;
}

void bio_synth_face(uint64_t seed, uint64_t person, unsigned capture, unsigned dim, float noise,
                    float *out)
{
    struct rng id, cap;
    rng_init(&id, seed ^ 0xfacefaceu, person, 0, 0);
    rng_init(&cap, seed ^ 0xfacefaceu, person, 1, capture + 1);
    float scale = noise / sqrtf((float)dim);
    for (unsigned i = 0; i < dim; i++)
        out[i] = gaussian(&id) / sqrtf((float)dim) + scale * gaussian(&cap);
}
