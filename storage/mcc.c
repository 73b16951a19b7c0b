/*
 * storage/mcc.c - a finger's minutiae -> Minutia Cylinder-Code cylinders.
 *
 * Every minutia m gets a cylinder: a disc of radius R around it, turned to
 * m's direction, cut into cells (NS x NS squares, only those within R kept)
 * and ND angular sections.  Cell (c, k) sums, over the neighbours t of m, a
 * spatial Gaussian of t's distance from the cell centre (sigma_S) times the
 * area of a directional Gaussian (sigma_D) of the angle between m and t that
 * falls in section k; the bit is set when the sum reaches mu_Psi (the
 * bit-based form of the paper).  A cell is valid when its centre lies within
 * the convex hull of the minutiae enlarged by Omega pixels (outside, the
 * sensor saw nothing); a cylinder is valid when at least minVC of its cells
 * are and at least minM neighbours lie within R + 3 sigma_S.  Only valid
 * cylinders are kept.
 *
 * Coordinates are scaled to 500 dpi from the record's resolution and turned
 * into a frame with y pointing up, so that the standard's counter-clockwise
 * angles are ordinary angles.  The Gaussians are tables made once
 * (pthread_once), so building a finger costs a few hundred microseconds.
 * With the cylinders, each finger keeps the pairwise distances and relative
 * directions of its minutiae, which the relaxation of mcc_match.c needs.
 */
#include "storage/mcc_internal.h"

#include "storage/iso19794.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SIGMA_S  (28.0f / 3.0f)
#define SIGMA_D  (2.0f * (float)M_PI / 9.0f)
#define MU_PSI   0.01f
#define OMEGA    50.0f
#define MIN_VC   0.75f
#define MIN_M    2
#define DPI_500  196.85f              /* pixels per centimetre at 500 dpi */
#define GS_STEPS 4                    /* table steps per squared pixel */
#define GS_LEN   (784 * GS_STEPS + 2) /* (3 sigma_S)^2 = 784 squared pixels */
#define GD_STEPS 1024                 /* table steps per turn */
#define TWO_PI   (2.0f * (float)M_PI)

struct geometry {
    unsigned ncells;
    float u[MCC_MAX_CELLS], v[MCC_MAX_CELLS]; /* cell centres, unrotated */
    int16_t at[MCC_NS][MCC_NS];               /* grid square -> cell, -1 outside R */
    float gs[GS_LEN];                         /* spatial term by squared distance */
    float gd[GD_STEPS][MCC_ND];               /* directional term by angle, per section */
};

static struct geometry G;
static pthread_once_t geometry_once = PTHREAD_ONCE_INIT;

static float directional_area(float alpha)
{
    /* the integral of a Gaussian of sigma_D over [alpha - dD/2, alpha + dD/2] */
    const float half = TWO_PI / MCC_ND / 2.0f, s = SIGMA_D * (float)M_SQRT2;
    return 0.5f * (erff((alpha + half) / s) - erff((alpha - half) / s));
}

static float wrap_pi(float a)
{
    while (a >= (float)M_PI)
        a -= TWO_PI;
    while (a < -(float)M_PI)
        a += TWO_PI;
    return a;
}

static void geometry_init(void)
{
    const float ds = 2.0f * MCC_R / MCC_NS;
    for (int i = 0; i < MCC_NS; i++) {
        for (int j = 0; j < MCC_NS; j++) {
            float u = ((float)i + 0.5f - MCC_NS / 2.0f) * ds;
            float v = ((float)j + 0.5f - MCC_NS / 2.0f) * ds;
            G.at[i][j] = -1;
            if (u * u + v * v <= MCC_R * MCC_R) {
                G.at[i][j] = (int16_t)G.ncells;
                G.u[G.ncells] = u;
                G.v[G.ncells] = v;
                G.ncells++;
            }
        }
    }
    const float norm = 1.0f / (SIGMA_S * sqrtf(TWO_PI));
    for (int i = 0; i < GS_LEN; i++) {
        float d2 = (float)i / GS_STEPS;
        G.gs[i] = norm * expf(-d2 / (2.0f * SIGMA_S * SIGMA_S));
    }
    for (int a = 0; a < GD_STEPS; a++) {
        float delta = wrap_pi(TWO_PI * (float)a / GD_STEPS);
        for (int k = 0; k < MCC_ND; k++) {
            float phi = -(float)M_PI + ((float)k + 0.5f) * TWO_PI / MCC_ND;
            G.gd[a][k] = directional_area(wrap_pi(phi - delta));
        }
    }
}

