/*
 * kernel-bpf/ratelimit.bpf.c - the XDP rate limiter in front of hudumad.
 *
 * Runs on every frame the appliance's interface receives, before the kernel
 * has spent anything on it, and answers XDP_DROP or XDP_PASS:
 *
 *   1. Parse: Ethernet, up to two VLAN tags (802.1Q, 802.1ad), then IPv4
 *      (options skipped by the header length) or IPv6 (hop-by-hop, routing,
 *      destination options, fragment and AH headers walked, at most eight),
 *      then TCP.  Every read is bounds-checked against data_end; whatever
 *      cannot be parsed is passed untouched and counted as malformed, so the
 *      kernel refuses it as it would without us.
 *   2. Traffic that is not TCP to the API port passes, unless its source is
 *      on the deny list.  Fragments are "metered" too: only the first one
 *      shows a port, so all of them count against their source's rate.
 *   3. Metered traffic looks up its source (IPv4 /32, IPv6 /64) in the LRU
 *      hash of buckets.  A bucket caches its source's class (longest match in
 *      the agency networks, else class 0) and ban, refreshed whenever user
 *      space bumps the configuration's generation; so the usual packet costs
 *      one array and one hash lookup, not two trie walks.
 *   4. A banned source is dropped.  A TCP SYN must fit the class's SYN rate,
 *      then every packet its packet rate (GCRA, see ratelimit.h).
 *
 * Every packet is counted once by reason in a per-CPU array, and per class.
 *
 * Loading it takes CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: without the last,
 * the verifier refuses any variable offset into the packet (Spectre v1
 * hardening), and walking IPv4 options and IPv6 headers needs one.
 */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ratelimit.h"

#define ETH_P_IP_     0x0800
#define ETH_P_IPV6_   0x86DD
#define ETH_P_8021Q_  0x8100
#define ETH_P_8021AD_ 0x88A8
#define IP_MF_        0x2000
#define IP_OFFSET_    0x1FFF
#define PROTO_TCP     6
#define EXT_HOP       0
#define EXT_ROUTING   43
#define EXT_FRAGMENT  44
#define EXT_AH        51
#define EXT_DEST      60
#define MAX_VLANS     2
#define MAX_EXT       8
#define CAS_TRIES     4

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct rl_config);
} rl_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, RL_MAX_CLASSES);
    __type(key, __u32);
    __type(value, struct rl_class);
} rl_classes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, RL_MAX_NETWORKS);
    __type(key, struct rl_prefix);
    __type(value, __u32);
} rl_networks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, RL_MAX_DENIED);
    __type(key, struct rl_prefix);
    __type(value, struct rl_ban);
} rl_denied SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536); /* set at load time ([ratelimit] max_sources) */
    __type(key, struct rl_addr);
    __type(value, struct rl_bucket);
} rl_sources SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RL_NREASONS);
    __type(key, __u32);
    __type(value, struct rl_count);
} rl_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RL_CLASS_STATS);
    __type(key, __u32);
    __type(value, __u64);
} rl_class_stats SEC(".maps");

enum parsed { PARSED_METERED, PARSED_OTHER_IP, PARSED_NOT_IP, PARSED_MALFORMED };

struct packet {
    struct rl_addr src;
    bool syn;
    bool fragment;
};

struct vlan_tag {
    __be16 tci;
    __be16 proto;
};

struct ext_header {
    __u8 next;
    __u8 len;
};

struct frag_header {
    __u8 next;
    __u8 reserved;
    __be16 offset_flags;
    __be32 id;
};

/* ---- parsing ------------------------------------------------------------------ */

static __always_inline int parse_tcp(void *pos, void *end, __u16 port, struct packet *p)
{
    struct tcphdr *tcp = pos;
    if ((void *)(tcp + 1) > end)
        return PARSED_MALFORMED;
    if (tcp->dest != port)
        return PARSED_OTHER_IP;
    p->syn = tcp->syn && !tcp->ack;
    return PARSED_METERED;
}

