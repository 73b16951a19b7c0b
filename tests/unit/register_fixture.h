/*
 * tests/unit/register_fixture.h - a fresh register for a unit test: made in
 * its own scratch directory with the master key in a plain file (a pure unit
 * test; tests/unit/test_tpm.c and the integration tests use a real swtpm),
 * opened unsynced at a fixed "now", reopened at another, and removed.
 *
 * Header-only, like scratch_dir.h; include cmocka.h first (reopen fails the
 * test when the register does not open).
 */
#ifndef HUDUMA_TEST_REGISTER_FIXTURE_H
#define HUDUMA_TEST_REGISTER_FIXTURE_H

#include "appliance/register.h"
#include "keys/keys.h"
#include "tests/unit/scratch_dir.h"

struct fx {
    char dir[64];
    struct reg *r;
    struct keyholder *keys;
};

static const struct keys_options SOFTWARE_KEY = {.insecure_software_key = true};

/* Closes the register and opens it again, its clock at `now`. */
static inline void fx_reopen(struct fx *f, int64_t now)
{
    reg_close(f->r);
    f->r = NULL;
    struct reg_options opt = {.sync = false, .now = now, .keys = f->keys};
    struct reg_result res = {0};
    if (reg_open(f->dir, &opt, &f->r, &res) != REG_OK)
        fail_msg("reg_open: %s", res.msg);
}

/* A cmocka setup's work: a new register named after the test, open at `now`. */
static inline int fx_setup(void **state, const char *name, int64_t now)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    struct reg_result res = {0};
    if (scratch_dir_make(f->dir, sizeof f->dir, name) != 0 ||
        reg_init(f->dir, &SOFTWARE_KEY, &f->keys, &res) != REG_OK) {
        fprintf(stderr, "cannot create a register: %s\n", res.msg);
        free(f);
        return -1;
    }
    struct reg_options opt = {.sync = false, .now = now, .keys = f->keys};
    if (reg_open(f->dir, &opt, &f->r, &res) != REG_OK) {
        fprintf(stderr, "reg_open: %s\n", res.msg);
        keys_holder_close(f->keys);
        scratch_dir_remove(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static inline int fx_teardown(void **state)
{
    struct fx *f = *state;
    reg_close(f->r);
    keys_holder_close(f->keys);
    int rc = scratch_dir_remove(f->dir);
    free(f);
    return rc;
}

#endif
