/*
 * kernel-bpf/ratelimit.h - what crosses the boundary between the XDP rate
 * limiter (ratelimit.bpf.c, in the kernel) and its manager (ratelimit*.c, in
 * user space): the layout of every map's keys and values, the reasons the
 * counters are kept by, and the sizes of the tables.
 *
 * It is compiled twice: by clang for the BPF target, where the kernel's types
 * come from the generated vmlinux.h, and by the C compiler of the user side,
 * where they come from <linux/types.h>.  So it holds plain structs of fixed
 * width types and nothing else.
 *
 * Addresses: a source is counted as an IPv4 /32 or an IPv6 /64 (the rest of
 * the address zero), tagged with its family so the two never meet.  The
 * LPM-trie keys (agency networks, the deny list) carry the family as their
 * first 32 bits: a prefix 203.0.113.0/24 is stored with prefixlen 32 + 24.
 *
 * Rates: each class holds a packet rate and a SYN rate, each as a GCRA
 * (generic cell rate algorithm, the virtual-scheduling form of a token
 * bucket): an emission interval of 1e9/rate nanoseconds and a tolerance of
 * burst intervals.  A bucket then needs one 64-bit "theoretical arrival
 * time", updated with compare-and-swap, so CPUs never lock each other.
 */
#ifndef HUDUMA_RATELIMIT_H
#define HUDUMA_RATELIMIT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define RL_MAX_CLASSES  64    /* class 0 is "default": sources in no agency network */
#define RL_MAX_NETWORKS 4096  /* agency networks (LPM trie) */
#define RL_MAX_DENIED   16384 /* deny list entries (LPM trie) */
#define RL_NAME_MAX     24    /* a class name, NUL included */
#define RL_IFNAME_MAX   16    /* IFNAMSIZ */
#define RL_FAMILY_V4    4
#define RL_FAMILY_V6    6
#define RL_PREFIX_BASE  32 /* the family's bits at the head of every LPM key */
#define RL_FOREVER      0xffffffffffffffffULL

/* Every packet the program sees is counted under exactly one reason. */
enum rl_reason {
    RL_PASS_RATE = 0,  /* to the API port, within its source's rate */
    RL_PASS_FRAGMENT,  /* an IP fragment (no port to see), within its source's rate */
    RL_PASS_OTHER,     /* IPv4/IPv6, not to the API port, source not denied */
    RL_PASS_NOT_IP,    /* ARP, LLDP, ...: not the limiter's business */
    RL_PASS_MALFORMED, /* truncated or unparseable: left to the kernel to refuse */
    RL_PASS_UNTRACKED, /* no bucket could be had for the source (never expected) */
    RL_DROP_DENIED,    /* the source is on the deny list */
    RL_DROP_RATE,      /* over its class's packet rate */
    RL_DROP_SYN,       /* a new connection (TCP SYN) over its class's SYN rate */
    RL_NREASONS
};

/* Why a deny-list entry is there (shown by `huduma ratelimit status`). */
enum rl_ban_origin {
    RL_BAN_CONFIG = 1,    /* [ratelimit] deny */
    RL_BAN_OPERATOR = 2,  /* huduma ratelimit ban */
    RL_BAN_HANDSHAKE = 3, /* the daemon: repeated failed mutual-TLS handshakes */
};

/* A source as counted: IPv4 address, or the /64 of an IPv6 address. */
struct rl_addr {
    __u32 family; /* RL_FAMILY_V4 or RL_FAMILY_V6 */
    __u8 addr[16];
};

/* Key of the LPM tries: prefixlen counts the 32 bits of family first. */
struct rl_prefix {
    __u32 prefixlen;
    __u32 family;
    __u8 addr[16];
};

/* The single entry of the rl_config array (mmap-able: user space bumps
 * `generation` atomically after any change to the networks or the deny list,
 * and every bucket refreshes its cached class and ban on its next packet). */
struct rl_config {
    __u64 generation;
    __u16 port;        /* the API port, network byte order */
    __u16 attach_mode; /* enum rl_mode, for `status` */
    __u32 ifindex;
    char ifname[RL_IFNAME_MAX];
};

/* One rate class (rl_classes array, indexed by class id). */
struct rl_class {
    __u64 interval_ns;     /* 1e9 / rate */
    __u64 tolerance_ns;    /* burst * interval */
    __u64 syn_interval_ns; /* the same for TCP SYNs */
    __u64 syn_tolerance_ns;
    __u32 rate, burst, syn_rate, syn_burst; /* as configured, for people */
    __u32 in_use;
    __u32 pad;
    char name[RL_NAME_MAX];
};

/* A deny-list entry (rl_denied LPM trie). */
struct rl_ban {
    __u64 until_ns; /* CLOCK_MONOTONIC; RL_FOREVER: until unbanned */
    __u32 origin;   /* enum rl_ban_origin */
    __u32 pad;
};

/* One source's state (rl_sources LRU hash, key struct rl_addr). */
struct rl_bucket {
    __u64 tat_ns;     /* GCRA theoretical arrival time, packets */
    __u64 syn_tat_ns; /* and new connections */
    __u64 passed;
    __u64 dropped;
    __u64 last_ns;         /* last packet seen */
    __u64 denied_until_ns; /* cached from rl_denied: 0, or its until_ns */
    __u64 generation;      /* of rl_config when the two cached fields were filled */
    __u32 class_id;        /* cached from rl_networks */
    __u32 pad;
};

/* Per-CPU counters (rl_stats, indexed by enum rl_reason). */
struct rl_count {
    __u64 packets;
    __u64 bytes;
};

/* Per-CPU counters per class (rl_class_stats, index 2 * class + dropped). */
#define RL_CLASS_STATS (2 * RL_MAX_CLASSES)

enum rl_mode { RL_MODE_NONE = 0, RL_MODE_NATIVE = 1, RL_MODE_GENERIC = 2 };

#endif
