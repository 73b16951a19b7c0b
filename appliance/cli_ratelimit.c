/*
 * appliance/cli_ratelimit.c - `huduma ratelimit`: see and change the XDP
 * rate limiter of a running hudumad without restarting it (docs/ratelimit.md).
 *
 *   huduma ratelimit status                       interface, mode, counters,
 *                                                 classes, networks, deny list
 *   huduma ratelimit set CLASS [--rate N] [--burst N] [--syn-rate N]
 *                              [--syn-burst N] [--network PREFIX]...
 *                              [--remove-network PREFIX]...
 *   huduma ratelimit ban PREFIX [--for SECONDS]
 *   huduma ratelimit unban PREFIX
 *   huduma ratelimit top [--count N] [--by dropped|passed]
 *
 * Each takes --instance NAME (default: the only instance running).  The
 * limiter is reached through the maps hudumad pinned under
 * /sys/fs/bpf/huduma/<instance>/ (kernel-bpf/kernel-bpf.h), so this needs
 * root, and no database.  Changes last until hudumad stops; what should
 * outlive it belongs in [ratelimit] of hudumad.conf.  Answers are JSON on
 * stdout (top: one line per source), refusals one line on stderr.
 */
#include "cli.h"

#include "kernel-bpf/kernel-bpf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOP_MAX 1000

static int fail(int code, const char *cmd, const char *msg)
{
    fprintf(stderr, "huduma ratelimit %s: %s\n", cmd, msg);
    return code;
}

/* Refuses options other than `allowed` (and --instance, --dir). */
static int only_options(const struct cli_args *a, const char *cmd, const char *const *allowed)
{
    for (int i = 0; i < a->nopt; i++) {
        bool ok = strcmp(a->opt_name[i], "instance") == 0 || strcmp(a->opt_name[i], "dir") == 0;
        for (const char *const *o = allowed; *o && !ok; o++)
            ok = strcmp(a->opt_name[i], *o) == 0;
        if (!ok) {
            fprintf(stderr, "huduma ratelimit %s: unknown option --%s\n", cmd, a->opt_name[i]);
            return -1;
        }
    }
    return 0;
}

static int open_limiter(const struct cli_args *a, const char *cmd, struct rl **rl)
{
    char err[512];
    if (rl_open(cli_opt(a, "instance"), rl, err, sizeof err) != 0)
        return fail(EXIT_NOTFOUND, cmd, err);
    return EXIT_OKAY;
}

/* A number option in [min, max]; absent: *out untouched. */
static int number_option(const struct cli_args *a, const char *name, unsigned long min,
                         unsigned long max, unsigned *out)
{
    const char *v = cli_opt(a, name);
    if (!v)
        return 0;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end || n < min || n > max) {
        fprintf(stderr, "huduma ratelimit: --%s must be a whole number %lu..%lu\n", name, min, max);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

/* ---- status --------------------------------------------------------------------- */

static json_t *counters_json(struct rl *rl)
{
    struct rl_count c[RL_NREASONS];
    if (rl_counters(rl, c, NULL, 0) != 0)
        return json_null();
    json_t *out = json_pack("{s:{}, s:{}}", "pass", "drop");
    for (int r = 0; r < RL_NREASONS; r++)
        json_object_set_new(json_object_get(out, rl_reason_action(r)), rl_reason_name(r),
                            json_pack("{s:I, s:I}", "packets", (json_int_t)c[r].packets, "bytes",
                                      (json_int_t)c[r].bytes));
    return out;
}

static json_t *class_json(const struct rl_class_info *c)
{
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:I, s:I}", "class", c->name, "rate", c->rate.rate,
                     "burst", c->rate.burst, "syn_rate", c->rate.syn_rate, "syn_burst",
                     c->rate.syn_burst, "passed", (json_int_t)c->passed, "dropped",
                     (json_int_t)c->dropped);
}

struct walk {
    json_t *list;
    const struct rl_class_info *classes;
    int nclasses;
};

