/*
 * tests/unit/test_confine.c - the network process cut off from the TPM
 * (keys_forget_tpm).
 *
 * Each case runs in a forked child, which reports over a pipe, so that this
 * process keeps its namespaces.  Covers a process that is not root and not
 * dumpable, as hudumad runs on the appliance (a non-root service user;
 * hudumad makes itself non-dumpable first thing): keys_forget_tpm succeeds
 * through a user namespace (the /proc/self maps are written although
 * /proc/self belongs to root while the process is not dumpable), its uid and
 * gid are mapped to themselves, the swtpm directory is empty in its
 * namespace, and afterwards the process is not dumpable again.
 * Run as root, the child switches to uid and gid 64321; where the kernel
 * allows no unprivileged user namespace, it is skipped.
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
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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

/* After keys_forget_tpm: covered, and not dumpable again. */
static int check_confined(const struct fx *f)
{
    if (!dir_is_empty(f->tpm))
        return say("the swtpm directory %s is still visible", f->tpm);
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return say("the process is dumpable after keys_forget_tpm");
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
    return check_confined(f);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unprivileged_non_dumpable_process_is_confined, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
