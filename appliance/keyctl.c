/*
 * appliance/keyctl.c - key rotation: the re-encryption loop, hudumad's
 * background re-encryption thread and its control socket (keyctl.h).
 *
 * The loop calls store_rekey_step() (storage/rekey.c) until nothing is left:
 * each step re-seals a batch of records in one transaction with its
 * progress, so stopping anywhere loses nothing, and a lock held by a writer
 * (ST_BUSY) only means trying again.  In hudumad it runs on its own thread
 * with a short pause between steps, beside the requests, and it starts by
 * itself at start-up when the register records an unfinished one.
 *
 * The control thread serves <register_dir>/control.sock, one client at a
 * time, one command per connection (the protocol is in keyctl.h).  `rotate`
 * makes the new key through the key process (the remote key holder), which
 * wraps it; store_dek_rotate() commits it and the re-encryption record
 * before new writes use it.  A client that goes away stops nothing.
 */
#include "keyctl.h"

#include "log.h"

#include "keys/keys.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BATCH             128
#define PAUSE_US          200 /* between steps in the daemon */
#define BUSY_WAIT_US      10000
#define PROGRESS_EVERY_MS 500
#define CLIENT_TIMEOUT_MS 5000
#define COMMAND_MAX       64

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fail(struct reg_result *res, int code, const char *msg)
{
    if (res) {
        res->code = code;
        res->field[0] = '\0';
        snprintf(res->msg, sizeof res->msg, "%s", msg);
    }
    return code;
}

/* ---- the loop ------------------------------------------------------------------------ */

int keyctl_rekey_run(struct reg *r, unsigned pause_us, bool (*stop)(void *ctx),
                     keyctl_progress_fn progress, void *ctx, struct reg_result *res)
{
    struct store *st = reg_store(r);
    uint64_t last = 0;
    for (;;) {
        if (stop && stop(ctx))
            return REG_OK;
        struct store_rekey after;
        struct st_err err;
        bool finished = false;
        int rc = store_rekey_step(st, BATCH, &after, &finished, &err);
        if (rc == ST_BUSY) {
            usleep(BUSY_WAIT_US);
            continue;
        }
        if (rc != ST_OK)
            return fail(res, REG_ESTORAGE, err.msg);
        if (progress && (finished || now_ms() - last >= PROGRESS_EVERY_MS)) {
            progress(ctx, &after);
            last = now_ms();
        }
        if (finished)
            return REG_OK;
        if (pause_us)
            usleep(pause_us);
    }
}

/* ---- the daemon's threads ---------------------------------------------------------------- */

struct keyctl {
    struct reg *r;
    struct keyholder *keys;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd;
    int wake[2];
    pthread_t control, rekey;
    bool control_started, rekey_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool pending;            /* a re-encryption to run */
    bool running;            /* the rekey thread is running one */
    struct store_rekey last; /* its latest progress */
    uint32_t finished_key;   /* the key of the last one that finished */
    uint64_t finished_resealed;
    atomic_bool stopping;
};

static bool stopping(void *ctx)
{
    struct keyctl *kc = ctx;
    return atomic_load(&kc->stopping);
}

static void on_progress(void *ctx, const struct store_rekey *st)
{
    struct keyctl *kc = ctx;
    pthread_mutex_lock(&kc->lock);
    kc->last = *st;
    pthread_cond_broadcast(&kc->cond);
    pthread_mutex_unlock(&kc->lock);
}

static void run_once(struct keyctl *kc)
{
    struct store_rekey before;
    struct st_err err;
    if (store_rekey_status(reg_store(kc->r), &before, &err) != ST_OK || !before.running)
        return;
    log_info("re-encrypting the register in the background", "key=%u pass=%u done=%llu total=%llu",
             (unsigned)before.target, before.pass, (unsigned long long)before.done,
             (unsigned long long)before.total);
    struct reg_result res = {0};
    int rc = keyctl_rekey_run(kc->r, PAUSE_US, stopping, on_progress, kc, &res);
    pthread_mutex_lock(&kc->lock);
    if (rc == REG_OK && !atomic_load(&kc->stopping)) {
        kc->finished_key = before.target;
        kc->finished_resealed = kc->last.resealed;
        log_info("re-encryption finished: every record is sealed under the current key",
                 "key=%u resealed=%llu", (unsigned)before.target,
                 (unsigned long long)kc->last.resealed);
    } else if (rc != REG_OK) {
        char clean[300];
        log_error("re-encryption stopped; it resumes at the next start", "error=\"%s\"",
                  log_clean(res.msg, clean, sizeof clean));
    }
    pthread_cond_broadcast(&kc->cond);
    pthread_mutex_unlock(&kc->lock);
}

