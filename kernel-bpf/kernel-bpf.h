/*
 * kernel-bpf/kernel-bpf.h - the door of kernel-bpf/: the XDP rate limiter in
 * front of hudumad, seen from user space.
 *
 *   settings   what [ratelimit] in hudumad.conf says (ratelimit_text.c parses
 *              each key, checks the whole, and parses addresses and rates)
 *   rl_start   hudumad's side (ratelimit.c): load the program, fill its tables
 *              from the settings, attach it to the interface (native XDP, else
 *              generic), pin its maps under /sys/fs/bpf/huduma/<instance>/ so
 *              `huduma ratelimit` can reach them; rl_stop undoes all of it
 *   rl_open    the command line's side: the pinned maps of a running daemon
 *   tables     reading and changing the limiter at run time (ratelimit_tables.c):
 *              counters, classes and their rates, agency networks, the deny
 *              list, the busiest sources
 *   guard      the daemon's record of failed mutual-TLS handshakes per source,
 *              which bans a source that keeps failing (ratelimit_guard.c)
 *
 * Every function returns 0 (or a count) on success and -1 with a message in
 * `err` on failure; nothing here logs or exits.  A struct rl is safe to use
 * from several threads: the kernel serialises map updates, and the guard has
 * its own lock.
 */
#ifndef HUDUMA_KERNEL_BPF_H
#define HUDUMA_KERNEL_BPF_H

#include "ratelimit.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RL_PIN_ROOT        "/sys/fs/bpf/huduma"
#define RL_INSTANCE_MAX    32
#define RL_CONFIG_NETWORKS 256 /* agency networks given in the configuration */
#define RL_CONFIG_DENY     64  /* deny list entries given in the configuration */
#define RL_RATE_MAX        100000000u
#define RL_BURST_MAX       10000000u
#define RL_PREFIX_TEXT     64 /* "2001:db8:ffff:ffff::/64" and the like, NUL included */

/* ---- settings ([ratelimit] in hudumad.conf; docs/ratelimit.md) -------------------- */

struct rl_rate {
    unsigned rate, burst;         /* packets per second to the API port, and a burst */
    unsigned syn_rate, syn_burst; /* new connections (TCP SYN) per second, and a burst */
};

struct rl_settings {
    char interface[RL_IFNAME_MAX]; /* empty: rate limiting is off */
    char instance[RL_INSTANCE_MAX];
    unsigned port; /* the API port: [server] port */
    unsigned max_sources;
    unsigned nclasses; /* class 0 is "default" */
    char class_name[RL_MAX_CLASSES][RL_NAME_MAX];
    struct rl_rate class_rate[RL_MAX_CLASSES];
    bool class_defined[RL_MAX_CLASSES]; /* by a class.NAME key (or the built-in default) */
    unsigned nnetworks;
    struct rl_prefix network[RL_CONFIG_NETWORKS];
    unsigned network_class[RL_CONFIG_NETWORKS];
    unsigned ndeny;
    struct rl_prefix deny[RL_CONFIG_DENY];
    unsigned ban_after_failures; /* 0: never ban */
    unsigned ban_window_s;
    unsigned ban_seconds;
    unsigned seen; /* which single keys were given (duplicates are refused) */
};

void rl_settings_default(struct rl_settings *s);
/* One key of [ratelimit]: 0, or -1 with why. */
int rl_settings_key(struct rl_settings *s, const char *name, const char *value, char *why,
                    size_t len);
/* After the last key: every class used by a network is defined.  0 or -1. */
int rl_settings_finish(struct rl_settings *s, char *why, size_t len);

/* "203.0.113.0/24", "2001:db8:5::/48", or a bare address (an IPv4 /32, the
 * IPv6 /64 that holds it).  Refused: host bits set, IPv6 longer than /64
 * (sources are counted per /64).  0 or -1 with why. */
int rl_prefix_parse(const char *text, struct rl_prefix *out, char *why, size_t len);
const char *rl_prefix_format(const struct rl_prefix *p, char *buf, size_t len);
/* A source as counted: "203.0.113.7" or "2001:db8:1:2::/64". */
const char *rl_addr_format(const struct rl_addr *a, char *buf, size_t len);
/* The source prefix (/32 or /64) of a peer address; -1 for other families. */
int rl_prefix_of_peer(const struct sockaddr *sa, struct rl_prefix *out);
/* "rate 5000 burst 10000 syn_rate 200 syn_burst 400"; rate is required,
 * burst defaults to rate, syn_rate to rate/10 (at least 1), syn_burst to
 * syn_rate.  0 or -1 with why. */