unsigned mcc_cells(void)
{
    pthread_once(&geometry_once, geometry_init);
    return G.ncells;
}

static float angle_rad(mcc_angle a)
{
    return (float)a * (TWO_PI / 65536.0f);
}

static mcc_angle angle_from_rad(float r)
{
    float t = r / TWO_PI;
    t -= floorf(t);
    return (mcc_angle)((uint32_t)lrintf(t * 65536.0f) & 0xffff);
}

/* ---- the convex hull, enlarged by Omega ---------------------------------------------- */

struct hull {
    unsigned n;
    float x[2 * MCC_MAX_MINUTIAE + 1], y[2 * MCC_MAX_MINUTIAE + 1];
    float inv_len[2 * MCC_MAX_MINUTIAE + 1]; /* 1 / length of edge i -> i + 1 */
};

static float cross(float ox, float oy, float ax, float ay, float bx, float by)
{
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox);
}

static int by_xy(const void *a, const void *b)
{
    const float *p = a, *q = b;
    if (p[0] != q[0])
        return p[0] < q[0] ? -1 : 1;
    return p[1] < q[1] ? -1 : p[1] > q[1];
}

/* Andrew's monotone chain: the hull counter-clockwise, without repeated points. */
static void hull_build(const float *x, const float *y, unsigned n, struct hull *h)
{
    float pts[MCC_MAX_MINUTIAE][2];
    if (n < 3) {
        for (unsigned i = 0; i < n; i++)
            h->x[i] = x[i], h->y[i] = y[i];
        h->n = n;
        return;
    }
    for (unsigned i = 0; i < n; i++)
        pts[i][0] = x[i], pts[i][1] = y[i];
    qsort(pts, n, sizeof pts[0], by_xy);
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        while (k >= 2 &&
               cross(h->x[k - 2], h->y[k - 2], h->x[k - 1], h->y[k - 1], pts[i][0], pts[i][1]) <= 0)
            k--;
        h->x[k] = pts[i][0], h->y[k] = pts[i][1], k++;
    }
    for (unsigned i = n - 1, lower = k + 1; i-- > 0;) {
        while (k >= lower &&
               cross(h->x[k - 2], h->y[k - 2], h->x[k - 1], h->y[k - 1], pts[i][0], pts[i][1]) <= 0)
            k--;
        h->x[k] = pts[i][0], h->y[k] = pts[i][1], k++;
    }
    h->n = k - 1;
    for (unsigned i = 0; i < h->n; i++) {
        unsigned j = (i + 1) % h->n;
        float dx = h->x[j] - h->x[i], dy = h->y[j] - h->y[i], len = sqrtf(dx * dx + dy * dy);
        h->inv_len[i] = len > 0 ? 1.0f / len : 0.0f;
    }
}

static float segment_dist2(float px, float py, float ax, float ay, float bx, float by)
{
    float dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    float t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    float ex = ax + t * dx - px, ey = ay + t * dy - py;
    return ex * ex + ey * ey;
}

/* Distance from the hull (0 inside it), exact up to Omega: farther points
 * may get any value above Omega (the distance from the farthest edge line,
 * which is never more than the true distance). */
static float hull_distance(const struct hull *h, float px, float py)
{
    if (h->n == 0)
        return INFINITY;
    if (h->n >= 3) {
        float least = INFINITY;
        for (unsigned i = 0; i < h->n; i++) {
            unsigned j = (i + 1) % h->n;
            float side = cross(h->x[i], h->y[i], h->x[j], h->y[j], px, py) * h->inv_len[i];
            least = side < least ? side : least;
        }
        if (least >= 0)
            return 0.0f;
        if (-least > OMEGA)
            return -least;
    }
    bool inside = h->n >= 3;
    float best = INFINITY;
    for (unsigned i = 0; i < h->n; i++) {
        unsigned j = (i + 1) % h->n;
        if (cross(h->x[i], h->y[i], h->x[j], h->y[j], px, py) < 0)
            inside = false;
        float d2 = segment_dist2(px, py, h->x[i], h->y[i], h->x[j], h->y[j]);
        best = d2 < best ? d2 : best;
    }
    return inside ? 0.0f : sqrtf(best);
}

