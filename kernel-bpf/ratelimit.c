/*
 * kernel-bpf/ratelimit.c - the limiter's life: loaded, filled, attached and
 * pinned by hudumad (rl_start), undone at exit (rl_stop), and opened again
 * from its pins by `huduma ratelimit` (rl_open).
 *
 * The program comes from the skeleton bpftool generated at build time
 * (ratelimit.skel.h, with the compiled object inside it), so the daemon needs
 * no file beside its binary.  It is attached through a BPF link: the kernel
 * detaches it by itself when the daemon dies, however it dies, so a crashed
 * daemon never leaves a stale filter on the interface.  Native XDP is asked
 * first; a driver that refuses it gets generic XDP and the caller a note to
 * log.
 *
 * The maps are pinned under /sys/fs/bpf/huduma/<instance>/ (bpffs is mounted
 * there when it is not), one file per map, named as in the object.  The
 * daemon holds an exclusive flock on that directory while it runs, so two
 * daemons never share an instance; pins left by a daemon that was killed are
 * replaced.  Pinning is a convenience for the command line: when it fails the
 * limiter still runs, and the caller gets a note.
 */
#include "ratelimit_impl.h"

#include "ratelimit.skel.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define BPFFS "/sys/fs/bpf"

const char *const rl_map_names[RL_NMAPS] = {
    [RL_MAP_CONFIG] = "rl_config",           [RL_MAP_CLASSES] = "rl_classes",
    [RL_MAP_NETWORKS] = "rl_networks",       [RL_MAP_DENIED] = "rl_denied",
    [RL_MAP_SOURCES] = "rl_sources",         [RL_MAP_STATS] = "rl_stats",
    [RL_MAP_CLASS_STATS] = "rl_class_stats",
};

/* What each map's key and value must measure: pins of another build are refused. */
static const struct {
    unsigned key, value;
} map_sizes[RL_NMAPS] = {
    [RL_MAP_CONFIG] = {sizeof(__u32), sizeof(struct rl_config)},
    [RL_MAP_CLASSES] = {sizeof(__u32), sizeof(struct rl_class)},
    [RL_MAP_NETWORKS] = {sizeof(struct rl_prefix), sizeof(__u32)},
    [RL_MAP_DENIED] = {sizeof(struct rl_prefix), sizeof(struct rl_ban)},
    [RL_MAP_SOURCES] = {sizeof(struct rl_addr), sizeof(struct rl_bucket)},
    [RL_MAP_STATS] = {sizeof(__u32), sizeof(struct rl_count)},
    [RL_MAP_CLASS_STATS] = {sizeof(__u32), sizeof(__u64)},
};

/* ---- shared helpers ---------------------------------------------------------------- */

int rl_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

uint64_t rl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct rl *rl_alloc(const char *instance)
{
    struct rl *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    snprintf(rl->instance, sizeof rl->instance, "%s", instance ? instance : "");
    for (int i = 0; i < RL_NMAPS; i++)
        rl->fd[i] = -1;
    rl->link_fd = -1;
    rl->lock_fd = -1;
    rl->ncpus = libbpf_num_possible_cpus();
    pthread_mutex_init(&rl->guard_lock, NULL);
    return rl;
}

void rl_free(struct rl *rl)
{
    if (!rl)
        return;
    if (rl->config)
        munmap(rl->config, rl->config_len);
    if (!rl->skel) { /* the skeleton closes the maps it made */
        for (int i = 0; i < RL_NMAPS; i++)
            if (rl->fd[i] >= 0)
                close(rl->fd[i]);
    }
    pthread_mutex_destroy(&rl->guard_lock);
    free(rl);
}

int rl_map_config(struct rl *rl, char *err, size_t errlen)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (sizeof(struct rl_config) + (size_t)page - 1) / (size_t)page * (size_t)page;
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, rl->fd[RL_MAP_CONFIG], 0);
    if (mem == MAP_FAILED)
        return rl_fail(err, errlen, "cannot map rl_config: %s", strerror(errno));
    rl->config = mem;
    rl->config_len = len;
    return 0;
}

void rl_bump_generation(struct rl *rl)
{
    __atomic_add_fetch(&rl->config->generation, 1, __ATOMIC_SEQ_CST);
}

const char *rl_instance(const struct rl *rl)
{
    return rl->instance;
}

