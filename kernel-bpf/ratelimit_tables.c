/*
 * kernel-bpf/ratelimit_tables.c - reading and changing a running limiter:
 * its counters, classes, agency networks, deny list and busiest sources.
 *
 * Used alike by hudumad (to fill the tables at start, to ban, for /metrics)
 * and by `huduma ratelimit` (through the pinned maps).  A change to a class
 * is seen by the next packet, since the program reads the class on every
 * packet.  A change to the networks or the deny list bumps the
 * configuration's generation, after the change: every bucket then refreshes
 * its cached class and ban on its next packet (ratelimit.bpf.c).
 *
 * Per-CPU maps give one value per possible CPU; they are summed here.
 * Walking the LRU hash of sources is bounded by twice its size, since a key
 * evicted under our feet makes the kernel start the walk over.
 */
#include "ratelimit_impl.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- classes ------------------------------------------------------------------------ */

void rl_class_fill(struct rl_class *c, const char *name, const struct rl_rate *r)
{
    memset(c, 0, sizeof *c);
    c->interval_ns = 1000000000ull / r->rate;
    c->tolerance_ns = c->interval_ns * r->burst;
    c->syn_interval_ns = 1000000000ull / r->syn_rate;
    c->syn_tolerance_ns = c->syn_interval_ns * r->syn_burst;
    c->rate = r->rate;
    c->burst = r->burst;
    c->syn_rate = r->syn_rate;
    c->syn_burst = r->syn_burst;
    c->in_use = 1;
    strncpy(c->name, name, sizeof c->name - 1);
}

static int read_class(struct rl *rl, unsigned id, struct rl_class *c)
{
    __u32 key = id;
    return bpf_map_lookup_elem(rl->fd[RL_MAP_CLASSES], &key, c);
}

int rl_class_find(struct rl *rl, const char *name)
{
    struct rl_class c;
    for (unsigned id = 0; id < RL_MAX_CLASSES; id++)
        if (read_class(rl, id, &c) == 0 && c.in_use && strncmp(c.name, name, RL_NAME_MAX) == 0)
            return (int)id;
    return -1;
}

static int free_class_id(struct rl *rl)
{
    struct rl_class c;
    for (unsigned id = 0; id < RL_MAX_CLASSES; id++)
        if (read_class(rl, id, &c) == 0 && !c.in_use)
            return (int)id;
    return -1;
}

static bool rate_ok(const struct rl_rate *r)
{
    return r->rate >= 1 && r->rate <= RL_RATE_MAX && r->burst >= 1 && r->burst <= RL_BURST_MAX &&
           r->syn_rate >= 1 && r->syn_rate <= RL_RATE_MAX && r->syn_burst >= 1 &&
           r->syn_burst <= RL_BURST_MAX;
}

int rl_set_class(struct rl *rl, const char *name, const struct rl_rate *r, char *err, size_t errlen)
{
    if (!rl_class_name_ok(name))
        return rl_fail(err, errlen,
                       "%s: a class name is 1..23 of a-z, 0-9, _ and -, starting with a letter",
                       name);
    if (!rate_ok(r))
        return rl_fail(err, errlen, "rates must be 1..%u per second, bursts 1..%u", RL_RATE_MAX,
                       RL_BURST_MAX);
    int id = rl_class_find(rl, name);
    if (id < 0)
        id = free_class_id(rl);
    if (id < 0)
        return rl_fail(err, errlen, "no room for class %s: %d classes are in use", name,
                       RL_MAX_CLASSES);
    struct rl_class c;
    rl_class_fill(&c, name, r);
    __u32 key = (__u32)id;
    if (bpf_map_update_elem(rl->fd[RL_MAP_CLASSES], &key, &c, BPF_ANY) != 0)
        return rl_fail(err, errlen, "cannot set class %s: %s", name, strerror(errno));
    return 0;
}

