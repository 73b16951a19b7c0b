/*
 * tests/fuzz/fuzz_config.c - libFuzzer target for hudumad's configuration
 * parser (appliance/config.c).
 *
 * The input is the text of a configuration file.  config_parse_string() must
 * either accept it, with every value inside its documented range and every
 * string terminated, or refuse it with at least one message of the form
 * "fuzz.conf:..." and leave the defaults in place.  The same text also goes
 * through inih's ini_parse_string(), whose every callback must hand over
 * terminated strings.  Any broken promise aborts.
 */
#include <ini.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/config.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static int any_key(void *user, const char *section, const char *name, const char *value)
{
    size_t *seen = user;
    check(section && name && value);
    *seen += strlen(section) + strlen(name) + strlen(value);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    struct config c, defaults;
    struct config_errors errs;
    config_defaults(&defaults);
    int rc = config_parse_string(text, "fuzz.conf", &c, &errs);
    if (rc == 0) {
        check(errs.count == 0);
        check(c.port >= 1 && c.port <= 65535);
        check(c.threads <= 256 && c.workers >= 1 && c.workers <= 256);
        check(c.max_connections >= 1 && c.max_connections <= 65536);
        check(c.max_header_bytes >= 1024 && c.max_header_bytes <= 65536);
        check(c.max_headers >= 1 && c.max_headers <= 64);
        check(c.max_body_bytes >= 1024 && c.max_body_bytes <= 64 * 1024 * 1024);
        check(c.idle_timeout_ms >= 100 && c.request_timeout_ms >= 100);
        check(c.handshake_timeout_ms >= 100 && c.drain_timeout_ms <= 600000);
        check(c.log_level >= LOG_DEBUG && c.log_level <= LOG_ERROR);
        check(terminated(c.listen, sizeof c.listen) && c.listen[0]);
        check(terminated(c.register_dir, sizeof c.register_dir) && c.register_dir[0]);
        check(terminated(c.tls_cert, sizeof c.tls_cert) && c.tls_cert[0]);
        check(terminated(c.tls_key, sizeof c.tls_key) && c.tls_key[0]);
        check(terminated(c.tls_ca, sizeof c.tls_ca) && c.tls_ca[0]);
    } else {
        check(rc == -1 && errs.count > 0);
        check(memcmp(&c, &defaults, sizeof c) == 0);
        for (unsigned i = 0; i < errs.count && i < CONFIG_MAX_ERRORS; i++) {
            check(terminated(errs.text[i], CONFIG_ERROR_LEN));
            check(strncmp(errs.text[i], "fuzz.conf:", 10) == 0);
        }
    }

    size_t seen = 0;
    ini_parse_string(text, any_key, &seen);
    free(text);
    return 0;
}