const char *rl_mode_name(enum rl_mode mode)
{
    return mode == RL_MODE_NATIVE ? "native" : mode == RL_MODE_GENERIC ? "generic" : "none";
}

/* ---- libbpf's messages: the last warning is kept for our errors, nothing printed ----- */

static __thread char libbpf_said[256];

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level != LIBBPF_WARN)
        return 0;
    vsnprintf(libbpf_said, sizeof libbpf_said, fmt, ap);
    libbpf_said[strcspn(libbpf_said, "\n")] = '\0';
    return 0;
}

static bool no_permission(int e)
{
    return e == EPERM || e == EACCES;
}

/* ---- loading and filling ---------------------------------------------------------- */

static int load(struct rl *rl, const struct rl_settings *s, char *err, size_t errlen)
{
    libbpf_set_print(libbpf_quiet);
    libbpf_said[0] = '\0';
    rl->skel = ratelimit_bpf__open();
    if (!rl->skel)
        return rl_fail(err, errlen, "cannot open the BPF object: %s", strerror(errno));
    bpf_map__set_max_entries(rl->skel->maps.rl_sources, s->max_sources);
    int rc = ratelimit_bpf__load(rl->skel);
    if (rc != 0) {
        int e = -rc;
        if (no_permission(e))
            return rl_fail(err, errlen,
                           "not permitted to load BPF programs (%s): hudumad needs CAP_BPF, "
                           "CAP_PERFMON and CAP_NET_ADMIN",
                           strerror(e));
        return rl_fail(err, errlen, "cannot load the XDP program: %s (%s)", strerror(e),
                       libbpf_said);
    }
    struct bpf_map *maps[RL_NMAPS] = {
        [RL_MAP_CONFIG] = rl->skel->maps.rl_config,
        [RL_MAP_CLASSES] = rl->skel->maps.rl_classes,
        [RL_MAP_NETWORKS] = rl->skel->maps.rl_networks,
        [RL_MAP_DENIED] = rl->skel->maps.rl_denied,
        [RL_MAP_SOURCES] = rl->skel->maps.rl_sources,
        [RL_MAP_STATS] = rl->skel->maps.rl_stats,
        [RL_MAP_CLASS_STATS] = rl->skel->maps.rl_class_stats,
    };
    for (int i = 0; i < RL_NMAPS; i++)
        rl->fd[i] = bpf_map__fd(maps[i]);
    return rl_map_config(rl, err, errlen);
}

static int fill(struct rl *rl, const struct rl_settings *s, unsigned ifindex, char *err,
                size_t errlen)
{
    rl->config->port = htons((uint16_t)s->port);
    rl->config->ifindex = ifindex;
    snprintf(rl->config->ifname, sizeof rl->config->ifname, "%s", s->interface);
    rl->config->generation = 1;
    for (unsigned i = 0; i < s->nclasses; i++)
        if (rl_set_class(rl, s->class_name[i], &s->class_rate[i], err, errlen) != 0)
            return -1;
    for (unsigned i = 0; i < s->nnetworks; i++)
        if (rl_set_network(rl, &s->network[i], s->class_name[s->network_class[i]], err, errlen) !=
            0)
            return -1;
    for (unsigned i = 0; i < s->ndeny; i++)
        if (rl_ban(rl, &s->deny[i], 0, RL_BAN_CONFIG, err, errlen) != 0)
            return -1;
    rl->ban_after_failures = s->ban_after_failures;
    rl->ban_window_s = s->ban_window_s;
    rl->ban_seconds = s->ban_seconds;
    return 0;
}

/* ---- attaching ---------------------------------------------------------------------- */

static int link_xdp(struct rl *rl, unsigned ifindex, unsigned mode_flag)
{
    LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = mode_flag);
    int prog = bpf_program__fd(rl->skel->progs.huduma_ratelimit);
    int fd = bpf_link_create(prog, (int)ifindex, BPF_XDP, &opts);
    return fd < 0 ? -errno : fd;
}

