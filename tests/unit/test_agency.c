/*
 * tests/unit/test_agency.c - the agencies module: the CA and the server
 * certificate, issuing agency certificates, the registry on disk, the
 * daemon's view of it (a revocation is seen at once, without any reload
 * call), and the role table.
 *
 * Certificates are checked the way a TLS peer would: X509_verify with the CA's
 * key, and chain building with X509_STORE_CTX under X509_V_FLAG_X509_STRICT
 * with the SSL client or server purpose (which checks extendedKeyUsage).
 * Every test works in its own mkdtemp directory, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "keys/keys.h"
#include "appliance/agency.h"
#include "appliance/register.h"
#include "tests/unit/scratch_dir.h"

struct fixture {
    char root[200]; /* removed after the test */
    char reg[256];  /* the register directory */
    char out[256];  /* where agency certificates go */
    char err[256];
    struct keyholder *keys; /* a plain-file master key: a pure unit test */
};

/* ---- helpers ---------------------------------------------------------------- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (scratch_dir_make(f->root, sizeof f->root, "test_agency") != 0)
        return -1;
    snprintf(f->reg, sizeof f->reg, "%s/register", f->root);
    snprintf(f->out, sizeof f->out, "%s/out", f->root);
    if (mkdir(f->reg, 0700) != 0 || mkdir(f->out, 0700) != 0)
        return -1;
    struct keys_options software = {.insecure_software_key = true};
    struct keys_err kerr;
    if (keys_create(f->reg, &software, &f->keys, &kerr) != KEYS_OK)
        return -1;
    *state = f;
    return 0;
}

static int setup_with_ca(void **state)
{
    if (setup(state) != 0)
        return -1;
    struct fixture *f = *state;
    return ca_init(f->reg, f->keys, f->err, sizeof f->err);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    keys_holder_close(f->keys);
    scratch_dir_remove(f->root);
    free(f);
    return 0;
}

static void path_in(char *buf, size_t size, const char *dir, const char *a, const char *b)
{
    if (b)
        snprintf(buf, size, "%s/%s/%s", dir, a, b);
    else
        snprintf(buf, size, "%s/%s", dir, a);
}

static X509 *load_cert(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *load_key(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    return k;
}

/* A key ca_init() wrote: never in the clear, it unwraps with the master key. */
static EVP_PKEY *load_sealed_key(const struct fixture *f, const char *path, enum keys_secret what)
{
    uint8_t buf[KEYS_WRAPPED_MAX];
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    assert_true(keys_is_wrapped(buf, n));
    assert_null(memmem(buf, n, "PRIVATE KEY", 11));
    struct keys_buf *der = NULL;
    struct keys_err kerr;
    assert_int_equal(keys_secret_unwrap(f->keys, what, buf, n, &der, &kerr), KEYS_OK);
    const unsigned char *p = keys_buf_data(der);
    EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)keys_buf_len(der));
    keys_buf_free(der);
    assert_non_null(k);
    return k;
}

static X509 *reg_file_cert(const struct fixture *f, const char *dir, const char *name)
{
    char p[512];
    path_in(p, sizeof p, f->reg, dir, name);
    return load_cert(p);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* Builds the chain leaf -> ca as a TLS peer would, for an SSL purpose;
 * X509_V_OK or the reason it failed. */
static int chain_error(X509 *ca, X509 *leaf, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_true(X509_STORE_add_cert(store, ca));
    assert_true(X509_STORE_CTX_init(ctx, store, leaf, NULL));
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    int rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

static void serial_of(X509 *x, char out[41])
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(x), NULL);
    char *hex = BN_bn2hex(bn);
    assert_true(strlen(hex) <= 40);
    strcpy(out, hex);
    OPENSSL_free(hex);
    BN_free(bn);
}

static void common_name(X509 *x, char *buf, int size)
{
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, size) > 0);
}

static void add_ok(struct fixture *f, const char *name, const char *roles, const char *attrs)
{
    unsigned bits = 0;
    assert_int_equal(roles_parse(roles, &bits, f->err, sizeof f->err), 0);
    int rc = agency_add(f->reg, f->keys, name, bits, attrs, f->out, f->err, sizeof f->err);
    if (rc != 0)
        print_error("agency_add %s: %s\n", name, f->err);
    assert_int_equal(rc, 0);
}

