/*
 * tests/unit/test_tpm.c - the key hierarchy against a real swtpm (keys/keys.h).
 *
 * Each test starts its own swtpm (scripts/swtpm.sh) in a fresh register
 * directory and stops it at the end; PCRs are extended and persistent
 * handles removed with tpm2-tools, as an operator or an attacker would.
 * Covers:
 *   - init then open: the same index key, HN key and DEKs come back from the
 *     sealed master key; the hierarchy file holds no key bytes;
 *   - PCR policy: after PCR 7 is extended the TPM refuses to unseal, and the
 *     message names PCR 7; a PCR outside the policy changes nothing; another
 *     PCR set (0 and 7) chosen at init is honoured;
 *   - PIN: no PIN, a wrong PIN and an empty PIN file are refused, the right
 *     PIN opens;
 *   - tampering: a changed byte in the sealed private or public area is
 *     refused by the TPM, a truncated or extended file by the parser; another
 *     TPM (a second swtpm) is not the one the key was sealed in; a signing key
 *     evicted or replaced at its handle is refused;
 *   - signing: a digest signed in the TPM verifies with OpenSSL and the PEM
 *     of keys/signing.pem, as r || s turned to DER; a different digest does
 *     not; a file signed through the key process verifies with `openssl dgst
 *     -sha256 -verify signing.pem -signature SIG FILE`, and fails once the
 *     file changed;
 *   - leftovers: objects left loaded by other processes fill the swtpm's
 *     three slots; the next open and signature still work (they are flushed
 *     first) and leave nothing loaded;
 *   - wrapping: each kind of secret unwraps only as itself;
 *   - the key process: unseals, answers the remote holder (keyring, DEKs,
 *     TLS key, signatures that verify), refuses to unwrap the CA key, answers
 *     malformed messages with an error and keeps serving, and reports a PCR
 *     refusal to the parent in words;
 *   - the software holder needs its flag, and a TPM register refuses it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "keys/keyproc_internal.h"
#include "keys/keys.h"
#include "tests/unit/scratch_dir.h"

struct fx {
    char dir[64];
    char tcti[160];
    struct keys_options opt;
    char other[64]; /* a second register directory with its own swtpm, when used */
};

/* ---- helpers ---------------------------------------------------------------------------- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int swtpm(const char *what, const char *dir)
{
    return run("sh scripts/swtpm.sh %s %s", what, dir);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    if (scratch_dir_make(f->dir, sizeof f->dir, "test_tpm") != 0 || swtpm("start", f->dir) != 0) {
        fprintf(stderr, "cannot start swtpm in %s\n", f->dir);
        free(f);
        return -1;
    }
    snprintf(f->tcti, sizeof(f->tcti), "swtpm:path=%s/tpm/swtpm.sock", f->dir);
    f->opt.tcti = f->tcti;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    swtpm("stop", f->dir);
    scratch_dir_remove(f->dir);
    if (f->other[0]) {
        swtpm("stop", f->other);
        scratch_dir_remove(f->other);
    }
    free(f);
    return 0;
}

/* tpm2-tools against this test's swtpm. */
static int tpm2(struct fx *f, const char *args)
{
    return run("TPM2TOOLS_TCTI='%s' TSS2_LOG=all+none tpm2_%s >/dev/null 2>&1", f->tcti, args);
}

static struct keyholder *create(struct fx *f)
{
    struct keyholder *h = NULL;
    struct keys_err err = {{0}};
    if (keys_create(f->dir, &f->opt, &h, &err) != KEYS_OK)
        fail_msg("keys_create: %s", err.msg);
    return h;
}

static int try_open(struct fx *f, struct keys_err *err)
{
    struct keyholder *h = NULL;
    memset(err, 0, sizeof(*err));
    int rc = keys_open_holder(f->dir, &f->opt, &h, err);
    keys_holder_close(h);
    if (rc != KEYS_OK)
        assert_true(strlen(err->msg) > 0);
    return rc;
}

