/*
 * tests/bench/bench_flood.c - a bounded flood of one TCP packet, sent the way
 * a network card delivers it: as XDP frames, with no socket buffer, for the
 * rate limiter's benchmark (tests/bench/bench_ratelimit.sh).
 *
 *   bench_flood --dev IF --dst-mac MAC --src ADDR --dst ADDR --port N
 *               --count N [--pps N] [--syn]
 *
 * Sends COUNT copies of one IPv4 TCP packet (ACK, or SYN with --syn; valid
 * IP and TCP checksums) out of interface IF, paced at --pps packets per
 * second or as fast as it can, and prints what it sent.  The frames are not
 * written to a socket: a two-instruction XDP program that redirects every
 * frame to IF is run by the kernel in "live frames" mode (BPF_PROG_TEST_RUN
 * with BPF_F_TEST_XDP_LIVE_FRAMES), so on a veth pair they arrive at the
 * peer's NAPI as XDP frames, as a NIC's receive ring hands them over: an XDP
 * program there sees them before any socket buffer exists, and without one
 * the kernel builds a socket buffer for each, as a driver would.  (A packet
 * socket, trafgen's way, hands the peer a socket buffer that native XDP on a
 * veth must first copy into a page: a cost no NIC has.)
 *
 * Needs root (CAP_BPF, CAP_NET_ADMIN) and, on a veth, NAPI on the peer: an
 * XDP program attached there, or GRO on.  Bounded by --count; every call
 * into the kernel sends at most one pacing slice.  SIGTERM or SIGINT stops
 * it after the slice in flight, and it still prints what it sent.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN 54          /* Ethernet 14 + IPv4 20 + TCP 20 */
#define SLICE_NS  10000000ull /* pacing: 10 ms of packets per call */

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

struct options {
    const char *dev, *dst_mac, *src, *dst;
    unsigned port;
    unsigned long long count, pps;
    int syn;
};

static const char usage[] =
    "usage: bench_flood --dev IF --dst-mac MAC --src ADDR --dst ADDR --port N --count N\n"
    "                   [--pps N] [--syn]\n";

static int parse(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--syn") == 0) {
            o->syn = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--dev") == 0)
            o->dev = v;
        else if (strcmp(a, "--dst-mac") == 0)
            o->dst_mac = v;
        else if (strcmp(a, "--src") == 0)
            o->src = v;
        else if (strcmp(a, "--dst") == 0)
            o->dst = v;
        else if (strcmp(a, "--port") == 0)
            o->port = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--count") == 0)
            o->count = strtoull(v, NULL, 10);
        else if (strcmp(a, "--pps") == 0)
            o->pps = strtoull(v, NULL, 10);
        else
            return -1;
    }
    bool complete = o->dev && o->dst_mac && o->src && o->dst && o->port && o->count;
    return complete && o->port < 65536 ? 0 : -1;
}

/* ---- the frame ------------------------------------------------------------------------ */

static uint16_t checksum(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

static int build_frame(const struct options *o, uint8_t f[FRAME_LEN])
{
    unsigned mac[6];
    struct in_addr src, dst;
    if (sscanf(o->dst_mac, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
               &mac[5]) != 6 ||
        inet_pton(AF_INET, o->src, &src) != 1 || inet_pton(AF_INET, o->dst, &dst) != 1)
        return -1;
    memset(f, 0, FRAME_LEN);
    for (int i = 0; i < 6; i++)
        f[i] = (uint8_t)mac[i];
    memcpy(f + 6, "\x02\x00\x00\x00\x00\x01\x08\x00", 8);
    uint8_t *ip = f + 14, *tcp = f + 34;
    memcpy(ip, "\x45\x00\x00\x28\x00\x01\x40\x00\x40\x06", 10); /* 40 bytes, DF, TTL 64, TCP */
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    uint16_t ip_sum = checksum(ip, 20, 0);
    memcpy(ip + 10, &ip_sum, 2);
    uint16_t sport = htons(40000), dport = htons((uint16_t)o->port);
    memcpy(tcp, &sport, 2);
    memcpy(tcp + 2, &dport, 2);
    memcpy(tcp + 4, "\x00\x00\x00\x01\x00\x00\x00\x01", 8);
    tcp[12] = 0x50;
    tcp[13] = o->syn ? 0x02 : 0x10;
    memcpy(tcp + 14, "\xff\xff", 2);
    uint8_t pseudo[12];
    memcpy(pseudo, &src, 4);
    memcpy(pseudo + 4, &dst, 4);
    memcpy(pseudo + 8, "\x00\x06\x00\x14", 4);
    uint32_t partial = 0;
    for (int i = 0; i < 12; i += 2)
        partial += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
    uint16_t tcp_sum = checksum(tcp, 20, partial);
    memcpy(tcp + 16, &tcp_sum, 2);
    return 0;
}

/* ---- the sender ----------------------------------------------------------------------- */

/* r1 = ifindex; r2 = 0; return bpf_redirect(r1, r2) */
static int load_redirect(unsigned ifindex)
{
    struct bpf_insn prog[4];
    memset(prog, 0, sizeof prog);
    prog[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
    prog[0].dst_reg = BPF_REG_1;
    prog[0].imm = (int)ifindex;
    prog[1].code = BPF_ALU64 | BPF_MOV | BPF_K;
    prog[1].dst_reg = BPF_REG_2;
    prog[2].code = BPF_JMP | BPF_CALL;
    prog[2].imm = BPF_FUNC_redirect;
    prog[3].code = BPF_JMP | BPF_EXIT;
    return bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_flood", "Dual BSD/GPL", prog, 4, NULL);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
                          .tv_nsec = (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stopping)
        ;
}

static int send_frames(int prog, const uint8_t *frame, unsigned long long n)
{
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = FRAME_LEN, .repeat = (int)n,
                .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
    return bpf_prog_test_run_opts(prog, &o);
}

int main(int argc, char **argv)
{
    struct options o;
    uint8_t frame[FRAME_LEN];
    if (parse(argc, argv, &o) != 0 || build_frame(&o, frame) != 0) {
        fputs(usage, stderr);
        return 1;
    }
    unsigned ifindex = if_nametoindex(o.dev);
    int prog = ifindex ? load_redirect(ifindex) : -1;
    if (prog < 0) {
        fprintf(stderr, "bench_flood: %s: %s\n", o.dev, strerror(errno));
        return 2;
    }
    struct sigaction stop = {.sa_handler = on_stop};
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    unsigned long long slice = o.pps ? (o.pps * SLICE_NS + 999999999ull) / 1000000000ull : 65536;
    uint64_t t0 = now_ns(), next = t0;
    unsigned long long sent = 0;
    while (sent < o.count && !stopping) {
        unsigned long long n = o.count - sent < slice ? o.count - sent : slice;
        if (send_frames(prog, frame, n) != 0) {
            if (errno == EINTR && stopping)
                break; /* part of the slice may have gone: not counted */
            fprintf(stderr, "bench_flood: sending through %s: %s\n", o.dev, strerror(errno));
            close(prog);
            return 2;
        }
        sent += n;
        if (o.pps) {
            next += SLICE_NS * n / slice;
            sleep_until(next);
        }
    }
    double s = (double)(now_ns() - t0) / 1e9;
    printf("sent=%llu seconds=%.3f pps=%.0f\n", sent, s, s > 0 ? (double)sent / s : 0);
    close(prog);
    return 0;
}