int rl_classes(struct rl *rl, struct rl_class_info *out, char *err, size_t errlen)
{
    int n = 0;
    size_t each = 8 * (size_t)rl->ncpus;
    __u64 *per_cpu = calloc(1, each);
    if (!per_cpu)
        return rl_fail(err, errlen, "out of memory");
    for (unsigned id = 0; id < RL_MAX_CLASSES; id++) {
        struct rl_class c;
        if (read_class(rl, id, &c) != 0) {
            free(per_cpu);
            return rl_fail(err, errlen, "cannot read class %u: %s", id, strerror(errno));
        }
        if (!c.in_use)
            continue;
        struct rl_class_info *info = &out[n++];
        memset(info, 0, sizeof *info);
        info->id = id;
        memcpy(info->name, c.name, sizeof info->name);
        info->name[RL_NAME_MAX - 1] = '\0';
        info->rate = (struct rl_rate){c.rate, c.burst, c.syn_rate, c.syn_burst};
        for (unsigned dropped = 0; dropped < 2; dropped++) {
            __u32 key = 2 * id + dropped;
            uint64_t sum = 0;
            if (bpf_map_lookup_elem(rl->fd[RL_MAP_CLASS_STATS], &key, per_cpu) == 0)
                for (int cpu = 0; cpu < rl->ncpus; cpu++)
                    sum += per_cpu[cpu];
            *(dropped ? &info->dropped : &info->passed) = sum;
        }
    }
    free(per_cpu);
    return n;
}

/* ---- networks and the deny list ------------------------------------------------------- */

static int prefix_ok(const struct rl_prefix *p, char *err, size_t errlen)
{
    unsigned max = p->family == RL_FAMILY_V4 ? 32 : p->family == RL_FAMILY_V6 ? 64 : 0;
    if (max == 0 || p->prefixlen < RL_PREFIX_BASE || p->prefixlen > RL_PREFIX_BASE + max)
        return rl_fail(err, errlen, "not a valid prefix");
    return 0;
}

int rl_set_network(struct rl *rl, const struct rl_prefix *p, const char *class_name, char *err,
                   size_t errlen)
{
    if (prefix_ok(p, err, errlen) != 0)
        return -1;
    int id = rl_class_find(rl, class_name);
    if (id < 0)
        return rl_fail(err, errlen, "no class %s (make it first with a rate)", class_name);
    __u32 value = (__u32)id;
    if (bpf_map_update_elem(rl->fd[RL_MAP_NETWORKS], p, &value, BPF_ANY) != 0) {
        char text[RL_PREFIX_TEXT];
        return rl_fail(err, errlen, "cannot add network %s: %s",
                       rl_prefix_format(p, text, sizeof text),
                       errno == ENOSPC ? "the table of networks is full" : strerror(errno));
    }
    rl_bump_generation(rl);
    return 0;
}

static int remove_prefix(struct rl *rl, int map, const struct rl_prefix *p, const char *table,
                         char *err, size_t errlen)
{
    if (prefix_ok(p, err, errlen) != 0)
        return -1;
    char text[RL_PREFIX_TEXT];
    if (bpf_map_delete_elem(rl->fd[map], p) != 0)
        return rl_fail(err, errlen, "%s: %s", rl_prefix_format(p, text, sizeof text),
                       errno == ENOENT ? table : strerror(errno));
    rl_bump_generation(rl);
    return 0;
}

int rl_remove_network(struct rl *rl, const struct rl_prefix *p, char *err, size_t errlen)
{
    return remove_prefix(rl, RL_MAP_NETWORKS, p, "not an agency network", err, errlen);
}

/* Removes the bans whose time is up (the program ignores them already).
 * Collected first: deleting while walking would restart the walk. */
