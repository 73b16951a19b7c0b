/*
 * tests/unit/test_hn.c - the Huduma Number scheme (appliance/hn.c).
 *
 * Covers: Verhoeff known vectors; the format rules of hn_is_well_formed();
 * known-answer numbers that pin the permutation (a change there would renumber
 * the register); every single-digit substitution and every adjacent
 * transposition over a sample of issued numbers is caught; hn_to_serial()
 * inverts hn_from_serial(); the range limits; key separation; numbers of
 * consecutive serials are far apart; and no collision among the first ten
 * million numbers issued.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "appliance/hn.h"

#define SAMPLE          20000
#define COLLISION_COUNT 10000000u

/* Known answers under KEY_A (bytes 00..0f), as in docs/huduma-number.md. */
#define KAT_SERIAL_0   "172124961642"
#define KAT_SERIAL_1   "378767255890"
#define KAT_SERIAL_TOP "498732129531"

static const uint8_t KEY_A[HN_KEY_LEN] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                          0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t KEY_B[HN_KEY_LEN] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                          0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x8f};

static int setup(void **state)
{
    struct hn_scheme *s = NULL;
    if (hn_scheme_new(KEY_A, &s) != 0)
        return -1;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    hn_scheme_free(*state);
    return 0;
}

static uint64_t hn_value(const char *hn)
{
    uint64_t v = 0;
    for (int i = 0; i < HN_LEN; i++)
        v = v * 10 + (uint64_t)(hn[i] - '0');
    return v;
}

/* Serial number i of a sample spread over the whole range (an LCG walk). */
static uint64_t sample_serial(uint64_t i)
{
    return (i * 6364136223846793005ULL + 1442695040888963407ULL) % HN_SERIAL_LIMIT;
}

static void issue(struct hn_scheme *s, uint64_t serial, char out[HN_LEN + 1])
{
    assert_int_equal(hn_from_serial(s, serial, out), 0);
}

/* ---- Verhoeff and format -------------------------------------------------- */

static void test_verhoeff_vectors(void **state)
{
    (void)state;
    assert_int_equal(verhoeff_check_digit("236", 3), '3');
    assert_int_equal(verhoeff_check_digit("12345", 5), '1');
    assert_int_equal(verhoeff_check_digit("142857", 6), '0');
    assert_true(verhoeff_is_valid("2363", 4));
    assert_true(verhoeff_is_valid("123451", 6));
    assert_true(verhoeff_is_valid("1428570", 7));
    assert_false(verhoeff_is_valid("2364", 4));
    assert_false(verhoeff_is_valid("2633", 4));
}

static void test_verhoeff_bad_input(void **state)
{
    (void)state;
    assert_int_equal(verhoeff_check_digit(NULL, 3), '\0');
    assert_int_equal(verhoeff_check_digit("2a6", 3), '\0');
    assert_false(verhoeff_is_valid(NULL, 4));
    assert_false(verhoeff_is_valid("2363", 0));
    assert_false(verhoeff_is_valid("23 3", 4));
}

static void test_well_formed_rules(void **state)
{
    char hn[HN_LEN + 2];
    issue(*state, 12345, hn);
    assert_true(hn_is_well_formed(hn));
    assert_false(hn_is_well_formed(NULL));
    assert_false(hn_is_well_formed(""));
    assert_false(hn_is_well_formed("12345678901"));
    strcpy(hn + HN_LEN, "0");
    assert_false(hn_is_well_formed(hn)); /* 13 characters */

    /* A leading 0 is refused even with a correct check digit. */
    char zero[HN_LEN + 1] = "01234567890";
    zero[HN_LEN - 1] = verhoeff_check_digit(zero, HN_LEN - 1);
    zero[HN_LEN] = '\0';
    assert_true(verhoeff_is_valid(zero, HN_LEN));
    assert_false(hn_is_well_formed(zero));
    assert_false(hn_is_well_formed("1234567890a1"));
}

/* ---- the permutation -------------------------------------------------------- */

static void test_known_answers(void **state)
{
    char hn[HN_LEN + 1];
    issue(*state, 0, hn);
    assert_string_equal(hn, KAT_SERIAL_0);
    issue(*state, 1, hn);
    assert_string_equal(hn, KAT_SERIAL_1);
    issue(*state, HN_SERIAL_LIMIT - 1, hn);
    assert_string_equal(hn, KAT_SERIAL_TOP);
}

static void assert_substitutions_caught(const char *hn)
{
    char t[HN_LEN + 1];
    for (int pos = 0; pos < HN_LEN; pos++) {
        for (char d = '0'; d <= '9'; d++) {
            if (d == hn[pos])
                continue;
            memcpy(t, hn, sizeof(t));
            t[pos] = d;
            if (hn_is_well_formed(t))
                fail_msg("substitution %s -> %s not caught", hn, t);
        }
    }
}

