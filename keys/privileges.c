/*
 * keys/privileges.c - giving up every capability (keys_drop_privileges).
 *
 * hudumad may start with capabilities: root has them all, and the appliance's
 * systemd unit gives the huduma user CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN
 * as ambient capabilities, only to load and attach the XDP rate limiter.
 * Once that is done neither process needs any, and one the network process
 * kept would undo its own confinement: CAP_SYS_ADMIN over its mount
 * namespace unmounts what covers the TPM (keys/confine.c), CAP_SYS_PTRACE
 * reaches the key process's view of the file system through /proc.  So both
 * processes drop them all, in this order:
 *
 *   no_new_privs       no execve can give any back (set-id or file
 *                      capabilities, root's full set)
 *   ambient set        cleared
 *   bounding set       emptied, when the process may (CAP_SETPCAP in its
 *                      user namespace; no_new_privs covers the rest)
 *   capset             effective, permitted and inheritable sets emptied
 *
 * and then read them back: success means nothing is left.  Capabilities
 * belong to a thread, not to a process, so this is refused once the process
 * has a second thread: call it before any thread is started.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "keys/keyring_internal.h"

/* Threads of this process (/proc/self/stat's 20th field), or 0 when unknown. */
static long threads(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold blanks */
    long count = 0;
    if (p == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld",
               &count) != 1)
        return 0;
    return count;
}

static int capsets(struct __user_cap_data_struct data[2], bool set)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return (int)syscall(set ? SYS_capset : SYS_capget, &hdr, data);
}

static int empty_bounding_set(struct keys_err *err)
{
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (capsets(data, false) != 0)
        return keys_fail(err, KEYS_EDENIED, "capget: %s", strerror(errno));
    if (!(data[CAP_TO_INDEX(CAP_SETPCAP)].effective & CAP_TO_MASK(CAP_SETPCAP)))
        return KEYS_OK; /* not ours to change; no_new_privs keeps execve from using it */
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return keys_fail(err, KEYS_EDENIED,
                             "cannot drop capability %d from the bounding set: %s", cap,
                             strerror(errno));
    return KEYS_OK;
}

int keys_drop_privileges(struct keys_err *err)
{
    if (threads() > 1)
        return keys_fail(err, KEYS_EDENIED,
                         "capabilities are per thread: they must be dropped before any thread "
                         "is started");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return keys_fail(err, KEYS_EDENIED, "cannot set no_new_privs: %s", strerror(errno));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return keys_fail(err, KEYS_EDENIED, "cannot clear the ambient capabilities: %s",
                         strerror(errno));
    int rc = empty_bounding_set(err);
    if (rc != KEYS_OK)
        return rc;
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (capsets(data, true) != 0)
        return keys_fail(err, KEYS_EDENIED, "capset: %s", strerror(errno));
    if (capsets(data, false) != 0)
        return keys_fail(err, KEYS_EDENIED, "capget: %s", strerror(errno));
    for (int i = 0; i < 2; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable)
            return keys_fail(err, KEYS_EDENIED, "capabilities are left after capset");
    return KEYS_OK;
}