static void agency_serial(const struct fixture *f, const char *name, char out[41])
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s.crt", f->out, name);
    X509 *x = load_cert(p);
    serial_of(x, out);
    X509_free(x);
}

static struct agency with_roles(unsigned roles, const char *attrs)
{
    struct agency a = {.roles = roles};
    snprintf(a.name, sizeof a.name, "test");
    for (const char *p = attrs; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] != 0)) {
        size_t n = strcspn(p, ",");
        memcpy(a.attrs[a.nattrs], p, n);
        a.attrs[a.nattrs++][n] = '\0';
    }
    return a;
}

/* ---- the CA ------------------------------------------------------------------- */

static void test_ca_init_creates_certificates(void **state)
{
    struct fixture *f = *state;
    char p[512], cn[128];
    assert_int_equal(ca_init(f->reg, f->keys, f->err, sizeof f->err), 0);
    X509 *ca = reg_file_cert(f, "ca", "ca.crt");
    path_in(p, sizeof p, f->reg, "ca", "ca.key");
    EVP_PKEY *key = load_sealed_key(f, p, KEYS_SECRET_AGENCY_CA_KEY);
    assert_int_equal(X509_verify(ca, key), 1);
    assert_int_equal(X509_check_private_key(ca, key), 1);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_get_pathlen(ca), 0);
    assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    assert_true(X509_get_key_usage(ca) & KU_CRL_SIGN);
    assert_non_null(X509_get0_subject_key_id(ca));
    common_name(ca, cn, sizeof cn);
    assert_string_equal(cn, "Huduma appliance agency CA");
    assert_int_equal(EVP_PKEY_get_bits(key), 256);
    assert_int_equal(mode_of(p), 0600);
    path_in(p, sizeof p, f->reg, "ca", NULL);
    assert_int_equal(mode_of(p), 0700);

    X509 *server = reg_file_cert(f, "tls", "server.crt");
    assert_int_equal(X509_verify(server, key), 1);
    assert_int_equal(chain_error(ca, server, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    assert_int_equal(chain_error(ca, server, X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
    assert_int_equal(X509_check_host(server, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(server, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(server, "::1", 0), 1);
    assert_true(X509_get_extended_key_usage(server) & XKU_SSL_SERVER);
    path_in(p, sizeof p, f->reg, "tls", "server.key");
    assert_int_equal(mode_of(p), 0600);
    EVP_PKEY *skey = load_sealed_key(f, p, KEYS_SECRET_TLS_SERVER_KEY);
    assert_int_equal(X509_check_private_key(server, skey), 1);
    EVP_PKEY_free(skey);
    X509_free(server);
    EVP_PKEY_free(key);
    X509_free(ca);
}

static void test_ca_init_is_idempotent(void **state)
{
    struct fixture *f = *state;
    char s1[41], s2[41], t1[41], t2[41];
    assert_int_equal(ca_init(f->reg, f->keys, f->err, sizeof f->err), 0);
    X509 *ca = reg_file_cert(f, "ca", "ca.crt"), *server = reg_file_cert(f, "tls", "server.crt");
    serial_of(ca, s1), serial_of(server, t1);
    X509_free(ca), X509_free(server);
    assert_int_equal(ca_init(f->reg, f->keys, f->err, sizeof f->err), 0);
    ca = reg_file_cert(f, "ca", "ca.crt"), server = reg_file_cert(f, "tls", "server.crt");
    serial_of(ca, s2), serial_of(server, t2);
    assert_string_equal(s1, s2);
    assert_string_equal(t1, t2);
    X509_free(ca), X509_free(server);
}

static void test_ca_init_needs_a_register_directory(void **state)
{
    struct fixture *f = *state;
    char p[512];
    path_in(p, sizeof p, f->root, "absent", NULL);
    assert_int_equal(ca_init(p, f->keys, f->err, sizeof f->err), REG_ENOTFOUND);
}

static void test_add_without_ca_is_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        agency_add(f->reg, f->keys, "kra", ROLE_VERIFIER, NULL, f->out, f->err, sizeof f->err),
        REG_ESTORAGE);
    assert_non_null(strstr(f->err, "ca init"));
}

/* ---- issuing agencies --------------------------------------------------------- */

struct found {
    int n;
    struct agency a[8];
};

static int collect(void *ctx, const struct agency *a)
{
    struct found *fd = ctx;
    if (fd->n < 8)
        fd->a[fd->n++] = *a;
    return 0;
}

static void test_add_issues_a_client_certificate(void **state)
{
    struct fixture *f = *state;
    char p[512], cn[128], serial[41];
    add_ok(f, "kra", "verifier", NULL);
    X509 *ca = reg_file_cert(f, "ca", "ca.crt");
    snprintf(p, sizeof p, "%s/kra.crt", f->out);
    X509 *cert = load_cert(p);
    assert_int_equal(chain_error(ca, cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    assert_int_equal(chain_error(ca, cert, X509_PURPOSE_SSL_SERVER), X509_V_ERR_INVALID_PURPOSE);
    assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT);
    assert_true(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
    common_name(cert, cn, sizeof cn);
    assert_string_equal(cn, "kra");
    serial_of(cert, serial);

    snprintf(p, sizeof p, "%s/kra.key", f->out);
    assert_int_equal(mode_of(p), 0600);
    EVP_PKEY *key = load_key(p);
    assert_int_equal(X509_check_private_key(cert, key), 1);

    struct found fd = {0};
    assert_int_equal(agency_list(f->reg, collect, &fd, f->err, sizeof f->err), 0);
    assert_int_equal(fd.n, 1);
    assert_string_equal(fd.a[0].name, "kra");
    assert_string_equal(fd.a[0].serial, serial);
    assert_int_equal(fd.a[0].roles, ROLE_VERIFIER);
    assert_false(fd.a[0].revoked);
    assert_true(fd.a[0].created_at > 0);
    EVP_PKEY_free(key);
    X509_free(cert);
    X509_free(ca);
}

static void test_add_refuses_bad_and_duplicate_names(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "",      "a",      "Kra",   "1kra",  "kra_x",
        "kra.x", "../kra", "kra/x", "kra x", "a234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(
            agency_add(f->reg, f->keys, bad[i], ROLE_VERIFIER, NULL, f->out, f->err, sizeof f->err),
            REG_EINVALID);
    add_ok(f, "a23456789012345678901234567890123456789012345678", "verifier", NULL); /* 48 */
    add_ok(f, "nhif-2", "verifier", NULL);
    char other[256];
    snprintf(other, sizeof other, "%s/elsewhere", f->root);
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(
        agency_add(f->reg, f->keys, "nhif-2", ROLE_KYC, "surname", other, f->err, sizeof f->err),
        REG_ECONFLICT);
    assert_int_equal(agency_add(f->reg, f->keys, "nhif-3", 0, NULL, f->out, f->err, sizeof f->err),
                     REG_EINVALID);
    char absent[256];
    snprintf(absent, sizeof absent, "%s/absent", f->root);
    assert_int_equal(
        agency_add(f->reg, f->keys, "nhif-4", ROLE_VERIFIER, NULL, absent, f->err, sizeof f->err),
        REG_EINVALID);
    struct found fd = {0};
    assert_int_equal(agency_list(f->reg, collect, &fd, f->err, sizeof f->err), 0);
    assert_int_equal(fd.n, 2);
}

static void test_add_refuses_to_overwrite_a_key(void **state)
{
    struct fixture *f = *state;
    char p[512];
    snprintf(p, sizeof p, "%s/bank.key", f->out);
    FILE *fp = fopen(p, "w");
    fputs("precious\n", fp);
    fclose(fp);
    assert_int_equal(
        agency_add(f->reg, f->keys, "bank", ROLE_VERIFIER, NULL, f->out, f->err, sizeof f->err),
        REG_ECONFLICT);
    struct found fd = {0};
    assert_int_equal(agency_list(f->reg, collect, &fd, f->err, sizeof f->err), 0);
    assert_int_equal(fd.n, 0);
}

static void test_kyc_attributes_are_validated(void **state)
{
    struct fixture *f = *state;
    add_ok(f, "bank", "kyc", "surname,first_name,date_of_birth");
    assert_int_equal(agency_add(f->reg, f->keys, "bank2", ROLE_KYC, "surname,favourite_colour",
                                f->out, f->err, sizeof f->err),
                     REG_EINVALID);
    assert_non_null(strstr(f->err, "favourite_colour"));
    assert_int_equal(agency_add(f->reg, f->keys, "bank3", ROLE_VERIFIER, "surname", f->out, f->err,
                                sizeof f->err),
                     REG_EINVALID);
    assert_int_equal(
        agency_add(f->reg, f->keys, "bank4", ROLE_KYC, NULL, f->out, f->err, sizeof f->err),
        REG_EINVALID);
    assert_int_equal(agency_add(f->reg, f->keys, "bank5", ROLE_KYC, "surname,surname", f->out,
                                f->err, sizeof f->err),
                     REG_EINVALID);
    assert_int_equal(
        agency_add(f->reg, f->keys, "bank6", ROLE_KYC, "surname,", f->out, f->err, sizeof f->err),
        REG_EINVALID);
    struct found fd = {0};
    assert_int_equal(agency_list(f->reg, collect, &fd, f->err, sizeof f->err), 0);
    assert_int_equal(fd.n, 1);
    assert_int_equal(fd.a[0].nattrs, 3);
    assert_string_equal(fd.a[0].attrs[2], "date_of_birth");
}

static void test_list_is_sorted(void **state)
{
    struct fixture *f = *state;
    add_ok(f, "zeta", "operator", NULL);
    add_ok(f, "alpha", "registrar", NULL);
    add_ok(f, "mid", "registration,adjudicator", NULL);
    assert_int_equal(agency_revoke(f->reg, "mid", f->err, sizeof f->err), 0);
    struct found fd = {0};
    assert_int_equal(agency_list(f->reg, collect, &fd, f->err, sizeof f->err), 0);
    assert_int_equal(fd.n, 3);
    assert_string_equal(fd.a[0].name, "alpha");
    assert_string_equal(fd.a[1].name, "mid");
    assert_string_equal(fd.a[2].name, "zeta");
    assert_true(fd.a[1].revoked);
    assert_int_equal(fd.a[1].roles, ROLE_REGISTRATION | ROLE_ADJUDICATOR);
}

struct racer {
    const struct fixture *f;
    char out[300];
    char err[256];
    int rc;
};

static void *race_add(void *arg)
{
    struct racer *r = arg;
    r->rc = agency_add(r->f->reg, r->f->keys, "race", ROLE_VERIFIER, NULL, r->out, r->err,
                       sizeof r->err);
    return NULL;
}

/* Concurrent adds of one name: exactly one wins, the others leave no files. */
static void test_concurrent_adds_of_one_name(void **state)
{
    struct fixture *f = *state;
    pthread_t t[4];
    struct racer r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){.f = f};
        snprintf(r[i].out, sizeof r[i].out, "%s/out%d", f->root, i);
        assert_int_equal(mkdir(r[i].out, 0700), 0);
        assert_int_equal(pthread_create(&t[i], NULL, race_add, &r[i]), 0);
    }
    int won = 0;
    for (int i = 0; i < 4; i++) {
        char p[512];
        pthread_join(t[i], NULL);
        snprintf(p, sizeof p, "%s/race.key", r[i].out);
        if (r[i].rc == 0) {
            won++;
            assert_int_equal(access(p, F_OK), 0);
        } else {
            assert_int_equal(r[i].rc, REG_ECONFLICT);
            assert_int_not_equal(access(p, F_OK), 0);
        }
    }
    assert_int_equal(won, 1);
}

/* ---- the daemon's view -------------------------------------------------------- */

static void test_revocation_is_seen_at_once(void **state)
{
    struct fixture *f = *state;
    struct agencies *ag = NULL;
    struct agency a;
    char serial[41];
    assert_int_equal(agencies_open(f->reg, &ag, f->err, sizeof f->err), 0);
    add_ok(f, "kra", "verifier", NULL);
    agency_serial(f, "kra", serial);
    assert_true(agencies_lookup_serial(ag, serial, &a));
    assert_string_equal(a.name, "kra");
    assert_true(agency_may(&a, OP_VERIFY));
    assert_int_equal(agency_revoke(f->reg, "kra", f->err, sizeof f->err), 0);
    assert_false(agencies_lookup_serial(ag, serial, &a));
    assert_int_equal(agency_revoke(f->reg, "kra", f->err, sizeof f->err), 0);
    assert_int_equal(agency_revoke(f->reg, "nobody", f->err, sizeof f->err), REG_ENOTFOUND);
    agencies_close(ag);
}

/* Changes one after the other, faster than the directory's clock tick. */
static void test_quick_changes_are_never_missed(void **state)
{
    struct fixture *f = *state;
    struct agencies *ag = NULL;
    assert_int_equal(agencies_open(f->reg, &ag, f->err, sizeof f->err), 0);
    for (int i = 0; i < 12; i++) {
        char name[32], serial[41];
        snprintf(name, sizeof name, "agency-%d", i);
        add_ok(f, name, "kyc", "surname");
        agency_serial(f, name, serial);
        assert_true(agencies_lookup_serial(ag, serial, NULL));
        assert_int_equal(agency_revoke(f->reg, name, f->err, sizeof f->err), 0);
        assert_false(agencies_lookup_serial(ag, serial, NULL));
    }
    agencies_close(ag);
}

static void test_unknown_serials_are_refused(void **state)
{
    struct fixture *f = *state;
    struct agencies *ag = NULL;
    char serial[41];
    add_ok(f, "kra", "verifier", NULL);
    agency_serial(f, "kra", serial);
    assert_int_equal(agencies_open(f->reg, &ag, f->err, sizeof f->err), 0);
    assert_true(agencies_lookup_serial(ag, serial, NULL));
    for (char *p = serial; *p; p++) /* look-ups are not case-sensitive */
        *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    assert_true(agencies_lookup_serial(ag, serial, NULL));
    assert_false(agencies_lookup_serial(ag, "0123456789ABCDEF", NULL));
    assert_false(agencies_lookup_serial(ag, "", NULL));
    assert_false(agencies_lookup_serial(ag, "not hex", NULL));
    assert_false(agencies_lookup_serial(ag, NULL, NULL));
    assert_false(agencies_lookup_serial(NULL, serial, NULL));
    agencies_close(ag);
}

static void test_a_malformed_file_is_refused_not_fatal(void **state)
{
    struct fixture *f = *state;
    struct agencies *ag = NULL;
    char p[512], serial[41];
    add_ok(f, "kra", "verifier", NULL);
    agency_serial(f, "kra", serial);
    path_in(p, sizeof p, f->reg, "agencies", "broken.json");
    FILE *fp = fopen(p, "w");
    fputs("{\"name\": \"broken\", \"roles\": [\"superuser\"]}\n", fp);
    fclose(fp);
    assert_int_equal(agencies_open(f->reg, &ag, f->err, sizeof f->err), 0);
    assert_true(agencies_lookup_serial(ag, serial, NULL));
    struct found fd = {0};
    assert_int_equal(agency_list(f->reg, collect, &fd, f->err, sizeof f->err), REG_ESTORAGE);
    assert_non_null(strstr(f->err, "broken.json"));
    assert_int_equal(fd.n, 1); /* the others are still listed */
    assert_string_equal(fd.a[0].name, "kra");
    agencies_close(ag);
}

static void copy_file(const char *from, const char *to, const char *old, const char *new)
{
    char buf[4096];
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    assert_non_null(in), assert_non_null(out);
    size_t n = fread(buf, 1, sizeof buf - 1, in);
    buf[n] = '\0';
    char *at = strstr(buf, old);
    assert_non_null(at);
    fwrite(buf, 1, (size_t)(at - buf), out);
    fputs(new, out);
    fputs(at + strlen(old), out);
    fclose(in), fclose(out);
}

/* A file must name its own agency, and a serial claimed twice is trusted for neither. */
static void test_forged_files_are_refused(void **state)
{
    struct fixture *f = *state;
    struct agencies *ag = NULL;
    char kra[512], other[512], serial[41];
    add_ok(f, "kra", "verifier", NULL);
    agency_serial(f, "kra", serial);
    assert_int_equal(agencies_open(f->reg, &ag, f->err, sizeof f->err), 0);
    path_in(kra, sizeof kra, f->reg, "agencies", "kra.json");
    path_in(other, sizeof other, f->reg, "agencies", "evil.json");
    copy_file(kra, other, "\"verifier\"", "\"registrar\""); /* still names "kra" */
    struct agency a;
    assert_true(agencies_lookup_serial(ag, serial, &a));
    assert_int_equal(a.roles, ROLE_VERIFIER);
    remove(other);
    path_in(other, sizeof other, f->reg, "agencies", "kra2.json");
    copy_file(kra, other, "\"kra\"", "\"kra2\"");
    assert_false(agencies_lookup_serial(ag, serial, NULL));
    remove(other);
    assert_true(agencies_lookup_serial(ag, serial, NULL));
    agencies_close(ag);
}

struct reader {
    struct agencies *ag;
    const char *serial;
    int hits;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    for (int i = 0; i < 2000; i++)
        r->hits += agencies_lookup_serial(r->ag, r->serial, NULL);
    return NULL;
}

static void test_lookups_from_many_threads(void **state)
{
    struct fixture *f = *state;
    struct agencies *ag = NULL;
    char serial[41];
    add_ok(f, "kra", "verifier", NULL);
    agency_serial(f, "kra", serial);
    assert_int_equal(agencies_open(f->reg, &ag, f->err, sizeof f->err), 0);
    pthread_t t[4];
    struct reader r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct reader){ag, serial, 0};
        assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
    }
    add_ok(f, "nhif", "verifier", NULL);
    assert_int_equal(agency_revoke(f->reg, "kra", f->err, sizeof f->err), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_false(agencies_lookup_serial(ag, serial, NULL));
    agencies_close(ag);
}

/* ---- roles and permissions ---------------------------------------------------- */

static void test_roles_parse(void **state)
{
    (void)state;
    char err[256];
    unsigned roles = 0;
    assert_int_equal(roles_parse("verifier,kyc", &roles, err, sizeof err), 0);
    assert_int_equal(roles, ROLE_VERIFIER | ROLE_KYC);
    assert_int_equal(roles_parse("registration,verifier,kyc,adjudicator,auditor,operator,"
                                 "registrar",
                                 &roles, err, sizeof err),
                     0);
    assert_int_equal(roles, 0x7f);
    assert_int_equal(roles_parse("verifier,superuser", &roles, err, sizeof err), -1);
    assert_non_null(strstr(err, "superuser"));
    assert_int_equal(roles_parse("", &roles, err, sizeof err), -1);
    assert_int_equal(roles_parse("verifier,", &roles, err, sizeof err), -1);
    assert_int_equal(roles_parse("Verifier", &roles, err, sizeof err), -1);
}

/* What operations each role grants (agency.c: ROLES). */
static void test_role_operations(void **state)
{
    (void)state;
    struct agency verifier = with_roles(ROLE_VERIFIER, NULL);
    assert_true(agency_may(&verifier, OP_VERIFY));
    assert_false(agency_may(&verifier, OP_READ));

    struct agency kit = with_roles(ROLE_REGISTRATION, NULL);
    static const enum operation kit_ops[] = {OP_ENROL,    OP_CORRECT, OP_BIRTH, OP_DEATH,
                                             OP_DOCUMENT, OP_LOOKUP,  OP_READ,  OP_DUE};
    for (size_t i = 0; i < sizeof kit_ops / sizeof *kit_ops; i++)
        assert_true(agency_may(&kit, kit_ops[i]));
    assert_false(agency_may(&kit, OP_VERIFY));
    assert_false(agency_may(&kit, OP_ADJUDICATE));
    assert_false(agency_may(&kit, OP_COUNT));

    struct agency registrar = with_roles(ROLE_REGISTRAR, NULL);
    assert_true(agency_may(&registrar, OP_HISTORY));
    assert_false(agency_may(&registrar, OP_ENROL));

    struct agency adjudicator = with_roles(ROLE_ADJUDICATOR, NULL);
    assert_true(agency_may(&adjudicator, OP_ADJUDICATE));
    assert_false(agency_may(&adjudicator, OP_ENROL));

    struct agency op = with_roles(ROLE_OPERATOR, NULL);
    assert_true(agency_may(&op, OP_METRICS));
    assert_true(agency_may(&op, OP_DUE));
    assert_false(agency_may(&op, OP_READ));

    struct agency identification = with_roles(ROLE_IDENTIFICATION, NULL);
    for (int i = 0; i < OP_COUNT; i++)
        assert_true(agency_may(&identification, (enum operation)i) == (i == OP_IDENTIFY));
    static const unsigned others[] = {ROLE_REGISTRATION, ROLE_VERIFIER, ROLE_KYC,
                                      ROLE_ADJUDICATOR,  ROLE_AUDITOR,  ROLE_OPERATOR,
                                      ROLE_REGISTRAR};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        struct agency a = with_roles(others[i], others[i] == ROLE_KYC ? "surname" : NULL);
        assert_false(agency_may(&a, OP_IDENTIFY)); /* identification is its own role */
    }

    struct agency auditor = with_roles(ROLE_AUDITOR, NULL); /* the audit log, nothing else */
    for (int i = 0; i < OP_COUNT; i++)
        assert_true(agency_may(&auditor, (enum operation)i) == (i == OP_AUDIT));
    assert_true(agency_may(&registrar, OP_ACCESS_HISTORY));
    assert_false(agency_may(&verifier, OP_ACCESS_HISTORY));

    registrar.revoked = true;
    assert_false(agency_may(&registrar, OP_READ));
}