static void assert_transpositions_caught(const char *hn)
{
    char t[HN_LEN + 1];
    for (int pos = 0; pos + 1 < HN_LEN; pos++) {
        if (hn[pos] == hn[pos + 1])
            continue;
        memcpy(t, hn, sizeof(t));
        t[pos] = hn[pos + 1];
        t[pos + 1] = hn[pos];
        if (hn_is_well_formed(t))
            fail_msg("transposition %s -> %s not caught", hn, t);
    }
}

static void test_errors_caught(void **state)
{
    char hn[HN_LEN + 1];
    for (uint64_t i = 0; i < SAMPLE; i++) {
        issue(*state, i % 2 ? sample_serial(i) : i, hn);
        assert_int_equal(strlen(hn), HN_LEN);
        assert_true(hn[0] != '0');
        assert_true(hn_is_well_formed(hn));
        assert_substitutions_caught(hn);
        assert_transpositions_caught(hn);
    }
}

static void assert_round_trip(struct hn_scheme *s, uint64_t serial)
{
    char hn[HN_LEN + 1];
    uint64_t back = UINT64_MAX;
    issue(s, serial, hn);
    assert_int_equal(hn_to_serial(s, hn, &back), 0);
    assert_int_equal(back, serial);
}

static void test_round_trip(void **state)
{
    for (uint64_t i = 0; i < SAMPLE; i++)
        assert_round_trip(*state, sample_serial(i));
    assert_round_trip(*state, 0);
    assert_round_trip(*state, 299999);
    assert_round_trip(*state, 300000);
    assert_round_trip(*state, HN_SERIAL_LIMIT - 1);
}

static void test_limits(void **state)
{
    char hn[HN_LEN + 1];
    uint64_t serial;
    assert_int_equal(hn_from_serial(*state, HN_SERIAL_LIMIT - 1, hn), 0);
    assert_true(hn_is_well_formed(hn));
    assert_int_equal(hn_from_serial(*state, HN_SERIAL_LIMIT, hn), -1);
    assert_int_equal(hn_from_serial(*state, UINT64_MAX, hn), -1);
    assert_int_equal(hn_to_serial(*state, "123456789012", &serial), -1);
    assert_int_equal(hn_to_serial(*state, NULL, &serial), -1);
    assert_int_equal(hn_to_serial(*state, "12345", &serial), -1);
}

static void test_scheme_args(void **state)
{
    struct hn_scheme *s = *state; /* any non-NULL value: must come back NULL */
    assert_int_equal(hn_scheme_new(NULL, &s), -1);
    assert_null(s);
    assert_int_equal(hn_scheme_new(KEY_A, NULL), -1);
    hn_scheme_free(NULL);
}

static void test_keys_differ(void **state)
{
    struct hn_scheme *b = NULL;
    char ha[HN_LEN + 1], hb[HN_LEN + 1];
    uint64_t back;
    assert_int_equal(hn_scheme_new(KEY_B, &b), 0);
    for (uint64_t i = 0; i < 1000; i++) {
        issue(*state, i, ha);
        issue(b, i, hb);
        assert_string_not_equal(ha, hb);
    }
    /* The other key still reads a well-formed number, as a different serial. */
    issue(*state, 42, ha);
    assert_int_equal(hn_to_serial(b, ha, &back), 0);
    assert_int_not_equal(back, 42);
    hn_scheme_free(b);
}

static void test_not_sequential(void **state)
{
    char hn[HN_LEN + 1];
    double sum = 0;
    issue(*state, 0, hn);
    uint64_t prev = hn_value(hn) / 10; /* payload, without the check digit */
    for (uint64_t i = 1; i <= 10000; i++) {
        issue(*state, i, hn);
        uint64_t cur = hn_value(hn) / 10;
        uint64_t diff = cur > prev ? cur - prev : prev - cur;
        assert_true(diff != 1);
        assert_true(diff > 1000);
        sum += (double)diff;
        prev = cur;
    }
    /* Independent uniform payloads over 9e10 values differ by 3e10 on average. */
    double mean = sum / 10000;
    assert_true(mean > 2.5e10 && mean < 3.5e10);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_no_collisions(void **state)
{
    uint64_t *v = malloc(COLLISION_COUNT * sizeof(*v));
    char hn[HN_LEN + 1];
    assert_non_null(v);
    for (uint64_t i = 0; i < COLLISION_COUNT; i++) {
        issue(*state, i, hn);
        v[i] = hn_value(hn);
    }
    qsort(v, COLLISION_COUNT, sizeof(*v), cmp_u64);
    for (uint64_t i = 1; i < COLLISION_COUNT; i++) {
        if (v[i] == v[i - 1])
            fail_msg("collision: %012llu issued twice", (unsigned long long)v[i]);
    }
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verhoeff_vectors),
        cmocka_unit_test(test_verhoeff_bad_input),
        cmocka_unit_test(test_well_formed_rules),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_errors_caught),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_scheme_args),
        cmocka_unit_test(test_keys_differ),
        cmocka_unit_test(test_not_sequential),
        cmocka_unit_test(test_no_collisions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
