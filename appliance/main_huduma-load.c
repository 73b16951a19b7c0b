/*
 * appliance/main_huduma-load.c - `huduma-load`, the project's HTTPS load
 * generator: it presents a client certificate (which wrk cannot), keeps
 * connections alive, pipelines, runs flat out or at a fixed rate without
 * coordinated omission, and reports throughput and latency percentiles.
 *
 * This file owns the command line, the TLS client context, the request(s)
 * sent, the bound on the whole run, and the report; the threads and their
 * event loops are in load_loop.c, the histogram in load_hist.c and the HTTP
 * bytes in load_http.c (all described in load.h).  It only ever connects to a
 * loopback address, or to one of the documentation ranges (RFC 5737, RFC
 * 3849), which no network routes and which the benchmarks use inside network
 * namespaces of their own: it is a benchmark tool, not a way to load someone
 * else's server.
 *
 * The report is text for people, then one line for scripts:
 *   RESULT label=... mode=closed|rate ... rps=... p50_us=... p99_us=... errors=...
 * Exit status: 0 the run was made (look at errors=), 1 usage, 2 set-up failed
 * or no connection could be opened, 3 the run overstayed its hard time limit,
 * 4 --show-response got a status other than 2xx.
 */
#include "load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HEADERS    32
#define MAX_FILE_BYTES (64u * 1024 * 1024)
#define MAX_BODIES     1000000
#define WATCHDOG_EXTRA 5.0 /* seconds past the planned end before giving up */

static const char usage[] =
    "usage: huduma-load --port N --cert FILE --key FILE --cacert FILE [options]\n"
    "\n"
    "Sends one HTTP/1.1 request over and over to a server on this machine, over\n"
    "TLS 1.3 with a client certificate, and reports throughput and latency.\n"
    "\n"
    "  --host ADDR           address to connect to (127.0.0.1; also the address\n"
    "                        the server certificate must name): loopback, or in\n"
    "                        192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 or\n"
    "                        2001:db8::/32 (documentation ranges)\n"
    "  --port N              TCP port (required)\n"
    "  --cert, --key FILE    the client certificate and its key (PEM)\n"
    "  --cacert FILE         the CA that issued the server certificate (PEM)\n"
    "  --method M            request method (GET, or POST with a body)\n"
    "  --path P              request target (/)\n"
    "  --header 'N: V'       a request header; repeatable (Host is added unless given)\n"
    "  --body-file FILE      the request body: the whole file\n"
    "  --bodies-file FILE    one body per non-empty line, sent in turn (round-robin)\n"
    "  --connections N       connections, all threads together (32)\n"
    "  --threads N           threads, each with its own epoll loop (1)\n"
    "  --pipeline N          requests in flight per connection (1)\n"
    "  --duration S          seconds measured (10), after --warmup S (1)\n"
    "  --rate R              open loop: R requests/s in all, each timed from when it\n"
    "                        was due to be sent; without it, closed loop (flat out)\n"
    "  --requests N          stop sending after N requests (warm-up included)\n"
    "  --grace S             seconds to wait for answers after the window (2)\n"
    "  --connect-timeout S   to open every connection before the start (5)\n"
    "  --label TEXT          copied into the RESULT line (no spaces)\n"
    "  --show-response       send the request once on one connection and print the\n"
    "                        response body on stdout (status and size on stderr)\n"
    "  --help                this text\n";

struct options {
    const char *host, *cert, *key, *cacert, *method, *path, *body_file, *bodies_file, *label;
    const char *headers[MAX_HEADERS];
    unsigned nheaders;
    unsigned long port, connections, threads, pipeline;
    unsigned long long requests;
    double duration, warmup, rate, grace, connect_timeout;
    bool show_response;
};

/* ---- the command line ------------------------------------------------------------------ */

static int bad(const char *opt, const char *value, const char *why)
{
    fprintf(stderr, "huduma-load: %s %s: %s\n", opt, value ? value : "", why);
    return -1;
}

static int parse_count(const char *opt, const char *v, unsigned long long min,
                       unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || n < min || n > max) {
        char why[96];
        snprintf(why, sizeof why, "expected a whole number from %llu to %llu", min, max);
        return bad(opt, v, why);
    }
    *out = n;
    return 0;
}

static int parse_ulong(const char *opt, const char *v, unsigned long min, unsigned long max,
                       unsigned long *out)
{
    unsigned long long n;
    if (parse_count(opt, v, min, max, &n) != 0)
        return -1;
    *out = (unsigned long)n;
    return 0;
}

