/*
 * appliance/metrics_ratelimit.c - the XDP rate limiter's part of /metrics
 * (docs/ratelimit.md, "Reading the counters"):
 *
 *   hudumad_ratelimit_enabled                    1 attached, 0 off
 *   hudumad_ratelimit_info{interface,mode,instance} 1
 *   hudumad_ratelimit_packets_total{action,reason}  every packet, once
 *   hudumad_ratelimit_bytes_total{action,reason}
 *   hudumad_ratelimit_class_packets_total{class,action}  metered packets
 *   hudumad_ratelimit_bans_total                 sources banned for failed
 *                                                handshakes since start
 *
 * The counters are read from the kernel's per-CPU maps at each scrape (a few
 * dozen map lookups), so they are exact at that moment and cost nothing
 * between scrapes.
 */
#include "metrics.h"

#include "kernel-bpf/kernel-bpf.h"

#include <stdio.h>
#include <stdlib.h>

static void enabled(FILE *f, int on)
{
    fprintf(f,
            "# HELP hudumad_ratelimit_enabled 1 when the XDP rate limiter is attached, 0 when "
            "rate limiting is off.\n"
            "# TYPE hudumad_ratelimit_enabled gauge\n"
            "hudumad_ratelimit_enabled %d\n",
            on);
}

static void info(FILE *f, struct rl *rl)
{
    struct rl_status st;
    if (rl_status(rl, &st, NULL, 0) != 0)
        return;
    fprintf(f,
            "# HELP hudumad_ratelimit_info Where the XDP rate limiter is attached.\n"
            "# TYPE hudumad_ratelimit_info gauge\n"
            "hudumad_ratelimit_info{interface=\"%s\",mode=\"%s\",instance=\"%s\"} 1\n",
            st.ifname, rl_mode_name(st.mode), rl_instance(rl));
}

static void packets(FILE *f, struct rl *rl)
{
    struct rl_count c[RL_NREASONS];
    if (rl_counters(rl, c, NULL, 0) != 0)
        return;
    fputs("# HELP hudumad_ratelimit_packets_total Packets the XDP rate limiter passed or "
          "dropped, by reason.\n"
          "# TYPE hudumad_ratelimit_packets_total counter\n",
          f);
    for (int r = 0; r < RL_NREASONS; r++)
        fprintf(f, "hudumad_ratelimit_packets_total{action=\"%s\",reason=\"%s\"} %llu\n",
                rl_reason_action(r), rl_reason_name(r), (unsigned long long)c[r].packets);
    fputs("# HELP hudumad_ratelimit_bytes_total Bytes of those packets, by reason.\n"
          "# TYPE hudumad_ratelimit_bytes_total counter\n",
          f);
    for (int r = 0; r < RL_NREASONS; r++)
        fprintf(f, "hudumad_ratelimit_bytes_total{action=\"%s\",reason=\"%s\"} %llu\n",
                rl_reason_action(r), rl_reason_name(r), (unsigned long long)c[r].bytes);
}

static void classes(FILE *f, struct rl *rl)
{
    struct rl_class_info cls[RL_MAX_CLASSES];
    int n = rl_classes(rl, cls, NULL, 0);
    if (n < 0)
        return;
    fputs("# HELP hudumad_ratelimit_class_packets_total Packets to the API port by rate class "
          "of their source.\n"
          "# TYPE hudumad_ratelimit_class_packets_total counter\n",
          f);
    for (int i = 0; i < n; i++) /* class names are [a-z0-9_-]: nothing to escape */
        fprintf(f,
                "hudumad_ratelimit_class_packets_total{class=\"%s\",action=\"pass\"} %llu\n"
                "hudumad_ratelimit_class_packets_total{class=\"%s\",action=\"drop\"} %llu\n",
                cls[i].name, (unsigned long long)cls[i].passed, cls[i].name,
                (unsigned long long)cls[i].dropped);
}

char *metrics_ratelimit_text(struct rl *rl)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    enabled(f, rl != NULL);
    if (rl) {
        info(f, rl);
        packets(f, rl);
        classes(f, rl);
        fprintf(f,
                "# HELP hudumad_ratelimit_bans_total Sources banned for failing mutual-TLS "
                "handshakes.\n"
                "# TYPE hudumad_ratelimit_bans_total counter\n"
                "hudumad_ratelimit_bans_total %llu\n",
                (unsigned long long)rl_guard_bans(rl));
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
