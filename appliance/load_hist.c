/*
 * appliance/load_hist.c - huduma-load's latency histogram (see load.h).
 *
 * Log-linear buckets of microseconds.  Values v below 2 * SUB (SUB = 128) each
 * have their own bucket.  A larger value, whose highest set bit is b, is
 * shifted right by s = b - SUB_BITS, which leaves a "top" between SUB and
 * 2 * SUB - 1; its bucket is 2 * SUB + (s - 1) * SUB + (top - SUB).  Every
 * bucket past the exact ones thus covers 2^s consecutive values, less than
 * 1/SUB of the value.  A percentile is reported as the highest value of its
 * bucket (never above the largest value recorded), so it is never
 * understated.
 */
#include "load.h"

#include <math.h>

static unsigned hist_index(uint64_t v)
{
    if (v < 2 * LOAD_HIST_SUB)
        return (unsigned)v;
    unsigned bit = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = bit - LOAD_HIST_SUB_BITS;
    unsigned top = (unsigned)(v >> shift);
    return 2 * LOAD_HIST_SUB + (shift - 1) * LOAD_HIST_SUB + (top - LOAD_HIST_SUB);
}

/* The highest value that falls into bucket i. */
static uint64_t hist_highest(unsigned i)
{
    if (i < 2 * LOAD_HIST_SUB)
        return i;
    unsigned j = i - 2 * LOAD_HIST_SUB;
    unsigned shift = j / LOAD_HIST_SUB + 1;
    uint64_t top = j % LOAD_HIST_SUB + LOAD_HIST_SUB;
    return (top << shift) + ((uint64_t)1 << shift) - 1;
}

void load_hist_add(struct load_hist *h, uint64_t us, uint64_t times)
{
    const uint64_t limit = ((uint64_t)1 << LOAD_HIST_MAX_BITS) - 1;
    if (times == 0)
        return;
    if (us > limit)
        us = limit;
    h->bucket[hist_index(us)] += times;
    h->count += times;
    h->sum += us * times;
    if (us > h->max)
        h->max = us;
}

void load_hist_merge(struct load_hist *into, const struct load_hist *from)
{
    for (unsigned i = 0; i < LOAD_HIST_SIZE; i++)
        into->bucket[i] += from->bucket[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t load_hist_percentile(const struct load_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LOAD_HIST_SIZE; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t v = hist_highest(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

double load_hist_mean(const struct load_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0;
}