static void sweep_expired_bans(struct rl *rl)
{
    struct rl_prefix *expired = calloc(RL_MAX_DENIED, sizeof *expired);
    if (!expired)
        return;
    uint64_t now = rl_now_ns();
    unsigned n = 0;
    struct rl_prefix key, next;
    void *prev = NULL;
    while (n < RL_MAX_DENIED && bpf_map_get_next_key(rl->fd[RL_MAP_DENIED], prev, &next) == 0) {
        struct rl_ban ban;
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(rl->fd[RL_MAP_DENIED], &key, &ban) == 0 && ban.until_ns <= now)
            expired[n++] = key;
    }
    for (unsigned i = 0; i < n; i++)
        bpf_map_delete_elem(rl->fd[RL_MAP_DENIED], &expired[i]);
    free(expired);
}

int rl_ban(struct rl *rl, const struct rl_prefix *p, unsigned seconds, enum rl_ban_origin origin,
           char *err, size_t errlen)
{
    if (prefix_ok(p, err, errlen) != 0)
        return -1;
    struct rl_ban ban = {.until_ns = seconds ? rl_now_ns() + seconds * 1000000000ull : RL_FOREVER,
                         .origin = origin};
    int rc = bpf_map_update_elem(rl->fd[RL_MAP_DENIED], p, &ban, BPF_ANY);
    if (rc != 0 && errno == ENOSPC) {
        sweep_expired_bans(rl);
        rc = bpf_map_update_elem(rl->fd[RL_MAP_DENIED], p, &ban, BPF_ANY);
    }
    if (rc != 0) {
        char text[RL_PREFIX_TEXT];
        return rl_fail(err, errlen, "cannot ban %s: %s", rl_prefix_format(p, text, sizeof text),
                       errno == ENOSPC ? "the deny list is full" : strerror(errno));
    }
    rl_bump_generation(rl);
    return 0;
}

int rl_unban(struct rl *rl, const struct rl_prefix *p, char *err, size_t errlen)
{
    return remove_prefix(rl, RL_MAP_DENIED, p, "not on the deny list", err, errlen);
}

/* Calls fn on every key of an LPM trie, with its value in `value`. */
static int each_prefix(struct rl *rl, int map, void *value,
                       int (*fn)(void *ctx, const struct rl_prefix *p, const void *value),
                       void *ctx, char *err, size_t errlen)
{
    struct rl_prefix key, next;
    void *prev = NULL;
    while (bpf_map_get_next_key(rl->fd[map], prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(rl->fd[map], &key, value) != 0)
            continue; /* removed meanwhile */
        int rc = fn(ctx, &key, value);
        if (rc != 0)
            return rc;
    }
    if (errno != ENOENT)
        return rl_fail(err, errlen, "cannot walk %s: %s", rl_map_names[map], strerror(errno));
    return 0;
}

struct network_walk {
    int (*fn)(void *ctx, const struct rl_prefix *p, unsigned cls);
    void *ctx;
};

static int network_step(void *ctx, const struct rl_prefix *p, const void *value)
{
    struct network_walk *w = ctx;
    return w->fn(w->ctx, p, *(const __u32 *)value);
}

int rl_each_network(struct rl *rl, int (*fn)(void *ctx, const struct rl_prefix *p, unsigned cls),
                    void *ctx, char *err, size_t errlen)
{
    struct network_walk w = {fn, ctx};
    __u32 value;
    return each_prefix(rl, RL_MAP_NETWORKS, &value, network_step, &w, err, errlen);
}

struct ban_walk {
    int (*fn)(void *ctx, const struct rl_prefix *p, const struct rl_ban *b, uint64_t now_ns);
    void *ctx;
    uint64_t now;
};

static int ban_step(void *ctx, const struct rl_prefix *p, const void *value)
{
    struct ban_walk *w = ctx;
    return w->fn(w->ctx, p, value, w->now);
}