static void *rekey_main(void *arg)
{
    struct keyctl *kc = arg;
    pthread_mutex_lock(&kc->lock);
    while (!atomic_load(&kc->stopping)) {
        if (!kc->pending) {
            pthread_cond_wait(&kc->cond, &kc->lock);
            continue;
        }
        kc->pending = false;
        kc->running = true;
        pthread_mutex_unlock(&kc->lock);
        run_once(kc);
        pthread_mutex_lock(&kc->lock);
        kc->running = false;
        pthread_cond_broadcast(&kc->cond);
    }
    pthread_mutex_unlock(&kc->lock);
    return NULL;
}

/* ---- the control socket ---------------------------------------------------------------- */

static int say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int fd, const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    return send(fd, line, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static int say_progress(int fd, const struct store_rekey *s)
{
    return say(fd, "event=progress key=%u pass=%u done=%llu total=%llu resealed=%llu",
               (unsigned)s->target, s->pass, (unsigned long long)s->done,
               (unsigned long long)s->total, (unsigned long long)s->resealed);
}

static void answer_status(struct keyctl *kc, int fd)
{
    struct store_rekey s;
    struct st_err err;
    if (store_rekey_status(reg_store(kc->r), &s, &err) != ST_OK) {
        say(fd, "event=error msg=\"%s\"", err.msg);
        return;
    }
    say(fd,
        "event=status current=%u running=%d target=%u pass=%u done=%llu total=%llu "
        "resealed=%llu",
        (unsigned)s.current, s.running, (unsigned)s.target, s.pass, (unsigned long long)s.done,
        (unsigned long long)s.total, (unsigned long long)s.resealed);
}

/* Follows the re-encryption to `key` until it finishes or the client leaves. */
static void follow(struct keyctl *kc, int fd, uint32_t key)
{
    pthread_mutex_lock(&kc->lock);
    while (!atomic_load(&kc->stopping)) {
        if (kc->finished_key == key) {
            say(fd, "event=done key=%u resealed=%llu", (unsigned)key,
                (unsigned long long)kc->finished_resealed);
            break;
        }
        struct store_rekey s = kc->last;
        if (s.target == key && say_progress(fd, &s) != 0)
            break;
        if (!kc->running && !kc->pending) {
            say(fd, "event=error msg=\"the re-encryption stopped; see the daemon's log\"");
            break;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PROGRESS_EVERY_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&kc->cond, &kc->lock, &until);
    }
    pthread_mutex_unlock(&kc->lock);
}

static void answer_rotate(struct keyctl *kc, int fd)
{
    uint32_t key = 0;
    struct st_err err;
    int rc = store_dek_rotate(reg_store(kc->r), kc->keys, &key, &err);
    if (rc != ST_OK) {
        char clean[300];
        say(fd, "event=error msg=\"%s\"", log_clean(err.msg, clean, sizeof clean));
        return;
    }
    log_info("data-encryption key rotated: new writes use the new key", "key=%u", (unsigned)key);
    pthread_mutex_lock(&kc->lock);
    kc->pending = true;
    memset(&kc->last, 0, sizeof kc->last);
    pthread_cond_broadcast(&kc->cond);
    pthread_mutex_unlock(&kc->lock);
    if (say(fd, "event=rotated key=%u", (unsigned)key) == 0)
        follow(kc, fd, key);
}

static bool read_command(int fd, char *buf, size_t len)
{
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < len && poll(&p, 1, CLIENT_TIMEOUT_MS) == 1) {
        ssize_t n = recv(fd, buf + got, len - 1 - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
        buf[got] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl) {
            *nl = '\0';
            return true;
        }
    }
    return false;
}

static void serve_client(struct keyctl *kc, int fd)
{
    char cmd[COMMAND_MAX];
    if (!read_command(fd, cmd, sizeof cmd))
        return;
    if (strcmp(cmd, "status") == 0)
        answer_status(kc, fd);
    else if (strcmp(cmd, "rotate") == 0)
        answer_rotate(kc, fd);
    else
        say(fd, "event=error msg=\"unknown command (status, rotate)\"");
}

static void *control_main(void *arg)
{
    struct keyctl *kc = arg;
    struct pollfd p[2] = {{.fd = kc->listen_fd, .events = POLLIN},
                          {.fd = kc->wake[0], .events = POLLIN}};
    while (!atomic_load(&kc->stopping)) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(kc->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve_client(kc, fd);
        close(fd);
    }
    return NULL;
}