int rl_rate_parse(const char *text, struct rl_rate *out, char *why, size_t len);
/* A class name: 1..23 of [a-z0-9_-], starting with a letter. */
bool rl_class_name_ok(const char *name);
/* "pass"/"drop" and the reason's name ("rate", "denied", ...). */
const char *rl_reason_action(enum rl_reason r);
const char *rl_reason_name(enum rl_reason r);

/* ---- the limiter ------------------------------------------------------------------ */

struct rl;

/* Loads, fills, attaches and pins (hudumad).  On success `note` may hold a
 * warning for the log (generic mode, maps not pinned); on failure nothing is
 * left attached or pinned and `err` says why (no such interface, no
 * CAP_BPF/CAP_PERFMON/CAP_NET_ADMIN, another XDP program attached, ...). */
int rl_start(const struct rl_settings *s, struct rl **out, char *note, size_t notelen, char *err,
             size_t errlen);
/* Detaches, unpins and frees. */
void rl_stop(struct rl *rl);

/* The pinned maps of a running daemon's instance (NULL: the only instance
 * under RL_PIN_ROOT). */
int rl_open(const char *instance, struct rl **out, char *err, size_t errlen);
void rl_close(struct rl *rl);

const char *rl_instance(const struct rl *rl);
const char *rl_mode_name(enum rl_mode mode);

/* ---- tables --------------------------------------------------------------------------- */

struct rl_status {
    char ifname[RL_IFNAME_MAX];
    unsigned ifindex;
    enum rl_mode mode;
    unsigned port;
    uint64_t generation;
};

struct rl_class_info {
    unsigned id;
    char name[RL_NAME_MAX];
    struct rl_rate rate;
    uint64_t passed, dropped;
};

struct rl_source_info {
    struct rl_addr addr;
    unsigned class_id;
    uint64_t passed, dropped;
    uint64_t idle_ms; /* since its last packet */
    bool denied;
};

enum rl_top_by { RL_TOP_DROPPED, RL_TOP_PASSED };

int rl_status(struct rl *rl, struct rl_status *st, char *err, size_t errlen);
/* Every reason's packets and bytes, summed over the CPUs. */
int rl_counters(struct rl *rl, struct rl_count out[RL_NREASONS], char *err, size_t errlen);
/* The classes in use, by id; returns how many (at most RL_MAX_CLASSES), or -1. */
int rl_classes(struct rl *rl, struct rl_class_info *out, char *err, size_t errlen);
int rl_each_network(struct rl *rl, int (*fn)(void *ctx, const struct rl_prefix *p, unsigned cls),
                    void *ctx, char *err, size_t errlen);
int rl_each_ban(struct rl *rl,
                int (*fn)(void *ctx, const struct rl_prefix *p, const struct rl_ban *b,
                          uint64_t now_ns),
                void *ctx, char *err, size_t errlen);
/* The `max` sources with most packets dropped (or passed); returns how many. */
int rl_top(struct rl *rl, enum rl_top_by by, struct rl_source_info *out, unsigned max, char *err,
           size_t errlen);

/* Creates the class, or changes its rates: in force for the next packet. */
int rl_set_class(struct rl *rl, const char *name, const struct rl_rate *r, char *err,
                 size_t errlen);
int rl_set_network(struct rl *rl, const struct rl_prefix *p, const char *class_name, char *err,
                   size_t errlen);
int rl_remove_network(struct rl *rl, const struct rl_prefix *p, char *err, size_t errlen);
/* seconds 0: until unbanned (or the daemon stops). */
int rl_ban(struct rl *rl, const struct rl_prefix *p, unsigned seconds, enum rl_ban_origin origin,
           char *err, size_t errlen);
/* 0, or -1 (not on the deny list, or an error) with err. */
int rl_unban(struct rl *rl, const struct rl_prefix *p, char *err, size_t errlen);

/* ---- guard ------------------------------------------------------------------------------ */

struct rl_guard_ban {
    char source[RL_PREFIX_TEXT];
    unsigned failures, seconds;
};

/* A mutual-TLS handshake from `peer` failed.  Returns 1 when this failure got
 * the source banned (`ban` says what), 0 when not (yet, or never: sources in
 * an agency network are left to their class), -1 on error. */
int rl_handshake_failed(struct rl *rl, const struct sockaddr *peer, struct rl_guard_ban *ban,
                        char *err, size_t errlen);
/* Sources banned by the guard since start. */
uint64_t rl_guard_bans(const struct rl *rl);

#endif
