/*
 * kernel-bpf/ratelimit_text.c - the rate limiter in words: the [ratelimit]
 * section of hudumad.conf, address prefixes, rate specifications and the
 * names of the counters' reasons.
 *
 * Keys of [ratelimit] (docs/ratelimit.md has the meaning of each):
 *   interface, instance, max_sources, ban_after_failures,
 *   ban_window_seconds, ban_seconds      single values, each given once
 *   class.NAME = rate R [burst B] [syn_rate S] [syn_burst SB]
 *                                         once per class; class.default is
 *                                         the class of unknown sources
 *   network.NAME = PREFIX[, PREFIX...]    may repeat: each line adds
 *   deny = PREFIX[, PREFIX...]            may repeat: each line adds
 * A network may name its class before the class is defined; whether every
 * class used is defined is checked once the whole file is read.
 *
 * Every parser here reads untrusted text (a configuration file, a command
 * line) and is fuzzed by tests/fuzz/fuzz_ratelimit.c.
 */
#include "kernel-bpf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum single_key {
    SEEN_INTERFACE = 1u << 0,
    SEEN_INSTANCE = 1u << 1,
    SEEN_MAX_SOURCES = 1u << 2,
    SEEN_BAN_AFTER = 1u << 3,
    SEEN_BAN_WINDOW = 1u << 4,
    SEEN_BAN_SECONDS = 1u << 5,
    SEEN_DEFAULT_CLASS = 1u << 6, /* class.default (the class exists from the start) */
};

static const struct rl_rate default_rate = {
    .rate = 100, .burst = 200, .syn_rate = 10, .syn_burst = 20};

void rl_settings_default(struct rl_settings *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->instance, sizeof s->instance, "hudumad");
    s->port = 8443;
    s->max_sources = 65536;
    s->nclasses = 1;
    snprintf(s->class_name[0], RL_NAME_MAX, "default");
    s->class_rate[0] = default_rate;
    s->class_defined[0] = true;
    s->ban_after_failures = 10;
    s->ban_window_s = 60;
    s->ban_seconds = 600;
}

static int why_not(char *why, size_t len, const char *text)
{
    snprintf(why, len, "%s", text);
    return -1;
}

/* ---- numbers and names ------------------------------------------------------------ */

/* A plain decimal number in [min, max], the whole token. */
static int parse_uint(const char *text, size_t n, unsigned long min, unsigned long max,
                      unsigned *out)
{
    if (n == 0 || n > 10)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(text[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

bool rl_class_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= RL_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static bool instance_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n < RL_INSTANCE_MAX && name[0] != '.' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static bool interface_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= RL_IFNAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~' || strchr("/:\\\"", name[i]))
            return false;
    return true;
}

/* ---- prefixes --------------------------------------------------------------------- */

static void mask_host_bits(struct rl_prefix *p, unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits > 8 * i ? bits - 8 * i : 0;
        if (keep < 8)
            p->addr[i] &= (uint8_t)(0xff00u >> keep);
    }
}

static bool host_bits_set(const struct rl_prefix *p, unsigned bits)
{
    struct rl_prefix masked = *p;
    mask_host_bits(&masked, bits);
    return memcmp(masked.addr, p->addr, sizeof p->addr) != 0;
}

int rl_prefix_parse(const char *text, struct rl_prefix *out, char *why, size_t len)
{
    memset(out, 0, sizeof *out);
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof addr)
        return why_not(why, len, "expected an address or prefix (203.0.113.0/24, 2001:db8::/48)");
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    unsigned max;
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = RL_FAMILY_V4;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = RL_FAMILY_V6;
        max = 64;
    } else {
        return why_not(why, len, "not a numeric IPv4 or IPv6 address");
    }
    unsigned bits = max;
    if (slash) {
        unsigned limit = out->family == RL_FAMILY_V4 ? 32 : 128;
        if (parse_uint(slash + 1, strlen(slash + 1), 0, limit, &bits) != 0)
            return why_not(why, len,
                           out->family == RL_FAMILY_V4 ? "the prefix length must be 0..32"
                                                       : "the prefix length must be 0..128");
        if (bits > max)
            return why_not(why, len, "IPv6 sources are counted per /64: give /64 or shorter");
        if (host_bits_set(out, bits))
            return why_not(why, len, "host bits are set after the prefix length");
    }
    mask_host_bits(out, bits); /* a bare IPv6 address stands for its /64 */
    out->prefixlen = RL_PREFIX_BASE + bits;
    return 0;
}

