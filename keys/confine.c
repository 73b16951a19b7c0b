/*
 * keys/confine.c - cutting hudumad's network process off from the TPM.
 *
 * The network process never opens the TPM, but a process that was taken over
 * could try.  keys_forget_tpm() moves it into a mount namespace of its own
 * (unshare(CLONE_NEWNS), all mounts made private so nothing leaks back to the
 * host) and covers, in that namespace only, every way to the TPM:
 *
 *   /dev/tpm0, /dev/tpmrm0        /dev/null bind-mounted over them
 *   the swtpm socket's directory  an empty read-only tmpfs mounted over it
 *                                 (<register>/tpm by default; a directory,
 *                                 not the socket file, so a swtpm restarted
 *                                 later, which makes a new socket, stays
 *                                 out of reach too)
 *
 * then gives up every capability (keys/privileges.c): with CAP_SYS_ADMIN over
 * that namespace the covers could simply be unmounted.  Without capabilities
 * they cannot, and a namespace made afterwards inherits them locked.
 *
 * The key process, forked before, keeps the host's view.  Without the
 * privilege to make a mount namespace, an unprivileged user namespace is
 * tried (mapping the caller's own uid and gid, so files keep their owners).
 * That is how the appliance's non-root service gets one.  The maps are
 * written to /proc/self, whose files belong to root while the process is not
 * dumpable (hudumad makes itself non-dumpable first thing), so the process
 * is made dumpable for those three writes only and non-dumpable again right
 * after, on every path.  It holds no unsealed secret yet: the key process has
 * the master key and the TLS key is unwrapped later.  A process in a user
 * namespace of its own keeps no capability outside it: whatever needs
 * CAP_BPF or CAP_NET_ADMIN (the XDP rate limiter) must be done before.
 * A TPM reached over TCP (swtpm:host=...,port=...) cannot be hidden this way;
 * that configuration is for development and is reported as KEYS_EDENIED.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys/keyring_internal.h"

static const char *const devices[] = {"/dev/tpm0", "/dev/tpmrm0"};
static const char *const system_dirs[] = {"/", "/run", "/var/run", "/tmp", "/var", "/dev", NULL};

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int write_maps(uid_t uid, gid_t gid)
{
    char map[64];
    if (write_text("/proc/self/setgroups", "deny") != 0)
        return -1;
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (write_text("/proc/self/uid_map", map) != 0)
        return -1;
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    return write_text("/proc/self/gid_map", map);
}

/* The maps are written dumpable (see the top of this file); a process that
 * was not dumpable is made non-dumpable again right after, whether they
 * were written or not.  -1 with errno when the writes failed, or when it
 * could not be made non-dumpable again (then errno is EPERM). */
static int user_namespace(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return -1;
    int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (dumpable != 1 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
        return -1;
    int rc = write_maps(uid, gid);
    int e = errno;
    if (dumpable != 1 &&
        (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)) {
        rc = -1;
        e = EPERM;
    }
    errno = e;
    return rc;
}

static int own_namespace(struct keys_err *err)
{
    if (unshare(CLONE_NEWNS) != 0 && user_namespace() != 0)
        return keys_fail(err, KEYS_EDENIED,
                         "cannot make a mount namespace to hide the TPM from the network "
                         "process: %s",
                         strerror(errno));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return keys_fail(err, KEYS_EDENIED, "cannot make mounts private: %s", strerror(errno));
    return KEYS_OK;
}

/* The swtpm socket path of a "swtpm:path=P" or "mssim:path=P" TCTI; false for others. */
static bool socket_path(const char *tcti, char *out, size_t len, bool *tcp)
{
    *tcp = false;
    if (strncmp(tcti, "swtpm:", 6) != 0 && strncmp(tcti, "mssim:", 6) != 0)
        return false;
    const char *p = strstr(tcti, "path=");
    if (p == NULL) {
        *tcp = true;
        return false;
    }
    p += 5;
    size_t n = strcspn(p, ",");
    if (n == 0 || n >= len)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static bool is_system_dir(const char *dir)
{
    for (const char *const *d = system_dirs; *d; d++)
        if (strcmp(dir, *d) == 0)
            return true;
    return false;
}

static int cover_dir(const char *dir, struct keys_err *err)
{
    if (is_system_dir(dir))
        return keys_fail(err, KEYS_EDENIED,
                         "the swtpm socket sits in %s, which cannot be "
                         "hidden; give swtpm a directory of its own",
                         dir);
    if (mount("none", dir, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k") != 0)
        return keys_fail(err, KEYS_EDENIED, "cannot hide %s: %s", dir, strerror(errno));
    return KEYS_OK;
}

static int cover_devices(struct keys_err *err)
{
    for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
        struct stat st;
        if (stat(devices[i], &st) != 0)
            continue;
        if (mount("/dev/null", devices[i], NULL, MS_BIND, NULL) != 0)
            return keys_fail(err, KEYS_EDENIED, "cannot hide %s: %s", devices[i], strerror(errno));
    }
    return KEYS_OK;
}

static int hide_tpm(const char *register_dir, const struct keys_options *o, struct keys_err *err)
{
    char tcti[256], path[PATH_MAX];
    bool tcp;
    if (o != NULL && o->tcti != NULL && o->tcti[0] != '\0')
        snprintf(tcti, sizeof(tcti), "%s", o->tcti);
    else
        keys_tcti_default(register_dir, tcti, sizeof(tcti));
    bool has_socket = socket_path(tcti, path, sizeof(path), &tcp);
    if (tcp)
        return keys_fail(err, KEYS_EDENIED,
                         "the TPM is reached over TCP (%s), which a mount "
                         "namespace cannot hide",
                         tcti);
    int rc = own_namespace(err);
    if (rc == KEYS_OK)
        rc = cover_devices(err);
    if (rc == KEYS_OK && has_socket) {
        char *slash = strrchr(path, '/');
        if (slash == path)
            slash[1] = '\0';
        else if (slash != NULL)
            *slash = '\0';
        struct stat st;
        if (slash != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rc = cover_dir(path, err);
    }
    return rc;
}

int keys_forget_tpm(const char *register_dir, const struct keys_options *o, struct keys_err *err)
{
    struct keys_err hide, drop;
    int rc = hide_tpm(register_dir, o, &hide);
    int dropped = keys_drop_privileges(&drop);
    if (rc != KEYS_OK && dropped != KEYS_OK)
        return keys_fail(err, rc, "%s; and capabilities are left: %s", hide.msg, drop.msg);
    if (rc != KEYS_OK)
        return keys_fail(err, rc, "%s", hide.msg);
    if (dropped != KEYS_OK)
        return keys_fail(err, dropped, "capabilities are left: %s", drop.msg);
    return KEYS_OK;
}