static struct keyholder *open_ok(struct fx *f)
{
    struct keyholder *h = NULL;
    struct keys_err err = {{0}};
    if (keys_open_holder(f->dir, &f->opt, &h, &err) != KEYS_OK)
        fail_msg("keys_open_holder: %s", err.msg);
    return h;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static size_t read_bytes(const char *path, uint8_t *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

static void write_bytes(const char *path, const uint8_t *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

/* Verifies r || s over `digest` with the PEM public key, as OpenSSL does. */
static bool verifies(const char *pem, const uint8_t digest[32], const uint8_t sig[64])
{
    uint8_t der[KEYS_SIG_DER_MAX];
    size_t der_len = keys_sig_to_der(sig, der);
    assert_true(der_len > 0);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(pub);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
    bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
              EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
              EVP_PKEY_verify(ctx, der, der_len, digest, 32) == 1;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pub);
    return ok;
}

/* An index MAC and the HN key of a keyring, to compare keyrings by. */
static void fingerprint(struct keyholder *h, uint8_t out[KEYS_MAC_LEN + KEYS_HN_KEY_LEN])
{
    struct keyring *kr;
    struct keys_err err;
    assert_int_equal(keys_keyring(h, &kr, &err), KEYS_OK);
    keys_index_mac(kr, "document", "A1234567", 8, out);
    memcpy(out + KEYS_MAC_LEN, keys_hn_key(kr), KEYS_HN_KEY_LEN);
    keys_close(kr);
}

/* ---- init and open ---------------------------------------------------------------------- */

static void test_init_then_open_gives_the_same_keys(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    uint8_t wrapped[KEYS_WRAPPED_DEK_LEN], before[32], after[32];
    uint8_t sealed[64 + KEYS_SEAL_OVERHEAD], plain[64];
    size_t plain_len;

    struct keyholder *h = create(f);
    struct keyring *kr;
    fingerprint(h, before);
    assert_int_equal(keys_keyring(h, &kr, &err), KEYS_OK);
    assert_int_equal(keys_dek_create(h, kr, 1, wrapped, &err), KEYS_OK);
    assert_int_equal(keys_current_id(kr), 1);
    assert_int_equal(keys_seal(kr, "X", 1, "secret record", 13, sealed, &err), KEYS_OK);
    keys_close(kr);
    keys_holder_close(h);

    struct keys_info info;
    h = open_ok(f);
    keys_holder_info(h, &info);
    assert_false(info.software);
    assert_int_equal(info.pcr_mask, 1u << 7);
    assert_false(info.has_pin);
    assert_true(info.signing_handle >= 0x81000000u);
    fingerprint(h, after);
    assert_memory_equal(before, after, sizeof(before));
    assert_int_equal(keys_keyring(h, &kr, &err), KEYS_OK);
    assert_int_equal(keys_dek_unwrap(h, kr, 1, wrapped, sizeof(wrapped), &err), KEYS_OK);
    assert_int_equal(keys_open(kr, "X", 1, sealed, keys_sealed_len(13), plain, &plain_len, &err),
                     KEYS_OK);
    assert_memory_equal(plain, "secret record", 13);
    /* The wrapped DEK is bound to its id. */
    assert_int_equal(keys_dek_unwrap(h, kr, 2, wrapped, sizeof(wrapped), &err), KEYS_EAUTH);
    keys_close(kr);

    /* Init again is refused and changes nothing. */
    struct keyholder *again = NULL;
    assert_int_equal(keys_create(f->dir, &f->opt, &again, &err), KEYS_EEXIST);
    keys_holder_close(h);
    assert_int_equal(try_open(f, &err), KEYS_OK);
}

/* ---- PCR policy ---------------------------------------------------------------------------- */

static void test_extended_pcr7_refuses_to_unseal(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    keys_holder_close(create(f));
    /* A PCR outside the policy may move. */
    assert_int_equal(tpm2(f, "pcrextend 8:sha256="
                             "0101010101010101010101010101010101010101"
                             "010101010101010101010101"),
                     0);
    assert_int_equal(try_open(f, &err), KEYS_OK);

    assert_int_equal(tpm2(f, "pcrextend 7:sha256="
                             "0202020202020202020202020202020202020202"
                             "020202020202020202020202"),
                     0);
    assert_int_equal(try_open(f, &err), KEYS_EPOLICY);
    assert_non_null(strstr(err.msg, "PCR 7 "));
    assert_non_null(strstr(err.msg, "changed system"));

    /* A restart of the TPM (a reboot into the measured system) opens it again. */
    assert_int_equal(swtpm("stop", f->dir), 0);
    assert_int_equal(swtpm("start", f->dir), 0);
    assert_int_equal(try_open(f, &err), KEYS_OK);
}

static void test_chosen_pcrs_are_honoured(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    f->opt.pcr_mask = (1u << 0) | (1u << 7);
    keys_holder_close(create(f));
    struct keyholder *h = open_ok(f);
    struct keys_info info;
    keys_holder_info(h, &info);
    assert_int_equal(info.pcr_mask, (1u << 0) | (1u << 7));
    keys_holder_close(h);
    assert_int_equal(tpm2(f, "pcrextend 0:sha256="
                             "0303030303030303030303030303030303030303"
                             "030303030303030303030303"),
                     0);
    assert_int_equal(try_open(f, &err), KEYS_EPOLICY);
    assert_non_null(strstr(err.msg, "PCR 0 "));

    char sub[96];
    snprintf(sub, sizeof(sub), "%s/sub", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    f->opt.pcr_mask = 1u << 24;
    struct keyholder *bad = NULL;
    assert_int_equal(keys_create(sub, &f->opt, &bad, &err), KEYS_EFORMAT);
    assert_null(bad);
    assert_int_equal(access(sub, F_OK), 0);
}

/* ---- PIN ---------------------------------------------------------------------------------- */

static void test_pin(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    char right[128], wrong[128], empty[128];
    snprintf(right, sizeof(right), "%s/pin", f->dir);
    snprintf(wrong, sizeof(wrong), "%s/wrong-pin", f->dir);
    snprintf(empty, sizeof(empty), "%s/empty-pin", f->dir);
    write_text(right, "correct horse 1234\n");
    write_text(wrong, "correct horse 1235\n");
    write_text(empty, "\n");
    f->opt.pin_file = right;
    keys_holder_close(create(f));

    f->opt.pin_file = NULL;
    assert_int_equal(try_open(f, &err), KEYS_EPIN);
    assert_non_null(strstr(err.msg, "sealed with a PIN"));
    f->opt.pin_file = empty;
    assert_int_equal(try_open(f, &err), KEYS_EPIN);
    f->opt.pin_file = wrong;
    assert_int_equal(try_open(f, &err), KEYS_EPIN);
    assert_non_null(strstr(err.msg, "wrong PIN"));
    f->opt.pin_file = right;
    struct keyholder *h = open_ok(f);
    struct keys_info info;
    keys_holder_info(h, &info);
    assert_true(info.has_pin);
    keys_holder_close(h);
}

/* ---- tampering ---------------------------------------------------------------------------- */

static void flip_and_open(struct fx *f, const uint8_t *orig, size_t len, size_t at, int want)
{
    char path[128];
    uint8_t copy[4096];
    struct keys_err err;
    snprintf(path, sizeof(path), "%s/keys/hierarchy", f->dir);
    memcpy(copy, orig, len);
    copy[at] ^= 0x40;
    write_bytes(path, copy, len);
    assert_int_equal(try_open(f, &err), want);
    write_bytes(path, orig, len);
}

static void test_tampered_blob_refused(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    char path[128];
    uint8_t orig[4096];
    keys_holder_close(create(f));
    snprintf(path, sizeof(path), "%s/keys/hierarchy", f->dir);
    size_t len = read_bytes(path, orig, sizeof(orig));
    assert_true(len > 200 && len < sizeof(orig));

    flip_and_open(f, orig, len, len - 1, KEYS_ETAMPER);  /* private area */
    flip_and_open(f, orig, len, len - 60, KEYS_ETAMPER); /* private area */
    flip_and_open(f, orig, len, 0, KEYS_EFORMAT);        /* magic */
    flip_and_open(f, orig, len, 8 + 3, KEYS_EFORMAT);    /* PCR mask: 6 and 7, one value short */

    /* The sealed public area: its policy digest (the TPM checks the binding). */
    size_t pub_at = 8 + 4 + 1 + 2 + 32 + 36 + 4 + 36; /* header, PCR 7, names, handle */
    flip_and_open(f, orig, len, pub_at + 2 + 2 + 2 + 4 + 2 + 5, KEYS_ETAMPER);

    write_bytes(path, orig, len - 1);
    assert_int_equal(try_open(f, &err), KEYS_EFORMAT);
    uint8_t longer[4097];
    memcpy(longer, orig, len);
    longer[len] = 0;
    write_bytes(path, longer, len + 1);
    assert_int_equal(try_open(f, &err), KEYS_EFORMAT);
    assert_non_null(strstr(err.msg, "bytes follow"));
    write_bytes(path, orig, len);
    assert_int_equal(try_open(f, &err), KEYS_OK);
}

static void test_another_tpm_is_refused(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    keys_holder_close(create(f));
    assert_int_equal(scratch_dir_make(f->other, sizeof f->other, "test_tpm_other"), 0);
    assert_int_equal(swtpm("start", f->other), 0);
    char tcti[160];
    snprintf(tcti, sizeof(tcti), "swtpm:path=%s/tpm/swtpm.sock", f->other);
    f->opt.tcti = tcti;
    assert_int_equal(try_open(f, &err), KEYS_ETAMPER);
    assert_non_null(strstr(err.msg, "not the one the master key was sealed in"));
    f->opt.tcti = f->tcti;
}

static void test_signing_key_evicted_or_replaced(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    struct keyholder *h = create(f);
    struct keys_info info;
    keys_holder_info(h, &info);
    keys_holder_close(h);
    char args[256];
    snprintf(args, sizeof(args), "evictcontrol -C o -c 0x%x", info.signing_handle);
    assert_int_equal(tpm2(f, args), 0);
    assert_int_equal(try_open(f, &err), KEYS_ETAMPER);
    assert_non_null(strstr(err.msg, "gone"));

    /* Another key at the same handle. */
    char ctx[128];
    snprintf(ctx, sizeof(ctx), "%s/other.ctx", f->dir);
    snprintf(args, sizeof(args), "createprimary -C o -G ecc256 -c %s", ctx);
    assert_int_equal(tpm2(f, args), 0);
    snprintf(args, sizeof(args), "evictcontrol -C o -c %s 0x%x", ctx, info.signing_handle);
    assert_int_equal(tpm2(f, args), 0);
    assert_int_equal(tpm2(f, "flushcontext -t"), 0); /* swtpm has no resource manager */
    assert_int_equal(try_open(f, &err), KEYS_ETAMPER);
    if (!strstr(err.msg, "not the audit signing key"))
        fail_msg("%s", err.msg);
}

/* ---- signing and wrapping ------------------------------------------------------------------ */

static void test_tpm_signature_verifies_with_the_pem(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    struct keyholder *h = create(f);
    keys_holder_close(h);
    h = open_ok(f);

    uint8_t digest[32], sig[64];
    SHA256((const uint8_t *)"checkpoint 1", 12, digest);
    assert_int_equal(keys_sign_digest(h, digest, sig, &err), KEYS_OK);
    char pem[KEYS_PUBKEY_PEM_MAX], file_pem[KEYS_PUBKEY_PEM_MAX + 1] = {0}, path[128];
    assert_int_equal(keys_public_pem(h, pem, &err), KEYS_OK);
    snprintf(path, sizeof(path), "%s/keys/signing.pem", f->dir);
    read_bytes(path, (uint8_t *)file_pem, KEYS_PUBKEY_PEM_MAX);
    assert_string_equal(pem, file_pem);
    assert_true(verifies(pem, digest, sig));
    digest[0] ^= 1;
    assert_false(verifies(pem, digest, sig));
    keys_holder_close(h);
}

/* How many handles of a kind (tpm2_getcap's "handles-transient",
 * "handles-loaded-session") the TPM holds. */
static int loaded(struct fx *f, const char *kind)
{
    char cmd[400], line[128];
    snprintf(cmd, sizeof(cmd), "TPM2TOOLS_TCTI='%s' TSS2_LOG=all+none tpm2_getcap %s 2>/dev/null",
             f->tcti, kind);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int n = 0;
    while (fgets(line, sizeof(line), p))
        n += strstr(line, "0x") != NULL;
    assert_int_equal(pclose(p), 0);
    return n;
}

/* Objects that processes left loaded (tpm2_createprimary exits without
 * flushing its primary, as a process killed in the middle of a conversation
 * would) fill a TPM without a resource manager: its three object slots.  The
 * next open and signature must still work, and leave nothing loaded. */
static void test_leftovers_of_dead_conversations_are_flushed(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    keys_holder_close(create(f));
    char args[200];
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof(args), "createprimary -C o -c %s/left%d.ctx", f->dir, i);
        assert_int_equal(tpm2(f, args), 0);
    }
    assert_int_equal(loaded(f, "handles-transient"), 3); /* the TPM's object slots, full */
    struct keyholder *h = open_ok(f);
    uint8_t digest[32], sig[64];
    SHA256((const uint8_t *)"after a crash", 13, digest);
    assert_int_equal(keys_sign_digest(h, digest, sig, &err), KEYS_OK);
    char pem[KEYS_PUBKEY_PEM_MAX];
    assert_int_equal(keys_public_pem(h, pem, &err), KEYS_OK);
    assert_true(verifies(pem, digest, sig));
    keys_holder_close(h);
    assert_int_equal(loaded(f, "handles-transient"), 0);
    assert_int_equal(loaded(f, "handles-loaded-session"), 0);
}

static void test_secrets_unwrap_only_as_themselves(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    struct keyholder *h = create(f);
    uint8_t *wrapped;
    size_t len;
    struct keys_buf *out = NULL;
    assert_int_equal(
        keys_secret_wrap(h, KEYS_SECRET_TLS_SERVER_KEY, "tls key", 7, &wrapped, &len, &err),
        KEYS_OK);
    assert_true(keys_is_wrapped(wrapped, len));
    assert_int_equal(keys_secret_unwrap(h, KEYS_SECRET_AGENCY_CA_KEY, wrapped, len, &out, &err),
                     KEYS_EAUTH);
    assert_int_equal(keys_secret_unwrap(h, KEYS_SECRET_TLS_SERVER_KEY, wrapped, len, &out, &err),
                     KEYS_OK);
    assert_int_equal(keys_buf_len(out), 7);
    assert_memory_equal(keys_buf_data(out), "tls key", 7);
    keys_buf_free(out);
    wrapped[len - 1] ^= 1;
    assert_int_equal(keys_secret_unwrap(h, KEYS_SECRET_TLS_SERVER_KEY, wrapped, len, &out, &err),
                     KEYS_EAUTH);
    free(wrapped);
    keys_holder_close(h);
}

/* ---- the key process ---------------------------------------------------------------------- */

static struct keyproc *spawn(struct fx *f)
{
    struct keyproc *kp;
    struct keys_err err;
    bool child = false;
    assert_int_equal(keyproc_start(f->dir, &f->opt, NULL, &kp, &child, &err), KEYS_OK);
    if (child)
        _exit(keyproc_serve(kp));
    return kp;
}

/* Sends raw bytes as a request and returns the status of the reply. */
static int raw_request(struct keyholder *remote, const void *bytes, size_t len)
{
    struct kp_msg reply;
    assert_int_equal(send(remote->fd, bytes, len, 0), (ssize_t)len);
    assert_int_equal(recv(remote->fd, &reply, sizeof(reply), 0), (ssize_t)sizeof(reply));
    return reply.status;
}

#define ORIGIN "huduma.appliance/audit/test\n"
#define ROOT_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" /* 32 zero bytes */

/* Trees of 1, 2 and 4 leaves (RFC 9162 hashes of "leaf 0".."leaf 3") and
 * the consistency proofs worked out by hand: PROOF(1, D[2]) = [h1],
 * PROOF(2, D[4]) = [MTH(D[2:4])] ("right").  fork4 has the same four leaves
 * with its first two swapped: it does not extend the tree of 2.  other4 has
 * its last two swapped: it extends the tree of 2, but is another tree of 4. */
struct trees {
    uint8_t h[4][32], r1[32], r2[32], r4[32], right[32], right_swapped[32], fork4[32], other4[32];
};

static void leaf_hash(const char *text, uint8_t out[32])
{
    uint8_t buf[16];
    size_t n = strlen(text);
    buf[0] = 0x00;
    memcpy(buf + 1, text, n);
    SHA256(buf, n + 1, out);
}

static void node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    SHA256(buf, sizeof(buf), out);
}

