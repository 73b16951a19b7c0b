/*
 * appliance/config.c - reading hudumad's INI configuration (see config.h).
 *
 * inih does the INI syntax; this file owns the meaning.  Every key is one row
 * of a table (section, name, kind, range, where it lands in struct config),
 * so checking, defaults and messages come from one place.
 *
 * The handler of this inih build is not told line numbers, so the text is fed
 * through ini_parse_stream() with a reader of our own that counts lines.  The
 * reader also strips indentation (so an indented key is a key, never a
 * continuation of the one above) and reports, with their line, what inih
 * would only count: unknown sections, lines that are neither a section nor
 * `key = value`, and lines longer than inih's line buffer.  Lines it reports
 * are handed to inih as blank lines, so nothing is reported twice.
 */
#include "config.h"

#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_FILE_MAX (1024 * 1024)

enum key_kind { KEY_ADDRESS, KEY_NUMBER, KEY_THREADS, KEY_PATH, KEY_LEVEL, KEY_BOOL };

struct key_spec {
    const char *section;
    const char *name;
    enum key_kind kind;
    size_t offset;
    unsigned long min, max; /* KEY_NUMBER, KEY_THREADS */
};

#define AT(member) offsetof(struct config, member)

static const struct key_spec key_specs[] = {
    {"server", "listen", KEY_ADDRESS, AT(listen), 0, 0},
    {"server", "port", KEY_NUMBER, AT(port), 1, 65535},
    {"server", "threads", KEY_THREADS, AT(threads), 1, 256},
    {"server", "workers", KEY_NUMBER, AT(workers), 1, 256},
    {"server", "register_dir", KEY_PATH, AT(register_dir), 0, 0},
    {"tls", "cert", KEY_PATH, AT(tls_cert), 0, 0},
    {"tls", "key", KEY_PATH, AT(tls_key), 0, 0},
    {"tls", "ca", KEY_PATH, AT(tls_ca), 0, 0},
    {"limits", "max_connections", KEY_NUMBER, AT(max_connections), 1, 65536},
    {"limits", "max_header_bytes", KEY_NUMBER, AT(max_header_bytes), 1024, 65536},
    {"limits", "max_headers", KEY_NUMBER, AT(max_headers), 1, HTTP_MAX_HEADERS},
    {"limits", "max_body_bytes", KEY_NUMBER, AT(max_body_bytes), 1024, 64 * 1024 * 1024},
    {"limits", "idle_timeout_ms", KEY_NUMBER, AT(idle_timeout_ms), 100, 3600000},
    {"limits", "request_timeout_ms", KEY_NUMBER, AT(request_timeout_ms), 100, 600000},
    {"limits", "handshake_timeout_ms", KEY_NUMBER, AT(handshake_timeout_ms), 100, 60000},
    {"limits", "drain_timeout_ms", KEY_NUMBER, AT(drain_timeout_ms), 0, 600000},
    {"log", "level", KEY_LEVEL, AT(log_level), 0, 0},
    {"audit", "enabled", KEY_BOOL, AT(audit_enabled), 0, 0},
    {"audit", "checkpoint_interval_ms", KEY_NUMBER, AT(audit_checkpoint_ms), 100, 3600000},
    {"audit", "journal_mb", KEY_NUMBER, AT(audit_journal_mb), 1, 4096},
    {"keys", "tcti", KEY_PATH, AT(keys_tcti), 0, 0},
    {"keys", "pin_file", KEY_PATH, AT(keys_pin_file), 0, 0},
};

#define NKEYS (sizeof key_specs / sizeof key_specs[0])

static const char *const section_names[] = {"server",    "tls",  "limits", "log",
                                            "ratelimit", "keys", "audit",  "biometrics"};

struct parse {
    const char *name; /* file name, for messages */
    const char *next; /* the reader's position in the text */
    unsigned line;    /* the line the reader handed out last */
    unsigned set_on[NKEYS];
    struct config *cfg;
    struct config_errors *errs;
    unsigned last_error_line;
    bool skipping; /* under a section header that was refused: its keys are not judged */
};