static __always_inline int parse_ipv4(void *pos, void *end, __u16 port, struct packet *p)
{
    struct iphdr *ip = pos;
    if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
        return PARSED_MALFORMED;
    p->src.family = RL_FAMILY_V4;
    __builtin_memcpy(p->src.addr, &ip->saddr, 4);
    if (ip->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_)) {
        p->fragment = true;
        return PARSED_METERED;
    }
    if (ip->protocol != PROTO_TCP)
        return PARSED_OTHER_IP;
    return parse_tcp(pos + ip->ihl * 4, end, port, p);
}

static __always_inline int parse_ipv6(void *pos, void *end, __u16 port, struct packet *p)
{
    struct ipv6hdr *ip6 = pos;
    if ((void *)(ip6 + 1) > end || ip6->version != 6)
        return PARSED_MALFORMED;
    p->src.family = RL_FAMILY_V6;
    __builtin_memcpy(p->src.addr, &ip6->saddr, 8); /* the /64 */
    __u8 next = ip6->nexthdr;
    pos = ip6 + 1;
    for (int i = 0; i < MAX_EXT; i++) {
        if (next == PROTO_TCP)
            return parse_tcp(pos, end, port, p);
        if (next == EXT_FRAGMENT) {
            struct frag_header *f = pos;
            if ((void *)(f + 1) > end)
                return PARSED_MALFORMED;
            if (f->offset_flags & bpf_htons(0xFFF9)) { /* offset, or more fragments */
                p->fragment = true;
                return PARSED_METERED;
            }
            next = f->next; /* an atomic fragment: read on */
            pos = f + 1;
            continue;
        }
        if (next != EXT_HOP && next != EXT_ROUTING && next != EXT_DEST && next != EXT_AH)
            return PARSED_OTHER_IP; /* ICMPv6, UDP, ESP, no next header, ... */
        struct ext_header *h = pos;
        if ((void *)(h + 1) > end)
            return PARSED_MALFORMED;
        unsigned len = next == EXT_AH ? ((unsigned)h->len + 2) * 4 : ((unsigned)h->len + 1) * 8;
        next = h->next;
        pos += len;
    }
    return PARSED_METERED; /* too deep to find the port: counted against the source */
}

static __always_inline int parse(void *data, void *end, __u16 port, struct packet *p)
{
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return PARSED_MALFORMED;
    __be16 type = eth->h_proto;
    void *pos = eth + 1;
    for (int i = 0; i < MAX_VLANS; i++) {
        if (type != bpf_htons(ETH_P_8021Q_) && type != bpf_htons(ETH_P_8021AD_))
            break;
        struct vlan_tag *tag = pos;
        if ((void *)(tag + 1) > end)
            return PARSED_MALFORMED;
        type = tag->proto;
        pos = tag + 1;
    }
    if (type == bpf_htons(ETH_P_IP_))
        return parse_ipv4(pos, end, port, p);
    if (type == bpf_htons(ETH_P_IPV6_))
        return parse_ipv6(pos, end, port, p);
    return PARSED_NOT_IP;
}

/* ---- counting ----------------------------------------------------------------- */

static __always_inline int verdict(enum rl_reason why, __u64 bytes)
{
    __u32 key = why;
    struct rl_count *c = bpf_map_lookup_elem(&rl_stats, &key);
    if (c) {
        c->packets++;
        c->bytes += bytes;
    }
    return why >= RL_DROP_DENIED ? XDP_DROP : XDP_PASS;
}

static __always_inline void count_class(__u32 class_id, bool dropped)
{
    __u32 key = 2 * class_id + (dropped ? 1 : 0);
    __u64 *n = bpf_map_lookup_elem(&rl_class_stats, &key);
    if (n)
        (*n)++;
}

/* ---- the tables ----------------------------------------------------------------- */

static __always_inline void prefix_of(const struct rl_addr *src, struct rl_prefix *key)
{
    key->prefixlen = RL_PREFIX_BASE + (src->family == RL_FAMILY_V4 ? 32 : 64);
    key->family = src->family;
    __builtin_memcpy(key->addr, src->addr, sizeof key->addr);
}

/* The source's ban, 0 when none. */
static __always_inline __u64 ban_of(const struct rl_prefix *key)
{
    struct rl_ban *ban = bpf_map_lookup_elem(&rl_denied, key);
    return ban ? ban->until_ns : 0;
}

