/*
 * storage/mcc_match.c - the score of two fingers: local similarities of
 * their cylinders, then Local Similarity Sort with Relaxation (LSS-R).
 *
 * 1. Local similarity of cylinders a and b (bit-based form): where both are
 *    valid (common mask m), 1 - sqrt(|(a ^ b) & m|) / (sqrt(|a & m|) +
 *    sqrt(|b & m|)); zero when their minutiae's directions differ by more
 *    than delta_theta, or when fewer than minME of the cells are valid in
 *    both.  Bits are counted eight cylinders at a time with AVX-512
 *    (mcc_simd.c) or one at a time with POPCNT, whichever the CPU has
 *    (chosen once at run time; the build stays portable).
 * 2. The pairs are sorted by similarity (a counting sort on 8-bit keys; the
 *    order within a key does not matter) and taken greedily, best first, each
 *    minutia in at most one pair, up to nR = min(nA, nB) pairs.
 * 3. Relaxation: nrel times, every pair's similarity becomes wR times itself
 *    plus (1 - wR) times the mean of the others' weighted by rho, how well the
 *    two pairs agree in distance, relative direction and radial angle (three
 *    sigmoids, from tables).  Pairs that fit the others keep their
 *    similarity; pairs that do not lose it.
 * 4. The nP pairs that kept most of their similarity (efficiency: relaxed /
 *    initial) are averaged: that mean, in [0, 1], is the score.  nP grows from
 *    minNP to maxNP with the smaller number of cylinders (a sigmoid).
 *
 * Work space is per thread (a few hundred KiB), so mcc_match() allocates
 * nothing and any number of threads may call it.
 */
#include "storage/mcc_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define MIN_ME      0.60f
#define DELTA_THETA 16384 /* pi / 2 in 16-bit turns */
#define MIN_NP      4
#define MAX_NP      12
#define MU_P        20.0f
#define TAU_P       0.4f
#define W_R         0.5f
#define N_REL       5
#define MU_1        5.0f
#define TAU_1       (-1.6f)
#define MU_23       ((float)M_PI / 12.0f)
#define TAU_23      (-30.0f)
#define KEYS        256
#define MAX_PAIRS   (MCC_MAX_MINUTIAE * MCC_MAX_MINUTIAE)
#define D1_STEPS    96 /* 1/8 pixel each: beyond 12 pixels rho is below RHO_MIN */
#define RHO_MIN     1e-4f
#define ANGLE_STEPS 513 /* 0..pi in 1/1024 turns */

struct work {
    struct mcc_pair pairs[MAX_PAIRS];
    struct mcc_pair sorted[MAX_PAIRS];
    unsigned count[KEYS];
    uint8_t sel_a[MCC_MAX_MINUTIAE], sel_b[MCC_MAX_MINUTIAE];
    float lambda0[MCC_MAX_MINUTIAE], lambda[MCC_MAX_MINUTIAE], next[MCC_MAX_MINUTIAE];
    uint8_t nadj[MCC_MAX_MINUTIAE];
    uint8_t adj[MCC_MAX_MINUTIAE][MCC_MAX_MINUTIAE];
    float adjw[MCC_MAX_MINUTIAE][MCC_MAX_MINUTIAE];
    float eff[MCC_MAX_MINUTIAE];
};

static _Thread_local struct work W;

struct tables {
    float sqrt_count[MCC_MAX_BITS + 1];
    float z1[D1_STEPS];
    float z23[ANGLE_STEPS];
    unsigned min_common; /* cells valid in both */
    bool popcnt;
    bool avx512;
};

static struct tables T;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static float sigmoid(float v, float mu, float tau)
{
    return 1.0f / (1.0f + expf(-tau * (v - mu)));
}

static void tables_init(void)
{
    for (unsigned i = 0; i <= MCC_MAX_BITS; i++)
        T.sqrt_count[i] = sqrtf((float)i);
    for (unsigned i = 0; i < D1_STEPS; i++)
        T.z1[i] = sigmoid((float)i / 8.0f, MU_1, TAU_1);
    for (unsigned i = 0; i < ANGLE_STEPS; i++)
        T.z23[i] = sigmoid((float)i * 2.0f * (float)M_PI / 1024.0f, MU_23, TAU_23);
    T.min_common = (unsigned)ceilf(MIN_ME * (float)mcc_cells());
    __builtin_cpu_init();
    T.popcnt = __builtin_cpu_supports("popcnt");
    T.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vpopcntdq");
}

