/*
 * tests/unit/test_ratelimit.c - the XDP rate limiter, program and manager,
 * without a network: the real program is loaded into the kernel from the
 * generated skeleton and run on frames built here (BPF_PROG_TEST_RUN), and
 * its maps are driven through kernel-bpf's own table functions.
 *
 *   parsers     prefixes, rates, the [ratelimit] section through hudumad's
 *               configuration reader (every fault named with its line)
 *   program     a verdict and a counter for each kind of frame: metered TCP
 *               to the API port, other ports, not IP, over the rate, over
 *               the SYN rate, an agency network's class, the deny list (and
 *               a ban's expiry), IPv6 /64 buckets, malformed and truncated
 *               frames (passed, counted), valid frames with IPv4 options,
 *               IPv6 extension headers, VLAN tags and fragments, changes of
 *               class and network at run time
 *   manager     top sources, the deny list walk, the handshake guard
 *
 * Needs root (CAP_BPF): loading a program is the point.
 */
#include "appliance/config.h"
#include "kernel-bpf/ratelimit_impl.h"

#include "ratelimit.skel.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define PORT 8443

static struct ratelimit_bpf *skel;
static struct rl *rl;
static unsigned kra_id;

/* ---- frames ---------------------------------------------------------------------- */

struct frame {
    uint8_t b[4096];
    size_t n;
};

static void put(struct frame *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof f->b);
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void put16(struct frame *f, uint16_t v)
{
    uint16_t be = htons(v);
    put(f, &be, 2);
}

static void put8(struct frame *f, uint8_t v)
{
    put(f, &v, 1);
}

static void eth(struct frame *f, uint16_t type)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    f->n = 0;
    put(f, macs, sizeof macs);
    put16(f, type);
}

static void ipv4_ihl(struct frame *f, const char *src, uint8_t proto, uint16_t frag, unsigned ihl)
{
    uint8_t a[4], d[4];
    assert_int_equal(inet_pton(AF_INET, src, a), 1);
    inet_pton(AF_INET, "192.0.2.1", d);
    put8(f, (uint8_t)(0x40 | ihl));
    put8(f, 0);
    put16(f, 40);
    put16(f, 1);
    put16(f, frag);
    put8(f, 64);
    put8(f, proto);
    put16(f, 0);
    put(f, a, 4);
    put(f, d, 4);
    for (unsigned i = 5; i < ihl; i++)
        put(f, "\x01\x01\x01\x01", 4); /* NOP options */
}

static void ipv4(struct frame *f, const char *src, uint8_t proto)
{
    ipv4_ihl(f, src, proto, 0x4000, 5);
}

static void ipv6(struct frame *f, const char *src, uint8_t next, uint16_t payload)
{
    uint8_t a[16], d[16];
    assert_int_equal(inet_pton(AF_INET6, src, a), 1);
    inet_pton(AF_INET6, "2001:db8:0:1::1", d);
    put(f, "\x60\x00\x00\x00", 4);
    put16(f, payload);
    put8(f, next);
    put8(f, 64);
    put(f, a, 16);
    put(f, d, 16);
}

enum { ACK = 0x10, SYN = 0x02 };

static void tcp(struct frame *f, uint16_t dport, uint8_t flags)
{
    put16(f, 40000);
    put16(f, dport);
    put(f, "\0\0\0\1\0\0\0\1", 8);
    put8(f, 0x50);
    put8(f, flags);
    put(f, "\xff\xff\0\0\0\0", 6);
}

static void tcp4(struct frame *f, const char *src, uint16_t dport, uint8_t flags)
{
    eth(f, 0x0800);
    ipv4(f, src, 6);
    tcp(f, dport, flags);
}

static void tcp6(struct frame *f, const char *src, uint8_t flags)
{
    eth(f, 0x86dd);
    ipv6(f, src, 6, 20);
    tcp(f, PORT, flags);
}

/* ---- running the program ------------------------------------------------------------- */

static int run(const struct frame *f)
{
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = (__u32)f->n, .repeat = 1);
    int rc = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.huduma_ratelimit), &o);
    assert_int_equal(rc, 0);
    return (int)o.retval;
}

static uint64_t counter(enum rl_reason r)
{
    struct rl_count c[RL_NREASONS];
    assert_int_equal(rl_counters(rl, c, NULL, 0), 0);
    return c[r].packets;
}

