/*
 * storage/iso19794.h - checks ISO/IEC 19794-2:2005 finger minutiae records.
 *
 * Private to storage/: biometrics_json.c refuses any fingerprint template that
 * this check does not accept.
 */
#ifndef HUDUMA_ISO19794_H
#define HUDUMA_ISO19794_H

#include <stddef.h>
#include <stdint.h>

/*
 * Returns 0 when buf[0..len) is exactly one well-formed finger minutiae record
 * of at most TEMPLATE_MAX_LEN bytes, else -1 with a one-line reason written to
 * `why` (which may be NULL).
 */
int iso19794_2_check(const uint8_t *buf, size_t len, char *why, size_t whylen);

#endif
