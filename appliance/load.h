/*
 * appliance/load.h - the parts of `huduma-load` (appliance/main_huduma-load.c),
 * the project's HTTPS load generator: a latency histogram (load_hist.c), the
 * request it sends and the minimal HTTP/1.1 response parser (load_http.c),
 * and the per-thread event loop over mutual-TLS connections (load_loop.c).
 *
 * Nothing here is used by the appliance itself; these files are separate only
 * to keep each one short.
 */
#ifndef HUDUMA_LOAD_H
#define HUDUMA_LOAD_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- the histogram (load_hist.c) ------------------------------------------------- */

/* Log-linear buckets of microseconds, as HdrHistogram lays them out: values
 * below 2 * LOAD_HIST_SUB are exact, larger ones fall into LOAD_HIST_SUB
 * buckets per power of two (relative error below 1/LOAD_HIST_SUB, 0.8%).
 * Values are clamped to 2^LOAD_HIST_MAX_BITS - 1 us (about four years). */
#define LOAD_HIST_SUB_BITS 7
#define LOAD_HIST_SUB      (1u << LOAD_HIST_SUB_BITS)
#define LOAD_HIST_MAX_BITS 47
#define LOAD_HIST_SIZE     ((LOAD_HIST_MAX_BITS - LOAD_HIST_SUB_BITS + 1) * LOAD_HIST_SUB)

struct load_hist {
    uint64_t count, sum, max;
    uint64_t bucket[LOAD_HIST_SIZE];
};

void load_hist_add(struct load_hist *h, uint64_t us, uint64_t times);
void load_hist_merge(struct load_hist *into, const struct load_hist *from);
/* The highest value equivalent to the one at percentile p (0 < p <= 100),
 * never above the maximum recorded; 0 when the histogram is empty. */
uint64_t load_hist_percentile(const struct load_hist *h, double p);
double load_hist_mean(const struct load_hist *h);

/* ---- requests and responses (load_http.c) ---------------------------------------- */

struct load_request {
    char *text; /* the whole request: request line, headers, body */
    size_t len;
};

/* Builds "METHOD PATH HTTP/1.1", a Host header (unless `headers` has one),
 * the given headers ("Name: value"), Content-Length when there is a body or
 * the method is POST or PUT, and the body.  NULL when out of memory. */
char *load_request_compose(const char *method, const char *path, const char *host,
                           const char *const *headers, unsigned nheaders, const char *body,
                           size_t body_len, size_t *len);

enum load_parse { LOAD_PARSE_MORE, LOAD_PARSE_DONE, LOAD_PARSE_INTERIM, LOAD_PARSE_ERROR };

struct load_response {
    int status;
    size_t header_len; /* status line and headers, up to and with the blank line */
    size_t body_len;
    bool close; /* the server will close after it (Connection: close, HTTP/1.0) */
};

/* Looks at the bytes of the next response at the start of buf.  DONE: the
 * whole response (header_len + body_len bytes) is there; INTERIM: a 1xx
 * response of header_len bytes, to skip; MORE: wait for more bytes; ERROR:
 * not a response this parser accepts (*why says why).  `head`: the request
 * was HEAD, so the response has no body whatever its headers say. */
enum load_parse load_response_parse(const char *buf, size_t len, bool head, struct load_response *r,
                                    const char **why);

#define LOAD_MAX_HEADER_BYTES (64 * 1024)

/* ---- the event loop (load_loop.c) ------------------------------------------------- */

struct load_config {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    SSL_CTX *tls;
    unsigned connections, threads, pipeline;
    double rate; /* requests/s over all threads; 0: closed loop */
    uint64_t warmup_ns, duration_ns;
    uint64_t grace_ns; /* after the window, for answers still to come */
    uint64_t connect_timeout_ns;
    uint64_t max_requests;               /* over all threads; 0: no limit but time */
    const struct load_request *requests; /* rotated round-robin */
    size_t nrequests;
    bool head; /* the method is HEAD */
};

#define LOAD_STATUS_MAX 600

/* What one thread saw; load_stats_merge() adds them up.  Only requests whose
 * intended send time falls in the measured window count in `sent`,
 * `answered`, `unanswered`, `status` and `hist`; `completed` counts the
 * responses that arrived within the window, whatever their request (the
 * throughput: in an open loop a server that falls behind still answers every
 * request in the end, but not within the window). */
struct load_stats {
    uint64_t sent, answered, unanswered, completed;
    uint64_t status[LOAD_STATUS_MAX];
    uint64_t conn_errors, protocol_errors, closed_by_server, handshakes;
    uint64_t connect_failures; /* connections never opened before the start */
    uint64_t late_us_max;      /* open loop: the largest delay between intended and actual send */
    struct load_hist hist;
};

void load_stats_merge(struct load_stats *into, const struct load_stats *from);

struct load_run;

/* Starts cfg->threads threads; each opens its share of the connections.  The
 * caller then runs load_run_wait(), which returns 0 when every thread is done;
 * -2 when no connection at all could be opened (nothing was sent); -1 when
 * `deadline_ns` (CLOCK_MONOTONIC) passed first, and the threads are left
 * running (the caller's process is about to end). */
struct load_run *load_run_start(const struct load_config *cfg, char *err, size_t errlen);
int load_run_wait(struct load_run *run, uint64_t deadline_ns, struct load_stats *total,
                  double *window_s, double *client_cpu_cores);
void load_run_free(struct load_run *run);

uint64_t load_now_ns(void);
/* One TLS-connected blocking socket with send and receive timeouts; -1 with err. */
int load_connect_blocking(const struct load_config *cfg, SSL **ssl_out, uint64_t timeout_ns,
                          char *err, size_t errlen);
/* Last OpenSSL or socket error of this thread, as text. */
const char *load_tls_error(char *buf, size_t len);

#endif
