/*
 * kernel-bpf/ratelimit_impl.h - private to kernel-bpf/: the struct behind a
 * `struct rl` handle and the helpers its files share.
 *
 * A handle is either the daemon's (it loaded the skeleton, owns the XDP link
 * and the pins) or the command line's (it opened the pinned maps).  Both
 * reach the maps through the same file descriptors, so every table function
 * works the same for either.
 */
#ifndef HUDUMA_RATELIMIT_IMPL_H
#define HUDUMA_RATELIMIT_IMPL_H

#include "kernel-bpf.h"

#include <pthread.h>
#include <stdatomic.h>

enum rl_map {
    RL_MAP_CONFIG,
    RL_MAP_CLASSES,
    RL_MAP_NETWORKS,
    RL_MAP_DENIED,
    RL_MAP_SOURCES,
    RL_MAP_STATS,
    RL_MAP_CLASS_STATS,
    RL_NMAPS
};

/* The maps' names in the BPF object, which are also their pin file names. */
extern const char *const rl_map_names[RL_NMAPS];

#define RL_GUARD_SLOTS 256

struct rl_guard_entry {
    struct rl_prefix source; /* prefixlen 0: free */
    unsigned failures;
    uint64_t window_start_ns;
};

struct ratelimit_bpf; /* the generated skeleton */

struct rl {
    char instance[RL_INSTANCE_MAX];
    int fd[RL_NMAPS];
    struct rl_config *config; /* the rl_config map, mmap'ed */
    size_t config_len;
    int ncpus; /* possible CPUs: per-CPU values come in this many copies */

    /* the daemon's handle only */
    struct ratelimit_bpf *skel; /* owns the maps: fd[] is borrowed from it */
    int link_fd;
    int lock_fd; /* the pin directory, flock'ed while the daemon runs */
    char pin_dir[128];
    bool pinned;

    /* the guard (daemon) */
    unsigned ban_after_failures, ban_window_s, ban_seconds;
    pthread_mutex_t guard_lock;
    struct rl_guard_entry guard[RL_GUARD_SLOTS];
    atomic_uint_fast64_t guard_bans;
};

/* Formats into err (when given) and returns -1. */
int rl_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A new handle with no maps (every fd -1). */
struct rl *rl_alloc(const char *instance);
/* Closes the maps and frees (either kind of handle, once its own parts are undone). */
void rl_free(struct rl *rl);
/* Maps the rl_config map (its fd is set). */
int rl_map_config(struct rl *rl, char *err, size_t errlen);
/* After a change to the networks or the deny list: buckets refresh their cache. */
void rl_bump_generation(struct rl *rl);
uint64_t rl_now_ns(void); /* CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns() */
/* The GCRA form of a rate (ratelimit.h). */
void rl_class_fill(struct rl_class *c, const char *name, const struct rl_rate *r);
/* The id of a class by name; -1 when there is none. */
int rl_class_find(struct rl *rl, const char *name);

#endif
