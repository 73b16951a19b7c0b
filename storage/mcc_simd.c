/*
 * storage/mcc_simd.c - the local similarities of two fingers' cylinders,
 * eight at a time, with AVX-512 (VPOPCNTDQ counts the bits of eight words in
 * one instruction).
 *
 * One cylinder of a is set against a block of eight cylinders of b, laid out
 * word by word (b->lanes, see mcc_internal.h): the common valid cells, then
 * per section the bits of each side inside them and of their difference, are
 * counted in eight 64-bit lanes at once; the similarity is then worked out in
 * the lanes too (1 - sqrt(differing) / (sqrt(a's) + sqrt(b's))), and so is
 * the mask of lanes to keep (enough common cells, a positive similarity,
 * directions close enough, within b), whose set bits alone are written out.  The result is
 * exactly that of the portable loop of mcc_match.c (same counts, same
 * formula, in float).
 *
 * Compiled for every x86-64 build through target attributes; called only
 * when the CPU reports AVX-512F, DQ and VPOPCNTDQ.  On other architectures
 * the function exists and is never called.
 */
#include "storage/mcc_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define DELTA_THETA 16384 /* pi / 2 in 16-bit turns */
#define AVX512      __attribute__((target("avx512f,avx512dq,avx512vpopcntdq")))

AVX512 static __m512i broadcast(uint64_t w)
{
    return _mm512_set1_epi64((long long)w);
}

/* Similarities of cylinder i of a against the 8 cylinders of b's block, into
 * l[8]; returns the lanes to keep: enough common cells, a positive
 * similarity (a lane with nothing set gives 0 / 0, a NaN, which fails) and
 * directions at most delta_theta apart. */
AVX512 static unsigned block_similarity(const struct mcc_cylinder *ca, mcc_angle theta,
                                        const uint64_t *block, const mcc_angle *thetas,
                                        unsigned min_common, float l[MCC_LANES])
{
    __m512i m[MCC_CELL_WORDS], common = _mm512_setzero_si512();
    for (unsigned w = 0; w < MCC_CELL_WORDS; w++) {
        m[w] = _mm512_and_si512(broadcast(ca->cells[w]), _mm512_load_si512(block + w * 8));
        common = _mm512_add_epi64(common, _mm512_popcnt_epi64(m[w]));
    }
    __m512i na = _mm512_setzero_si512(), nb = na, nx = na;
    for (unsigned k = 0; k < MCC_ND; k++) {
        for (unsigned w = 0; w < MCC_CELL_WORDS; w++) {
            const uint64_t *bw = block + (1 + k * MCC_CELL_WORDS + w) * 8;
            __m512i x = _mm512_and_si512(broadcast(ca->bits[k][w]), m[w]);
            __m512i y = _mm512_and_si512(_mm512_load_si512(bw), m[w]);
            na = _mm512_add_epi64(na, _mm512_popcnt_epi64(x));
            nb = _mm512_add_epi64(nb, _mm512_popcnt_epi64(y));
            nx = _mm512_add_epi64(nx, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
        }
    }
    __m256 sa = _mm256_sqrt_ps(_mm512_cvtepi64_ps(na)), sb = _mm256_sqrt_ps(_mm512_cvtepi64_ps(nb));
    __m256 sx = _mm256_sqrt_ps(_mm512_cvtepi64_ps(nx));
    __m256 lam = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(sx, _mm256_add_ps(sa, sb)));
    _mm256_storeu_ps(l, lam);
    unsigned keep = _mm512_cmpge_epu64_mask(common, broadcast(min_common));
    keep &= (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(lam, _mm256_setzero_ps(), _CMP_GT_OQ));
    __m128i d = _mm_abs_epi16(
        _mm_sub_epi16(_mm_set1_epi16((short)theta), _mm_loadu_si128((const __m128i *)thetas)));
    __m128i near = _mm_cmpeq_epi16(_mm_min_epu16(d, _mm_set1_epi16(DELTA_THETA)), d);
    keep &= (unsigned)_mm_movemask_epi8(_mm_packs_epi16(near, _mm_setzero_si128()));
    return keep;
}

AVX512 unsigned mcc_similarities_avx512(const struct mcc_finger *a, const struct mcc_finger *b,
                                        unsigned min_common, struct mcc_pair *out)
{
    unsigned n = 0, blocks = (b->n + MCC_LANES - 1) / MCC_LANES;
    unsigned last = b->n % MCC_LANES ? (1u << (b->n % MCC_LANES)) - 1 : 0xffu;
    float l[MCC_LANES];
    for (unsigned i = 0; i < a->n; i++) {
        for (unsigned blk = 0; blk < blocks; blk++) {
            const uint64_t *block = b->lanes + (size_t)blk * MCC_LANES * MCC_LANE_WORDS;
            unsigned keep = block_similarity(&a->cyl[i], a->theta[i], block,
                                             b->theta + blk * MCC_LANES, min_common, l);
            if (blk + 1 == blocks)
                keep &= last;
            while (keep) {
                unsigned lane = (unsigned)__builtin_ctz(keep);
                keep &= keep - 1;
                out[n++] = (struct mcc_pair){(uint8_t)i, (uint8_t)(blk * MCC_LANES + lane),
                                             (uint8_t)(l[lane] * 255.0f), l[lane]};
            }
        }
    }
    return n;
}

#else

unsigned mcc_similarities_avx512(const struct mcc_finger *a, const struct mcc_finger *b,
                                 unsigned min_common, struct mcc_pair *out)
{
    (void)a, (void)b, (void)min_common, (void)out;
    return 0;
}

#endif
