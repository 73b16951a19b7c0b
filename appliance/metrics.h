/*
 * appliance/metrics.h - the daemon's counters, exported in the Prometheus
 * text format on /metrics: requests by route and status, latency histogram,
 * open connections, TLS handshakes (completed and refused), idle connections'
 * TLS buffers given back, register size.
 * Counters are per-thread-safe atomics; rendering reads them without locks.
 */
#ifndef HUDUMA_METRICS_H
#define HUDUMA_METRICS_H

#include <stdint.h>

struct metrics;

enum metric_event {
    MET_HANDSHAKE_OK,
    MET_HANDSHAKE_REFUSED, /* no, unknown, foreign or revoked certificate */
    MET_CONN_REFUSED_LIMIT,
    MET_CONN_TIMEOUT, /* idle, slow request, slow handshake */
    MET_HTTP_MALFORMED,
    MET_TLS_BUFFERS_SHED, /* an idle connection's TLS record buffers wiped and given back */
    MET_EVENT_COUNT
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* route: the route template ("/v1/verify", "/v1/persons/{hn}", "other"). */
void metrics_request(struct metrics *m, const char *route, int status, double seconds);
void metrics_event(struct metrics *m, enum metric_event e);
void metrics_connections(struct metrics *m, int delta);
/* The exposition text (malloc'd). */
char *metrics_render(struct metrics *m, uint64_t register_persons);

/* The XDP rate limiter whose counters /metrics shows; NULL (the default):
 * rate limiting is off, shown as hudumad_ratelimit_enabled 0. */
struct rl;
void metrics_ratelimit(struct metrics *m, struct rl *rl);
/* Its part of the exposition text (appliance/metrics_ratelimit.c, malloc'd). */
char *metrics_ratelimit_text(struct rl *rl);

#endif