/* How far a point inside the hull is from its boundary (0 outside). */
static float hull_depth(const struct hull *h, float px, float py)
{
    if (h->n < 3 || hull_distance(h, px, py) > 0)
        return 0;
    float best = INFINITY;
    for (unsigned i = 0; i < h->n; i++) {
        unsigned j = (i + 1) % h->n;
        float d2 = segment_dist2(px, py, h->x[i], h->y[i], h->x[j], h->y[j]);
        best = d2 < best ? d2 : best;
    }
    return sqrtf(best);
}

/* ---- one cylinder -------------------------------------------------------------------- */

struct points {
    unsigned n;
    float x[MCC_MAX_MINUTIAE], y[MCC_MAX_MINUTIAE];
    mcc_angle theta[MCC_MAX_MINUTIAE];
};

static void set_bit(uint64_t *w, unsigned bit)
{
    w[bit / 64] |= 1ull << (bit % 64);
}

/* Marks the valid cells of m's cylinder; returns how many there are. */
static unsigned valid_cells(const struct hull *h, float mx, float my, float c, float s,
                            struct mcc_cylinder *cyl)
{
    unsigned count = 0;
    bool all = hull_depth(h, mx, my) >= MCC_R - OMEGA;
    for (unsigned cell = 0; cell < G.ncells; cell++) {
        float px = mx + G.u[cell] * c - G.v[cell] * s, py = my + G.u[cell] * s + G.v[cell] * c;
        if (!all && hull_distance(h, px, py) > OMEGA)
            continue;
        count++;
        set_bit(cyl->cells, cell);
    }
    return count;
}

/* Adds neighbour t's contributions to the cells of m's cylinder. */
static void contribute(const struct points *p, unsigned m, unsigned t, float c, float s,
                       float sum[MCC_ND][MCC_MAX_CELLS])
{
    const float reach2 = 9.0f * SIGMA_S * SIGMA_S;
    mcc_angle delta = (mcc_angle)(p->theta[m] - p->theta[t]);
    const float *gd = G.gd[delta / (65536 / GD_STEPS)];
    /* t in m's unrotated cell frame */
    float dx = p->x[t] - p->x[m], dy = p->y[t] - p->y[m];
    float tu = dx * c + dy * s, tv = -dx * s + dy * c;
    /* only the grid squares within 3 sigma_S of t: a few, not every cell */
    const float ds = 2.0f * MCC_R / MCC_NS, reach = 3.0f * SIGMA_S;
    int i0 = (int)floorf((tu - reach) / ds + MCC_NS / 2.0f),
        i1 = (int)floorf((tu + reach) / ds + MCC_NS / 2.0f);
    int j0 = (int)floorf((tv - reach) / ds + MCC_NS / 2.0f),
        j1 = (int)floorf((tv + reach) / ds + MCC_NS / 2.0f);
    for (int i = i0 < 0 ? 0 : i0; i <= i1 && i < MCC_NS; i++) {
        for (int j = j0 < 0 ? 0 : j0; j <= j1 && j < MCC_NS; j++) {
            int cell = G.at[i][j];
            if (cell < 0)
                continue;
            float ex = G.u[cell] - tu, ey = G.v[cell] - tv, d2 = ex * ex + ey * ey;
            if (d2 >= reach2)
                continue;
            float gs = G.gs[(int)(d2 * GS_STEPS)];
            for (unsigned k = 0; k < MCC_ND; k++)
                sum[k][cell] += gs * gd[k];
        }
    }
}