static void make_trees(struct trees *t)
{
    static const char *const leaves[] = {"leaf 0", "leaf 1", "leaf 2", "leaf 3"};
    for (int i = 0; i < 4; i++)
        leaf_hash(leaves[i], t->h[i]);
    memcpy(t->r1, t->h[0], 32);
    node(t->h[0], t->h[1], t->r2);
    node(t->h[2], t->h[3], t->right);
    node(t->r2, t->right, t->r4);
    node(t->h[3], t->h[2], t->right_swapped);
    node(t->r2, t->right_swapped, t->other4);
    uint8_t left_swapped[32];
    node(t->h[1], t->h[0], left_swapped);
    node(left_swapped, t->right, t->fork4);
}

/* "<ORIGIN><size>\n<base64 root>\n" into out. */
static const char *checkpoint_text(char *out, size_t outlen, const char *origin, unsigned size,
                                   const uint8_t root[32])
{
    unsigned char b64[64];
    EVP_EncodeBlock(b64, root, 32);
    snprintf(out, outlen, "%s%u\n%s\n", origin, size, (const char *)b64);
    return out;
}

/* A checkpoint signed through the key process verifies with the openssl tool
 * and the PEM of keys/signing.pem alone; the file changed by one byte does
 * not. */
static void openssl_verifies_a_file(struct fx *f, struct keyholder *remote, const struct trees *t)
{
    char text[160];
    checkpoint_text(text, sizeof(text), ORIGIN, 2, t->r2);
    char data[128], sig_path[128], pem_path[128];
    uint8_t sig[64], der[KEYS_SIG_DER_MAX];
    struct keys_err err;
    snprintf(data, sizeof(data), "%s/checkpoint.txt", f->dir);
    snprintf(sig_path, sizeof(sig_path), "%s/checkpoint.sig", f->dir);
    snprintf(pem_path, sizeof(pem_path), "%s/keys/signing.pem", f->dir);
    write_text(data, text);
    assert_int_equal(keys_sign_checkpoint(remote, text, strlen(text), (const uint8_t(*)[32])t->h[1],
                                          1, sig, &err),
                     KEYS_OK);
    size_t n = keys_sig_to_der(sig, der);
    assert_true(n > 0);
    write_bytes(sig_path, der, n);
    assert_int_equal(run("openssl dgst -sha256 -verify %s -signature %s %s >/dev/null 2>&1",
                         pem_path, sig_path, data),
                     0);
    write_text(data, ORIGIN "43\n" ROOT_A);
    assert_int_equal(run("openssl dgst -sha256 -verify %s -signature %s %s >/dev/null 2>&1",
                         pem_path, sig_path, data),
                     1);
}

