/*
 * appliance/metrics.h - the daemon's counters, exported in the Prometheus
 * text format on /metrics: requests by route and status, latency histogram,
 * open connections, TLS handshakes (completed and refused), idle connections'
 * TLS buffers given back, register size, the rate limiter's counters and the
 * audit log's health.
 * Counters are per-thread-safe atomics; rendering reads them without locks.
 */
#ifndef HUDUMA_METRICS_H
#define HUDUMA_METRICS_H

#include <stdbool.h>
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
/* The exposition text (malloc'd); `more` (NULL: none) is appended, as the
 * audit log's part is (metrics_audit_text). */
char *metrics_render(struct metrics *m, uint64_t register_persons, const char *more);

/* The XDP rate limiter whose counters /metrics shows; NULL (the default):
 * rate limiting is off, shown as hudumad_ratelimit_enabled 0. */
struct rl;
void metrics_ratelimit(struct metrics *m, struct rl *rl);
/* Its part of the exposition text (appliance/metrics_ratelimit.c, malloc'd). */
char *metrics_ratelimit_text(struct rl *rl);

/* One ring's audit journal as /metrics shows it (conn_journal.c reads it off the ring). */
struct metrics_journal {
    bool failed;             /* its last write failed */
    uint64_t oldest_wait_ms; /* how long its oldest held answer has waited; 0: none */
    uint64_t writes, write_failures, leaves_durable, leaves_failed;
};
/* The audit log's part of the exposition text (appliance/metrics_audit.c,
 * malloc'd): the log's own figures and those of n rings' journals.  a may be
 * NULL (no audit log): shown as hudumad_audit_enabled 0. */
struct audit;
char *metrics_audit_text(struct audit *a, const struct metrics_journal *j, unsigned n);

#endif
