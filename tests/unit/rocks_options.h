/*
 * tests/unit/rocks_options.h - what a RocksDB database was opened with, read
 * from the OPTIONS-<n> file RocksDB writes into its directory at each open
 * (the highest <n> is the latest), and a way to open one under a lower open
 * files limit.
 *
 * Header-only, since each unit test is a program of its own.
 */
#ifndef HUDUMA_TEST_ROCKS_OPTIONS_H
#define HUDUMA_TEST_ROCKS_OPTIONS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* The value of "  NAME=VALUE" in db_dir's latest OPTIONS file, as a number;
 * -2 when there is no such file or line. */
static inline long rocks_option(const char *db_dir, const char *name)
{
    DIR *d = opendir(db_dir);
    if (!d)
        return -2;
    unsigned long latest = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "OPTIONS-", 8) == 0 && strtoul(e->d_name + 8, NULL, 10) > latest)
            latest = strtoul(e->d_name + 8, NULL, 10);
    closedir(d);
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/OPTIONS-%06lu", db_dir, latest);
    FILE *f = latest ? fopen(path, "r") : NULL;
    long value = -2;
    size_t n = strlen(name);
    while (f && value == -2 && fgets(line, sizeof line, f)) {
        const char *p = line + strspn(line, " ");
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            value = strtol(p + n + 1, NULL, 10);
    }
    if (f)
        fclose(f);
    return value;
}

/* Sets this process's soft open files limit to `soft`; the old limit in *old. */
static inline int rocks_lower_open_files(rlim_t soft, struct rlimit *old)
{
    if (getrlimit(RLIMIT_NOFILE, old) != 0)
        return -1;
    struct rlimit lower = {soft, old->rlim_max};
    return setrlimit(RLIMIT_NOFILE, &lower);
}

#endif