const char *rl_prefix_format(const struct rl_prefix *p, char *buf, size_t len)
{
    char addr[INET6_ADDRSTRLEN];
    int af = p->family == RL_FAMILY_V4 ? AF_INET : AF_INET6;
    unsigned bits = p->prefixlen > RL_PREFIX_BASE ? p->prefixlen - RL_PREFIX_BASE : 0;
    if ((p->family != RL_FAMILY_V4 && p->family != RL_FAMILY_V6) ||
        !inet_ntop(af, p->addr, addr, sizeof addr))
        snprintf(addr, sizeof addr, "?");
    snprintf(buf, len, "%s/%u", addr, bits);
    return buf;
}

const char *rl_addr_format(const struct rl_addr *a, char *buf, size_t len)
{
    struct rl_prefix p = {.family = a->family};
    memcpy(p.addr, a->addr, sizeof p.addr);
    if (a->family == RL_FAMILY_V4) {
        char text[INET_ADDRSTRLEN];
        snprintf(buf, len, "%s", inet_ntop(AF_INET, a->addr, text, sizeof text) ? text : "?");
        return buf;
    }
    p.prefixlen = RL_PREFIX_BASE + 64;
    return rl_prefix_format(&p, buf, len);
}

int rl_prefix_of_peer(const struct sockaddr *sa, struct rl_prefix *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)sa;
        out->family = RL_FAMILY_V4;
        memcpy(out->addr, &v4->sin_addr, 4);
        out->prefixlen = RL_PREFIX_BASE + 32;
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) { /* an IPv4 client of a dual-stack socket */
        out->family = RL_FAMILY_V4;
        memcpy(out->addr, &v6->sin6_addr.s6_addr[12], 4);
        out->prefixlen = RL_PREFIX_BASE + 32;
        return 0;
    }
    out->family = RL_FAMILY_V6;
    memcpy(out->addr, &v6->sin6_addr, 8);
    out->prefixlen = RL_PREFIX_BASE + 64;
    return 0;
}

/* ---- rates ------------------------------------------------------------------------ */

/* The next word of `*text` (split on blanks): its start and length. */
static size_t next_word(const char **text, const char **word)
{
    const char *s = *text + strspn(*text, " \t");
    size_t n = strcspn(s, " \t");
    *word = s;
    *text = s + n;
    return n;
}

static bool word_is(const char *word, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(word, name, n) == 0;
}

int rl_rate_parse(const char *text, struct rl_rate *out, char *why, size_t len)
{
    static const char *const names[] = {"rate", "burst", "syn_rate", "syn_burst"};
    unsigned value[4] = {0};
    bool given[4] = {false};
    const char *word;
    size_t n;
    while ((n = next_word(&text, &word)) > 0) {
        unsigned k = 0;
        while (k < 4 && !word_is(word, n, names[k]))
            k++;
        if (k == 4)
            return why_not(why, len, "expected rate, burst, syn_rate or syn_burst");
        if (given[k]) {
            snprintf(why, len, "%s is given twice", names[k]);
            return -1;
        }
        const char *num;
        size_t m = next_word(&text, &num);
        unsigned long max = k % 2 ? RL_BURST_MAX : RL_RATE_MAX;
        if (parse_uint(num, m, 1, max, &value[k]) != 0) {
            snprintf(why, len, "%s needs a whole number 1..%lu", names[k], max);
            return -1;
        }
        given[k] = true;
    }
    if (!given[0])
        return why_not(why, len, "rate is required (packets per second), e.g. \"rate 5000\"");
    out->rate = value[0];
    out->burst = given[1] ? value[1] : value[0];
    out->syn_rate = given[2] ? value[2] : (value[0] >= 10 ? value[0] / 10 : 1);
    out->syn_burst = given[3] ? value[3] : out->syn_rate;
    if (out->burst > RL_BURST_MAX)
        out->burst = RL_BURST_MAX;
    if (out->syn_burst > RL_BURST_MAX)
        out->syn_burst = RL_BURST_MAX;
    return 0;
}

