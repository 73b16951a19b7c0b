/*
 * tests/tools/keys_census.c - counts a register's sealed values by the data-
 * encryption key they are sealed under, and opens every one, for
 * tests/integration/tpm_rotate.sh.  A test helper only: built into
 * build/<variant>/tools/, never installed.
 *
 *   keys_census REGISTER_DIR      (TCTI: $HUDUMA_TCTI; hudumad must be stopped)
 *
 * Walks the sealed column families (persons, biometrics, pending: the
 * associated data is the whole key; history, documents: its first 12 bytes,
 * the Huduma Number) and prints one line per family and a total:
 *
 *   family=persons values=431 key1=0 key2=431 unreadable=0
 *   total values=1302 current=2 under_current=1302 unreadable=0
 *
 * "unreadable" counts values that do not open under their key with their
 * associated data (a lost or corrupted record).  Exit 0 when every value
 * opens, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keys.h"
#include "storage/storage.h"

struct family {
    enum store_cf cf;
    const char *name;
    size_t aad_len; /* 0: the whole key */
};

static const struct family families[] = {
    {CF_PERSONS, "persons", 0}, {CF_HISTORY, "history", 12},      {CF_DOCUMENTS, "documents", 12},
    {CF_PENDING, "pending", 0}, {CF_BIOMETRICS, "biometrics", 0},
};

#define MAX_ID 16

struct count {
    struct keyring *kr;
    size_t aad_len;
    unsigned long values, unreadable, by_id[MAX_ID + 1];
};

static int count_one(void *ctx, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct count *c = ctx;
    c->values++;
    uint32_t id = keys_envelope_key_id((const uint8_t *)val, vlen);
    c->by_id[id <= MAX_ID ? id : 0]++;
    size_t aad = c->aad_len ? c->aad_len : klen;
    uint8_t *out = malloc(vlen + 1);
    size_t n = 0;
    if (!out || klen < aad ||
        keys_open(c->kr, key, aad, (const uint8_t *)val, vlen, out, &n, NULL) != KEYS_OK)
        c->unreadable++;
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: keys_census REGISTER_DIR\n");
        return 2;
    }
    struct keys_options o = {.tcti = getenv("HUDUMA_TCTI")};
    struct keyholder *h = NULL;
    struct keyring *kr = NULL;
    struct store *st = NULL;
    struct keys_err kerr;
    struct st_err err;
    char db[4096];
    snprintf(db, sizeof db, "%s/db", argv[1]);
    struct store_options so = {.create = false, .sync = false};
    if (keys_open_holder(argv[1], &o, &h, &kerr) != KEYS_OK ||
        keys_keyring(h, &kr, &kerr) != KEYS_OK) {
        fprintf(stderr, "keys_census: %s\n", kerr.msg);
        return 1;
    }
    if (store_open(db, &so, kr, &st, &err) != ST_OK || store_deks_load(st, h, &err) != ST_OK) {
        fprintf(stderr, "keys_census: %s\n", err.msg);
        return 1;
    }
    uint32_t current = keys_current_id(kr);
    unsigned long values = 0, under_current = 0, unreadable = 0;
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        struct count c = {.kr = kr, .aad_len = families[f].aad_len};
        if (store_scan(st, families[f].cf, "", 0, count_one, &c, &err) != ST_OK) {
            fprintf(stderr, "keys_census: %s\n", err.msg);
            return 1;
        }
        printf("family=%s values=%lu", families[f].name, c.values);
        for (uint32_t id = 1; id <= MAX_ID; id++)
            if (keys_has_dek(kr, id))
                printf(" key%u=%lu", (unsigned)id, c.by_id[id]);
        printf(" unreadable=%lu\n", c.unreadable);
        values += c.values;
        under_current += current <= MAX_ID ? c.by_id[current] : 0;
        unreadable += c.unreadable;
    }
    printf("total values=%lu current=%u under_current=%lu unreadable=%lu\n", values,
           (unsigned)current, under_current, unreadable);
    store_close(st);
    keys_close(kr);
    keys_holder_close(h);
    return unreadable == 0 ? 0 : 1;
}
