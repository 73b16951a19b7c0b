/*
 * appliance/hn.c - the Huduma Number scheme: Verhoeff check digits and the
 * keyed permutation of the issue counter (see docs/huduma-number.md).
 *
 * Permutation: serial x in [0, 300000^2) is split into L = x / 300000 and
 * R = x % 300000; each of 10 rounds maps (L, R) to (R, (L + F(i, R)) mod
 * 300000), where F(i, R) is AES-128 under the HN key of the block
 *
 *     "huduma-hn/1" (11 bytes) | i (1 byte) | R (4 bytes, big-endian)
 *
 * whose first 8 output bytes, read big-endian, are reduced mod 300000.  The
 * result p = L * 300000 + R is again in [0, 9e10); the payload is p + 1e10,
 * 11 digits with a non-zero first digit.  The inverse runs the rounds
 * backwards: (L, R) <- ((R - F(i, L)) mod 300000, L).
 *
 * One EVP context, keyed once at hn_scheme_new(), encrypts one block per
 * round, so issuing a number costs ten AES block operations.
 */
#include "appliance/hn.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define HALF         300000u
#define ROUNDS       10
#define PAYLOAD_LEN  (HN_LEN - 1)
#define PAYLOAD_BASE 10000000000ULL /* 10^10: smallest 11-digit payload */

static const uint8_t F_TAG[11] = {'h', 'u', 'd', 'u', 'm', 'a', '-', 'h', 'n', '/', '1'};

struct hn_scheme {
    EVP_CIPHER_CTX *ctx;
};

/* ---- Verhoeff (dihedral group D5) ---------------------------------------- */

/* clang-format off */
static const uint8_t V_MUL[10][10] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
    {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
    {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
    {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
    {4, 0, 1, 2, 3, 9, 5, 6, 7, 8},
    {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
    {6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
    {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
    {8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
    {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
};

static const uint8_t V_PERM[8][10] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
    {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
    {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
    {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
    {9, 4, 5, 3, 1, 2, 6, 8, 7, 0},
    {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
    {2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
    {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
};

static const uint8_t V_INV[10] = {0, 4, 3, 2, 1, 5, 6, 7, 8, 9};
/* clang-format on */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* Folds the digits right to left; `shift` is 1 when a check digit is still
 * to be appended (it will take position 0), 0 when it is already there. */
static unsigned verhoeff_fold(const char *digits, size_t n, size_t shift)
{
    unsigned c = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(digits[n - 1 - i] - '0');
        c = V_MUL[c][V_PERM[(i + shift) % 8][d]];
    }
    return c;
}

char verhoeff_check_digit(const char *digits, size_t n)
{
    if (digits == NULL || !all_digits(digits, n))
        return '\0';
    return (char)('0' + V_INV[verhoeff_fold(digits, n, 1)]);
}

bool verhoeff_is_valid(const char *digits, size_t n)
{
    if (digits == NULL || n == 0 || !all_digits(digits, n))
        return false;
    return verhoeff_fold(digits, n, 0) == 0;
}

bool hn_is_well_formed(const char *s)
{
    if (s == NULL || strnlen(s, HN_LEN + 1) != HN_LEN)
        return false;
    if (!all_digits(s, HN_LEN) || s[0] == '0')
        return false;
    return verhoeff_is_valid(s, HN_LEN);
}

/* ---- the keyed permutation ----------------------------------------------- */

int hn_scheme_new(const uint8_t key[HN_KEY_LEN], struct hn_scheme **out)
{
    if (out == NULL)
        return -1;
    *out = NULL;
    if (key == NULL)
        return -1;
    struct hn_scheme *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->ctx = EVP_CIPHER_CTX_new();
    if (s->ctx == NULL || EVP_EncryptInit_ex(s->ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(s->ctx, 0) != 1) {
        hn_scheme_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void hn_scheme_free(struct hn_scheme *s)
{
    if (s == NULL)
        return;
    EVP_CIPHER_CTX_free(s->ctx); /* cleanses the key schedule */
    free(s);
}

/* The round function: AES_k(tag | round | R) mod 300000. */
static int round_f(struct hn_scheme *s, unsigned round, uint32_t r, uint32_t *f)
{
    uint8_t in[16], ct[16];
    int len = 0;
    memcpy(in, F_TAG, sizeof(F_TAG));
    in[11] = (uint8_t)round;
    in[12] = (uint8_t)(r >> 24);
    in[13] = (uint8_t)(r >> 16);
    in[14] = (uint8_t)(r >> 8);
    in[15] = (uint8_t)r;
    if (EVP_EncryptUpdate(s->ctx, ct, &len, in, sizeof(in)) != 1 || len != (int)sizeof(ct))
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | ct[i];
    *f = (uint32_t)(v % HALF);
    return 0;
}

static int permute(struct hn_scheme *s, uint64_t x, uint64_t *y)
{
    uint32_t l = (uint32_t)(x / HALF), r = (uint32_t)(x % HALF), f;
    for (unsigned i = 0; i < ROUNDS; i++) {
        if (round_f(s, i, r, &f) != 0)
            return -1;
        uint32_t next = (l + f) % HALF;
        l = r;
        r = next;
    }
    *y = (uint64_t)l * HALF + r;
    return 0;
}

static int unpermute(struct hn_scheme *s, uint64_t y, uint64_t *x)
{
    uint32_t l = (uint32_t)(y / HALF), r = (uint32_t)(y % HALF), f;
    for (unsigned i = ROUNDS; i-- > 0;) {
        if (round_f(s, i, l, &f) != 0)
            return -1;
        uint32_t prev = (r + HALF - f) % HALF;
        r = l;
        l = prev;
    }
    *x = (uint64_t)l * HALF + r;
    return 0;
}

int hn_from_serial(struct hn_scheme *s, uint64_t serial, char out[HN_LEN + 1])
{
    uint64_t p;
    if (s == NULL || out == NULL || serial >= HN_SERIAL_LIMIT)
        return -1;
    if (permute(s, serial, &p) != 0)
        return -1;
    uint64_t v = p + PAYLOAD_BASE;
    for (int i = PAYLOAD_LEN - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out[PAYLOAD_LEN] = verhoeff_check_digit(out, PAYLOAD_LEN);
    out[HN_LEN] = '\0';
    return 0;
}

int hn_to_serial(struct hn_scheme *s, const char *hn, uint64_t *serial)
{
    if (s == NULL || serial == NULL || !hn_is_well_formed(hn))
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < PAYLOAD_LEN; i++)
        v = v * 10 + (uint64_t)(hn[i] - '0');
    return unpermute(s, v - PAYLOAD_BASE, serial);
}