/* The bucket of a source ("203.0.113.7" or "2001:db8:1:2::/64"); false when none. */
static bool bucket(const char *source, struct rl_bucket *b)
{
    struct rl_prefix p;
    char why[160];
    assert_int_equal(rl_prefix_parse(source, &p, why, sizeof why), 0);
    struct rl_addr key = {.family = p.family};
    memcpy(key.addr, p.addr, sizeof key.addr);
    return bpf_map_lookup_elem(rl->fd[RL_MAP_SOURCES], &key, b) == 0;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- set-up: the program loaded, not attached, its tables filled ------------------------- */

static int load(void **state)
{
    (void)state;
    skel = ratelimit_bpf__open_and_load();
    if (!skel) {
        print_error("cannot load the XDP program (root, CAP_BPF needed): %s\n", strerror(errno));
        return -1;
    }
    rl = rl_alloc("unit");
    rl->skel = skel; /* the skeleton owns the maps */
    struct bpf_map *maps[RL_NMAPS] = {skel->maps.rl_config,     skel->maps.rl_classes,
                                      skel->maps.rl_networks,   skel->maps.rl_denied,
                                      skel->maps.rl_sources,    skel->maps.rl_stats,
                                      skel->maps.rl_class_stats};
    for (int i = 0; i < RL_NMAPS; i++)
        rl->fd[i] = bpf_map__fd(maps[i]);
    char err[256];
    if (rl_map_config(rl, err, sizeof err) != 0)
        return -1;
    rl->config->port = htons(PORT);
    rl->config->generation = 1;
    struct rl_rate def = {.rate = 1, .burst = 5, .syn_rate = 1, .syn_burst = 2};
    struct rl_rate kra = {.rate = 1000, .burst = 1000, .syn_rate = 100, .syn_burst = 100};
    struct rl_prefix net4, net6;
    if (rl_set_class(rl, "default", &def, err, sizeof err) != 0 ||
        rl_set_class(rl, "kra", &kra, err, sizeof err) != 0 ||
        rl_prefix_parse("198.51.100.0/24", &net4, err, sizeof err) != 0 ||
        rl_prefix_parse("2001:db8:100::/48", &net6, err, sizeof err) != 0 ||
        rl_set_network(rl, &net4, "kra", err, sizeof err) != 0 ||
        rl_set_network(rl, &net6, "kra", err, sizeof err) != 0) {
        print_error("%s\n", err);
        return -1;
    }
    kra_id = (unsigned)rl_class_find(rl, "kra");
    rl->ban_after_failures = 3;
    rl->ban_window_s = 60;
    rl->ban_seconds = 600;
    return 0;
}

static int unload(void **state)
{
    (void)state;
    rl_free(rl); /* the maps stay with the skeleton */
    ratelimit_bpf__destroy(skel);
    return 0;
}

/* ---- the program ----------------------------------------------------------------------- */

static void test_metered_and_not(void **state)
{
    (void)state;
    struct frame f;
    uint64_t rate0 = counter(RL_PASS_RATE), other0 = counter(RL_PASS_OTHER),
             notip0 = counter(RL_PASS_NOT_IP);
    struct rl_bucket b;
    tcp4(&f, "203.0.113.1", PORT, ACK);
    assert_int_equal(run(&f), XDP_PASS);
    tcp4(&f, "203.0.113.2", 22, ACK);
    assert_int_equal(run(&f), XDP_PASS);
    eth(&f, 0x0806); /* ARP */
    put(&f, "\0\1\x08\0\6\4\0\1", 8);
    assert_int_equal(run(&f), XDP_PASS);
    assert_int_equal(counter(RL_PASS_RATE), rate0 + 1);
    assert_int_equal(counter(RL_PASS_OTHER), other0 + 1);
    assert_int_equal(counter(RL_PASS_NOT_IP), notip0 + 1);
    assert_true(bucket("203.0.113.1", &b));
    assert_int_equal(b.passed, 1);
    assert_int_equal(b.class_id, 0);
    assert_false(bucket("203.0.113.2", &b)); /* other ports make no bucket */
}

static void test_over_rate(void **state)
{
    (void)state;
    struct frame f;
    tcp4(&f, "203.0.113.3", PORT, ACK);
    uint64_t drop0 = counter(RL_DROP_RATE);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned passed = 0;
    for (int i = 0; i < 20; i++)
        passed += run(&f) == XDP_PASS;
    unsigned allowed = 5 + (unsigned)seconds_since(&t0); /* burst 5, 1 per second */
    assert_in_range(passed, 5, allowed);
    assert_int_equal(counter(RL_DROP_RATE), drop0 + (20 - passed));
    struct rl_bucket b;
    assert_true(bucket("203.0.113.3", &b));
    assert_int_equal(b.passed, passed);
    assert_int_equal(b.dropped, 20 - passed);
}

static void test_syn_limit(void **state)
{
    (void)state;
    struct frame f;
    tcp4(&f, "203.0.113.4", PORT, SYN);
    uint64_t syn0 = counter(RL_DROP_SYN);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned passed = 0;
    for (int i = 0; i < 4; i++)
        passed += run(&f) == XDP_PASS;
    assert_in_range(passed, 2, 2 + (unsigned)seconds_since(&t0)); /* SYN burst 2 */
    assert_int_equal(counter(RL_DROP_SYN), syn0 + (4 - passed));
    tcp4(&f, "203.0.113.4", PORT, SYN | ACK); /* a SYN-ACK is no new connection */
    assert_int_equal(run(&f), XDP_PASS);
}

static void test_agency_class(void **state)
{
    (void)state;
    struct frame f;
    struct rl_bucket b;
    for (int i = 0; i < 200; i++) {
        tcp4(&f, "198.51.100.7", PORT, ACK);
        assert_int_equal(run(&f), XDP_PASS);
        tcp6(&f, "2001:db8:100:9::1", ACK);
        assert_int_equal(run(&f), XDP_PASS);
    }
    assert_true(bucket("198.51.100.7", &b));
    assert_int_equal(b.class_id, kra_id);
    assert_int_equal(b.passed, 200);
    assert_true(bucket("2001:db8:100:9::/64", &b));
    assert_int_equal(b.class_id, kra_id);
}

static void test_deny_list(void **state)
{
    (void)state;
    struct frame f;
    struct rl_prefix p;
    char err[256];
    assert_int_equal(rl_prefix_parse("203.0.113.9", &p, err, sizeof err), 0);
    tcp4(&f, "203.0.113.9", PORT, ACK);
    assert_int_equal(run(&f), XDP_PASS); /* a bucket exists before the ban */
    assert_int_equal(rl_ban(rl, &p, 0, RL_BAN_OPERATOR, err, sizeof err), 0);
    uint64_t denied0 = counter(RL_DROP_DENIED);
    assert_int_equal(run(&f), XDP_DROP); /* the generation refreshed the bucket's cache */
    tcp4(&f, "203.0.113.9", 22, ACK);
    assert_int_equal(run(&f), XDP_DROP); /* any port */
    eth(&f, 0x0800);
    ipv4(&f, "203.0.113.9", 17);
    put(&f, "\x13\x88\x00\x35\x00\x08\x00\x00", 8);
    assert_int_equal(run(&f), XDP_DROP); /* any protocol */
    assert_int_equal(counter(RL_DROP_DENIED), denied0 + 3);
    /* an expired ban is ignored by the program */
    struct rl_ban old = {.until_ns = rl_now_ns() - 1, .origin = RL_BAN_HANDSHAKE};
    assert_int_equal(bpf_map_update_elem(rl->fd[RL_MAP_DENIED], &p, &old, BPF_ANY), 0);
    rl_bump_generation(rl);
    tcp4(&f, "203.0.113.9", PORT, ACK);
    assert_int_equal(run(&f), XDP_PASS);
    assert_int_equal(rl_unban(rl, &p, err, sizeof err), 0);
    assert_int_equal(rl_unban(rl, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "not on the deny list"));
}

static void test_ipv6_per_64(void **state)
{
    (void)state;
    struct frame f;
    struct rl_bucket b;
    tcp6(&f, "2001:db8:5:1::a", ACK);
    run(&f);
    tcp6(&f, "2001:db8:5:1:ffff:ffff:ffff:ffff", ACK);
    run(&f);
    tcp6(&f, "2001:db8:5:2::a", ACK);
    run(&f);
    assert_true(bucket("2001:db8:5:1::/64", &b));
    assert_int_equal(b.passed + b.dropped, 2);
    assert_true(bucket("2001:db8:5:2::/64", &b));
    assert_int_equal(b.passed + b.dropped, 1);
}

static void test_malformed_pass(void **state)
{
    (void)state;
    struct frame f[12];
    int n = 0;
    eth(&f[n++], 0x0800); /* Ethernet header only */
    eth(&f[n], 0x0800);   /* 8 bytes of IPv4 */
    put(&f[n++], "\x45\0\0\x28\0\0\x40\0", 8);
    eth(&f[n], 0x0800); /* header length 4 words */
    ipv4_ihl(&f[n], "203.0.113.11", 6, 0x4000, 4);
    tcp(&f[n++], PORT, ACK);
    eth(&f[n], 0x0800); /* TCP cut after 8 bytes */
    ipv4(&f[n], "203.0.113.11", 6);
    put(&f[n++], "\x9c\x40\x20\xfb\0\0\0\1", 8);
    eth(&f[n], 0x0800); /* header length 15 words, 40 bytes there */
    ipv4(&f[n], "203.0.113.11", 6);
    f[n].b[14] = 0x4f;
    tcp(&f[n++], PORT, ACK);
    eth(&f[n], 0x86dd); /* half an IPv6 header */
    put(&f[n++], "\x60\0\0\0\0\x14\x06\x40\x20\x01\x0d\xb8", 12);
    eth(&f[n], 0x86dd); /* a hop-by-hop header claiming 2048 bytes */
    ipv6(&f[n], "2001:db8:11::1", 0, 28);
    put(&f[n], "\x06\xff\0\0\0\0\0\0", 8);
    tcp(&f[n++], PORT, ACK);
    eth(&f[n], 0x8100); /* a VLAN tag cut short */
    put8(&f[n++], 0);
    eth(&f[n], 0x86dd); /* a fragment header cut short */
    ipv6(&f[n], "2001:db8:11::1", 44, 2);
    put(&f[n++], "\x06\x00", 2);
    eth(&f[n], 0x0800); /* version 6 in an IPv4 frame */
    ipv4(&f[n], "203.0.113.11", 6);
    f[n].b[14] = 0x65;
    tcp(&f[n++], PORT, ACK);
    eth(&f[n], 0x86dd); /* version 4 in an IPv6 frame */
    ipv6(&f[n], "2001:db8:11::1", 6, 20);
    f[n].b[14] = 0x40;
    tcp(&f[n++], PORT, ACK);
    uint64_t mal0 = counter(RL_PASS_MALFORMED), drop0 = counter(RL_DROP_RATE);
    for (int i = 0; i < n; i++)
        assert_int_equal(run(&f[i]), XDP_PASS);
    assert_int_equal(counter(RL_PASS_MALFORMED), mal0 + (uint64_t)n);
    assert_int_equal(counter(RL_DROP_RATE), drop0);
    struct rl_bucket b;
    assert_false(bucket("203.0.113.11", &b));
}

static void test_unusual_frames_parsed(void **state)
{
    (void)state;
    struct frame f;
    struct rl_bucket b;
    eth(&f, 0x0800); /* IPv4 options */
    ipv4_ihl(&f, "203.0.113.12", 6, 0x4000, 7);
    tcp(&f, PORT, ACK);
    run(&f);
    assert_true(bucket("203.0.113.12", &b));
    eth(&f, 0x86dd); /* hop-by-hop, routing, destination options, AH, then TCP */
    ipv6(&f, "2001:db8:12::1", 0, 8 + 8 + 8 + 16 + 20);
    put(&f, "\x2b\0\1\4\0\0\0\0", 8);
    put(&f, "\x3c\0\0\0\0\0\0\0", 8);
    put(&f, "\x33\0\1\4\0\0\0\0", 8);
    put(&f, "\x06\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    tcp(&f, PORT, ACK);
    run(&f);
    assert_true(bucket("2001:db8:12::/64", &b));
    eth(&f, 0x8100); /* 802.1Q */
    put(&f, "\0\5\x08\0", 4);
    ipv4(&f, "203.0.113.13", 6);
    tcp(&f, PORT, ACK);
    run(&f);
    assert_true(bucket("203.0.113.13", &b));
    eth(&f, 0x88a8); /* 802.1ad + 802.1Q */
    put(&f, "\0\7\x81\0\0\5\x08\0", 8);
    ipv4(&f, "203.0.113.14", 6);
    tcp(&f, PORT, ACK);
    run(&f);
    assert_true(bucket("203.0.113.14", &b));
    uint64_t frag0 = counter(RL_PASS_FRAGMENT);
    eth(&f, 0x0800); /* a later IPv4 fragment to any port */
    ipv4_ihl(&f, "203.0.113.15", 17, 0x0017, 5);
    put(&f, "\0\0\0\0\0\0\0\0", 8);
    run(&f);
    eth(&f, 0x86dd); /* an IPv6 first fragment */
    ipv6(&f, "2001:db8:15::1", 44, 28);
    put(&f, "\x06\0\0\1\0\0\0\1", 8);
    tcp(&f, PORT, ACK);
    run(&f);
    assert_int_equal(counter(RL_PASS_FRAGMENT), frag0 + 2);
    assert_true(bucket("203.0.113.15", &b));
    assert_true(bucket("2001:db8:15::/64", &b));
    eth(&f, 0x86dd); /* an atomic fragment (offset 0, no more): read on to TCP port 22 */
    ipv6(&f, "2001:db8:16::1", 44, 28);
    put(&f, "\x06\0\0\0\0\0\0\1", 8);
    tcp(&f, 22, ACK);
    run(&f);
    assert_false(bucket("2001:db8:16::/64", &b));
    eth(&f, 0x86dd); /* nine extension headers: too deep for the port, counted anyway */
    ipv6(&f, "2001:db8:17::1", 0, 9 * 8 + 20);
    for (int i = 0; i < 9; i++)
        put(&f, i < 8 ? "\0\0\1\4\0\0\0\0" : "\x06\0\1\4\0\0\0\0", 8);
    tcp(&f, PORT, ACK);
    run(&f);
    assert_true(bucket("2001:db8:17::/64", &b));
}

static void test_changes_at_run_time(void **state)
{
    (void)state;
    struct frame f;
    char err[256];
    struct rl_bucket b;
    tcp4(&f, "203.0.113.20", PORT, ACK);
    for (int i = 0; i < 10; i++)
        run(&f);
    assert_true(bucket("203.0.113.20", &b));
    assert_true(b.dropped > 0);
    /* a network added: the bucket takes its new class at the next packet */
    struct rl_prefix p;
    assert_int_equal(rl_prefix_parse("203.0.113.20/32", &p, err, sizeof err), 0);
    assert_int_equal(rl_set_network(rl, &p, "kra", err, sizeof err), 0);
    assert_int_equal(run(&f), XDP_PASS);
    assert_true(bucket("203.0.113.20", &b));
    assert_int_equal(b.class_id, kra_id);
    assert_int_equal(rl_remove_network(rl, &p, err, sizeof err), 0);
    /* a class's rate raised: in force for the next packet */
    tcp4(&f, "203.0.113.21", PORT, ACK);
    for (int i = 0; i < 10; i++)
        run(&f);
    struct rl_rate high = {.rate = 1000000, .burst = 1000000, .syn_rate = 1, .syn_burst = 2};
    struct rl_rate low = {.rate = 1, .burst = 5, .syn_rate = 1, .syn_burst = 2};
    assert_int_equal(rl_set_class(rl, "default", &high, err, sizeof err), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(run(&f), XDP_PASS);
    assert_int_equal(rl_set_class(rl, "default", &low, err, sizeof err), 0);
    assert_int_equal(rl_set_network(rl, &p, "nosuch", err, sizeof err), -1);
    assert_non_null(strstr(err, "no class nosuch"));
}

/* ---- the manager ----------------------------------------------------------------------- */

static void test_top(void **state)
{
    (void)state;
    struct frame f;
    tcp4(&f, "203.0.113.30", PORT, ACK);
    for (int i = 0; i < 40; i++)
        run(&f);
    tcp4(&f, "203.0.113.31", PORT, ACK);
    for (int i = 0; i < 30; i++)
        run(&f);
    struct rl_source_info s[2];
    char text[RL_PREFIX_TEXT], err[256];
    assert_int_equal(rl_top(rl, RL_TOP_DROPPED, s, 2, err, sizeof err), 2);
    assert_string_equal(rl_addr_format(&s[0].addr, text, sizeof text), "203.0.113.30");
    assert_string_equal(rl_addr_format(&s[1].addr, text, sizeof text), "203.0.113.31");
    assert_true(s[0].dropped >= s[1].dropped);
}

struct found {
    const char *want;
    int origin;
};

static int find_ban(void *ctx, const struct rl_prefix *p, const struct rl_ban *b, uint64_t now)
{
    struct found *f = ctx;
    char text[RL_PREFIX_TEXT];
    if (strcmp(rl_prefix_format(p, text, sizeof text), f->want) == 0 && b->until_ns > now)
        f->origin = (int)b->origin;
    return 0;
}

static void test_handshake_guard(void **state)
{
    (void)state;
    struct sockaddr_in peer = {.sin_family = AF_INET};
    struct rl_guard_ban ban;
    char err[256];
    inet_pton(AF_INET, "203.0.113.40", &peer.sin_addr);
    uint64_t bans0 = rl_guard_bans(rl);
    assert_int_equal(rl_handshake_failed(rl, (struct sockaddr *)&peer, &ban, err, sizeof err), 0);
    assert_int_equal(rl_handshake_failed(rl, (struct sockaddr *)&peer, &ban, err, sizeof err), 0);
    assert_int_equal(rl_handshake_failed(rl, (struct sockaddr *)&peer, &ban, err, sizeof err), 1);
    assert_string_equal(ban.source, "203.0.113.40/32");
    assert_int_equal(ban.failures, 3);
    assert_int_equal(rl_guard_bans(rl), bans0 + 1);
    struct found found = {"203.0.113.40/32", 0};
    assert_int_equal(rl_each_ban(rl, find_ban, &found, err, sizeof err), 0);
    assert_int_equal(found.origin, RL_BAN_HANDSHAKE);
    struct frame f;
    tcp4(&f, "203.0.113.40", PORT, SYN);
    assert_int_equal(run(&f), XDP_DROP);
    /* an agency's address is never banned for failures */
    struct sockaddr_in6 agency = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:198.51.100.40", &agency.sin6_addr); /* a dual-stack socket's */
    for (int i = 0; i < 10; i++)
        assert_int_equal(rl_handshake_failed(rl, (struct sockaddr *)&agency, &ban, err, sizeof err),
                         0);
    assert_int_equal(rl_handshake_failed(NULL, (struct sockaddr *)&peer, &ban, err, sizeof err), 0);
}

/* ---- parsers ----------------------------------------------------------------------------- */

static void test_prefixes(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out; /* out NULL: refused */
    } cases[] = {
        {"203.0.113.0/24", "203.0.113.0/24"},
        {"203.0.113.7", "203.0.113.7/32"},
        {"0.0.0.0/0", "0.0.0.0/0"},
        {"2001:db8::/32", "2001:db8::/32"},
        {"2001:db8:1:2::99", "2001:db8:1:2::/64"},
        {"2001:db8:1:2::/64", "2001:db8:1:2::/64"},
        {"203.0.113.7/24", NULL},
        {"203.0.113.0/33", NULL},
        {"2001:db8::/65", NULL},
        {"2001:db8::1/64", NULL},
        {"203.0.113.0/", NULL},
        {"203.0.113.0/2x", NULL},
        {"/24", NULL},
        {"kra", NULL},
        {"", NULL},
        {"203.0.113.0/-1", NULL},
        {"203.0.113.0/024", "203.0.113.0/24"},
        {"::ffff:203.0.113.7", "::/64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct rl_prefix p;
        char why[160], text[RL_PREFIX_TEXT];
        int rc = rl_prefix_parse(cases[i].in, &p, why, sizeof why);
        if (!cases[i].out) {
            assert_int_equal(rc, -1);
            assert_true(why[0] != '\0');
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(rl_prefix_format(&p, text, sizeof text), cases[i].out);
    }
}

static void test_rates(void **state)
{
    (void)state;
    struct rl_rate r;
    char why[160];
    assert_int_equal(rl_rate_parse("rate 5000", &r, why, sizeof why), 0);
    assert_int_equal(r.rate, 5000);
    assert_int_equal(r.burst, 5000);
    assert_int_equal(r.syn_rate, 500);
    assert_int_equal(r.syn_burst, 500);
    assert_int_equal(rl_rate_parse("rate 5", &r, why, sizeof why), 0);
    assert_int_equal(r.syn_rate, 1);
    assert_int_equal(
        rl_rate_parse("  syn_burst 4 rate 100\tburst 300 syn_rate 2 ", &r, why, sizeof why), 0);
    assert_int_equal(r.burst, 300);
    assert_int_equal(r.syn_rate, 2);
    assert_int_equal(r.syn_burst, 4);
    static const char *const bad[] = {
        "",        "burst 5",        "rate",    "rate 0",       "rate -1",         "rate 5 rate 6",
        "rate 5x", "rate 100000001", "speed 5", "rate 5 burst", "rate 99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        assert_int_equal(rl_rate_parse(bad[i], &r, why, sizeof why), -1);
        assert_true(why[0] != '\0');
    }
}

static void test_config_section(void **state)
{
    (void)state;
    struct config c;
    struct config_errors errs;
    const char *text = "[server]\nport = 9443\n"
                       "[ratelimit]\n"
                       "interface = eth1\n"
                       "instance = main\n"
                       "network.kra = 198.51.100.0/24, 2001:db8:100::/48\n"
                       "network.kra = 192.0.2.128/25\n"
                       "class.kra = rate 5000 burst 10000 syn_rate 200\n"
                       "class.default = rate 30\n"
                       "deny = 203.0.113.66, 203.0.113.128/25\n"
                       "max_sources = 100000\n"
                       "ban_after_failures = 5\n";
    assert_int_equal(config_parse_string(text, "t.conf", &c, &errs), 0);
    const struct rl_settings *s = &c.ratelimit;
    assert_string_equal(s->interface, "eth1");
    assert_string_equal(s->instance, "main");
    assert_int_equal(s->port, 9443);
    assert_int_equal(s->nclasses, 2);
    assert_string_equal(s->class_name[1], "kra");
    assert_int_equal(s->class_rate[1].syn_rate, 200);
    assert_int_equal(s->class_rate[0].rate, 30);
    assert_int_equal(s->nnetworks, 3);
    assert_int_equal(s->network_class[2], 1);
    assert_int_equal(s->ndeny, 2);
    assert_int_equal(s->max_sources, 100000);
    assert_int_equal(s->ban_after_failures, 5);
    assert_int_equal(s->ban_seconds, 600);

    config_defaults(&c);
    assert_string_equal(c.ratelimit.interface, ""); /* off unless configured */

    const char *bad = "[ratelimit]\n"
                      "interface = eth1\n"
                      "interface = eth2\n"
                      "class.kra = rate 10\n"
                      "class.kra = rate 20\n"
                      "class.Bad = rate 20\n"
                      "network.nhif = 198.51.100.0/24\n"
                      "deny = 203.0.113.5/24\n"
                      "max_sources = 10\n"
                      "speed = 5\n";
    assert_int_equal(config_parse_string(bad, "b.conf", &c, &errs), -1);
    static const char *const want[] = {
        "b.conf:3: interface: given twice",
        "b.conf:5: class.kra: this class is defined twice",
        "b.conf:6: class.Bad: a class name is",
        "b.conf:8: deny: 203.0.113.5/24: host bits are set",
        "b.conf:9: max_sources: \"10\" is not a whole number 1024..4194304",
        "b.conf:10: speed: unknown key in [ratelimit]",
        "b.conf: [ratelimit] network.nhif: no class.nhif gives its rates",
    };
    assert_int_equal(errs.count, sizeof want / sizeof *want);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_non_null(strstr(errs.text[i], want[i]));
}

int main(void)
{
    const struct CMUnitTest parsers[] = {
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_config_section),
    };
    const struct CMUnitTest program[] = {
        cmocka_unit_test(test_metered_and_not),     cmocka_unit_test(test_over_rate),
        cmocka_unit_test(test_syn_limit),           cmocka_unit_test(test_agency_class),
        cmocka_unit_test(test_deny_list),           cmocka_unit_test(test_ipv6_per_64),
        cmocka_unit_test(test_malformed_pass),      cmocka_unit_test(test_unusual_frames_parsed),
        cmocka_unit_test(test_changes_at_run_time), cmocka_unit_test(test_top),
        cmocka_unit_test(test_handshake_guard),
    };
    int failed = cmocka_run_group_tests_name("ratelimit parsers", parsers, NULL, NULL);
    failed += cmocka_run_group_tests_name("ratelimit program", program, load, unload);
    return failed ? 1 : 0;
}
