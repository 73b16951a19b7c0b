/*
 * tests/bench/bench_tpm.c - what the TPM costs the appliance: unsealing the
 * master key at start, and signatures with the TPM-resident audit key, beside
 * OpenSSL signing with a P-256 key in memory (the peer: what the same
 * signature costs without a TPM).
 *
 *   bench_tpm DIR [--opens N] [--signs N] [--max-seconds S]
 *
 * DIR is a register made by `huduma init` whose TPM is reachable
 * (HUDUMA_TCTI, or the default of keys_tcti_default).  It
 *   1. opens the key holder N times (default 10), as `huduma` and hudumad's
 *      key process do at start: the storage primary key re-created and checked
 *      by its name, the sealed master key loaded, a policy session satisfied
 *      and the master key unsealed; each open timed;
 *   2. signs N SHA-256 digests (default 50) with the audit signing key in the
 *      TPM, one at a time, each a different digest; each timed;
 *   3. signs as many digests with OpenSSL (ECDSA P-256, a key made here) for
 *      one second.
 * Every step stops early when S seconds (default 60) have passed in all.
 * The last line is machine-readable:
 *
 *   unseal_ms_p50=X unseal_ms_min=X unseal_ms_max=X opens=N tpm_signs_per_sec=X
 *   tpm_sign_ms_p50=X tpm_sign_ms_max=X signs=N openssl_signs_per_sec=X
 */
#include "keys/keys.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SAMPLES 10000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, by_value);
    return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long arg_number(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bench_tpm: '%s' is not a number from %ld to %ld\n", s, lo, hi);
        exit(2);
    }
    return v;
}

/* Opens the holder `n` times; each open's milliseconds into ms[]. */
static int time_opens(const char *dir, const struct keys_options *o, size_t n, double deadline,
                      double *ms, size_t *done)
{
    *done = 0;
    for (size_t i = 0; i < n && now_s() < deadline; i++) {
        struct keyholder *h = NULL;
        struct keys_err err;
        double t0 = now_s();
        int rc = keys_open_holder(dir, o, &h, &err);
        ms[i] = (now_s() - t0) * 1e3;
        keys_holder_close(h);
        if (rc != KEYS_OK) {
            fprintf(stderr, "bench_tpm: opening the key holder: %s\n", err.msg);
            return -1;
        }
        (*done)++;
    }
    return 0;
}

static int time_tpm_signs(struct keyholder *h, size_t n, double deadline, double *ms, size_t *done,
                          double *seconds)
{
    *done = 0;
    double start = now_s();
    for (size_t i = 0; i < n && now_s() < deadline; i++) {
        uint8_t digest[KEYS_DIGEST_LEN], sig[KEYS_SIG_RAW_LEN];
        char text[64];
        int len = snprintf(text, sizeof text, "bench_tpm digest %zu", i);
        SHA256((const unsigned char *)text, (size_t)len, digest);
        struct keys_err err;
        double t0 = now_s();
        int rc = keys_sign_digest(h, digest, sig, &err);
        ms[i] = (now_s() - t0) * 1e3;
        if (rc != KEYS_OK) {
            fprintf(stderr, "bench_tpm: signing in the TPM: %s\n", err.msg);
            return -1;
        }
        (*done)++;
    }
    *seconds = now_s() - start;
    return 0;
}

/* ECDSA P-256 signatures of SHA-256 digests with a key in memory, for one second. */
static double openssl_signs_per_sec(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key)
        return 0;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    long signs = 0;
    double start = now_s(), elapsed = 0;
    if (ctx && EVP_PKEY_sign_init(ctx) == 1) {
        while ((elapsed = now_s() - start) < 1.0) {
            uint8_t digest[32], sig[80];
            size_t siglen = sizeof sig;
            SHA256((const unsigned char *)&signs, sizeof signs, digest);
            if (EVP_PKEY_sign(ctx, sig, &siglen, digest, sizeof digest) != 1)
                break;
            signs++;
        }
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    return elapsed > 0 ? (double)signs / elapsed : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bench_tpm DIR [--opens N] [--signs N] [--max-seconds S]\n");
        return 2;
    }
    const char *dir = argv[1];
    size_t opens = 10, signs = 50;
    double max_seconds = 60;
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_tpm: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--opens") == 0)
            opens = (size_t)arg_number(argv[++i], 1, MAX_SAMPLES);
        else if (strcmp(argv[i], "--signs") == 0)
            signs = (size_t)arg_number(argv[++i], 1, MAX_SAMPLES);
        else if (strcmp(argv[i], "--max-seconds") == 0)
            max_seconds = (double)arg_number(argv[++i], 1, 3600);
        else {
            fprintf(stderr, "bench_tpm: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct keys_options o = {.tcti = getenv("HUDUMA_TCTI")};
    double deadline = now_s() + max_seconds;
    static double open_ms[MAX_SAMPLES], sign_ms[MAX_SAMPLES];
    size_t nopen = 0, nsign = 0;
    if (time_opens(dir, &o, opens, deadline, open_ms, &nopen) != 0)
        return 1;
    struct keyholder *h = NULL;
    struct keys_err err;
    if (keys_open_holder(dir, &o, &h, &err) != KEYS_OK) {
        fprintf(stderr, "bench_tpm: opening the key holder: %s\n", err.msg);
        return 1;
    }
    double sign_seconds = 0;
    int rc = time_tpm_signs(h, signs, deadline, sign_ms, &nsign, &sign_seconds);
    keys_holder_close(h);
    if (rc != 0 || nopen == 0 || nsign == 0)
        return 1;
    double min_open = open_ms[0], max_open = open_ms[0];
    for (size_t i = 1; i < nopen; i++) {
        min_open = open_ms[i] < min_open ? open_ms[i] : min_open;
        max_open = open_ms[i] > max_open ? open_ms[i] : max_open;
    }
    double max_sign = 0;
    for (size_t i = 0; i < nsign; i++)
        max_sign = sign_ms[i] > max_sign ? sign_ms[i] : max_sign;
    double p50_open = median(open_ms, nopen), p50_sign = median(sign_ms, nsign);
    double soft = openssl_signs_per_sec();
    printf("unseal_ms_p50=%.1f unseal_ms_min=%.1f unseal_ms_max=%.1f opens=%zu "
           "tpm_signs_per_sec=%.1f tpm_sign_ms_p50=%.2f tpm_sign_ms_max=%.2f signs=%zu "
           "openssl_signs_per_sec=%.0f\n",
           p50_open, min_open, max_open, nopen, (double)nsign / sign_seconds, p50_sign, max_sign,
           nsign, soft);
    return 0;
}