static __always_inline void refresh(struct rl_bucket *b, const struct rl_addr *src, __u64 gen)
{
    struct rl_prefix key = {};
    prefix_of(src, &key);
    __u32 *class_id = bpf_map_lookup_elem(&rl_networks, &key);
    b->class_id = class_id && *class_id < RL_MAX_CLASSES ? *class_id : 0;
    b->denied_until_ns = ban_of(&key);
    b->generation = gen;
}

static __always_inline struct rl_bucket *bucket_of(const struct rl_addr *src)
{
    struct rl_bucket *b = bpf_map_lookup_elem(&rl_sources, src);
    if (b)
        return b;
    struct rl_bucket fresh = {.generation = ~0ULL}; /* filled by refresh() */
    bpf_map_update_elem(&rl_sources, src, &fresh, BPF_NOEXIST);
    return bpf_map_lookup_elem(&rl_sources, src);
}

/* GCRA: true when a packet arriving at `now` conforms; its slot is taken then.
 * A theoretical arrival time beyond the tolerance can only be left by a rate
 * that has been changed since: the source starts afresh at the new rate. */
static __always_inline bool conforms(__u64 *tat, __u64 now, __u64 interval, __u64 tolerance)
{
    for (int i = 0; i < CAS_TRIES; i++) {
        __u64 old = *(volatile __u64 *)tat;
        __u64 base = old > now && old - now <= tolerance ? old : now;
        __u64 next = base + interval;
        if (next - now > tolerance)
            return false;
        if (__sync_val_compare_and_swap(tat, old, next) == old)
            return true;
    }
    return false; /* lost the race CAS_TRIES times: a flood from several CPUs at once */
}

/* ---- the program -------------------------------------------------------------------- */

/* The limit a packet meets: the SYN rate first for a new connection, then the packet rate. */
static __always_inline enum rl_reason judge(struct rl_bucket *b, const struct rl_class *c,
                                            const struct packet *p, __u64 now)
{
    if (p->syn && !conforms(&b->syn_tat_ns, now, c->syn_interval_ns, c->syn_tolerance_ns))
        return RL_DROP_SYN;
    if (!conforms(&b->tat_ns, now, c->interval_ns, c->tolerance_ns))
        return RL_DROP_RATE;
    return p->fragment ? RL_PASS_FRAGMENT : RL_PASS_RATE;
}

static __always_inline int meter(const struct rl_config *cfg, const struct packet *p, __u64 bytes)
{
    struct rl_bucket *b = bucket_of(&p->src);
    if (!b)
        return verdict(RL_PASS_UNTRACKED, bytes);
    __u64 now = bpf_ktime_get_ns();
    if (b->generation != cfg->generation)
        refresh(b, &p->src, cfg->generation);
    b->last_ns = now;
    __u32 class_id = b->class_id;
    enum rl_reason why = RL_DROP_DENIED;
    if (b->denied_until_ns <= now) {
        struct rl_class *c = bpf_map_lookup_elem(&rl_classes, &class_id);
        if (!c)
            return verdict(RL_PASS_UNTRACKED, bytes);
        why = judge(b, c, p, now);
        count_class(class_id, why >= RL_DROP_DENIED);
    }
    if (why >= RL_DROP_DENIED)
        __sync_fetch_and_add(&b->dropped, 1);
    else
        __sync_fetch_and_add(&b->passed, 1);
    return verdict(why, bytes);
}

SEC("xdp")
int huduma_ratelimit(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    __u64 bytes = bpf_xdp_get_buff_len(ctx); /* fragments of a multi-buffer frame too */
    __u32 zero = 0;
    struct rl_config *cfg = bpf_map_lookup_elem(&rl_config, &zero);
    if (!cfg)
        return XDP_PASS;
    struct packet p = {};
    switch (parse(data, end, cfg->port, &p)) {
    case PARSED_METERED:
        return meter(cfg, &p, bytes);
    case PARSED_OTHER_IP: {
        struct rl_prefix key = {};
        prefix_of(&p.src, &key);
        if (ban_of(&key) > bpf_ktime_get_ns())
            return verdict(RL_DROP_DENIED, bytes);
        return verdict(RL_PASS_OTHER, bytes);
    }
    case PARSED_NOT_IP:
        return verdict(RL_PASS_NOT_IP, bytes);
    default:
        return verdict(RL_PASS_MALFORMED, bytes);
    }
}