static void test_key_process_answers_and_refuses(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    struct keyholder *local = create(f);
    uint8_t local_fp[32], remote_fp[32];
    fingerprint(local, local_fp);
    uint8_t *wtls, *wca;
    size_t wtls_len, wca_len;
    assert_int_equal(keys_secret_wrap(local, KEYS_SECRET_TLS_SERVER_KEY, "the tls key", 11, &wtls,
                                      &wtls_len, &err),
                     KEYS_OK);
    assert_int_equal(
        keys_secret_wrap(local, KEYS_SECRET_AGENCY_CA_KEY, "the ca key", 10, &wca, &wca_len, &err),
        KEYS_OK);
    keys_holder_close(local);

    struct keyproc *kp = spawn(f);
    struct keyholder *remote = NULL;
    if (keyproc_ready(kp, &remote, &err) != KEYS_OK)
        fail_msg("keyproc_ready: %s", err.msg);
    fingerprint(remote, remote_fp);
    assert_memory_equal(local_fp, remote_fp, sizeof(local_fp));

    /* DEKs: made and unwrapped through the key process. */
    struct keyring *kr, *kr2;
    uint8_t wrapped[KEYS_WRAPPED_DEK_LEN], sealed[8 + KEYS_SEAL_OVERHEAD], plain[8];
    size_t plain_len;
    assert_int_equal(keys_keyring(remote, &kr, &err), KEYS_OK);
    assert_int_equal(keys_dek_create(remote, kr, 3, wrapped, &err), KEYS_OK);
    assert_int_equal(keys_seal(kr, "a", 1, "abcdefgh", 8, sealed, &err), KEYS_OK);
    assert_int_equal(keys_keyring(remote, &kr2, &err), KEYS_OK);
    assert_int_equal(keys_dek_unwrap(remote, kr2, 3, wrapped, sizeof(wrapped), &err), KEYS_OK);
    assert_int_equal(keys_open(kr2, "a", 1, sealed, sizeof(sealed), plain, &plain_len, &err),
                     KEYS_OK);
    assert_int_equal(keys_dek_unwrap(remote, kr2, 4, wrapped, sizeof(wrapped), &err), KEYS_EAUTH);
    keys_close(kr);
    keys_close(kr2);

    /* Secrets: the TLS key yes, the CA key never. */
    struct keys_buf *tls = NULL;
    assert_int_equal(
        keys_secret_unwrap(remote, KEYS_SECRET_TLS_SERVER_KEY, wtls, wtls_len, &tls, &err),
        KEYS_OK);
    assert_memory_equal(keys_buf_data(tls), "the tls key", 11);
    keys_buf_free(tls);
    assert_int_equal(
        keys_secret_unwrap(remote, KEYS_SECRET_AGENCY_CA_KEY, wca, wca_len, &tls, &err),
        KEYS_EDENIED);
    assert_int_equal(
        keys_secret_unwrap(remote, KEYS_SECRET_TLS_SERVER_KEY, wca, wca_len, &tls, &err),
        KEYS_EAUTH);
    assert_int_equal(
        keys_secret_wrap(remote, KEYS_SECRET_TLS_SERVER_KEY, "x", 1, &wca, &wca_len, &err),
        KEYS_EDENIED);

    /* Malformed requests: answered with an error, and the process keeps serving. */
    struct kp_msg m;
    kp_init(&m, KP_OP_SIGN_CHECKPOINT, 99, 0);
    assert_int_equal(raw_request(remote, &m, 100), KEYS_EPEER); /* short */
    kp_put(&m, "", 0);                                          /* no checkpoint */
    assert_int_equal(raw_request(remote, &m, sizeof(m)), KEYS_EPEER);
    kp_put(&m, "0123456789abcdef0123456789abcdef", 32);
    m.data[100] = 1; /* something rides in the padding */
    assert_int_equal(raw_request(remote, &m, sizeof(m)), KEYS_EPEER);
    m.data[100] = 0;
    m.magic ^= 1;
    assert_int_equal(raw_request(remote, &m, sizeof(m)), KEYS_EPEER);
    m.magic ^= 1;
    m.op = 77;
    assert_int_equal(raw_request(remote, &m, sizeof(m)), KEYS_EPEER);
    m.op = KP_OP_DEK_CREATE; /* without a key id */
    m.len = 0;
    memset(m.data, 0, 32);
    assert_int_equal(raw_request(remote, &m, sizeof(m)), KEYS_EPEER);

    /* Signing: checkpoints of a log that grows from the last one, and nothing else. */
    struct trees t;
    make_trees(&t);
    char text[160];
    uint8_t digest[32], sig[64];
    char pem[KEYS_PUBKEY_PEM_MAX];
    SHA256((const uint8_t *)"any digest", 10, digest);
    assert_int_equal(keys_sign_digest(remote, digest, sig, &err), KEYS_EDENIED);
    checkpoint_text(text, sizeof(text), ORIGIN, 1, t.r1); /* the first: nothing to extend */
    assert_int_equal(keys_sign_checkpoint(remote, text, strlen(text), NULL, 0, sig, &err), KEYS_OK);
    assert_int_equal(keys_public_pem(remote, pem, &err), KEYS_OK);
    SHA256((const uint8_t *)text, strlen(text), digest);
    assert_true(verifies(pem, digest, sig));
    openssl_verifies_a_file(f, remote, &t); /* 2 leaves, with the proof from 1 */
    const uint8_t(*right)[32] = (const uint8_t(*)[32])t.right;
    struct {
        const char *origin;
        unsigned size;
        const uint8_t *root;
        const uint8_t (*proof)[32];
        size_t nproof;
    } refused[] = {
        {ORIGIN, 1, t.r1, NULL, 0},                                     /* a smaller tree */
        {ORIGIN, 2, t.r4, NULL, 0},                                     /* another root for 2 */
        {"huduma.appliance/audit/other\n", 4, t.r4, right, 1},          /* another log */
        {ORIGIN, 4, t.r4, NULL, 0},                                     /* grown, without a proof */
        {ORIGIN, 4, t.fork4, right, 1},                                 /* a fork */
        {ORIGIN, 4, t.fork4, (const uint8_t(*)[32])t.right_swapped, 1}, /* a fork */
        {ORIGIN, 4, t.fork4, (const uint8_t(*)[32])t.fork4, 1},         /* a fork */
        {ORIGIN, 4, t.r4, (const uint8_t(*)[32])t.h[2], 1},             /* a wrong proof */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        checkpoint_text(text, sizeof(text), refused[i].origin, refused[i].size, refused[i].root);
        assert_int_equal(keys_sign_checkpoint(remote, text, strlen(text), refused[i].proof,
                                              refused[i].nproof, sig, &err),
                         KEYS_EDENIED);
        assert_non_null(strstr(err.msg, "refused"));
    }
    static const char *const malformed[] = {
        ORIGIN "042\n" ROOT_A,          /* a leading zero */
        ORIGIN "43\n" ROOT_A "extra\n", /* a fourth line */
        ORIGIN "43\n"
               "AAAA\n",                 /* a short root */
        "huduma appliance\n43\n" ROOT_A, /* a space in the origin */
        ORIGIN "43\n"
               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", /* no final newline */
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        assert_int_equal(
            keys_sign_checkpoint(remote, malformed[i], strlen(malformed[i]), NULL, 0, sig, &err),
            KEYS_EFORMAT);
    /* A proof of more hashes than any tree needs is malformed, not sent. */
    assert_int_equal(
        keys_sign_checkpoint(remote, text, strlen(text), right, KEYS_PROOF_MAX + 1, sig, &err),
        KEYS_EFORMAT);
    /* ... and refused by the key process if it comes anyway (arg 65), as is a
     * request whose data is all proof and no body. */
    kp_init(&m, KP_OP_SIGN_CHECKPOINT, 98, KEYS_PROOF_MAX + 1);
    kp_put(&m, text, strlen(text));
    assert_int_equal(raw_request(remote, &m, sizeof(m)), KEYS_EPEER);
    kp_init(&m, KP_OP_SIGN_CHECKPOINT, 98, 1);
    kp_put(&m, t.right, 32);
    assert_int_equal(raw_request(remote, &m, sizeof(m)), KEYS_EPEER);
    checkpoint_text(text, sizeof(text), ORIGIN, 2, t.r2); /* the same again */
    assert_int_equal(keys_sign_checkpoint(remote, text, strlen(text), NULL, 0, sig, &err), KEYS_OK);
    checkpoint_text(text, sizeof(text), ORIGIN, 4, t.r4); /* grown, with PROOF(2, D[4]) */
    assert_int_equal(keys_sign_checkpoint(remote, text, strlen(text), right, 1, sig, &err),
                     KEYS_OK);
    checkpoint_text(text, sizeof(text), ORIGIN, 4, t.other4); /* another tree of 4 now */
    assert_int_equal(keys_sign_checkpoint(remote, text, strlen(text), NULL, 0, sig, &err),
                     KEYS_EDENIED);

    keys_holder_close(remote);
    keyproc_stop(kp);
    free(wtls);
    free(wca);
}

static void test_key_process_reports_a_pcr_refusal(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    keys_holder_close(create(f));
    assert_int_equal(tpm2(f, "pcrextend 7:sha256="
                             "0404040404040404040404040404040404040404"
                             "040404040404040404040404"),
                     0);
    struct keyproc *kp = spawn(f);
    struct keyholder *remote = NULL;
    assert_int_equal(keyproc_ready(kp, &remote, &err), KEYS_EPOLICY);
    assert_null(remote);
    assert_non_null(strstr(err.msg, "PCR 7"));
    keyproc_stop(kp);
}

/* ---- the software holder ------------------------------------------------------------------ */

static void test_software_key_needs_its_flag(void **state)
{
    struct fx *f = *state;
    struct keys_err err;
    struct keyholder *h = NULL;
    char soft[96];
    snprintf(soft, sizeof(soft), "%s/soft", f->dir);
    assert_int_equal(mkdir(soft, 0700), 0);
    struct keys_options o = {.insecure_software_key = true};
    assert_int_equal(keys_create(soft, &o, &h, &err), KEYS_OK);
    uint8_t digest[32] = {1}, sig[64];
    char pem[KEYS_PUBKEY_PEM_MAX];
    assert_int_equal(keys_sign_digest(h, digest, sig, &err), KEYS_OK);
    assert_int_equal(keys_public_pem(h, pem, &err), KEYS_OK);
    assert_true(verifies(pem, digest, sig));
    keys_holder_close(h);

    o.insecure_software_key = false;
    assert_int_equal(keys_open_holder(soft, &o, &h, &err), KEYS_EDENIED);
    assert_non_null(strstr(err.msg, "--insecure-software-key"));
    o.insecure_software_key = true;
    assert_int_equal(keys_open_holder(soft, &o, &h, &err), KEYS_OK);
    keys_holder_close(h);

    /* A TPM register refuses the flag. */
    keys_holder_close(create(f));
    f->opt.insecure_software_key = true;
    assert_int_equal(try_open(f, &err), KEYS_EDENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_then_open_gives_the_same_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extended_pcr7_refuses_to_unseal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chosen_pcrs_are_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_blob_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_another_tpm_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signing_key_evicted_or_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tpm_signature_verifies_with_the_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers_of_dead_conversations_are_flushed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secrets_unwrap_only_as_themselves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_process_answers_and_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_process_reports_a_pcr_refusal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_software_key_needs_its_flag, setup, teardown),
    };
    return cmocka_run_group_tests_name("tpm", tests, NULL, NULL);
}