static const char *class_name(const struct walk *w, unsigned id)
{
    for (int i = 0; i < w->nclasses; i++)
        if (w->classes[i].id == id)
            return w->classes[i].name;
    return "?";
}

static int add_network(void *ctx, const struct rl_prefix *p, unsigned cls)
{
    struct walk *w = ctx;
    char text[RL_PREFIX_TEXT];
    json_array_append_new(w->list,
                          json_pack("{s:s, s:s}", "prefix", rl_prefix_format(p, text, sizeof text),
                                    "class", class_name(w, cls)));
    return 0;
}

static int add_ban(void *ctx, const struct rl_prefix *p, const struct rl_ban *b, uint64_t now_ns)
{
    static const char *const origins[] = {"?", "configuration", "operator", "failed handshakes"};
    struct walk *w = ctx;
    if (b->until_ns <= now_ns)
        return 0; /* expired: the program ignores it */
    char text[RL_PREFIX_TEXT];
    json_t *expires =
        b->until_ns == RL_FOREVER
            ? json_null()
            : json_integer((json_int_t)((b->until_ns - now_ns + 999999999) / 1000000000));
    json_array_append_new(w->list, json_pack("{s:s, s:s, s:o}", "prefix",
                                             rl_prefix_format(p, text, sizeof text), "origin",
                                             origins[b->origin < 4 ? b->origin : 0],
                                             "expires_in_seconds", expires));
    return 0;
}

static int status(struct rl *rl, const struct cli_args *a)
{
    (void)a;
    struct rl_status st;
    struct rl_class_info classes[RL_MAX_CLASSES];
    char err[512];
    int n = rl_classes(rl, classes, err, sizeof err);
    if (rl_status(rl, &st, err, sizeof err) != 0 || n < 0)
        return fail(EXIT_STORAGE, "status", err);
    json_t *out = json_pack("{s:s, s:s, s:i, s:s, s:i, s:o}", "instance", rl_instance(rl),
                            "interface", st.ifname, "ifindex", st.ifindex, "mode",
                            rl_mode_name(st.mode), "port", st.port, "counters", counters_json(rl));
    json_t *cls = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(cls, class_json(&classes[i]));
    json_object_set_new(out, "classes", cls);
    struct walk nets = {json_array(), classes, n}, bans = {json_array(), classes, n};
    if (rl_each_network(rl, add_network, &nets, err, sizeof err) != 0 ||
        rl_each_ban(rl, add_ban, &bans, err, sizeof err) != 0) {
        json_decref(out);
        json_decref(nets.list);
        json_decref(bans.list);
        return fail(EXIT_STORAGE, "status", err);
    }
    json_object_set_new(out, "networks", nets.list);
    json_object_set_new(out, "denied", bans.list);
    cli_print_json(out);
    return EXIT_OKAY;
}

/* ---- set ------------------------------------------------------------------------- */

/* The class's rates after this command: its current ones (or the defaults of a
 * new class, which needs --rate) with the options given applied. */
static int rates_for(struct rl *rl, const struct cli_args *a, const char *name, struct rl_rate *r)
{
    struct rl_class_info classes[RL_MAX_CLASSES];
    int n = rl_classes(rl, classes, NULL, 0);
    bool found = false;
    for (int i = 0; i < n && !found; i++)
        if (strcmp(classes[i].name, name) == 0) {
            *r = classes[i].rate;
            found = true;
        }
    if (!found && !cli_opt(a, "rate"))
        return fail(-1, "set", "a new class needs --rate");
    unsigned rate = 0;
    if (number_option(a, "rate", 1, RL_RATE_MAX, &rate) != 0)
        return -1;
    if (!found) { /* the defaults of a class of this rate (rl_rate_parse) */
        char spec[32], why[160];
        snprintf(spec, sizeof spec, "rate %u", rate);
        if (rl_rate_parse(spec, r, why, sizeof why) != 0)
            return fail(-1, "set", why);
    } else if (rate) {
        r->rate = rate;
    }
    if (number_option(a, "burst", 1, RL_BURST_MAX, &r->burst) != 0 ||
        number_option(a, "syn-rate", 1, RL_RATE_MAX, &r->syn_rate) != 0 ||
        number_option(a, "syn-burst", 1, RL_BURST_MAX, &r->syn_burst) != 0)
        return -1;
    return 0;
}