/* ---- [ratelimit] ------------------------------------------------------------------ */

/* The id of class `name`, added (undefined) when new; -1 when the table is full. */
static int class_slot(struct rl_settings *s, const char *name)
{
    for (unsigned i = 0; i < s->nclasses; i++)
        if (strcmp(s->class_name[i], name) == 0)
            return (int)i;
    if (s->nclasses == RL_MAX_CLASSES)
        return -1;
    snprintf(s->class_name[s->nclasses], RL_NAME_MAX, "%s", name);
    s->class_defined[s->nclasses] = false;
    return (int)s->nclasses++;
}

static int class_key(struct rl_settings *s, const char *name, const char *value, char *why,
                     size_t len)
{
    if (!rl_class_name_ok(name))
        return why_not(why, len,
                       "a class name is 1..23 of a-z, 0-9, _ and -, starting with a letter");
    struct rl_rate r;
    if (rl_rate_parse(value, &r, why, len) != 0)
        return -1;
    int id = class_slot(s, name);
    if (id < 0)
        return why_not(why, len, "too many classes (at most 64, default included)");
    if (id == 0 ? (s->seen & SEEN_DEFAULT_CLASS) != 0 : s->class_defined[id])
        return why_not(why, len, "this class is defined twice");
    if (id == 0)
        s->seen |= SEEN_DEFAULT_CLASS;
    s->class_rate[id] = r;
    s->class_defined[id] = true;
    return 0;
}

/* PREFIX[, PREFIX...] into `list` (at most `max`, `*n` so far). */
static int prefix_list(const char *value, struct rl_prefix *list, unsigned *n, unsigned max,
                       unsigned *classes, int class_id, char *why, size_t len)
{
    const char *s = value;
    for (;;) {
        s += strspn(s, " \t");
        size_t m = strcspn(s, ", \t");
        char item[RL_PREFIX_TEXT];
        if (m == 0 || m >= sizeof item)
            return why_not(why, len, "expected a comma-separated list of prefixes");
        memcpy(item, s, m);
        item[m] = '\0';
        if (*n == max) {
            snprintf(why, len, "too many prefixes (at most %u)", max);
            return -1;
        }
        char inner[160];
        if (rl_prefix_parse(item, &list[*n], inner, sizeof inner) != 0) {
            snprintf(why, len, "%s: %s", item, inner);
            return -1;
        }
        if (classes)
            classes[*n] = (unsigned)class_id;
        (*n)++;
        s += m;
        s += strspn(s, " \t");
        if (*s == '\0')
            return 0;
        if (*s != ',')
            return why_not(why, len, "expected a comma between prefixes");
        s++;
    }
}

static int network_key(struct rl_settings *s, const char *name, const char *value, char *why,
                       size_t len)
{
    if (!rl_class_name_ok(name))
        return why_not(why, len,
                       "a class name is 1..23 of a-z, 0-9, _ and -, starting with a letter");
    int id = class_slot(s, name);
    if (id < 0)
        return why_not(why, len, "too many classes (at most 64, default included)");
    return prefix_list(value, s->network, &s->nnetworks, RL_CONFIG_NETWORKS, s->network_class, id,
                       why, len);
}