/* Builds m's cylinder; false when it is not valid. */
static bool cylinder(const struct points *p, const struct hull *h, unsigned m,
                     struct mcc_cylinder *cyl)
{
    const float reach = MCC_R + 3.0f * SIGMA_S;
    float th = angle_rad(p->theta[m]), c = cosf(th), s = sinf(th);
    memset(cyl, 0, sizeof *cyl);
    if (valid_cells(h, p->x[m], p->y[m], c, s, cyl) < MIN_VC * (float)G.ncells)
        return false;
    static _Thread_local float sum[MCC_ND][MCC_MAX_CELLS];
    memset(sum, 0, sizeof sum);
    unsigned neighbours = 0;
    for (unsigned t = 0; t < p->n; t++) {
        float dx = p->x[t] - p->x[m], dy = p->y[t] - p->y[m];
        if (t == m || dx * dx + dy * dy > reach * reach)
            continue;
        neighbours++;
        contribute(p, m, t, c, s, sum);
    }
    if (neighbours < MIN_M)
        return false;
    for (unsigned k = 0; k < MCC_ND; k++) {
        for (unsigned cell = 0; cell < G.ncells; cell++)
            if (sum[k][cell] >= MU_PSI)
                set_bit(cyl->bits[k], cell);
        for (unsigned w = 0; w < MCC_CELL_WORDS; w++)
            cyl->bits[k][w] &= cyl->cells[w];
    }
    return true;
}

/* ---- the finger ------------------------------------------------------------------------ */

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static struct mcc_finger *finger_alloc(unsigned n, unsigned nall)
{
    size_t head = align64(sizeof(struct mcc_finger));
    size_t all = 2 * align64(sizeof(float) * nall) + align64(sizeof(mcc_angle) * nall);
    /* theta is read 8 at a time by the vector kernel: room for whole blocks */
    size_t xy = align64(sizeof(float) * n), th = align64(sizeof(mcc_angle) * (n + MCC_LANES));
    size_t pairs = align64(sizeof(uint16_t) * n * n);
    size_t cyl = align64(sizeof(struct mcc_cylinder) * n);
    size_t lanes =
        sizeof(uint64_t) * MCC_LANE_WORDS * MCC_LANES * ((n + MCC_LANES - 1) / MCC_LANES);
    char *block = aligned_alloc(64, align64(head + 2 * xy + th + 2 * pairs + cyl + lanes + all));
    if (!block)
        return NULL;
    struct mcc_finger *f = (struct mcc_finger *)block;
    memset(f, 0, sizeof *f);
    char *at = block + head;
    f->x = (float *)at, at += xy;
    f->y = (float *)at, at += xy;
    f->theta = (mcc_angle *)at, at += th;
    f->dist = (uint16_t *)at, at += pairs;
    f->radial = (mcc_angle *)at, at += pairs;
    f->cyl = (struct mcc_cylinder *)at, at += cyl;
    f->lanes = (uint64_t *)at, at += lanes;
    memset(f->lanes, 0, lanes);
    memset(f->theta, 0, th);
    f->ax = (float *)at, at += align64(sizeof(float) * nall);
    f->ay = (float *)at, at += align64(sizeof(float) * nall);
    f->atheta = (mcc_angle *)at;
    return f;
}

static void pair_tables(struct mcc_finger *f)
{
    unsigned n = f->n;
    for (unsigned i = 0; i < n; i++) {
        f->dist[i * n + i] = 0;
        f->radial[i * n + i] = 0;
        for (unsigned j = i + 1; j < n; j++) {
            float dx = f->x[j] - f->x[i], dy = f->y[j] - f->y[i];
            float d = sqrtf(dx * dx + dy * dy) * 8.0f;
            f->dist[i * n + j] = f->dist[j * n + i] = (uint16_t)(d > 65535.0f ? 65535.0f : d);
            mcc_angle phi = angle_from_rad(atan2f(dy, dx)); /* from j to i: phi + half a turn */
            f->radial[i * n + j] = (mcc_angle)(f->theta[i] - phi);
            f->radial[j * n + i] = (mcc_angle)(f->theta[j] - phi - 32768);
        }
    }
}

_Static_assert(sizeof(struct mcc_cylinder) == sizeof(uint64_t) * MCC_LANE_WORDS,
               "a cylinder is MCC_LANE_WORDS words");

/* Word w of cylinder i goes to lanes[(i / 8) * 8 * MCC_LANE_WORDS + w * 8 + i % 8]. */
static void lane_copy(struct mcc_finger *f)
{
    for (unsigned i = 0; i < f->n; i++) {
        const uint64_t *words = (const uint64_t *)&f->cyl[i];
        uint64_t *block = f->lanes + (size_t)(i / MCC_LANES) * MCC_LANES * MCC_LANE_WORDS;
        for (unsigned w = 0; w < MCC_LANE_WORDS; w++)
            block[w * MCC_LANES + i % MCC_LANES] = words[w];
    }
}