static bool changes_rates(const struct cli_args *a)
{
    return cli_opt(a, "rate") || cli_opt(a, "burst") || cli_opt(a, "syn-rate") ||
           cli_opt(a, "syn-burst");
}

/* Every --network (add) or --remove-network, in the order given. */
static int set_networks(struct rl *rl, const struct cli_args *a, const char *name, json_t *out)
{
    char err[512], why[160], text[RL_PREFIX_TEXT];
    for (int i = 0; i < a->nopt; i++) {
        bool add = strcmp(a->opt_name[i], "network") == 0;
        if (!add && strcmp(a->opt_name[i], "remove-network") != 0)
            continue;
        struct rl_prefix p;
        if (rl_prefix_parse(a->opt_value[i], &p, why, sizeof why) != 0) {
            snprintf(err, sizeof err, "%s: %s", a->opt_value[i], why);
            return fail(EXIT_INVALID, "set", err);
        }
        if ((add ? rl_set_network(rl, &p, name, err, sizeof err)
                 : rl_remove_network(rl, &p, err, sizeof err)) != 0)
            return fail(add ? EXIT_STORAGE : EXIT_NOTFOUND, "set", err);
        json_array_append_new(json_object_get(out, add ? "networks_added" : "networks_removed"),
                              json_string(rl_prefix_format(&p, text, sizeof text)));
    }
    return EXIT_OKAY;
}

static int set(struct rl *rl, const struct cli_args *a)
{
    const char *name = a->pos[1];
    if (!rl_class_name_ok(name))
        return fail(EXIT_INVALID, "set",
                    "a class name is 1..23 of a-z, 0-9, _ and -, starting with a letter");
    json_t *out =
        json_pack("{s:s, s:[], s:[]}", "class", name, "networks_added", "networks_removed");
    char err[512];
    if (changes_rates(a)) {
        struct rl_rate r;
        if (rates_for(rl, a, name, &r) != 0) {
            json_decref(out);
            return EXIT_INVALID;
        }
        if (rl_set_class(rl, name, &r, err, sizeof err) != 0) {
            json_decref(out);
            return fail(EXIT_STORAGE, "set", err);
        }
    }
    int rc = set_networks(rl, a, name, out);
    if (rc != EXIT_OKAY) {
        json_decref(out);
        return rc;
    }
    struct rl_class_info classes[RL_MAX_CLASSES];
    int n = rl_classes(rl, classes, err, sizeof err);
    for (int i = 0; i < n; i++)
        if (strcmp(classes[i].name, name) == 0)
            json_object_update_new(out, class_json(&classes[i]));
    cli_print_json(out);
    return EXIT_OKAY;
}

/* ---- ban, unban ------------------------------------------------------------------ */

static int parse_prefix(const char *cmd, const char *text, struct rl_prefix *p)
{
    char why[160], err[320];
    if (rl_prefix_parse(text, p, why, sizeof why) == 0)
        return 0;
    snprintf(err, sizeof err, "%s: %s", text, why);
    fail(EXIT_INVALID, cmd, err);
    return -1;
}

static int ban(struct rl *rl, const struct cli_args *a)
{
    struct rl_prefix p;
    unsigned seconds = 0;
    if (parse_prefix("ban", a->pos[1], &p) != 0)
        return EXIT_INVALID;
    if (number_option(a, "for", 1, 31536000, &seconds) != 0)
        return EXIT_USAGE;
    char err[512], text[RL_PREFIX_TEXT];
    if (rl_ban(rl, &p, seconds, RL_BAN_OPERATOR, err, sizeof err) != 0)
        return fail(EXIT_STORAGE, "ban", err);
    cli_print_json(json_pack("{s:s, s:o}", "banned", rl_prefix_format(&p, text, sizeof text),
                             "seconds", seconds ? json_integer(seconds) : json_null()));
    return EXIT_OKAY;
}