static int parse_seconds(const char *opt, const char *v, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= min && d <= max)) {
        char why[96];
        snprintf(why, sizeof why, "expected a number from %g to %g", min, max);
        return bad(opt, v, why);
    }
    *out = d;
    return 0;
}

static void defaults(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->method = NULL;
    o->path = "/";
    o->label = "-";
    o->connections = 32;
    o->threads = 1;
    o->pipeline = 1;
    o->duration = 10;
    o->warmup = 1;
    o->grace = 2;
    o->connect_timeout = 5;
}

/* One option with its value; -1 when unknown or invalid. */
static int parse_option(struct options *o, const char *opt, const char *v)
{
    unsigned long long n;
    if (!strcmp(opt, "--host"))
        o->host = v;
    else if (!strcmp(opt, "--port"))
        return parse_ulong(opt, v, 1, 65535, &o->port);
    else if (!strcmp(opt, "--cert"))
        o->cert = v;
    else if (!strcmp(opt, "--key"))
        o->key = v;
    else if (!strcmp(opt, "--cacert"))
        o->cacert = v;
    else if (!strcmp(opt, "--method"))
        o->method = v;
    else if (!strcmp(opt, "--path"))
        o->path = v;
    else if (!strcmp(opt, "--header")) {
        if (o->nheaders == MAX_HEADERS)
            return bad(opt, v, "too many headers");
        if (!strchr(v, ':') || v[0] == ':' || strpbrk(v, "\r\n"))
            return bad(opt, v, "expected 'Name: value'");
        o->headers[o->nheaders++] = v;
    } else if (!strcmp(opt, "--body-file"))
        o->body_file = v;
    else if (!strcmp(opt, "--bodies-file"))
        o->bodies_file = v;
    else if (!strcmp(opt, "--connections"))
        return parse_ulong(opt, v, 1, 10000, &o->connections);
    else if (!strcmp(opt, "--threads"))
        return parse_ulong(opt, v, 1, 64, &o->threads);
    else if (!strcmp(opt, "--pipeline"))
        return parse_ulong(opt, v, 1, 1024, &o->pipeline);
    else if (!strcmp(opt, "--duration"))
        return parse_seconds(opt, v, 0.1, 3600, &o->duration);
    else if (!strcmp(opt, "--warmup"))
        return parse_seconds(opt, v, 0, 600, &o->warmup);
    else if (!strcmp(opt, "--rate"))
        return parse_seconds(opt, v, 1, 1e8, &o->rate);
    else if (!strcmp(opt, "--requests")) {
        if (parse_count(opt, v, 1, ULLONG_MAX / 2, &n) != 0)
            return -1;
        o->requests = n;
    } else if (!strcmp(opt, "--grace"))
        return parse_seconds(opt, v, 0, 60, &o->grace);
    else if (!strcmp(opt, "--connect-timeout"))
        return parse_seconds(opt, v, 0.1, 60, &o->connect_timeout);
    else if (!strcmp(opt, "--label")) {
        if (!v[0] || strpbrk(v, " \t\r\n"))
            return bad(opt, v, "expected one word");
        o->label = v;
    } else
        return bad(opt, NULL, "unknown option (see --help)");
    return 0;
}

static int check_options(struct options *o)
{
    if (!o->port || !o->cert || !o->key || !o->cacert)
        return bad("--port, --cert, --key and --cacert", NULL, "are required");
    if (o->body_file && o->bodies_file)
        return bad("--body-file", o->body_file, "and --bodies-file exclude each other");
    if (!o->method)
        o->method = o->body_file || o->bodies_file ? "POST" : "GET";
    if (!o->method[0] || strpbrk(o->method, " \t\r\n"))
        return bad("--method", o->method, "expected one word");
    if (o->path[0] != '/' || strpbrk(o->path, " \t\r\n"))
        return bad("--path", o->path, "expected a path starting with /");
    if (o->threads > o->connections)
        o->threads = o->connections;
    return 0;
}

/* 0, 1 when --help was asked for, -1 on an error (already said). */
static int parse_args(int argc, char **argv, struct options *o)
{
    defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--help") || !strcmp(opt, "-h"))
            return 1;
        if (!strcmp(opt, "--show-response")) {
            o->show_response = true;
            continue;
        }
        if (i + 1 == argc)
            return bad(opt, NULL,
                       strncmp(opt, "--", 2) ? "unexpected argument"
                                             : "needs a value (or is unknown)");
        if (parse_option(o, opt, argv[++i]) != 0)
            return -1;
    }
    return check_options(o);
}