static int attach(struct rl *rl, const struct rl_settings *s, unsigned ifindex, char *note,
                  size_t notelen, char *err, size_t errlen)
{
    enum rl_mode mode = RL_MODE_NATIVE;
    int fd = link_xdp(rl, ifindex, XDP_FLAGS_DRV_MODE);
    if (fd < 0 && !no_permission(-fd) && fd != -EBUSY && fd != -EEXIST) {
        int native = -fd;
        fd = link_xdp(rl, ifindex, XDP_FLAGS_SKB_MODE);
        mode = RL_MODE_GENERIC;
        if (fd >= 0)
            snprintf(note, notelen,
                     "native XDP refused on %s (%s): attached in generic mode, which sees "
                     "packets later and costs more per packet",
                     s->interface, strerror(native));
    }
    if (fd == -EBUSY || fd == -EEXIST)
        return rl_fail(err, errlen, "another XDP program is attached to %s", s->interface);
    if (fd < 0 && no_permission(-fd))
        return rl_fail(err, errlen,
                       "not permitted to attach XDP to %s (%s): hudumad needs CAP_NET_ADMIN",
                       s->interface, strerror(-fd));
    if (fd < 0)
        return rl_fail(err, errlen, "cannot attach XDP to %s: %s", s->interface, strerror(-fd));
    rl->link_fd = fd;
    rl->config->attach_mode = (uint16_t)mode;
    return 0;
}

/* ---- pins ----------------------------------------------------------------------------- */