static int once(struct rl_settings *s, unsigned bit, char *why, size_t len)
{
    if (s->seen & bit)
        return why_not(why, len, "given twice");
    s->seen |= bit;
    return 0;
}

static int number_key(struct rl_settings *s, unsigned bit, const char *value, unsigned long min,
                      unsigned long max, unsigned *out, char *why, size_t len)
{
    if (once(s, bit, why, len) != 0)
        return -1;
    if (parse_uint(value, strlen(value), min, max, out) != 0) {
        snprintf(why, len, "\"%s\" is not a whole number %lu..%lu", value, min, max);
        return -1;
    }
    return 0;
}

int rl_settings_key(struct rl_settings *s, const char *name, const char *value, char *why,
                    size_t len)
{
    if (strncmp(name, "class.", 6) == 0)
        return class_key(s, name + 6, value, why, len);
    if (strncmp(name, "network.", 8) == 0)
        return network_key(s, name + 8, value, why, len);
    if (strcmp(name, "deny") == 0)
        return prefix_list(value, s->deny, &s->ndeny, RL_CONFIG_DENY, NULL, 0, why, len);
    if (strcmp(name, "interface") == 0) {
        if (once(s, SEEN_INTERFACE, why, len) != 0)
            return -1;
        if (!interface_name_ok(value))
            return why_not(why, len, "not an interface name (1..15 characters, no / or blanks)");
        snprintf(s->interface, sizeof s->interface, "%s", value);
        return 0;
    }
    if (strcmp(name, "instance") == 0) {
        if (once(s, SEEN_INSTANCE, why, len) != 0)
            return -1;
        if (!instance_name_ok(value))
            return why_not(why, len, "1..31 of letters, digits, _ . and -, not starting with .");
        snprintf(s->instance, sizeof s->instance, "%s", value);
        return 0;
    }
    if (strcmp(name, "max_sources") == 0)
        return number_key(s, SEEN_MAX_SOURCES, value, 1024, 4194304, &s->max_sources, why, len);
    if (strcmp(name, "ban_after_failures") == 0)
        return number_key(s, SEEN_BAN_AFTER, value, 0, 100000, &s->ban_after_failures, why, len);
    if (strcmp(name, "ban_window_seconds") == 0)
        return number_key(s, SEEN_BAN_WINDOW, value, 1, 86400, &s->ban_window_s, why, len);
    if (strcmp(name, "ban_seconds") == 0)
        return number_key(s, SEEN_BAN_SECONDS, value, 1, 604800, &s->ban_seconds, why, len);
    return why_not(why, len,
                   "unknown key in [ratelimit] (expected interface, instance, max_sources, "
                   "class.NAME, network.NAME, deny, ban_after_failures, ban_window_seconds, "
                   "ban_seconds)");
}

int rl_settings_finish(struct rl_settings *s, char *why, size_t len)
{
    for (unsigned i = 0; i < s->nclasses; i++) {
        if (!s->class_defined[i]) {
            snprintf(why, len, "network.%s: no class.%s gives its rates", s->class_name[i],
                     s->class_name[i]);
            return -1;
        }
    }
    return 0;
}

/* ---- reasons ---------------------------------------------------------------------- */

const char *rl_reason_action(enum rl_reason r)
{
    return r >= RL_DROP_DENIED ? "drop" : "pass";
}

const char *rl_reason_name(enum rl_reason r)
{
    static const char *const names[RL_NREASONS] = {
        [RL_PASS_RATE] = "within_rate",    [RL_PASS_FRAGMENT] = "fragment",
        [RL_PASS_OTHER] = "not_api_port",  [RL_PASS_NOT_IP] = "not_ip",
        [RL_PASS_MALFORMED] = "malformed", [RL_PASS_UNTRACKED] = "untracked",
        [RL_DROP_DENIED] = "denied",       [RL_DROP_RATE] = "over_rate",
        [RL_DROP_SYN] = "over_syn_rate",
    };
    return (unsigned)r < RL_NREASONS ? names[r] : "unknown";
}
