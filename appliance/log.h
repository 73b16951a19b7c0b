/*
 * appliance/log.h - hudumad's structured log: one line per event on stderr,
 * as key=value pairs that journald, grep and log shippers read alike:
 *
 *   ts=2026-01-05T08:00:00.123Z level=info msg="listening" addr=127.0.0.1:8443
 *
 * Callers pass the message and the extra pairs as a printf format.  Nothing
 * personal is ever logged: no bodies, no names, no Huduma Numbers, no paths
 * with numbers in them (requests are logged by route template).  Values that
 * come from outside (OpenSSL errors, file names) go through log_clean() so a
 * line stays one line and its quotes stay balanced.
 */
#ifndef HUDUMA_LOG_H
#define HUDUMA_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "debug", "info", "warn", "error" -> 0; -1 for anything else. */
int log_level_parse(const char *text, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Writes one line (a single write(2), so threads never interleave). */
void log_event(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_event(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_event(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_event(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_event(LOG_ERROR, __VA_ARGS__)

/* A line that can repeat as fast as its cause (a failing disk, a flood of
 * connections) goes through a limiter of its own: log_limit_pass lets one
 * through per interval and counts those it held back, which the next line
 * let through reports (as "suppressed=N").  Shared by threads. */
struct log_limit {
    long long interval_ms;
    atomic_llong next_ms;     /* monotonic: nothing passes before it */
    atomic_ullong suppressed; /* held back since the last line let through */
};
#define LOG_LIMIT(interval_ms)                                                                     \
    {                                                                                              \
        (interval_ms), 0, 0                                                                        \
    }

/* true: log it now, with *suppressed lines held back before it. */
bool log_limit_pass(struct log_limit *limit, unsigned long long *suppressed);

/* A task that fails on every try while its cause lasts (a checkpoint the
 * TPM will not sign, a spool the disk will not give up) would otherwise log
 * the same error every second.  A streak logs the first failure, then one
 * line per interval while failures go on, and one when a try succeeds
 * again; each says how many tries in a row failed.  Used by one thread. */
struct log_streak {
    long long interval_ms;
    unsigned long long failures; /* tries in a row that failed */
    long long next_ms;           /* monotonic: no failure line before it */
};
#define LOG_STREAK(interval_ms)                                                                    \
    {                                                                                              \
        (interval_ms), 0, 0                                                                        \
    }

enum log_streak_line {
    LOG_STREAK_QUIET,     /* nothing to log */
    LOG_STREAK_FAILING,   /* log the failure */
    LOG_STREAK_RECOVERED, /* log that it works again */
};

/* Records one try's outcome; *failures is the streak's length (for
 * RECOVERED, the length of the streak that just ended). */
enum log_streak_line log_streak_note(struct log_streak *s, bool failed,
                                     unsigned long long *failures);

/* Copies `text` into `buf` fit to sit between double quotes: control
 * characters become spaces, double quotes become single quotes.  Returns buf. */
const char *log_clean(const char *text, char *buf, size_t len);

#endif