static bool is_bpffs(const char *path)
{
    struct statfs st;
    return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

static int ensure_bpffs(char *why, size_t len)
{
    if (is_bpffs(BPFFS))
        return 0;
    if (mount("bpf", BPFFS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") != 0)
        return rl_fail(why, len, "bpffs is not mounted on %s and mounting it failed: %s", BPFFS,
                       strerror(errno));
    return 0;
}

static int make_dir(const char *path, char *why, size_t len)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return rl_fail(why, len, "mkdir %s: %s", path, strerror(errno));
    return 0;
}

static void unpin_all(struct rl *rl)
{
    char path[192];
    for (int i = 0; i < RL_NMAPS; i++) {
        snprintf(path, sizeof path, "%s/%s", rl->pin_dir, rl_map_names[i]);
        unlink(path);
    }
}

static int pin(struct rl *rl, char *why, size_t len)
{
    snprintf(rl->pin_dir, sizeof rl->pin_dir, "%s/%s", RL_PIN_ROOT, rl->instance);
    if (ensure_bpffs(why, len) != 0 || make_dir(RL_PIN_ROOT, why, len) != 0 ||
        make_dir(rl->pin_dir, why, len) != 0)
        return -1;
    rl->lock_fd = open(rl->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rl->lock_fd < 0)
        return rl_fail(why, len, "open %s: %s", rl->pin_dir, strerror(errno));
    if (flock(rl->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return rl_fail(why, len, "instance %s is in use by another hudumad (%s is locked)",
                       rl->instance, rl->pin_dir);
    unpin_all(rl); /* left by a daemon that was killed */
    char path[192];
    for (int i = 0; i < RL_NMAPS; i++) {
        snprintf(path, sizeof path, "%s/%s", rl->pin_dir, rl_map_names[i]);
        if (bpf_obj_pin(rl->fd[i], path) != 0) {
            int e = errno;
            unpin_all(rl);
            return rl_fail(why, len, "pin %s: %s", path, strerror(e));
        }
    }
    rl->pinned = true;
    return 0;
}

static void drop_pins(struct rl *rl)
{
    if (rl->pinned) {
        unpin_all(rl);
        rmdir(rl->pin_dir);
        rmdir(RL_PIN_ROOT); /* only when no other instance is left */
        rl->pinned = false;
    }
    if (rl->lock_fd >= 0)
        close(rl->lock_fd);
    rl->lock_fd = -1;
}

/* ---- the daemon's side ---------------------------------------------------------------- */

int rl_start(const struct rl_settings *s, struct rl **out, char *note, size_t notelen, char *err,
             size_t errlen)
{
    *out = NULL;
    note[0] = '\0';
    unsigned ifindex = if_nametoindex(s->interface);
    if (ifindex == 0)
        return rl_fail(err, errlen, "interface %s: %s", s->interface, strerror(errno));
    struct rl *rl = rl_alloc(s->instance);
    if (!rl)
        return rl_fail(err, errlen, "out of memory");
    if (load(rl, s, err, errlen) != 0 || fill(rl, s, ifindex, err, errlen) != 0 ||
        attach(rl, s, ifindex, note, notelen, err, errlen) != 0) {
        rl_stop(rl);
        return -1;
    }
    char why[256];
    if (pin(rl, why, sizeof why) != 0) {
        size_t used = strlen(note);
        snprintf(note + used, notelen - used,
                 "%smaps not pinned, so `huduma ratelimit` cannot reach them: %s", used ? "; " : "",
                 why);
        drop_pins(rl);
    }
    *out = rl;
    return 0;
}

void rl_stop(struct rl *rl)
{
    if (!rl)
        return;
    if (rl->link_fd >= 0)
        close(rl->link_fd); /* the last reference to the link: the program is detached */
    rl->link_fd = -1;
    drop_pins(rl);
    if (rl->config)
        munmap(rl->config, rl->config_len);
    rl->config = NULL;
    ratelimit_bpf__destroy(rl->skel); /* closes the maps; rl_free() leaves fd[] alone */
    rl_free(rl);
}

/* ---- the command line's side ---------------------------------------------------------- */

/* The only instance under RL_PIN_ROOT. */
static int only_instance(char *name, size_t len, char *err, size_t errlen)
{
    DIR *d = opendir(RL_PIN_ROOT);
    if (!d)
        return rl_fail(err, errlen, "no hudumad runs with rate limiting here (%s: %s)", RL_PIN_ROOT,
                       strerror(errno));
    unsigned n = 0;
    char names[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nlen = strlen(e->d_name);
        if (e->d_name[0] == '.' || nlen >= len)
            continue; /* not an instance of ours */
        if (n++ == 0)
            memcpy(name, e->d_name, nlen + 1);
        size_t used = strlen(names);
        if (used + nlen + 3 < sizeof names) {
            memcpy(names + used, used ? ", " : "", used ? 2 : 0);
            memcpy(names + used + (used ? 2 : 0), e->d_name, nlen + 1);
        }
    }
    closedir(d);
    if (n == 0)
        return rl_fail(err, errlen, "no hudumad runs with rate limiting here (%s is empty)",
                       RL_PIN_ROOT);
    if (n > 1)
        return rl_fail(err, errlen, "several instances run (%s): choose one with --instance",
                       names);
    return 0;
}

static int open_map(struct rl *rl, int i, const char *dir, char *err, size_t errlen)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", dir, rl_map_names[i]);
    rl->fd[i] = bpf_obj_get(path);
    if (rl->fd[i] < 0) {
        int e = errno;
        if (e == ENOENT)
            return rl_fail(err, errlen, "no instance %s: %s is missing", rl->instance, path);
        return rl_fail(err, errlen, "open %s: %s%s", path, strerror(e),
                       no_permission(e) ? " (run as root)" : "");
    }
    struct bpf_map_info info;
    __u32 len = sizeof info;
    memset(&info, 0, sizeof info);
    if (bpf_obj_get_info_by_fd(rl->fd[i], &info, &len) != 0 || info.key_size != map_sizes[i].key ||
        info.value_size != map_sizes[i].value)
        return rl_fail(err, errlen, "%s was pinned by another version of hudumad", path);
    return 0;
}

int rl_open(const char *instance, struct rl **out, char *err, size_t errlen)
{
    *out = NULL;
    libbpf_set_print(libbpf_quiet);
    if (!is_bpffs(BPFFS))
        return rl_fail(err, errlen, "no hudumad runs with rate limiting here (no bpffs on %s)",
                       BPFFS);
    char name[RL_INSTANCE_MAX];
    if (instance)
        snprintf(name, sizeof name, "%s", instance);
    else if (only_instance(name, sizeof name, err, errlen) != 0)
        return -1;
    struct rl *rl = rl_alloc(name);
    if (!rl)
        return rl_fail(err, errlen, "out of memory");
    char dir[160];
    snprintf(dir, sizeof dir, "%s/%s", RL_PIN_ROOT, name);
    for (int i = 0; i < RL_NMAPS; i++) {
        if (open_map(rl, i, dir, err, errlen) != 0) {
            rl_free(rl);
            return -1;
        }
    }
    if (rl_map_config(rl, err, errlen) != 0) {
        rl_free(rl);
        return -1;
    }
    *out = rl;
    return 0;
}

void rl_close(struct rl *rl)
{
    rl_free(rl);
}