static int build(const struct points *p, uint8_t position, bool cylinders, struct mcc_finger **out)
{
    mcc_cells();
    struct hull *h = malloc(sizeof *h);
    struct mcc_cylinder *cyl = aligned_alloc(64, align64(sizeof *cyl * (p->n ? p->n : 1)));
    unsigned *keep = malloc(sizeof *keep * (p->n ? p->n : 1));
    int rc = (h && cyl && keep) ? ST_OK : ST_NOMEM;
    unsigned n = 0;
    if (rc == ST_OK) {
        hull_build(p->x, p->y, p->n, h);
        for (unsigned m = 0; cylinders && m < p->n; m++)
            if (cylinder(p, h, m, &cyl[n]))
                keep[n++] = m;
    }
    struct mcc_finger *f = rc == ST_OK ? finger_alloc(n, p->n) : NULL;
    if (rc == ST_OK && f) {
        f->position = position;
        f->n = (uint16_t)n;
        f->minutiae = (uint16_t)p->n;
        f->nall = (uint16_t)p->n;
        for (unsigned i = 0; i < p->n; i++)
            f->ax[i] = p->x[i], f->ay[i] = p->y[i], f->atheta[i] = p->theta[i];
        for (unsigned i = 0; i < n; i++) {
            f->x[i] = p->x[keep[i]], f->y[i] = p->y[keep[i]], f->theta[i] = p->theta[keep[i]];
            f->cyl[i] = cyl[i];
        }
        pair_tables(f);
        lane_copy(f);
        *out = f;
    } else {
        rc = ST_NOMEM;
    }
    free(h);
    free(cyl);
    free(keep);
    return rc;
}

int mcc_finger_from_points(const float *x, const float *y, const mcc_angle *theta, unsigned n,
                           uint8_t position, struct mcc_finger **out)
{
    struct points *p = malloc(sizeof *p);
    if (!p)
        return ST_NOMEM;
    p->n = n > MCC_MAX_MINUTIAE ? MCC_MAX_MINUTIAE : n;
    for (unsigned i = 0; i < p->n; i++)
        p->x[i] = x[i], p->y[i] = y[i], p->theta[i] = theta[i];
    int rc = build(p, position, true, out);
    free(p);
    return rc;
}

static void points_from_record(const struct fmr_record *rec, struct points *p)
{
    float sx = DPI_500 / (float)rec->xres, sy = DPI_500 / (float)rec->yres;
    p->n = rec->nminutiae > MCC_MAX_MINUTIAE ? MCC_MAX_MINUTIAE : rec->nminutiae;
    for (unsigned i = 0; i < p->n; i++) {
        p->x[i] = (float)rec->m[i].x * sx;
        p->y[i] = -(float)rec->m[i].y * sy; /* y up: the standard's angles are counter-clockwise */
        p->theta[i] = (mcc_angle)(rec->m[i].angle << 8);
    }
}

int mcc_finger_build(const uint8_t *iso, size_t len, uint8_t position, bool cylinders,
                     struct mcc_finger **out, struct st_err *err)
{
    struct fmr_record *rec = malloc(sizeof *rec);
    struct points *p = malloc(sizeof *p);
    int rc = rec && p ? ST_OK : ST_NOMEM;
    char why[160];
    if (rc == ST_OK && fmr_parse(iso, len, FMR_ISO_2005, rec, why, sizeof why) != 0) {
        rc = ST_INVALID;
        if (err) {
            snprintf(err->field, sizeof err->field, "template");
            snprintf(err->msg, sizeof err->msg, "is not an ISO/IEC 19794-2 record: %s", why);
        }
    }
    if (rc == ST_OK) {
        points_from_record(rec, p);
        rc = build(p, position, cylinders, out);
    }
    free(rec);
    free(p);
    return rc;
}

void mcc_finger_free(struct mcc_finger *f)
{
    free(f);
}

unsigned mcc_finger_cylinders(const struct mcc_finger *f)
{
    return f ? f->n : 0;
}

int mcc_finger_new(const struct fingerprint *fp, struct mcc_finger **out, struct st_err *err)
{
    return mcc_finger_build(fp->data, fp->len, fp->position, true, out, err);
}
