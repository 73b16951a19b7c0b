/*
 * tests/unit/test_confine.c - the network process cut off from the TPM
 * (keys_forget_tpm) and left without capabilities (keys_drop_privileges).
 *
 * Each case runs in a forked child, which reports over a pipe, so that this
 * process keeps its namespaces and capabilities.  Covers:
 *   - a process that is not root and not dumpable, as hudumad runs on the
 *     appliance (a non-root service user; hudumad makes itself non-dumpable
 *     first thing): keys_forget_tpm succeeds through a user namespace (the
 *     /proc/self maps are written although /proc/self belongs to root while
 *     the process is not dumpable), the swtpm directory is empty in its
 *     namespace, and afterwards the process is not dumpable again, holds no
 *     capability, has no_new_privs, and cannot unmount the cover;
 *   - the same as root with every capability (a plain mount namespace): the
 *     directory is covered and every capability is gone, the bounding set
 *     included, so the cover cannot be unmounted either;
 *   - keys_drop_privileges refuses once a second thread exists
 *     (capabilities belong to a thread).
 * Run as root, the non-root case switches the child to uid and gid 64321;
 * where the kernel allows no unprivileged user namespace, it is skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keys/keys.h"

#define SERVICE_ID 64321 /* the child's uid and gid when this test runs as root: no account's */
#define SKIPPED    77

struct fx {
    char dir[64]; /* a register directory */
    char tpm[96]; /* its swtpm directory, holding a stand-in socket file */
    char tcti[160];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/huduma-confine.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->tpm, sizeof f->tpm, "%s/tpm", f->dir);
    assert_int_equal(mkdir(f->tpm, 0700), 0);
    char sock[128];
    snprintf(sock, sizeof sock, "%s/swtpm.sock", f->tpm);
    int fd = open(sock, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    snprintf(f->tcti, sizeof f->tcti, "swtpm:path=%s", sock);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/swtpm.sock", f->tpm);
    unlink(path);
    rmdir(f->tpm);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- the child's checks, reported as one line ------------------------------------------ */

static char report[512];

static int say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report, sizeof report, fmt, ap);
    va_end(ap);
    return 1;
}

static bool dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = false;
    closedir(d);
    return empty;
}

static bool holds_capabilities(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return true;
    for (int i = 0; i < 2; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable)
            return true;
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1)
            return true;
    return false;
}

static bool bounding_set_empty(void)
{
    for (int cap = 0;; cap++) {
        int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in < 0)
            return true;
        if (in == 1)
            return false;
    }
}

/* After keys_forget_tpm: covered, not dumpable, no capability, no way back. */
static int check_confined(const struct fx *f, bool expect_empty_bounding_set)
{
    if (!dir_is_empty(f->tpm))
        return say("the swtpm directory %s is still visible", f->tpm);
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return say("the process is dumpable after keys_forget_tpm");
    if (holds_capabilities())
        return say("capabilities are left after keys_forget_tpm");
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return say("no_new_privs is not set");
    if (expect_empty_bounding_set && !bounding_set_empty())
        return say("the bounding set is not empty");
    if (umount2(f->tpm, MNT_DETACH) == 0 || !dir_is_empty(f->tpm))
        return say("the cover over %s could be unmounted", f->tpm);
    return 0;
}

static int child_unprivileged(const struct fx *f)
{
    if (geteuid() == 0) {
        if (chown(f->dir, SERVICE_ID, SERVICE_ID) != 0 ||
            chown(f->tpm, SERVICE_ID, SERVICE_ID) != 0 || setgroups(0, NULL) != 0 ||
            setresgid(SERVICE_ID, SERVICE_ID, SERVICE_ID) != 0 ||
            setresuid(SERVICE_ID, SERVICE_ID, SERVICE_ID) != 0)
            return say("cannot become uid %d: %s", SERVICE_ID, strerror(errno));
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* as hudumad's main() does */
    /* Whether this kernel lets an unprivileged process have a user namespace at all. */
    pid_t probe = fork();
    if (probe == 0)
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
    int st = 0;
    if (probe < 0 || waitpid(probe, &st, 0) != probe)
        return say("cannot fork the probe");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        say("this kernel allows no unprivileged user namespace");
        return SKIPPED;
    }
    uid_t uid = getuid();
    gid_t gid = getgid();
    struct keys_options o = {.tcti = f->tcti};
    struct keys_err err = {{0}};
    if (keys_forget_tpm(f->dir, &o, &err) != KEYS_OK)
        return say("keys_forget_tpm as uid %u, not dumpable: %s", (unsigned)uid, err.msg);
    if (getuid() != uid || getgid() != gid)
        return say("uid %u and gid %u are not mapped to themselves in the user namespace",
                   (unsigned)uid, (unsigned)gid);
    return check_confined(f, true);
}

static int child_root(const struct fx *f)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    struct keys_options o = {.tcti = f->tcti};
    struct keys_err err = {{0}};
    if (keys_forget_tpm(f->dir, &o, &err) != KEYS_OK)
        return say("keys_forget_tpm as root: %s", err.msg);
    return check_confined(f, true);
}

/* Runs fn in a child; returns its status, with its report in `report`. */
static int in_child(int (*fn)(const struct fx *), const struct fx *f)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        report[0] = '\0';
        int rc = fn(f);
        ssize_t w = write(pipefd[1], report, strlen(report));
        (void)w;
        _exit(rc);
    }
    close(pipefd[1]);
    ssize_t n = read(pipefd[0], report, sizeof report - 1);
    report[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_unprivileged_non_dumpable_process_is_confined(void **state)
{
    int rc = in_child(child_unprivileged, *state);
    if (rc == SKIPPED) {
        print_message("%s\n", report);
        skip();
    }
    if (rc != 0)
        fail_msg("%s", report);
}

static void test_root_is_confined_and_keeps_no_capability(void **state)
{
    if (geteuid() != 0)
        skip();
    int rc = in_child(child_root, *state);
    if (rc != 0)
        fail_msg("%s", report);
}

static void *idle(void *arg)
{
    pthread_mutex_t *m = arg;
    pthread_mutex_lock(m);
    pthread_mutex_unlock(m);
    return NULL;
}

static int child_two_threads(const struct fx *f)
{
    (void)f;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_t t;
    pthread_mutex_lock(&m);
    if (pthread_create(&t, NULL, idle, &m) != 0)
        return say("pthread_create failed");
    struct keys_err err = {{0}};
    int rc = keys_drop_privileges(&err);
    pthread_mutex_unlock(&m);
    pthread_join(t, NULL);
    if (rc != KEYS_EDENIED || strstr(err.msg, "thread") == NULL)
        return say("keys_drop_privileges with two threads: %d, \"%s\"", rc, err.msg);
    return 0;
}

static void test_drop_refused_with_a_second_thread(void **state)
{
    int rc = in_child(child_two_threads, *state);
    if (rc != 0)
        fail_msg("%s", report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unprivileged_non_dumpable_process_is_confined, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_root_is_confined_and_keeps_no_capability, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_drop_refused_with_a_second_thread, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
