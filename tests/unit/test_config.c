/*
 * tests/unit/test_config.c - hudumad's configuration (appliance/config.c).
 *
 * Covers: the defaults (an empty file), the TLS paths derived from
 * register_dir, every value kind, comments and indentation; each class of
 * fault with its exact "file:line: key: why" message (unknown section, unknown
 * key, key outside a section, key twice, not a number, out of range at both
 * ends, bad address, bad level, bad threads, empty path, a line that is not
 * INI, a section without ']', a line too long), several faults in one file
 * all reported, a missing file; and a round trip of docs/hudumad.conf.example,
 * which must configure exactly the defaults and name every key that
 * docs/configuration.md documents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/config.h"

static const char *const every_key[] = {
    "listen",
    "port",
    "threads",
    "workers",
    "register_dir",
    "cert",
    "key",
    "ca",
    "max_connections",
    "max_header_bytes",
    "max_headers",
    "max_body_bytes",
    "idle_timeout_ms",
    "request_timeout_ms",
    "handshake_timeout_ms",
    "drain_timeout_ms",
    "level",
    "checkpoint_interval_ms",
    "journal_mb",
};

/* A file of the source tree, found from this file's own path. */
static char *source_file(const char *relative)
{
    const char *self = __FILE__;
    const char *tail = strstr(self, "tests/unit/test_config.c");
    size_t root = tail ? (size_t)(tail - self) : 0;
    char path[1024];
    snprintf(path, sizeof path, "%.*s%s", (int)root, self, relative);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static void parses(const char *text, struct config *c)
{
    struct config_errors errs;
    int rc = config_parse_string(text, "t.conf", c, &errs);
    if (rc != 0)
        fail_msg("unexpected error: %s", errs.count ? errs.text[0] : "?");
}

/* The one error of `text` is exactly `want`. */
static void refuses(const char *text, const char *want)
{
    struct config c;
    struct config_errors errs;
    assert_int_equal(config_parse_string(text, "t.conf", &c, &errs), -1);
    if (errs.count != 1)
        fail_msg("%u errors for \"%s\", first: %s", errs.count, text,
                 errs.count ? errs.text[0] : "");
    assert_string_equal(errs.text[0], want);
    struct config defaults;
    config_defaults(&defaults);
    assert_memory_equal(&c, &defaults, sizeof c); /* nothing applied */
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c, d;
    parses("", &c);
    config_defaults(&d);
    assert_memory_equal(&c, &d, sizeof c);
    assert_string_equal(c.listen, "127.0.0.1");
    assert_int_equal(c.port, 8443);
    assert_int_equal(c.threads, 0);
    assert_int_equal(c.workers, 4);
    assert_string_equal(c.register_dir, "/var/lib/huduma");
    assert_string_equal(c.tls_cert, "/var/lib/huduma/tls/server.crt");
    assert_string_equal(c.tls_key, "/var/lib/huduma/tls/server.key");
    assert_string_equal(c.tls_ca, "/var/lib/huduma/ca/ca.crt");
    assert_int_equal(c.max_connections, 1024);
    assert_int_equal(c.max_header_bytes, 8192);
    assert_int_equal(c.max_headers, 64);
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_int_equal(c.idle_timeout_ms, 30000);
    assert_int_equal(c.request_timeout_ms, 10000);
    assert_int_equal(c.handshake_timeout_ms, 5000);
    assert_int_equal(c.drain_timeout_ms, 10000);
    assert_int_equal(c.log_level, LOG_INFO);
    parses("# only a comment\n\n; another\n", &c);
    assert_memory_equal(&c, &d, sizeof c);
}

static void test_values(void **state)
{
    (void)state;
    struct config c;
    parses("[server]\n"
           "  listen = ::1   ; indented, with a comment\n"
           "port=9000\n"
           "threads = 3\n"
           "workers = 1\n"
           "register_dir = /srv/huduma\n"
           "[tls]\n"
           "ca = /etc/huduma/agency ca.crt\n"
           "[limits]\n"
           "max_connections = 65536\n"
           "max_header_bytes = 1024\n"
           "max_headers = 1\n"
           "max_body_bytes = 67108864\n"
           "idle_timeout_ms = 100\n"
           "request_timeout_ms = 600000\n"
           "handshake_timeout_ms = 60000\n"
           "drain_timeout_ms = 0\n"
           "[log]\n"
           "level = debug\r\n",
           &c);
    assert_string_equal(c.listen, "::1");
    assert_int_equal(c.port, 9000);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.workers, 1);
    assert_string_equal(c.register_dir, "/srv/huduma");
    assert_string_equal(c.tls_cert, "/srv/huduma/tls/server.crt"); /* derived */
    assert_string_equal(c.tls_key, "/srv/huduma/tls/server.key");
    assert_string_equal(c.tls_ca, "/etc/huduma/agency ca.crt"); /* given */
    assert_int_equal(c.max_connections, 65536);
    assert_int_equal(c.max_header_bytes, 1024);
    assert_int_equal(c.max_headers, 1);
    assert_int_equal(c.max_body_bytes, 67108864);
    assert_int_equal(c.idle_timeout_ms, 100);
    assert_int_equal(c.request_timeout_ms, 600000);
    assert_int_equal(c.handshake_timeout_ms, 60000);
    assert_int_equal(c.drain_timeout_ms, 0);
    assert_int_equal(c.log_level, LOG_DEBUG);
    parses("[server]\nthreads = auto\n", &c);
    assert_int_equal(c.threads, 0);
}

