/*
 * appliance/metrics.c - the daemon's counters and their Prometheus text
 * exposition (see metrics.h).
 *
 * Requests are counted per route template in a fixed table of routes; each
 * route has a latency histogram and a small table of status codes.  Counting
 * is lock-free: a route's slot is published once (under a mutex, the only
 * lock, taken the first time a route is seen) and then found by a lock-free
 * scan; a status code claims its slot with a compare-and-swap.  Rendering
 * reads the atomics as they are, without stopping anyone.  Routes past the
 * table's size are counted under "other".
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES   64
#define MAX_STATUSES 16
#define ROUTE_LEN    96

static const double bucket_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define NBUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

struct status_count {
    atomic_int code; /* 0: free */
    atomic_uint_fast64_t count;
};

struct route_stats {
    char route[ROUTE_LEN];
    struct status_count statuses[MAX_STATUSES];
    atomic_uint_fast64_t other_statuses;
    atomic_uint_fast64_t buckets[NBUCKETS]; /* not cumulative; summed when rendered */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
};

struct metrics {
    pthread_mutex_t publish_lock;
    atomic_uint nroutes;
    struct route_stats routes[MAX_ROUTES + 1]; /* the last one is "other" */
    atomic_uint_fast64_t events[MET_EVENT_COUNT];
    atomic_int_fast64_t connections;
    struct rl *ratelimit; /* set before serving; NULL: rate limiting is off */
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->publish_lock, NULL);
    strcpy(m->routes[MAX_ROUTES].route, "other");
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->publish_lock);
    free(m);
}

static struct route_stats *find_route(struct metrics *m, const char *route)
{
    unsigned n = atomic_load_explicit(&m->nroutes, memory_order_acquire);
    for (unsigned i = 0; i < n; i++) {
        if (strcmp(m->routes[i].route, route) == 0)
            return &m->routes[i];
    }
    return NULL;
}

static struct route_stats *route_stats(struct metrics *m, const char *route)
{
    struct route_stats *rs = find_route(m, route);
    if (rs)
        return rs;
    if (strlen(route) >= ROUTE_LEN)
        return &m->routes[MAX_ROUTES];
    pthread_mutex_lock(&m->publish_lock);
    rs = find_route(m, route);
    unsigned n = atomic_load(&m->nroutes);
    if (!rs && n < MAX_ROUTES) {
        rs = &m->routes[n];
        strcpy(rs->route, route);
        atomic_store_explicit(&m->nroutes, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&m->publish_lock);
    return rs ? rs : &m->routes[MAX_ROUTES];
}

static void count_status(struct route_stats *rs, int status)
{
    for (unsigned i = 0; i < MAX_STATUSES; i++) {
        int code = atomic_load(&rs->statuses[i].code);
        if (code == 0) {
            int expected = 0;
            if (!atomic_compare_exchange_strong(&rs->statuses[i].code, &expected, status))
                code = expected; /* someone else claimed it meanwhile */
            else
                code = status;
        }
        if (code == status) {
            atomic_fetch_add(&rs->statuses[i].count, 1);
            return;
        }
    }
    atomic_fetch_add(&rs->other_statuses, 1);
}

void metrics_request(struct metrics *m, const char *route, int status, double seconds)
{
    if (!m)
        return;
    struct route_stats *rs = route_stats(m, route ? route : "other");
    count_status(rs, status);
    unsigned b = 0;
    while (b < NBUCKETS && seconds > bucket_bounds[b])
        b++;
    if (b < NBUCKETS)
        atomic_fetch_add(&rs->buckets[b], 1);
    atomic_fetch_add(&rs->count, 1);
    atomic_fetch_add(&rs->sum_ns, (uint_fast64_t)(seconds > 0 ? seconds * 1e9 : 0));
}

void metrics_event(struct metrics *m, enum metric_event e)
{
    if (m && (unsigned)e < MET_EVENT_COUNT)
        atomic_fetch_add(&m->events[e], 1);
}

void metrics_ratelimit(struct metrics *m, struct rl *rl)
{
    m->ratelimit = rl;
}

void metrics_connections(struct metrics *m, int delta)
{
    if (m)
        atomic_fetch_add(&m->connections, delta);
}

/* ---- rendering -------------------------------------------------------------------- */

struct text {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
}

/* A label value: backslash, double quote and newline escaped. */
static const char *label(const char *in, char *out, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 3 < len; i++) {
        if (in[i] == '\\' || in[i] == '"') {
            out[j++] = '\\';
            out[j++] = in[i];
        } else if (in[i] == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = in[i];
        }
    }
    out[j] = '\0';
    return out;
}

