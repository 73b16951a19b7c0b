/*
 * appliance/synth.h - synthetic test population (private to appliance/).
 *
 * synth_write() writes a deterministic stream of register operations as JSON
 * lines: enrolments of invented people ("op":"enrol"), births to women enrolled
 * earlier in the stream ("op":"birth"), deaths of people enrolled earlier
 * ("op":"death"), and near-duplicate re-enrolments of earlier people, so that
 * loading, deduplication and life events can be exercised at scale.  Nobody in
 * the output is real: names are drawn from tables of common Kenyan and foreign
 * names, numbers from keyed permutations, fingerprints are random but valid
 * ISO/IEC 19794-2:2005 minutiae records.
 *
 * Record shapes follow docs/record.md.  The same options always give the same
 * bytes: nothing depends on the clock, the locale or rand().
 *
 * The second half of this header is shared by synth.c and synth_names.c only:
 * the county, community and nationality tables.
 */
#ifndef HUDUMA_SYNTH_H
#define HUDUMA_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct synth_opts {
    uint64_t seed;
    uint64_t count;           /* number of lines to write */
    unsigned dup_per_mille;   /* near-duplicate re-enrolments per 1000 lines (default 5) */
    unsigned death_per_mille; /* deaths per 1000 lines (default 3) */
    unsigned birth_per_mille; /* births per 1000 lines (default 20) */
    bool biometrics;          /* include synthetic fingerprint templates (default true) */
    int64_t as_of;            /* unix seconds "today" for ages; 0 = 2026-01-01T00:00:00Z */
    const char *kit_prefix;   /* enrolment id prefix, default "SYN" */
};

/* Largest count accepted: every line must get its own 8-digit national id. */
#define SYNTH_MAX_COUNT 90000000ULL
/* Longest kit_prefix accepted (letters, digits, '-' and '_'). */
#define SYNTH_PREFIX_MAX 24

void synth_opts_default(struct synth_opts *o);

/*
 * Writes o->count lines to `out`.  Returns 0, or -1 with a reason in err
 * (options out of range, out of memory, or a write error).  Enrolments are
 * captured during the 365 days before as_of, in line order, in office hours;
 * ages (and the rules that depend on them: biometrics from 6, national id
 * from 18) are the same at capture time and at as_of, so a register whose
 * clock reads as_of accepts them.  Without `biometrics`, people aged 6 or
 * over carry no fingerprints (a few still carry an exemption).
 */
int synth_write(FILE *out, const struct synth_opts *o, char *err, size_t errlen);

/* ---- tables shared by synth.c and synth_names.c ------------------------------ */

struct synth_list {
    const char *const *v;
    unsigned n;
};

enum synth_community_id {
    SC_KIKUYU,
    SC_LUO,
    SC_LUHYA,
    SC_KALENJIN,
    SC_KAMBA,
    SC_KISII,
    SC_MERU,
    SC_MIJIKENDA,
    SC_SOMALI,
    SC_MAASAI,
    SC_TURKANA,
    SC_TAITA,
    SC_BORANA,
    SC_SWAHILI,
    SC_TESO,
    SC_SAMBURU,
    /* foreign name pools */
    SC_UGANDA,
    SC_TANZANIA,
    SC_SOUTH_SUDAN,
    SC_ETHIOPIA,
    SC_CONGO,
    SC_RWANDA_BURUNDI,
    SC_INDIA,
    SC_CHINA,
    SC_ANGLO,
    SC_COUNT,
};

/*
 * A naming tradition.  A first name is Christian (christian_pm per mille),
 * Muslim (muslim_pm) or the community's own; other names are the community's
 * own given names, or the father's name when `patronymic`; surnames come from
 * `surname`.
 */
struct synth_community {
    const char *name;
    struct synth_list male, female, surname;
    uint16_t christian_pm, muslim_pm;
    bool patronymic;
};

struct synth_mix {
    uint8_t community;
    uint8_t weight;
};

#define SYNTH_COUNTIES 47
#define SYNTH_MIX_MAX  8

struct synth_county {
    const char *code; /* "001".."047" */
    const char *name;
    uint32_t population;                 /* 2019 Kenya Population and Housing Census */
    uint16_t born_elsewhere_pm;          /* residents born in another county, per mille */
    struct synth_mix mix[SYNTH_MIX_MAX]; /* communities of people born here */
};

struct synth_nation {
    const char *code; /* ISO 3166-1 alpha-2 */
    uint8_t community;
    uint16_t foreign_weight;      /* share among foreign nationals */
    uint16_t registration_weight; /* share among Kenyans by registration */
    uint8_t county;               /* county (1..47) many live in, 0 none */
    uint16_t county_pm;           /* per mille of them living there */
};

extern const struct synth_county synth_counties[SYNTH_COUNTIES];
extern const struct synth_community synth_communities[SC_COUNT];
extern const struct synth_nation synth_nations[];
extern const unsigned synth_nation_count;
extern const struct synth_list synth_christian_male, synth_christian_female;
extern const struct synth_list synth_muslim_male, synth_muslim_female;
extern const struct synth_list synth_exemptions;

#endif