/* ---- set-up ------------------------------------------------------------------------ */

/* 127.0.0.0/8, or a documentation range: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24. */
static bool allowed_ipv4(uint32_t a)
{
    return (a >> 24) == 127 || (a >> 8) == 0xC00002 || (a >> 8) == 0xC63364 || (a >> 8) == 0xCB0071;
}

/* ::1, or the documentation range 2001:db8::/32. */
static bool allowed_ipv6(const struct in6_addr *a)
{
    static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8};
    return IN6_IS_ADDR_LOOPBACK(a) || memcmp(a->s6_addr, doc, sizeof doc) == 0;
}

static int loopback_address(const char *host, unsigned port, struct load_config *cfg)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&cfg->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&cfg->addr;
    memset(&cfg->addr, 0, sizeof cfg->addr);
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1 && allowed_ipv4(ntohl(v4->sin_addr.s_addr))) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        cfg->addr_len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1 && allowed_ipv6(&v6->sin6_addr)) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        cfg->addr_len = sizeof *v6;
        return 0;
    }
    return bad("--host", host,
               "expected a numeric loopback or documentation address (127.0.0.0/8, ::1, "
               "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)");
}

static int tls_fail(const char *what, const char *path)
{
    char why[256];
    fprintf(stderr, "huduma-load: %s %s: %s\n", what, path, load_tls_error(why, sizeof why));
    return -1;
}

/* TLS 1.3 only, our certificate, the server's checked against --cacert and
 * the address we connect to; no tickets (every connection one handshake). */
