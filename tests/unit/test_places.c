/*
 * tests/unit/test_places.c - county and country codes (appliance/places.c).
 *
 * The county table is checked against the reference list counties.csv in the
 * shared data folder named by HUDUMA_TEST_SHARED (the CSV is at
 * $HUDUMA_TEST_SHARED/data/counties.csv); that one test is skipped when the
 * variable is unset or the file is absent.  Country codes are checked by
 * spot values and by counting every valid pair of letters (249).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/places.h"

#define N_COUNTIES 47
#define N_ALPHA2   249

static FILE *open_reference_csv(void)
{
    const char *shared = getenv("HUDUMA_TEST_SHARED");
    char path[4096];
    if (shared == NULL || *shared == '\0')
        return NULL;
    if (snprintf(path, sizeof(path), "%s/data/counties.csv", shared) >= (int)sizeof(path))
        return NULL;
    return fopen(path, "r");
}

static void chomp(char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
}

/* Checks one "code,name" row against the table; returns its code as a number. */
static int check_row(char *line)
{
    char *comma = strchr(line, ',');
    assert_non_null(comma);
    *comma = '\0';
    const char *code = line, *name = comma + 1;
    assert_true(county_code_valid(code));
    assert_non_null(county_name(code));
    assert_string_equal(county_name(code), name);
    return atoi(code);
}

static void test_counties_match_reference(void **state)
{
    (void)state;
    FILE *f = open_reference_csv();
    if (f == NULL)
        skip();
    char line[256];
    int rows = 0;
    assert_non_null(fgets(line, sizeof(line), f));
    chomp(line);
    assert_string_equal(line, "code,name");
    while (fgets(line, sizeof(line), f) != NULL) {
        chomp(line);
        if (*line == '\0')
            continue;
        assert_int_equal(check_row(line), rows + 1);
        assert_string_equal(county_code_at((size_t)rows), line);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, N_COUNTIES);
    assert_int_equal(county_count(), rows);
}

static void test_county_table(void **state)
{
    (void)state;
    char code[12];
    assert_int_equal(county_count(), N_COUNTIES);
    for (int i = 1; i <= N_COUNTIES; i++) {
        snprintf(code, sizeof(code), "%03d", i);
        assert_true(county_code_valid(code));
        assert_non_null(county_name(code));
        assert_string_equal(county_code_at((size_t)i - 1), code);
    }
    assert_null(county_code_at(N_COUNTIES));
    assert_string_equal(county_name("001"), "Mombasa");
    assert_string_equal(county_name("047"), "Nairobi City");
}

static void test_county_invalid(void **state)
{
    (void)state;
    const char *bad[] = {"000", "048", "47", "0470", "abc", "", "999", "-01", " 01", "01 ", "4 7"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(county_code_valid(bad[i]));
        assert_null(county_name(bad[i]));
    }
    assert_false(county_code_valid(NULL));
    assert_null(county_name(NULL));
}

static void test_alpha2_valid(void **state)
{
    (void)state;
    const char *good[] = {"KE", "UG", "TZ", "US", "AD", "ZW", "SS", "BQ", "CW", "SX", "GB"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(iso3166_alpha2_valid(good[i]));
}

static void test_alpha2_invalid(void **state)
{
    (void)state;
    /* Lower case, unassigned, user-assigned, reserved, withdrawn, wrong length. */
    const char *bad[] = {"ke", "Ke", "XX", "K",  "KEN", "",  "AA",
                         "XK", "UK", "EU", "AN", "YU",  "K1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(iso3166_alpha2_valid(bad[i]));
    assert_false(iso3166_alpha2_valid(NULL));
}

static void test_alpha2_count(void **state)
{
    (void)state;
    char code[3] = {0};
    int n = 0;
    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            code[0] = a;
            code[1] = b;
            n += iso3166_alpha2_valid(code);
        }
    }
    assert_int_equal(n, N_ALPHA2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counties_match_reference), cmocka_unit_test(test_county_table),
        cmocka_unit_test(test_county_invalid),           cmocka_unit_test(test_alpha2_valid),
        cmocka_unit_test(test_alpha2_invalid),           cmocka_unit_test(test_alpha2_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
