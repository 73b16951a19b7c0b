/*
 * appliance/log.c - the structured log (see log.h).
 *
 * Each event is formatted into a stack buffer and written to stderr with one
 * write(2), so lines from the ring threads and the workers never interleave.
 * The level is a process-wide atomic set once from the configuration.  Lines
 * longer than the buffer are cut, never split.  A limiter (log_limit_pass)
 * is a compare-and-swap on the next moment a line may pass: of threads
 * racing past it, one wins and the others count as held back.  A streak
 * (log_streak_note) belongs to one thread and needs no atomics.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static atomic_int current_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&current_level);
}

int log_level_parse(const char *text, enum log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "unknown";
}

const char *log_clean(const char *text, char *buf, size_t len)
{
    size_t i = 0;
    if (len == 0)
        return buf;
    for (; text && text[i] && i + 1 < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        buf[i] = ch < 0x20 || ch == 0x7f ? ' ' : ch == '"' ? '\'' : (char)ch;
    }
    buf[i] = '\0';
    return buf;
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum log_streak_line log_streak_note(struct log_streak *s, bool failed,
                                     unsigned long long *failures)
{
    if (!failed) {
        *failures = s->failures;
        s->failures = 0;
        return *failures ? LOG_STREAK_RECOVERED : LOG_STREAK_QUIET;
    }
    *failures = ++s->failures;
    long long now = monotonic_ms();
    if (s->failures > 1 && now < s->next_ms)
        return LOG_STREAK_QUIET;
    s->next_ms = now + s->interval_ms;
    return LOG_STREAK_FAILING;
}

bool log_limit_pass(struct log_limit *limit, unsigned long long *suppressed)
{
    long long now = monotonic_ms();
    long long next = atomic_load(&limit->next_ms);
    if (now < next ||
        !atomic_compare_exchange_strong(&limit->next_ms, &next, now + limit->interval_ms)) {
        atomic_fetch_add(&limit->suppressed, 1);
        return false;
    }
    *suppressed = atomic_exchange(&limit->suppressed, 0);
    return true;
}

/* Makes the already formatted pairs one line: control characters -> spaces. */
static void flatten(char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
    }
}

void log_event(enum log_level level, const char *msg, const char *fmt, ...)
{
    if ((int)level < atomic_load(&current_level))
        return;
    char line[LOG_LINE_MAX];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    char cleaned[256];
    int n = snprintf(
        line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"%s\"",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        now.tv_nsec / 1000000, log_level_name(level), log_clean(msg, cleaned, sizeof cleaned));
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt && fmt[0] && used + 2 < sizeof line) {
        line[used++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
        va_end(ap);
        if (m > 0) {
            flatten(line + used);
            used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
        }
        line[used] = '\0';
    }
    if (used + 1 >= sizeof line)
        used = sizeof line - 2;
    line[used++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, used);
    (void)w;
}