/* Which members of a record each role may read. */
static void test_role_reads(void **state)
{
    (void)state;
    struct agency verifier = with_roles(ROLE_VERIFIER, NULL);
    assert_false(agency_may_read_attr(&verifier, "surname"));

    struct agency kyc = with_roles(ROLE_KYC, "surname,date_of_birth");
    assert_true(agency_may(&kyc, OP_VERIFY));
    assert_true(agency_may(&kyc, OP_READ));
    assert_false(agency_may(&kyc, OP_HISTORY));
    assert_true(agency_may_read_attr(&kyc, "surname"));
    assert_true(agency_may_read_attr(&kyc, "date_of_birth"));
    assert_false(agency_may_read_attr(&kyc, "phone"));
    assert_false(agency_may_read_attr(&kyc, "residence"));

    static const unsigned everything[] = {ROLE_REGISTRATION, ROLE_ADJUDICATOR, ROLE_REGISTRAR};
    for (size_t i = 0; i < 3; i++) {
        struct agency a = with_roles(everything[i], NULL);
        assert_true(agency_may_read_attr(&a, "phone"));
        assert_true(agency_may_read_attr(&a, "documents"));
    }
    struct agency op = with_roles(ROLE_OPERATOR | ROLE_AUDITOR, NULL);
    assert_false(agency_may_read_attr(&op, "surname"));

    struct agency both = with_roles(ROLE_KYC | ROLE_REGISTRAR, "surname");
    assert_true(agency_may_read_attr(&both, "phone"));

    kyc.revoked = true;
    assert_false(agency_may_read_attr(&kyc, "surname"));
}