static int open_socket(struct keyctl *kc, const char *dir, char *err, size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/%s", dir, KEYCTL_SOCKET);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path) {
        snprintf(err, errlen, "%s/%s: path too long for a unix socket", dir, KEYCTL_SOCKET);
        return -1;
    }
    memcpy(kc->path, addr.sun_path, sizeof kc->path);
    unlink(kc->path);
    kc->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (kc->listen_fd < 0 || bind(kc->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        chmod(kc->path, 0600) != 0 || listen(kc->listen_fd, 4) != 0) {
        snprintf(err, errlen, "%s: %s", kc->path, strerror(errno));
        return -1;
    }
    return 0;
}

int keyctl_start(const char *register_dir, struct reg *r, struct keyholder *keys,
                 struct keyctl **out, char *err, size_t errlen)
{
    struct keyctl *kc = calloc(1, sizeof *kc);
    if (!kc) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    kc->r = r;
    kc->keys = keys;
    kc->listen_fd = kc->wake[0] = kc->wake[1] = -1;
    pthread_mutex_init(&kc->lock, NULL);
    pthread_cond_init(&kc->cond, NULL);
    struct store_rekey s;
    struct st_err serr;
    kc->pending = store_rekey_status(reg_store(r), &s, &serr) == ST_OK && s.running;
    int rc = pipe2(kc->wake, O_CLOEXEC) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "pipe: %s", strerror(errno));
    if (rc == 0)
        rc = open_socket(kc, register_dir, err, errlen);
    if (rc == 0 && pthread_create(&kc->rekey, NULL, rekey_main, kc) == 0)
        kc->rekey_started = true;
    if (rc == 0 && pthread_create(&kc->control, NULL, control_main, kc) == 0)
        kc->control_started = true;
    if (rc == 0 && (!kc->rekey_started || !kc->control_started)) {
        snprintf(err, errlen, "cannot start the key rotation threads");
        rc = -1;
    }
    if (rc != 0) {
        keyctl_stop(kc);
        return -1;
    }
    *out = kc;
    return 0;
}

void keyctl_stop(struct keyctl *kc)
{
    if (!kc)
        return;
    atomic_store(&kc->stopping, true);
    if (kc->wake[1] >= 0 && write(kc->wake[1], "x", 1) < 0)
        log_warn("cannot wake the control thread", NULL);
    pthread_mutex_lock(&kc->lock);
    pthread_cond_broadcast(&kc->cond);
    pthread_mutex_unlock(&kc->lock);
    if (kc->control_started)
        pthread_join(kc->control, NULL);
    if (kc->rekey_started)
        pthread_join(kc->rekey, NULL);
    if (kc->listen_fd >= 0) {
        close(kc->listen_fd);
        unlink(kc->path);
    }
    for (int i = 0; i < 2; i++)
        if (kc->wake[i] >= 0)
            close(kc->wake[i]);
    pthread_cond_destroy(&kc->cond);
    pthread_mutex_destroy(&kc->lock);
    free(kc);
}

/* ---- the client ------------------------------------------------------------------------ */

static int read_lines(int fd, int (*line)(void *ctx, const char *text), void *ctx)
{
    char buf[1024];
    size_t used = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        used += (size_t)n;
        buf[used] = '\0';
        char *start = buf, *nl;
        while ((nl = strchr(start, '\n')) != NULL) {
            *nl = '\0';
            if (line(ctx, start) != 0)
                return 0;
            start = nl + 1;
        }
        used = strlen(start);
        memmove(buf, start, used + 1);
        if (used == sizeof buf - 1)
            used = 0; /* a line longer than any answer: drop it */
    }
}

int keyctl_ask(const char *register_dir, const char *command,
               int (*line)(void *ctx, const char *text), void *ctx, char *err, size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/%s", register_dir, KEYCTL_SOCKET);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path)
        return 1; /* the daemon could not have made it either */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            return 1;
        snprintf(err, errlen, "%s: %s", addr.sun_path, strerror(e));
        return -1;
    }
    char msg[COMMAND_MAX];
    int len = snprintf(msg, sizeof msg, "%s\n", command);
    int rc = 0;
    if (len < 0 || send(fd, msg, (size_t)len, MSG_NOSIGNAL) != len) {
        snprintf(err, errlen, "cannot talk to hudumad: %s", strerror(errno));
        rc = -1;
    } else {
        read_lines(fd, line, ctx);
    }
    close(fd);
    return rc;
}