static int unban(struct rl *rl, const struct cli_args *a)
{
    struct rl_prefix p;
    if (parse_prefix("unban", a->pos[1], &p) != 0)
        return EXIT_INVALID;
    char err[512], text[RL_PREFIX_TEXT];
    if (rl_unban(rl, &p, err, sizeof err) != 0)
        return fail(EXIT_NOTFOUND, "unban", err);
    cli_print_json(json_pack("{s:s}", "unbanned", rl_prefix_format(&p, text, sizeof text)));
    return EXIT_OKAY;
}

/* ---- top --------------------------------------------------------------------------- */

static int top(struct rl *rl, const struct cli_args *a)
{
    unsigned count = 20;
    if (number_option(a, "count", 1, TOP_MAX, &count) != 0)
        return EXIT_USAGE;
    const char *by = cli_opt(a, "by");
    if (by && strcmp(by, "dropped") != 0 && strcmp(by, "passed") != 0)
        return fail(EXIT_USAGE, "top", "--by must be dropped or passed");
    struct rl_source_info *s = calloc(count, sizeof *s);
    struct rl_class_info classes[RL_MAX_CLASSES];
    char err[512];
    int nclasses = rl_classes(rl, classes, err, sizeof err);
    int n = s && nclasses >= 0 ? rl_top(rl, by && by[0] == 'p' ? RL_TOP_PASSED : RL_TOP_DROPPED, s,
                                        count, err, sizeof err)
                               : -1;
    if (n < 0) {
        free(s);
        return fail(EXIT_STORAGE, "top", s ? err : "out of memory");
    }
    struct walk w = {NULL, classes, nclasses};
    for (int i = 0; i < n; i++) {
        char text[RL_PREFIX_TEXT];
        json_t *line = json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}", "source",
                                 rl_addr_format(&s[i].addr, text, sizeof text), "class",
                                 class_name(&w, s[i].class_id), "passed", (json_int_t)s[i].passed,
                                 "dropped", (json_int_t)s[i].dropped, "idle_ms",
                                 (json_int_t)s[i].idle_ms, "denied", s[i].denied);
        json_dumpf(line, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(line);
    }
    free(s);
    return EXIT_OKAY;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int cli_ratelimit(const struct cli_args *a)
{
    static const char *const none[] = {NULL};
    static const char *const set_opts[] = {"rate",    "burst",          "syn-rate", "syn-burst",
                                           "network", "remove-network", NULL};
    static const char *const ban_opts[] = {"for", NULL};
    static const char *const top_opts[] = {"count", "by", NULL};
    static const struct {
        const char *name;
        int npos; /* positional arguments, the subcommand included */
        const char *const *opts;
        int (*run)(struct rl *rl, const struct cli_args *a);
        const char *usage;
    } subs[] = {
        {"status", 1, none, status, "status"},
        {"set", 2, set_opts, set, "set CLASS [--rate N] [--burst N] [--syn-rate N] ..."},
        {"ban", 2, ban_opts, ban, "ban PREFIX [--for SECONDS]"},
        {"unban", 2, none, unban, "unban PREFIX"},
        {"top", 1, top_opts, top, "top [--count N] [--by dropped|passed]"},
    };
    for (size_t i = 0; a->npos > 0 && i < sizeof subs / sizeof *subs; i++) {
        if (strcmp(a->pos[0], subs[i].name) != 0)
            continue;
        if (only_options(a, subs[i].name, subs[i].opts) != 0 || a->npos != subs[i].npos) {
            fprintf(stderr, "usage: huduma ratelimit %s [--instance NAME]\n", subs[i].usage);
            return EXIT_USAGE;
        }
        struct rl *rl;
        int rc = open_limiter(a, subs[i].name, &rl);
        if (rc != EXIT_OKAY)
            return rc;
        rc = subs[i].run(rl, a);
        rl_close(rl);
        return rc;
    }
    fprintf(stderr, "huduma ratelimit: give status, set, ban, unban or top "
                    "(huduma ratelimit --help)\n");
    return EXIT_USAGE;
}
