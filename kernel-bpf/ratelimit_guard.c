/*
 * kernel-bpf/ratelimit_guard.c - the daemon bans a source that keeps failing
 * mutual-TLS handshakes.
 *
 * hudumad calls rl_handshake_failed() for every handshake it refuses (no
 * certificate, a certificate of another CA, an unknown or revoked agency).
 * Each source (IPv4 /32, IPv6 /64) has a window of ban_window_seconds from
 * its first failure; ban_after_failures failures within one window put the
 * source on the deny list for ban_seconds, so the XDP program drops its
 * packets before they cost a handshake.  Sources inside an agency network are
 * never banned here: a misconfigured agency is held to its class's rate, not
 * cut off.
 *
 * The record is a small fixed table (RL_GUARD_SLOTS), scanned under a lock:
 * failures are rare next to successful handshakes, and a flood of failing
 * sources wider than the table only evicts the oldest windows, which is the
 * SYN limit's business anyway.
 */
#include "ratelimit_impl.h"

#include <bpf/bpf.h>
#include <string.h>

static bool same_source(const struct rl_prefix *a, const struct rl_prefix *b)
{
    return a->prefixlen == b->prefixlen && a->family == b->family &&
           memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

/* The source's entry: its own, else a free or expired one, else the oldest. */
static struct rl_guard_entry *guard_entry(struct rl *rl, const struct rl_prefix *src, uint64_t now,
                                          uint64_t window)
{
    struct rl_guard_entry *idle = NULL, *oldest = NULL;
    for (unsigned i = 0; i < RL_GUARD_SLOTS; i++) {
        struct rl_guard_entry *e = &rl->guard[i];
        if (e->source.prefixlen && same_source(&e->source, src))
            return e;
        if (!idle && (e->source.prefixlen == 0 || now - e->window_start_ns > window))
            idle = e;
        if (!oldest || e->window_start_ns < oldest->window_start_ns)
            oldest = e;
    }
    struct rl_guard_entry *reuse = idle ? idle : oldest;
    memset(reuse, 0, sizeof *reuse);
    reuse->source = *src;
    reuse->window_start_ns = now;
    return reuse;
}

static bool in_agency_network(struct rl *rl, const struct rl_prefix *src)
{
    __u32 class_id;
    return bpf_map_lookup_elem(rl->fd[RL_MAP_NETWORKS], src, &class_id) == 0 && class_id != 0;
}

/* Counts the failure; true when it is the one that bans. */
static bool count_failure(struct rl *rl, const struct rl_prefix *src, unsigned *failures)
{
    uint64_t now = rl_now_ns(), window = rl->ban_window_s * 1000000000ull;
    pthread_mutex_lock(&rl->guard_lock);
    struct rl_guard_entry *e = guard_entry(rl, src, now, window);
    if (now - e->window_start_ns > window) {
        e->failures = 0;
        e->window_start_ns = now;
    }
    *failures = ++e->failures;
    bool ban = e->failures >= rl->ban_after_failures;
    if (ban)
        memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&rl->guard_lock);
    return ban;
}

int rl_handshake_failed(struct rl *rl, const struct sockaddr *peer, struct rl_guard_ban *ban,
                        char *err, size_t errlen)
{
    struct rl_prefix src;
    if (!rl || rl->ban_after_failures == 0 || rl_prefix_of_peer(peer, &src) != 0 ||
        in_agency_network(rl, &src))
        return 0;
    unsigned failures;
    if (!count_failure(rl, &src, &failures))
        return 0;
    if (rl_ban(rl, &src, rl->ban_seconds, RL_BAN_HANDSHAKE, err, errlen) != 0)
        return -1;
    atomic_fetch_add(&rl->guard_bans, 1);
    memset(ban, 0, sizeof *ban);
    rl_prefix_format(&src, ban->source, sizeof ban->source);
    ban->failures = failures;
    ban->seconds = rl->ban_seconds;
    return 1;
}

uint64_t rl_guard_bans(const struct rl *rl)
{
    return rl ? atomic_load(&((struct rl *)rl)->guard_bans) : 0;
}