/* ---- 1. local similarities --------------------------------------------------------- */

static inline __attribute__((always_inline)) float similarity(const struct mcc_cylinder *a,
                                                              const struct mcc_cylinder *b)
{
    uint64_t m[MCC_CELL_WORDS];
    unsigned common = 0;
    for (unsigned w = 0; w < MCC_CELL_WORDS; w++) {
        m[w] = a->cells[w] & b->cells[w];
        common += (unsigned)__builtin_popcountll(m[w]);
    }
    if (common < T.min_common)
        return 0.0f;
    /* nothing set on either side gives 0 / 0: a NaN, dropped like a 0 */
    unsigned na = 0, nb = 0, nx = 0;
    for (unsigned k = 0; k < MCC_ND; k++) {
        for (unsigned w = 0; w < MCC_CELL_WORDS; w++) {
            uint64_t x = a->bits[k][w] & m[w], y = b->bits[k][w] & m[w];
            na += (unsigned)__builtin_popcountll(x);
            nb += (unsigned)__builtin_popcountll(y);
            nx += (unsigned)__builtin_popcountll(x ^ y);
        }
    }
    return 1.0f - T.sqrt_count[nx] / (T.sqrt_count[na] + T.sqrt_count[nb]);
}

static inline __attribute__((always_inline)) unsigned
all_similarities(const struct mcc_finger *a, const struct mcc_finger *b, struct mcc_pair *out)
{
    unsigned n = 0;
    for (unsigned i = 0; i < a->n; i++) {
        for (unsigned j = 0; j < b->n; j++) {
            int16_t d = (int16_t)(a->theta[i] - b->theta[j]);
            if (d > DELTA_THETA || d < -DELTA_THETA)
                continue;
            float l = similarity(&a->cyl[i], &b->cyl[j]);
            if (!(l > 0.0f))
                continue;
            out[n++] = (struct mcc_pair){(uint8_t)i, (uint8_t)j, (uint8_t)(l * 255.0f), l};
        }
    }
    return n;
}

#if defined(__x86_64__)
__attribute__((target("popcnt")))
#endif
static unsigned
similarities_popcnt(const struct mcc_finger *a, const struct mcc_finger *b, struct mcc_pair *out)
{
    return all_similarities(a, b, out);
}

unsigned mcc_similarities_portable(const struct mcc_finger *a, const struct mcc_finger *b,
                                   struct mcc_pair *out)
{
    pthread_once(&tables_once, tables_init);
    return all_similarities(a, b, out);
}

/* ---- 2. sort and select ------------------------------------------------------------- */

/* Counting sort of W.pairs[0..n) into W.sorted, best key first. */
static void sort_pairs(unsigned n)
{
    memset(W.count, 0, sizeof W.count);
    for (unsigned i = 0; i < n; i++)
        W.count[W.pairs[i].key]++;
    unsigned at = 0;
    for (int k = KEYS - 1; k >= 0; k--) {
        unsigned c = W.count[k];
        W.count[k] = at;
        at += c;
    }
    for (unsigned i = 0; i < n; i++)
        W.sorted[W.count[W.pairs[i].key]++] = W.pairs[i];
}

/* Greedy one-to-one selection of up to nr pairs; returns how many. */
static unsigned select_pairs(unsigned n, unsigned nr)
{
    uint8_t used_a[MCC_MAX_MINUTIAE] = {0}, used_b[MCC_MAX_MINUTIAE] = {0};
    unsigned k = 0;
    for (unsigned i = 0; i < n && k < nr; i++) {
        const struct mcc_pair *p = &W.sorted[i];
        if (used_a[p->a] | used_b[p->b])
            continue;
        used_a[p->a] = used_b[p->b] = 1;
        W.sel_a[k] = p->a;
        W.sel_b[k] = p->b;
        W.lambda0[k] = p->lambda;
        k++;
    }
    return k;
}

/* ---- 3. relaxation --------------------------------------------------------------------- */

static unsigned angle_index(mcc_angle d)
{
    int16_t s = (int16_t)d;
    unsigned m = (unsigned)(s < 0 ? -(int)s : s);
    return m >> 6;
}