static int tls_client(const struct options *o, struct load_config *cfg)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    cfg->tls = ctx;
    if (!ctx)
        return tls_fail("tls", "context");
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
        return tls_fail("tls", "1.3");
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
        return tls_fail("--cert", o->cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return tls_fail("--key", o->key);
    if (SSL_CTX_load_verify_locations(ctx, o->cacert, NULL) != 1)
        return tls_fail("--cacert", o->cacert);
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), o->host) != 1)
        return tls_fail("--host", o->host);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "huduma-load: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_FILE_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE_BYTES + 1, f) : 0;
    bool failed = !buf || ferror(f) || n > MAX_FILE_BYTES;
    fclose(f);
    if (failed) {
        fprintf(stderr, "huduma-load: %s: cannot read it, or larger than 64 MiB\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int add_request(const struct options *o, const char *body, size_t body_len,
                       struct load_request *reqs, size_t *n)
{
    char host[80];
    snprintf(host, sizeof host, strchr(o->host, ':') ? "[%s]:%lu" : "%s:%lu", o->host, o->port);
    reqs[*n].text = load_request_compose(o->method, o->path, host, o->headers, o->nheaders, body,
                                         body_len, &reqs[*n].len);
    if (!reqs[*n].text) {
        fprintf(stderr, "huduma-load: out of memory\n");
        return -1;
    }
    (*n)++;
    return 0;
}

/* Splits a file of bodies at line ends; empty lines are skipped. */
static int add_lines(const struct options *o, char *text, struct load_request *reqs, size_t *n)
{
    for (char *line = text, *next; *line; line = next) {
        size_t len = strcspn(line, "\n");
        next = line + len + (line[len] == '\n');
        if (len && line[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;
        if (*n == MAX_BODIES) {
            fprintf(stderr, "huduma-load: %s: more than %d bodies\n", o->bodies_file, MAX_BODIES);
            return -1;
        }
        if (add_request(o, line, len, reqs, n) != 0)
            return -1;
    }
    return 0;
}

static int build_requests(const struct options *o, struct load_config *cfg)
{
    const char *file = o->body_file ? o->body_file : o->bodies_file;
    size_t len = 0, n = 0;
    char *text = file ? read_file(file, &len) : NULL;
    if (file && !text)
        return -1;
    size_t max = o->bodies_file ? MAX_BODIES : 1;
    struct load_request *reqs = calloc(max, sizeof *reqs);
    int rc = reqs ? 0 : -1;
    if (rc == 0 && o->bodies_file)
        rc = add_lines(o, text, reqs, &n);
    else if (rc == 0)
        rc = add_request(o, text, len, reqs, &n);
    free(text);
    if (rc == 0 && n == 0) {
        fprintf(stderr, "huduma-load: %s: no body in it\n", o->bodies_file);
        rc = -1;
    }
    cfg->requests = reqs;
    cfg->nrequests = n;
    return rc;
}

static uint64_t ns(double seconds)
{
    return (uint64_t)(seconds * 1e9 + 0.5);
}

static void fill_config(const struct options *o, struct load_config *cfg)
{
    cfg->connections = (unsigned)o->connections;
    cfg->threads = (unsigned)o->threads;
    cfg->pipeline = (unsigned)o->pipeline;
    cfg->rate = o->rate;
    cfg->warmup_ns = ns(o->warmup);
    cfg->duration_ns = ns(o->duration);
    cfg->grace_ns = ns(o->grace);
    cfg->connect_timeout_ns = ns(o->connect_timeout);
    cfg->max_requests = o->requests;
    cfg->head = strcmp(o->method, "HEAD") == 0;
}

static void free_config(struct load_config *cfg)
{
    for (size_t i = 0; cfg->requests && i < cfg->nrequests; i++)
        free(cfg->requests[i].text);
    free((void *)cfg->requests);
    SSL_CTX_free(cfg->tls);
}

/* ---- --show-response ----------------------------------------------------------------- */

static int read_response(SSL *ssl, bool head, char **buf, struct load_response *r)
{
    size_t len = 0, cap = 64 * 1024;
    *buf = malloc(cap);
    const char *why = "";
    while (*buf) {
        enum load_parse p = load_response_parse(*buf, len, head, r, &why);
        if (p == LOAD_PARSE_DONE)
            return 0;
        if (p == LOAD_PARSE_INTERIM) {
            memmove(*buf, *buf + r->header_len, len - r->header_len);
            len -= r->header_len;
            continue;
        }
        if (p == LOAD_PARSE_ERROR)
            break;
        if (len == cap && (cap >= MAX_FILE_BYTES || !(*buf = realloc(*buf, cap *= 2))))
            break;
        int n = SSL_read(ssl, *buf + len, (int)(cap - len));
        if (n <= 0) {
            char e[256];
            why = load_tls_error(e, sizeof e);
            fprintf(stderr, "huduma-load: no complete response: %s\n", why);
            return -1;
        }
        len += (size_t)n;
    }
    fprintf(stderr, "huduma-load: not a response: %s\n", why);
    return -1;
}

static int show_response(const struct options *o, const struct load_config *cfg)
{
    char err[300];
    SSL *ssl = NULL;
    int fd = load_connect_blocking(cfg, &ssl, ns(o->duration), err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "huduma-load: %s\n", err);
        return 2;
    }
    const struct load_request *req = &cfg->requests[0];
    char *buf = NULL;
    struct load_response r;
    int rc = 2;
    if (SSL_write(ssl, req->text, (int)req->len) != (int)req->len) {
        fprintf(stderr, "huduma-load: cannot send the request\n");
    } else if (read_response(ssl, cfg->head, &buf, &r) == 0) {
        fwrite(buf + r.header_len, 1, r.body_len, stdout);
        fprintf(stderr, "huduma-load: status %d, %zu header bytes, %zu body bytes, %s %s\n",
                r.status, r.header_len, r.body_len, SSL_get_version(ssl), SSL_get_cipher_name(ssl));
        rc = r.status >= 200 && r.status < 300 ? 0 : 4;
    }
    free(buf);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    return rc;
}

/* ---- the report ------------------------------------------------------------------------ */

static void print_ms(const char *name, uint64_t us)
{
    printf("  %s %.3f ms", name, (double)us / 1000.0);
}

static uint64_t non_2xx(const struct load_stats *s)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < LOAD_STATUS_MAX; i++)
        if (i < 200 || i > 299)
            n += s->status[i];
    return n;
}