static void fault(struct parse *p, unsigned line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fault(struct parse *p, unsigned line, const char *key, const char *fmt, ...)
{
    struct config_errors *e = p->errs;
    p->last_error_line = line;
    if (e->count++ >= CONFIG_MAX_ERRORS)
        return;
    char *out = e->text[e->count - 1];
    int n;
    if (line && key)
        n = snprintf(out, CONFIG_ERROR_LEN, "%s:%u: %s: ", p->name, line, key);
    else if (line)
        n = snprintf(out, CONFIG_ERROR_LEN, "%s:%u: ", p->name, line);
    else
        n = snprintf(out, CONFIG_ERROR_LEN, "%s: ", p->name);
    if (n < 0 || n >= CONFIG_ERROR_LEN)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, CONFIG_ERROR_LEN - (size_t)n, fmt, ap);
    va_end(ap);
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1");
    c->port = 8443;
    c->threads = 0;
    c->workers = 4;
    snprintf(c->register_dir, sizeof c->register_dir, "/var/lib/huduma");
    c->max_connections = 1024;
    c->max_header_bytes = 8 * 1024;
    c->max_headers = 64;
    c->max_body_bytes = 1024 * 1024;
    c->idle_timeout_ms = 30000;
    c->request_timeout_ms = 10000;
    c->handshake_timeout_ms = 5000;
    c->drain_timeout_ms = 10000;
    c->log_level = LOG_INFO;
    rl_settings_default(&c->ratelimit);
    bio_settings_default(&c->biometrics);
    c->audit_enabled = true;
    c->audit_checkpoint_ms = 1000;
    c->audit_journal_mb = AUDIT_JOURNAL_MB;
    snprintf(c->tls_cert, sizeof c->tls_cert, "/var/lib/huduma/tls/server.crt");
    snprintf(c->tls_key, sizeof c->tls_key, "/var/lib/huduma/tls/server.key");
    snprintf(c->tls_ca, sizeof c->tls_ca, "/var/lib/huduma/ca/ca.crt");
}

static bool section_known(const char *name)
{
    for (size_t i = 0; i < sizeof section_names / sizeof section_names[0]; i++) {
        if (strcmp(name, section_names[i]) == 0)
            return true;
    }
    return false;
}

/* ---- the reader: one line at a time, counted and pre-checked ----------------- */

static char *read_line(char *buf, int size, void *stream)
{
    struct parse *p = stream;
    if (*p->next == '\0')
        return NULL;
    const char *start = p->next;
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) + 1 : strlen(start);
    p->next = start + len;
    p->line++;

    while (len > 0 && (*start == ' ' || *start == '\t')) {
        start++;
        len--;
    }
    if (size < 3)
        return NULL;
    if (len + 1 > (size_t)size - 1) {
        fault(p, p->line, NULL, "line too long (at most %d characters)", size - 3);
        strcpy(buf, "\n");
        return buf;
    }
    memcpy(buf, start, len);
    buf[len] = '\0';

    const char *end = buf + strcspn(buf, "\r\n");
    if (buf[0] == '\0' || end == buf || buf[0] == ';' || buf[0] == '#')
        return buf;
    if (buf[0] == '[') {
        const char *close = memchr(buf, ']', (size_t)(end - buf));
        if (!close) {
            fault(p, p->line, NULL, "section header without a closing ']'");
            p->skipping = true;
            strcpy(buf, "\n");
            return buf;
        }
        char name[64];
        size_t n = (size_t)(close - buf - 1);
        snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), buf + 1);
        p->skipping = !section_known(name);
        if (p->skipping)
            fault(p, p->line, NULL,
                  "[%s]: unknown section (expected server, tls, limits, log, ratelimit, "
                  "keys, audit, biometrics)",
                  name);
        return buf;
    }
    if (!memchr(buf, '=', (size_t)(end - buf)) && !memchr(buf, ':', (size_t)(end - buf))) {
        fault(p, p->line, NULL, "not a section header or key = value");
        strcpy(buf, "\n");
    }
    return buf;
}

/* ---- values ------------------------------------------------------------------ */

static bool parse_number(const char *text, unsigned long *out)
{
    if (text[0] == '\0' || strlen(text) > 10)
        return false;
    unsigned long v = 0;
    for (const char *s = text; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned long)(*s - '0');
    }
    *out = v;
    return true;
}

