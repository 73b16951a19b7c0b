/*
 * appliance/hn.h - the Huduma Number scheme (private to the appliance).
 *
 * Owns the format of a Huduma Number (HN) and the mapping between the
 * register's issue counter and the numbers it hands out:
 *
 *   - an HN is 12 decimal digits: an 11-digit payload whose first digit is
 *     never 0, then a Verhoeff check digit;
 *   - the payload is a keyed permutation of the issue counter (the serial):
 *     a 10-round balanced Feistel network over Z_300000 x Z_300000 with
 *     AES-128 as round function, so numbers are unique by construction, not
 *     sequential, and cannot be guessed from their neighbours without the key.
 *
 * docs/huduma-number.md is the specification.  The key comes from keys/
 * (keys_hn_key()); the serial counter is persisted by storage/.
 */
#ifndef HUDUMA_HN_H
#define HUDUMA_HN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h" /* for HN_LEN (12) */

#define HN_KEY_LEN      16
#define HN_SERIAL_LIMIT 90000000000ULL /* 300000^2: serials are 0 .. limit-1 */

/* Holds an AES context keyed for the permutation.  Not thread-safe: callers
 * serialise or keep one per thread. */
struct hn_scheme;

/* Creates a scheme for `key`.  Returns 0, or -1 (NULL key, no memory, OpenSSL
 * refused). */
int hn_scheme_new(const uint8_t key[HN_KEY_LEN], struct hn_scheme **out);

/* Wipes and frees the scheme.  NULL is allowed. */
void hn_scheme_free(struct hn_scheme *s);

/* Writes the HN of `serial` (12 digits and a NUL) into `out`.  Returns 0, or
 * -1 if serial >= HN_SERIAL_LIMIT or the cipher failed. */
int hn_from_serial(struct hn_scheme *s, uint64_t serial, char out[HN_LEN + 1]);

/* Recovers the serial of an HN issued by this scheme's key.  Returns 0, or -1
 * if `hn` is not well formed or the cipher failed. */
int hn_to_serial(struct hn_scheme *s, const char *hn, uint64_t *serial);

/* True when `s` is exactly 12 digits, the first non-zero, and the Verhoeff
 * check holds.  Needs no key.  NULL-safe. */
bool hn_is_well_formed(const char *s);

/* Verhoeff check digit ('0'..'9') of the `n` decimal digits at `digits`.
 * Returns '\0' if `digits` is NULL or holds a non-digit. */
char verhoeff_check_digit(const char *digits, size_t n);

/* True when the `n` digits at `digits` (check digit last) pass the Verhoeff
 * check.  False for NULL, n == 0 or any non-digit. */
bool verhoeff_is_valid(const char *digits, size_t n);

#endif
