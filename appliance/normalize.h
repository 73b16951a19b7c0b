/*
 * appliance/normalize.h - the one normalisation of names and document numbers
 * that the register compares and indexes with (docs/record.md).
 */
#ifndef HUDUMA_NORMALIZE_H
#define HUDUMA_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Folds a UTF-8 name for comparison: letters lower-cased, Latin diacritics
 * removed (é -> e, ñ -> n, ß -> ss), runs of white space collapsed to one space
 * and trimmed; with `letters_only`, everything but letters dropped too (the
 * blocking key).  Returns the length written (always NUL-terminated), or 0 when
 * the output does not fit.
 */
size_t name_fold(const char *in, char *out, size_t outlen, bool letters_only);

/* Upper-cases a document number and drops spaces, '-' and '/'. */
size_t docnum_fold(const char *in, char *out, size_t outlen);

#endif
