/*
 * tests/unit/test_log.c - the log's helpers: the limiter that keeps a flood or
 * a failing disk from flooding the log (log_limit_pass), the streak that
 * logs a lasting failure's start, reminders and end (log_streak_note), and
 * log_clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <time.h>

#include "appliance/log.h"

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void test_limit_passes_one_per_interval(void **state)
{
    (void)state;
    struct log_limit limit = LOG_LIMIT(200);
    unsigned long long held = 99;
    assert_true(log_limit_pass(&limit, &held));
    assert_int_equal(held, 0);
    for (int i = 0; i < 3; i++)
        assert_false(log_limit_pass(&limit, &held));
    sleep_ms(250);
    assert_true(log_limit_pass(&limit, &held));
    assert_int_equal(held, 3); /* the next line says how many it held back */
    assert_false(log_limit_pass(&limit, &held));
}

static void *hammer(void *arg)
{
    struct log_limit *limit = arg;
    unsigned long long held;
    long passed = 0;
    for (int i = 0; i < 20000; i++)
        passed += log_limit_pass(limit, &held);
    return (void *)passed;
}

/* Threads racing through one limiter: one line passes, every other call is
 * counted as held back, none lost. */
static void test_limit_counts_every_racing_call(void **state)
{
    (void)state;
    struct log_limit limit = LOG_LIMIT(3600 * 1000);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &limit), 0);
    long passed = 0;
    for (int i = 0; i < 4; i++) {
        void *n;
        assert_int_equal(pthread_join(t[i], &n), 0);
        passed += (long)n;
    }
    assert_int_equal(passed, 1);
    atomic_store(&limit.next_ms, 0); /* the hour is over */
    unsigned long long held;
    assert_true(log_limit_pass(&limit, &held));
    assert_int_equal(held, 4 * 20000 - 1);
}

/* A lasting failure: its first try is logged, the next ones only once the
 * interval has passed, each with the streak's length; the first success
 * after it is logged once, and a success after a success is not. */
static void test_streak_logs_start_interval_and_end(void **state)
{
    (void)state;
    struct log_streak s = LOG_STREAK(200);
    unsigned long long n = 99;
    assert_int_equal(log_streak_note(&s, false, &n), LOG_STREAK_QUIET);
    assert_int_equal(n, 0);
    assert_int_equal(log_streak_note(&s, true, &n), LOG_STREAK_FAILING);
    assert_int_equal(n, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(log_streak_note(&s, true, &n), LOG_STREAK_QUIET);
    assert_int_equal(n, 4);
    sleep_ms(250);
    assert_int_equal(log_streak_note(&s, true, &n), LOG_STREAK_FAILING);
    assert_int_equal(n, 5);
    assert_int_equal(log_streak_note(&s, true, &n), LOG_STREAK_QUIET);
    assert_int_equal(log_streak_note(&s, false, &n), LOG_STREAK_RECOVERED);
    assert_int_equal(n, 6);
    assert_int_equal(log_streak_note(&s, false, &n), LOG_STREAK_QUIET);
    assert_int_equal(n, 0);
    /* a new streak is logged at once, whatever the old one's interval said */
    assert_int_equal(log_streak_note(&s, true, &n), LOG_STREAK_FAILING);
    assert_int_equal(n, 1);
}

static void test_clean_keeps_a_line_one_line(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(log_clean("a\"b\nc\td\x7f", buf, sizeof buf), "a'b c d ");
    assert_string_equal(log_clean("0123456789", buf, 5), "0123");
    assert_string_equal(log_clean(NULL, buf, sizeof buf), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_passes_one_per_interval),
        cmocka_unit_test(test_limit_counts_every_racing_call),
        cmocka_unit_test(test_streak_logs_start_interval_and_end),
        cmocka_unit_test(test_clean_keeps_a_line_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