int rl_each_ban(struct rl *rl,
                int (*fn)(void *ctx, const struct rl_prefix *p, const struct rl_ban *b,
                          uint64_t now_ns),
                void *ctx, char *err, size_t errlen)
{
    struct ban_walk w = {fn, ctx, rl_now_ns()};
    struct rl_ban value;
    return each_prefix(rl, RL_MAP_DENIED, &value, ban_step, &w, err, errlen);
}

/* ---- counters and sources --------------------------------------------------------------- */

int rl_status(struct rl *rl, struct rl_status *st, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    memset(st, 0, sizeof *st);
    memcpy(st->ifname, rl->config->ifname, sizeof st->ifname);
    st->ifname[RL_IFNAME_MAX - 1] = '\0';
    st->ifindex = rl->config->ifindex;
    st->mode = (enum rl_mode)rl->config->attach_mode;
    st->port = ntohs(rl->config->port);
    st->generation = __atomic_load_n(&rl->config->generation, __ATOMIC_RELAXED);
    return 0;
}

int rl_counters(struct rl *rl, struct rl_count out[RL_NREASONS], char *err, size_t errlen)
{
    struct rl_count *per_cpu = calloc((size_t)rl->ncpus, sizeof *per_cpu);
    if (!per_cpu)
        return rl_fail(err, errlen, "out of memory");
    for (__u32 r = 0; r < RL_NREASONS; r++) {
        out[r] = (struct rl_count){0, 0};
        if (bpf_map_lookup_elem(rl->fd[RL_MAP_STATS], &r, per_cpu) != 0) {
            free(per_cpu);
            return rl_fail(err, errlen, "cannot read the counters: %s", strerror(errno));
        }
        for (int cpu = 0; cpu < rl->ncpus; cpu++) {
            out[r].packets += per_cpu[cpu].packets;
            out[r].bytes += per_cpu[cpu].bytes;
        }
    }
    free(per_cpu);
    return 0;
}

static uint64_t rank(const struct rl_source_info *s, enum rl_top_by by)
{
    return by == RL_TOP_DROPPED ? s->dropped : s->passed;
}

/* Keeps out[0..*n) sorted by rank, at most max long. */
static void keep_top(struct rl_source_info *out, unsigned max, unsigned *n,
                     const struct rl_source_info *s, enum rl_top_by by)
{
    unsigned at = *n;
    while (at > 0 && rank(&out[at - 1], by) < rank(s, by))
        at--;
    if (at >= max)
        return;
    unsigned last = *n < max ? *n : max - 1;
    memmove(&out[at + 1], &out[at], (last - at) * sizeof *out);
    out[at] = *s;
    if (*n < max)
        (*n)++;
}

int rl_top(struct rl *rl, enum rl_top_by by, struct rl_source_info *out, unsigned max, char *err,
           size_t errlen)
{
    struct bpf_map_info info;
    __u32 len = sizeof info;
    memset(&info, 0, sizeof info);
    if (bpf_obj_get_info_by_fd(rl->fd[RL_MAP_SOURCES], &info, &len) != 0)
        return rl_fail(err, errlen, "cannot read rl_sources: %s", strerror(errno));
    uint64_t now = rl_now_ns(), steps = 2ull * info.max_entries;
    unsigned n = 0;
    struct rl_addr key, next;
    void *prev = NULL;
    while (max > 0 && steps-- > 0 &&
           bpf_map_get_next_key(rl->fd[RL_MAP_SOURCES], prev, &next) == 0) {
        key = next;
        prev = &key;
        struct rl_bucket b;
        if (bpf_map_lookup_elem(rl->fd[RL_MAP_SOURCES], &key, &b) != 0)
            continue;
        struct rl_source_info s = {.addr = key,
                                   .class_id = b.class_id,
                                   .passed = b.passed,
                                   .dropped = b.dropped,
                                   .denied = b.denied_until_ns > now,
                                   .idle_ms = now > b.last_ns ? (now - b.last_ns) / 1000000 : 0};
        keep_top(out, max, &n, &s, by);
    }
    return (int)n;
}
