/*
 * tests/tools/keys_reveal.c - prints a register's secrets, for
 * tests/integration/tpm_secrets.sh to search the disk and the logs for them.
 * A test helper only: it is built into build/<variant>/tools/ and never
 * installed, and it can do nothing the machine's root could not do anyway
 * (it unseals the master key from the TPM like `huduma` does).
 *
 *   keys_reveal REGISTER_DIR      (TCTI: $HUDUMA_TCTI; hudumad must be stopped)
 *
 * One secret per line, "<name> <lower-case hex>": the master key, the
 * key-encryption key and the signing key's authValue derived from it, the
 * index key and the HN key, every data-encryption key ("dek<id>"), and the
 * private scalars of the agency CA key and the TLS server key.  Exit 0, or 1
 * with the reason on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keys/keyring_internal.h"
#include "storage/storage.h"

static void print_hex(const char *name, const uint8_t *p, size_t n)
{
    printf("%s ", name);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static int private_scalar(struct keyholder *h, const char *dir, const char *file,
                          enum keys_secret what, const char *name)
{
    char path[4096];
    uint8_t buf[KEYS_WRAPPED_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    struct keys_buf *der = NULL;
    struct keys_err err;
    if (keys_secret_unwrap(h, what, buf, n, &der, &err) != KEYS_OK) {
        fprintf(stderr, "keys_reveal: %s: %s\n", path, err.msg);
        return -1;
    }
    const unsigned char *p = keys_buf_data(der);
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, (long)keys_buf_len(der));
    keys_buf_free(der);
    BIGNUM *d = NULL;
    uint8_t scalar[32];
    int ok = key && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
             BN_bn2binpad(d, scalar, sizeof scalar) == (int)sizeof scalar;
    if (ok)
        print_hex(name, scalar, sizeof scalar);
    BN_clear_free(d);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static int reveal_deks(struct keyholder *h, const char *dir)
{
    struct keyring *kr;
    struct keys_err kerr;
    if (keys_keyring(h, &kr, &kerr) != KEYS_OK) {
        fprintf(stderr, "keys_reveal: %s\n", kerr.msg);
        return -1;
    }
    print_hex("index", kr->index_key, sizeof kr->index_key);
    print_hex("hn", kr->hn_key, sizeof kr->hn_key);
    char db[4096];
    snprintf(db, sizeof db, "%s/db", dir);
    struct store_options so = {.create = false, .sync = false};
    struct store *st = NULL;
    struct st_err err;
    int rc = store_open(db, &so, kr, &st, &err);
    if (rc == ST_OK)
        rc = store_deks_load(st, h, &err);
    if (rc != ST_OK)
        fprintf(stderr, "keys_reveal: %s\n", err.msg);
    for (size_t i = 0; rc == ST_OK && i < kr->dek_count; i++) {
        char name[32];
        snprintf(name, sizeof name, "dek%u", (unsigned)kr->deks[i].id);
        print_hex(name, kr->deks[i].key, KEYS_DEK_LEN);
    }
    store_close(st);
    keys_close(kr);
    return rc == ST_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: keys_reveal REGISTER_DIR\n");
        return 2;
    }
    struct keys_options o = {.tcti = getenv("HUDUMA_TCTI")};
    struct keyholder *h;
    struct keys_err err;
    if (keys_open_holder(argv[1], &o, &h, &err) != KEYS_OK) {
        fprintf(stderr, "keys_reveal: %s\n", err.msg);
        return 1;
    }
    print_hex("master", h->sec->master, KEYS_MASTER_LEN);
    print_hex("kek", h->sec->kek, sizeof h->sec->kek);
    print_hex("signing_auth", h->sec->signing_auth, sizeof h->sec->signing_auth);
    int rc = reveal_deks(h, argv[1]);
    if (rc == 0)
        rc = private_scalar(h, argv[1], "ca/ca.key", KEYS_SECRET_AGENCY_CA_KEY, "ca_key");
    if (rc == 0)
        rc = private_scalar(h, argv[1], "tls/server.key", KEYS_SECRET_TLS_SERVER_KEY, "tls_key");
    keys_holder_close(h);
    return rc == 0 ? 0 : 1;
}