static void render_requests(struct metrics *m, struct text *t)
{
    unsigned n = atomic_load_explicit(&m->nroutes, memory_order_acquire);
    char lbl[2 * ROUTE_LEN + 4];
    put(t, "# HELP hudumad_requests_total Requests answered, by route template and status.\n"
           "# TYPE hudumad_requests_total counter\n");
    for (unsigned i = 0; i <= MAX_ROUTES; i++) {
        if (i >= n && i < MAX_ROUTES)
            continue;
        struct route_stats *rs = &m->routes[i];
        label(rs->route, lbl, sizeof lbl);
        for (unsigned s = 0; s < MAX_STATUSES; s++) {
            int code = atomic_load(&rs->statuses[s].code);
            if (code)
                put(t, "hudumad_requests_total{route=\"%s\",status=\"%d\"} %llu\n", lbl, code,
                    (unsigned long long)atomic_load(&rs->statuses[s].count));
        }
        uint_fast64_t other = atomic_load(&rs->other_statuses);
        if (other)
            put(t, "hudumad_requests_total{route=\"%s\",status=\"other\"} %llu\n", lbl,
                (unsigned long long)other);
    }
    put(t, "# HELP hudumad_request_duration_seconds Time from a request's first byte to its "
           "answer, by route template.\n"
           "# TYPE hudumad_request_duration_seconds histogram\n");
    for (unsigned i = 0; i <= MAX_ROUTES; i++) {
        if (i >= n && i < MAX_ROUTES)
            continue;
        struct route_stats *rs = &m->routes[i];
        uint_fast64_t count = atomic_load(&rs->count);
        if (count == 0)
            continue;
        label(rs->route, lbl, sizeof lbl);
        uint_fast64_t cumulative = 0;
        for (unsigned b = 0; b < NBUCKETS; b++) {
            cumulative += atomic_load(&rs->buckets[b]);
            put(t, "hudumad_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", lbl,
                bucket_bounds[b], (unsigned long long)cumulative);
        }
        put(t, "hudumad_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", lbl,
            (unsigned long long)count);
        put(t, "hudumad_request_duration_seconds_sum{route=\"%s\"} %.9f\n", lbl,
            (double)atomic_load(&rs->sum_ns) / 1e9);
        put(t, "hudumad_request_duration_seconds_count{route=\"%s\"} %llu\n", lbl,
            (unsigned long long)count);
    }
}

char *metrics_render(struct metrics *m, uint64_t register_persons, const char *more)
{
    struct text t = {.buf = malloc(8192), .cap = 8192};
    if (!t.buf)
        return NULL;
    t.buf[0] = '\0';
    render_requests(m, &t);
#define EVENT(e) (unsigned long long)atomic_load(&m->events[e])
    put(&t,
        "# HELP hudumad_connections_open Connections open now.\n"
        "# TYPE hudumad_connections_open gauge\n"
        "hudumad_connections_open %lld\n"
        "# HELP hudumad_tls_handshakes_total TLS handshakes, by result (refused: no, unknown, "
        "foreign or revoked certificate).\n"
        "# TYPE hudumad_tls_handshakes_total counter\n"
        "hudumad_tls_handshakes_total{result=\"ok\"} %llu\n"
        "hudumad_tls_handshakes_total{result=\"refused\"} %llu\n"
        "# HELP hudumad_connections_refused_total Connections closed at once because "
        "max_connections were open.\n"
        "# TYPE hudumad_connections_refused_total counter\n"
        "hudumad_connections_refused_total %llu\n"
        "# HELP hudumad_connection_timeouts_total Connections closed for a timeout (idle, slow "
        "request, slow handshake).\n"
        "# TYPE hudumad_connection_timeouts_total counter\n"
        "hudumad_connection_timeouts_total %llu\n"
        "# HELP hudumad_http_malformed_total Requests refused as malformed HTTP.\n"
        "# TYPE hudumad_http_malformed_total counter\n"
        "hudumad_http_malformed_total %llu\n"
        "# HELP hudumad_tls_buffers_shed_total Idle connections whose TLS record buffers were "
        "wiped and given back.\n"
        "# TYPE hudumad_tls_buffers_shed_total counter\n"
        "hudumad_tls_buffers_shed_total %llu\n"
        "# HELP hudumad_register_persons Huduma Numbers issued so far.\n"
        "# TYPE hudumad_register_persons gauge\n"
        "hudumad_register_persons %llu\n",
        (long long)atomic_load(&m->connections), EVENT(MET_HANDSHAKE_OK),
        EVENT(MET_HANDSHAKE_REFUSED), EVENT(MET_CONN_REFUSED_LIMIT), EVENT(MET_CONN_TIMEOUT),
        EVENT(MET_HTTP_MALFORMED), EVENT(MET_TLS_BUFFERS_SHED),
        (unsigned long long)register_persons);
#undef EVENT
    char *limiter = metrics_ratelimit_text(m->ratelimit);
    if (limiter)
        put(&t, "%s", limiter);
    free(limiter);
    if (more)
        put(&t, "%s", more);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
