/*
 * tests/unit/scratch_dir.h - a unit test's own scratch directory: made fresh
 * under $TMPDIR (or /tmp) with a name that says which test made it, and
 * removed afterwards with everything in it.
 *
 * Header-only, since each unit test is a program of its own.
 */
#ifndef HUDUMA_TEST_SCRATCH_DIR_H
#define HUDUMA_TEST_SCRATCH_DIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Makes <$TMPDIR or /tmp>/<name>.XXXXXX into dir (cap bytes); 0 or -1. */
static inline int scratch_dir_make(char *dir, size_t cap, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(dir, cap, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return mkdtemp(dir) ? 0 : -1;
}

static inline int scratch_dir_remove_one(const char *path, const struct stat *st, int flag,
                                         struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes dir and everything under it; 0 or -1. */
static inline int scratch_dir_remove(const char *dir)
{
    return nftw(dir, scratch_dir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
