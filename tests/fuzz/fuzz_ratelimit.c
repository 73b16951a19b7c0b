/*
 * tests/fuzz/fuzz_ratelimit.c - libFuzzer target for the rate limiter's text
 * parsers (kernel-bpf/ratelimit_text.c): prefixes, rates, and the keys of
 * [ratelimit].
 *
 * The input is "NAME\nVALUE".  VALUE goes through rl_prefix_parse() and
 * rl_rate_parse(); NAME = VALUE through rl_settings_key() and then
 * rl_settings_finish().  Promises checked, any broken one aborts:
 *   - a refusal always says why (a non-empty, terminated message);
 *   - an accepted prefix is in range (IPv4 /0../32, IPv6 /0../64), has no
 *     host bits, and formats to text that parses back to the same prefix;
 *   - an accepted rate has every field within 1..its maximum;
 *   - the settings never count past their tables, and every network names a
 *     class that exists.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel-bpf/kernel-bpf.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void refused_with_reason(const char *why, size_t len)
{
    check(memchr(why, '\0', len) != NULL && why[0] != '\0');
}

static void prefix(const char *text)
{
    struct rl_prefix p, again;
    char why[160], out[RL_PREFIX_TEXT];
    if (rl_prefix_parse(text, &p, why, sizeof why) != 0) {
        refused_with_reason(why, sizeof why);
        return;
    }
    unsigned max = p.family == RL_FAMILY_V4 ? 32 : 64;
    check(p.family == RL_FAMILY_V4 || p.family == RL_FAMILY_V6);
    check(p.prefixlen >= RL_PREFIX_BASE && p.prefixlen <= RL_PREFIX_BASE + max);
    rl_prefix_format(&p, out, sizeof out);
    check(rl_prefix_parse(out, &again, why, sizeof why) == 0);
    check(memcmp(&p, &again, sizeof p) == 0);
}

static void rate(const char *text)
{
    struct rl_rate r;
    char why[160];
    if (rl_rate_parse(text, &r, why, sizeof why) != 0) {
        refused_with_reason(why, sizeof why);
        return;
    }
    check(r.rate >= 1 && r.rate <= RL_RATE_MAX && r.syn_rate >= 1 && r.syn_rate <= RL_RATE_MAX);
    check(r.burst >= 1 && r.burst <= RL_BURST_MAX && r.syn_burst >= 1 &&
          r.syn_burst <= RL_BURST_MAX);
}

static void settings(const char *name, const char *value)
{
    static struct rl_settings s;
    char why[320];
    rl_settings_default(&s);
    for (int i = 0; i < 3; i++) /* given again: repeatable keys add, others are refused */
        if (rl_settings_key(&s, name, value, why, sizeof why) != 0)
            refused_with_reason(why, sizeof why);
    check(s.nclasses >= 1 && s.nclasses <= RL_MAX_CLASSES);
    check(s.nnetworks <= RL_CONFIG_NETWORKS && s.ndeny <= RL_CONFIG_DENY);
    for (unsigned i = 0; i < s.nnetworks; i++)
        check(s.network_class[i] < s.nclasses);
    check(memchr(s.interface, '\0', sizeof s.interface) &&
          memchr(s.instance, '\0', sizeof s.instance));
    if (rl_settings_finish(&s, why, sizeof why) != 0)
        refused_with_reason(why, sizeof why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *value = strchr(text, '\n');
    if (value)
        *value++ = '\0';
    else
        value = text;
    prefix(value);
    rate(value);
    settings(text, value);
    free(text);
    return 0;
}