static void test_operation_names(void **state)
{
    (void)state;
    for (int op = 0; op < OP_COUNT; op++)
        assert_non_null(operation_name((enum operation)op));
    assert_string_equal(operation_name(OP_VERIFY), "verify");
    assert_string_equal(operation_name(OP_DUE), "due");
    assert_string_equal(operation_name(OP_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ca_init_creates_certificates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_init_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_init_needs_a_register_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_without_ca_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_issues_a_client_certificate, setup_with_ca,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_add_refuses_bad_and_duplicate_names, setup_with_ca,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_add_refuses_to_overwrite_a_key, setup_with_ca,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kyc_attributes_are_validated, setup_with_ca, teardown),
        cmocka_unit_test_setup_teardown(test_list_is_sorted, setup_with_ca, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_adds_of_one_name, setup_with_ca, teardown),
        cmocka_unit_test_setup_teardown(test_revocation_is_seen_at_once, setup_with_ca, teardown),
        cmocka_unit_test_setup_teardown(test_quick_changes_are_never_missed, setup_with_ca,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_serials_are_refused, setup_with_ca, teardown),
        cmocka_unit_test_setup_teardown(test_a_malformed_file_is_refused_not_fatal, setup_with_ca,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_forged_files_are_refused, setup_with_ca, teardown),
        cmocka_unit_test_setup_teardown(test_lookups_from_many_threads, setup_with_ca, teardown),
        cmocka_unit_test(test_roles_parse),
        cmocka_unit_test(test_role_operations),
        cmocka_unit_test(test_role_reads),
        cmocka_unit_test(test_operation_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