static float compatibility(const struct mcc_finger *a, const struct mcc_finger *b, unsigned t,
                           unsigned k)
{
    unsigned at = W.sel_a[t], ak = W.sel_a[k], bt = W.sel_b[t], bk = W.sel_b[k];
    int d1 = (int)a->dist[at * a->n + ak] - (int)b->dist[bt * b->n + bk];
    unsigned i1 = (unsigned)(d1 < 0 ? -d1 : d1);
    if (i1 >= D1_STEPS)
        return 0.0f;
    mcc_angle da = (mcc_angle)(a->theta[at] - a->theta[ak]);
    mcc_angle db = (mcc_angle)(b->theta[bt] - b->theta[bk]);
    mcc_angle ra = a->radial[at * a->n + ak], rb = b->radial[bt * b->n + bk];
    return T.z1[i1] * T.z23[angle_index((mcc_angle)(da - db))] *
           T.z23[angle_index((mcc_angle)(ra - rb))];
}

/* rho for every two selected pairs, kept where it is above RHO_MIN (most
 * pairs of pairs disagree, and their rho is nearly 0), then nrel rounds. */
static void relax(const struct mcc_finger *a, const struct mcc_finger *b, unsigned nr)
{
    for (unsigned t = 0; t < nr; t++) {
        W.nadj[t] = 0;
        W.lambda[t] = W.lambda0[t];
    }
    if (nr < 2)
        return;
    for (unsigned t = 0; t < nr; t++) {
        for (unsigned k = t + 1; k < nr; k++) {
            float r = compatibility(a, b, t, k);
            if (r <= RHO_MIN)
                continue;
            W.adj[t][W.nadj[t]] = (uint8_t)k, W.adjw[t][W.nadj[t]++] = r;
            W.adj[k][W.nadj[k]] = (uint8_t)t, W.adjw[k][W.nadj[k]++] = r;
        }
    }
    const float share = (1.0f - W_R) / (float)(nr - 1);
    for (int r = 0; r < N_REL; r++) {
        for (unsigned t = 0; t < nr; t++) {
            float sum = 0.0f;
            for (unsigned i = 0; i < W.nadj[t]; i++)
                sum += W.adjw[t][i] * W.lambda[W.adj[t][i]];
            W.next[t] = W_R * W.lambda[t] + share * sum;
        }
        memcpy(W.lambda, W.next, sizeof(float) * nr);
    }
}

/* ---- 4. the score ------------------------------------------------------------------------ */

static unsigned pairs_to_average(unsigned na, unsigned nb)
{
    float small = (float)(na < nb ? na : nb);
    return MIN_NP + (unsigned)lrintf(sigmoid(small, MU_P, TAU_P) * (MAX_NP - MIN_NP));
}

/* Mean relaxed similarity of the np most efficient pairs (partial selection). */
static float best_efficiency_mean(unsigned nr, unsigned np)
{
    for (unsigned t = 0; t < nr; t++)
        W.eff[t] = W.lambda[t] / W.lambda0[t];
    unsigned take = np < nr ? np : nr;
    float sum = 0.0f;
    for (unsigned i = 0; i < take; i++) {
        unsigned best = i;
        for (unsigned t = i + 1; t < nr; t++)
            if (W.eff[t] > W.eff[best])
                best = t;
        float e = W.eff[i], l = W.lambda[i];
        W.eff[i] = W.eff[best], W.lambda[i] = W.lambda[best];
        W.eff[best] = e, W.lambda[best] = l;
        sum += W.lambda[i];
    }
    return sum / (float)np; /* fewer pairs than np: the missing ones count as 0 */
}

float mcc_match(const struct mcc_finger *a, const struct mcc_finger *b)
{
    pthread_once(&tables_once, tables_init);
    if (!a || !b || a->n == 0 || b->n == 0)
        return 0.0f;
    unsigned n = T.avx512   ? mcc_similarities_avx512(a, b, T.min_common, W.pairs)
                 : T.popcnt ? similarities_popcnt(a, b, W.pairs)
                            : mcc_similarities_portable(a, b, W.pairs);
    if (n == 0)
        return 0.0f;
    sort_pairs(n);
    unsigned nr = select_pairs(n, a->n < b->n ? a->n : b->n);
    relax(a, b, nr);
    float s = best_efficiency_mean(nr, pairs_to_average(a->n, b->n));
    return s < 0.0f ? 0.0f : s > 1.0f ? 1.0f : s;
}

unsigned mcc_min_common(void)
{
    pthread_once(&tables_once, tables_init);
    return T.min_common;
}

bool mcc_has_avx512(void)
{
    pthread_once(&tables_once, tables_init);
    return T.avx512;
}
