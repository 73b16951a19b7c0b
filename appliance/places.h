/*
 * appliance/places.h - the place codes the register accepts.
 *
 * Owns two reference lists, both compiled in (nothing is read at run time):
 *   - Kenya's 47 counties with their official three-digit codes "001".."047"
 *     (First Schedule to the Constitution of Kenya, 2010);
 *   - the 249 officially assigned ISO 3166-1 alpha-2 country codes.
 */
#ifndef HUDUMA_PLACES_H
#define HUDUMA_PLACES_H

#include <stdbool.h>
#include <stddef.h>

/* True when `code` is exactly three digits naming a county.  NULL-safe. */
bool county_code_valid(const char *code);

/* The county's name ("Mombasa" for "001"), or NULL when the code is unknown. */
const char *county_name(const char *code);

/* Number of counties (47). */
size_t county_count(void);

/* Code of the i-th county in code order, or NULL when i >= county_count(). */
const char *county_code_at(size_t i);

/* True when `code` is exactly two upper-case letters forming an officially
 * assigned ISO 3166-1 alpha-2 code.  NULL-safe. */
bool iso3166_alpha2_valid(const char *code);

#endif