static void print_text(const struct options *o, const struct load_stats *s, double window,
                       double cpu)
{
    printf("huduma-load: %s %s on %s:%lu, %lu connections, %lu thread%s, pipeline %lu, ", o->method,
           o->path, o->host, o->port, o->connections, o->threads, o->threads == 1 ? "" : "s",
           o->pipeline);
    if (o->rate > 0)
        printf("open loop at %.0f requests/s", o->rate);
    else
        printf("closed loop");
    printf(", %.1f s measured after %.1f s of warm-up\n", window, o->warmup);
    printf("  requests    %llu sent, %llu answered, %llu unanswered (%s)\n",
           (unsigned long long)s->sent, (unsigned long long)s->answered,
           (unsigned long long)s->unanswered,
           s->sent == s->answered + s->unanswered ? "every request accounted for"
                                                  : "MISMATCH: sent != answered + unanswered");
    printf("  throughput  %.1f answers/s (answers that arrived within the window)\n",
           (double)s->completed / window);
    printf("  statuses   ");
    for (unsigned i = 0; i < LOAD_STATUS_MAX; i++)
        if (s->status[i])
            printf(" %u: %llu", i, (unsigned long long)s->status[i]);
    printf("%s\n", s->answered ? "" : " none");
    printf("  errors      non-2xx %llu, connection %llu, protocol %llu, unanswered %llu"
           " (connections not opened %llu, closed by the server %llu, handshakes %llu)\n",
           (unsigned long long)non_2xx(s), (unsigned long long)s->conn_errors,
           (unsigned long long)s->protocol_errors, (unsigned long long)s->unanswered,
           (unsigned long long)s->connect_failures, (unsigned long long)s->closed_by_server,
           (unsigned long long)s->handshakes);
    printf("  latency    ");
    print_ms("p50", load_hist_percentile(&s->hist, 50));
    print_ms("p90", load_hist_percentile(&s->hist, 90));
    print_ms("p99", load_hist_percentile(&s->hist, 99));
    print_ms("p99.9", load_hist_percentile(&s->hist, 99.9));
    print_ms("max", s->hist.max);
    printf("  mean %.3f ms\n", load_hist_mean(&s->hist) / 1000.0);
    if (o->rate > 0)
        printf("  schedule    the latest request went out %.3f ms after it was due\n",
               (double)s->late_us_max / 1000.0);
    printf("  client CPU  %.2f cores\n", cpu);
}

static void print_result(const struct options *o, const struct load_stats *s, double window,
                         double cpu)
{
    uint64_t errors = non_2xx(s) + s->conn_errors + s->protocol_errors + s->unanswered;
    printf("RESULT label=%s mode=%s connections=%lu threads=%lu pipeline=%lu rate=%.0f "
           "duration_s=%.1f requests=%llu rps=%.1f p50_us=%llu p90_us=%llu p99_us=%llu "
           "p999_us=%llu max_us=%llu mean_us=%.1f errors=%llu non2xx=%llu conn_errors=%llu "
           "protocol_errors=%llu unanswered=%llu client_cpu=%.2f\n",
           o->label, o->rate > 0 ? "rate" : "closed", o->connections, o->threads, o->pipeline,
           o->rate, window, (unsigned long long)s->answered, (double)s->completed / window,
           (unsigned long long)load_hist_percentile(&s->hist, 50),
           (unsigned long long)load_hist_percentile(&s->hist, 90),
           (unsigned long long)load_hist_percentile(&s->hist, 99),
           (unsigned long long)load_hist_percentile(&s->hist, 99.9),
           (unsigned long long)s->hist.max, load_hist_mean(&s->hist), (unsigned long long)errors,
           (unsigned long long)non_2xx(s), (unsigned long long)s->conn_errors,
           (unsigned long long)s->protocol_errors, (unsigned long long)s->unanswered, cpu);
}

/* ---- the run ------------------------------------------------------------------------- */

static int run_load(const struct options *o, const struct load_config *cfg)
{
    char err[256];
    double planned = o->connect_timeout + o->warmup + o->duration + o->grace + WATCHDOG_EXTRA;
    uint64_t deadline = load_now_ns() + ns(planned);
    struct load_run *run = load_run_start(cfg, err, sizeof err);
    if (!run) {
        fprintf(stderr, "huduma-load: %s\n", err);
        return 2;
    }
    struct load_stats *total = calloc(1, sizeof *total);
    double window = 0, cpu = 0;
    int rc = total ? load_run_wait(run, deadline, total, &window, &cpu) : -3;
    if (rc == -1) { /* threads still running: do not free what they use */
        fprintf(stderr, "huduma-load: the run overstayed its %.1f s limit\n", planned);
        return 3;
    }
    if (rc == 0) {
        print_text(o, total, window, cpu);
        print_result(o, total, window, cpu);
    } else {
        fprintf(stderr, "huduma-load: %s\n",
                rc == -2 ? "no connection could be opened; nothing was sent" : "out of memory");
    }
    free(total);
    load_run_free(run);
    return rc == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        fputs(rc > 0 ? usage : "", rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a server that closes shows as a write error, not a signal */
    struct load_config cfg = {0};
    if (loopback_address(o.host, (unsigned)o.port, &cfg) != 0)
        return 1;
    fill_config(&o, &cfg);
    if (tls_client(&o, &cfg) != 0 || build_requests(&o, &cfg) != 0) {
        free_config(&cfg);
        return 2;
    }
    rc = o.show_response ? show_response(&o, &cfg) : run_load(&o, &cfg);
    if (rc != 3)
        free_config(&cfg);
    return rc;
}