static void test_unknown_names(void **state)
{
    (void)state;
    refuses("[server]\nport = 1\n[srever]\nport = 2\n",
            "t.conf:3: [srever]: unknown section (expected server, tls, limits, log, ratelimit, "
            "keys, audit, biometrics)");
    refuses("[limits]\nidle_timeout = 5\n",
            "t.conf:2: idle_timeout: unknown key in [limits] (expected max_connections, "
            "max_header_bytes, max_headers, max_body_bytes, idle_timeout_ms, request_timeout_ms, "
            "handshake_timeout_ms, drain_timeout_ms)");
    refuses("port = 8443\n", "t.conf:1: port: key outside any section");
    refuses("[log]\nlevel = info\n\nlevel = debug\n",
            "t.conf:4: level: given twice (first on line 2)");
}

static void test_bad_values(void **state)
{
    (void)state;
    refuses("[server]\nport = 84x3\n", "t.conf:2: port: \"84x3\" is not a whole number");
    refuses("[server]\nport = -1\n", "t.conf:2: port: \"-1\" is not a whole number");
    refuses("[server]\nport =\n", "t.conf:2: port: \"\" is not a whole number");
    refuses("[server]\nport = 99999999999\n",
            "t.conf:2: port: \"99999999999\" is not a whole number");
    refuses("[server]\nport = 0\n", "t.conf:2: port: 0 is out of range (1..65535)");
    refuses("[server]\nport = 65536\n", "t.conf:2: port: 65536 is out of range (1..65535)");
    refuses("[limits]\nmax_header_bytes = 1023\n",
            "t.conf:2: max_header_bytes: 1023 is out of range (1024..65536)");
    refuses("[limits]\nmax_headers = 65\n", "t.conf:2: max_headers: 65 is out of range (1..64)");
    refuses("[server]\nthreads = many\n",
            "t.conf:2: threads: \"many\" is not a whole number or auto");
    refuses("[server]\nthreads = 0\n", "t.conf:2: threads: 0 is out of range (1..256)");
    refuses("[audit]\njournal_mb = 0\n", "t.conf:2: journal_mb: 0 is out of range (1..4096)");
    refuses("[server]\nlisten = localhost\n",
            "t.conf:2: listen: \"localhost\" is not a numeric IPv4 or IPv6 address");
    refuses("[server]\nlisten = 10.0.0.256\n",
            "t.conf:2: listen: \"10.0.0.256\" is not a numeric IPv4 or IPv6 address");
    refuses("[log]\nlevel = verbose\n",
            "t.conf:2: level: \"verbose\" is not a level (debug, info, warn, error)");
    refuses("[tls]\ncert =\n", "t.conf:2: cert: empty path");
}

static void test_not_ini(void **state)
{
    (void)state;
    refuses("[server]\nport 8443\n", "t.conf:2: not a section header or key = value");
    refuses("[server\nport = 1\n", "t.conf:1: section header without a closing ']'");
    char text[400];
    snprintf(text, sizeof text, "[tls]\ncert = /%0*d\n", 300, 0);
    refuses(text, "t.conf:2: line too long (at most 197 characters)");
}

static void test_every_fault_reported(void **state)
{
    (void)state;
    struct config c;
    struct config_errors errs;
    const char *text = "[server]\n"
                       "port = 70000\n"
                       "workers = four\n"
                       "[limit]\n"
                       "max_connections = 1\n"
                       "[log]\n"
                       "level = loud\n"
                       "nonsense\n";
    assert_int_equal(config_parse_string(text, "h.conf", &c, &errs), -1);
    assert_int_equal(errs.count, 5);
    assert_string_equal(errs.text[0], "h.conf:2: port: 70000 is out of range (1..65535)");
    assert_string_equal(errs.text[1], "h.conf:3: workers: \"four\" is not a whole number");
    assert_string_equal(errs.text[2],
                        "h.conf:4: [limit]: unknown section (expected server, tls, limits, log, "
                        "ratelimit, keys, audit, biometrics)");
    assert_string_equal(errs.text[3],
                        "h.conf:7: level: \"loud\" is not a level (debug, info, warn, error)");
    assert_string_equal(errs.text[4], "h.conf:8: not a section header or key = value");
}

static void test_missing_file(void **state)
{
    (void)state;
    struct config c;
    struct config_errors errs;
    assert_int_equal(config_load("/nonexistent/hudumad.conf", &c, &errs), -1);
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.text[0],
                        "/nonexistent/hudumad.conf: cannot open: No such file or directory");
}

static void test_example_round_trip(void **state)
{
    (void)state;
    const char *example = source_file("docs/hudumad.conf.example");
    struct config c, d;
    parses(example, &c);
    config_defaults(&d);
    assert_memory_equal(&c, &d, sizeof c);
    for (size_t i = 0; i < sizeof every_key / sizeof every_key[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n%s = ", every_key[i]);
        if (!strstr(example, line))
            fail_msg("the example does not set %s", every_key[i]);
    }
    const char *doc = source_file("docs/configuration.md");
    for (size_t i = 0; i < sizeof every_key / sizeof every_key[0]; i++) {
        char cell[64];
        snprintf(cell, sizeof cell, "| `%s` |", every_key[i]);
        if (!strstr(doc, cell))
            fail_msg("docs/configuration.md does not document %s", every_key[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_values),
        cmocka_unit_test(test_unknown_names), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_not_ini),       cmocka_unit_test(test_every_fault_reported),
        cmocka_unit_test(test_missing_file),  cmocka_unit_test(test_example_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