static void set_value(struct parse *p, const struct key_spec *k, const char *value)
{
    char *field = (char *)p->cfg + k->offset;
    unsigned long v;
    switch (k->kind) {
    case KEY_ADDRESS: {
        unsigned char addr[16];
        if (inet_pton(AF_INET, value, addr) != 1 && inet_pton(AF_INET6, value, addr) != 1) {
            fault(p, p->line, k->name, "\"%s\" is not a numeric IPv4 or IPv6 address", value);
            return;
        }
        snprintf(field, CONFIG_ADDR_MAX, "%s", value);
        return;
    }
    case KEY_PATH:
        if (value[0] == '\0') {
            fault(p, p->line, k->name, "empty path");
            return;
        }
        if (strlen(value) >= CONFIG_PATH_MAX) {
            fault(p, p->line, k->name, "path longer than %d characters", CONFIG_PATH_MAX - 1);
            return;
        }
        snprintf(field, CONFIG_PATH_MAX, "%s", value);
        return;
    case KEY_LEVEL:
        if (log_level_parse(value, (enum log_level *)(void *)field) != 0)
            fault(p, p->line, k->name, "\"%s\" is not a level (debug, info, warn, error)", value);
        return;
    case KEY_BOOL:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            fault(p, p->line, k->name, "\"%s\" is not true or false", value);
        else
            *(bool *)(void *)field = value[0] == 't';
        return;
    case KEY_THREADS:
        if (strcmp(value, "auto") == 0) {
            *(unsigned *)(void *)field = 0;
            return;
        }
        /* fall through */
    case KEY_NUMBER:
        if (!parse_number(value, &v)) {
            fault(p, p->line, k->name, "\"%s\" is not a whole number%s", value,
                  k->kind == KEY_THREADS ? " or auto" : "");
            return;
        }
        if (v < k->min || v > k->max) {
            fault(p, p->line, k->name, "%lu is out of range (%lu..%lu)", v, k->min, k->max);
            return;
        }
        *(unsigned *)(void *)field = (unsigned)v;
        return;
    }
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    if (p->skipping)
        return 1; /* the reader reported the section */
    if (section[0] == '\0') {
        fault(p, p->line, name, "key outside any section");
        return 1;
    }
    if (strcmp(section, "ratelimit") == 0) { /* its keys are the limiter's (kernel-bpf.h) */
        char why[CONFIG_ERROR_LEN];
        if (rl_settings_key(&p->cfg->ratelimit, name, value, why, sizeof why) != 0)
            fault(p, p->line, name, "%s", why);
        return 1;
    }
    if (strcmp(section, "biometrics") == 0) { /* its keys are the register's (register.h) */
        char why[CONFIG_ERROR_LEN];
        if (bio_settings_key(&p->cfg->biometrics, name, value, why, sizeof why) != 0)
            fault(p, p->line, name, "%s", why);
        return 1;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key_spec *k = &key_specs[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
            continue;
        if (p->set_on[i]) {
            fault(p, p->line, name, "given twice (first on line %u)", p->set_on[i]);
            return 1;
        }
        p->set_on[i] = p->line;
        set_value(p, k, value);
        return 1;
    }
    char known[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(key_specs[i].section, section) == 0 && used < sizeof known) {
            int n = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "",
                             key_specs[i].name);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    fault(p, p->line, name, "unknown key in [%s] (expected %s)", section, known);
    return 1;
}

/* The TLS files default to their places under the register directory. */
static void derive_paths(struct parse *p)
{
    struct {
        char *field;
        const char *tail;
        const char *key;
    } paths[] = {{p->cfg->tls_cert, "tls/server.crt", "cert"},
                 {p->cfg->tls_key, "tls/server.key", "key"},
                 {p->cfg->tls_ca, "ca/ca.crt", "ca"}};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (paths[i].field[0])
            continue;
        int n =
            snprintf(paths[i].field, CONFIG_PATH_MAX, "%s/%s", p->cfg->register_dir, paths[i].tail);
        if (n < 0 || n >= CONFIG_PATH_MAX)
            fault(p, 0, NULL, "%s: register_dir too long to derive the default path", paths[i].key);
    }
}

int config_parse_string(const char *text, const char *name, struct config *c,
                        struct config_errors *errs)
{
    struct config parsed;
    config_defaults(&parsed);
    parsed.tls_cert[0] = parsed.tls_key[0] = parsed.tls_ca[0] = '\0';
    memset(errs, 0, sizeof *errs);
    struct parse p = {.name = name, .next = text, .cfg = &parsed, .errs = errs};

    int rc = ini_parse_stream(read_line, &p, on_key, &p);
    if (rc < 0) {
        fault(&p, 0, NULL, "out of memory while parsing");
    } else if (rc > 0) {
        bool reported = false;
        for (unsigned i = 0; i < errs->count && i < CONFIG_MAX_ERRORS; i++) {
            char prefix[CONFIG_PATH_MAX + 16];
            snprintf(prefix, sizeof prefix, "%s:%d:", name, rc);
            reported |= strncmp(errs->text[i], prefix, strlen(prefix)) == 0;
        }
        if (!reported)
            fault(&p, (unsigned)rc, NULL, "not a section header or key = value");
    }
    derive_paths(&p);
    parsed.ratelimit.port = parsed.port;
    char why[CONFIG_ERROR_LEN];
    if (rl_settings_finish(&parsed.ratelimit, why, sizeof why) != 0)
        fault(&p, 0, NULL, "[ratelimit] %s", why);
    if (bio_settings_check(&parsed.biometrics, why, sizeof why) != 0)
        fault(&p, 0, NULL, "[biometrics] %s", why);
    if (errs->count) {
        config_defaults(c);
        return -1;
    }
    *c = parsed;
    return 0;
}

int config_load(const char *path, struct config *c, struct config_errors *errs)
{
    struct parse p = {.name = path, .errs = errs};
    memset(errs, 0, sizeof *errs);
    config_defaults(c);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fault(&p, 0, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
        fault(&p, 0, NULL, "not a regular file of at most %d bytes", CONFIG_FILE_MAX);
        fclose(f);
        return -1;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t got = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
    bool failed = !text || ferror(f);
    fclose(f);
    if (failed) {
        fault(&p, 0, NULL, "cannot read: %s", text ? strerror(errno) : "out of memory");
        free(text);
        return -1;
    }
    text[got] = '\0';
    if (strlen(text) != got) {
        fault(&p, 0, NULL, "contains a NUL byte: not a text file");
        free(text);
        return -1;
    }
    int rc = config_parse_string(text, path, c, errs);
    free(text);
    return rc;
}
