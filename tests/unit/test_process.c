/*
 * tests/unit/test_process.c - the settings hudumad and huduma make for their
 * whole process at start (appliance/process.h).  Each test runs in a child,
 * so that this program's own limits stay as they were.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "appliance/process.h"

/* Runs CHECK in a child; its exit status (0: every expectation held). */
static int in_child(int (*check)(void))
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(check());
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static int core_dumps_turned_off(void)
{
    struct rlimit core = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &core) != 0) /* not permitted: start from what is */
        getrlimit(RLIMIT_CORE, &core);
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
        return 10;
    if (process_no_core_dumps() != 0)
        return 11;
    if (getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0)
        return 12;
    if (core.rlim_max != 0) /* not raised again by this process */
        return 13;
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : 14;
}

static void test_no_core_dumps(void **state)
{
    (void)state;
    assert_int_equal(in_child(core_dumps_turned_off), 0);
}

static int open_files_raised(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_max < 128)
        return 20;
    rlim_t hard = lim.rlim_max;
    lim.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 21;
    if (process_raise_open_files() != 0)
        return 22;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur != hard || lim.rlim_max != hard)
        return 23;
    return process_raise_open_files() == 0 ? 0 : 24; /* already at the hard limit */
}

static void test_open_files_raised_to_the_hard_limit(void **state)
{
    (void)state;
    assert_int_equal(in_child(open_files_raised), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_core_dumps),
        cmocka_unit_test(test_open_files_raised_to_the_hard_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
