/*
 * appliance/synth.c - deterministic synthetic test population (see synth.h).
 *
 * Owns the generator: random streams, calendar arithmetic, invented people,
 * document numbers, ISO/IEC 19794-2 fingerprint records and the JSON lines.
 *
 * How it works.  Every line has its own random streams, seeded from (seed,
 * line number, purpose) with splitmix64 into xoshiro256**, so the person
 * enrolled on line j can be generated again, identically, when a later line
 * needs her: a birth looks for a mother among earlier enrolments, a death and a
 * near-duplicate for any earlier person.  The only state kept across lines is
 * one byte per line (what the line was, and whether its person has died).
 * Document numbers are keyed permutations (a Feistel network with cycle
 * walking) of the line number, one per document type, so they never repeat;
 * a near-duplicate takes a fresh number from its own line, or (a few) reuse
 * the original's.  Lines are built in a buffer and written in large blocks.
 */
#include "appliance/synth.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "storage/storage.h"

#define DEFAULT_AS_OF   1767225600LL /* 2026-01-01T00:00:00Z */
#define MIN_AS_OF       946684800LL  /* 2000-01-01 */
#define MAX_AS_OF       7258118400LL /* 2200-01-01 */
#define SPAN_DAYS       365          /* enrolments fill the year before as_of */
#define OPEN_SECONDS    (8 * 3600)   /* centres open 08:00-17:00 */
#define WORK_SECONDS    (9 * 3600)
#define OUT_CAP         (1 << 20)
#define MOTHER_PROBES   64
#define PERSON_PROBES   16
#define FP_WIDTH        388
#define FP_HEIGHT       374
#define FP_RESOLUTION   197 /* pixels per cm */
#define FP_MAX_MINUTIAE 40
#define FP_MAX_LEN      (30 + 6 * FP_MAX_MINUTIAE)

/* What a line was (low bits) and whether its person has since died. */
enum { K_NONE = 0, K_ENROL, K_DUP, K_BIRTH, K_DEATH, K_MASK = 0x0f, K_DEAD = 0x80 };

/* Random stream purposes. */
enum { S_OP = 1, S_META, S_DEMO, S_BIO, S_EVENT, S_JITTER };

/* Keys of the document-number permutations. */
enum { N_NATIONAL_ID = 1, N_BIRTH_CERT, N_PASSPORT, N_KRA, N_LICENCE, N_ALIEN, N_DEATH };

/* ---- random numbers ---------------------------------------------------------- */

struct rng {
    uint64_t s[4];
};

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void rng_init(struct rng *r, uint64_t seed, uint64_t line, uint64_t stream)
{
    uint64_t x = mix64(seed ^ mix64(line ^ mix64(stream)));
    for (int i = 0; i < 4; i++) {
        x = mix64(x);
        r->s[i] = x;
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) (n > 0), by multiply-shift. */
static uint64_t below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)next(r) * n) >> 64);
}

static bool chance(struct rng *r, unsigned per_mille)
{
    return below(r, 1000) < per_mille;
}

static const char *pick(struct rng *r, const struct synth_list *l)
{
    return l->v[below(r, l->n)];
}

/* A keyed permutation of [0, n): Feistel rounds on 2k bits, cycle walking. */
static uint64_t permute(uint64_t key, uint64_t x, uint64_t n)
{
    unsigned bits = 2;
    while ((1ULL << bits) < n)
        bits += 2;
    unsigned half = bits / 2;
    uint64_t mask = (1ULL << half) - 1;
    do {
        uint64_t l = x >> half, r = x & mask;
        for (uint64_t round = 0; round < 4; round++) {
            uint64_t f = mix64(key ^ (r | (round << 56))) & mask;
            uint64_t t = l ^ f;
            l = r;
            r = t;
        }
        x = (l << half) | r;
    } while (x >= n);
    return x;
}

/* ---- calendar ---------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
static int32_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

static void civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)yoe + era * 400 + (*m <= 2);
}

/* The same calendar day `years` later (28 February for 29 February). */
static int32_t add_years(int32_t day, int years)
{
    int y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    y += years;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        d = 28;
    return days_from_civil(y, m, d);
}

/* Completed years of someone born on `dob` at day `on`. */
static int age_on(int32_t dob, int32_t on)
{
    int y1, y2;
    unsigned m1, d1, m2, d2;
    civil_from_days(dob, &y1, &m1, &d1);
    civil_from_days(on, &y2, &m2, &d2);
    int age = y2 - y1;
    if (m2 < m1 || (m2 == m1 && d2 < d1))
        age--;
    return age;
}

/* 0 under 6 (no biometrics), 1 from 6 to 17, 2 adult. */
static int age_band(int age)
{
    return age < 6 ? 0 : age < 18 ? 1 : 2;
}

static int32_t between(struct rng *r, int32_t lo, int32_t hi)
{
    return hi <= lo ? lo : lo + (int32_t)below(r, (uint64_t)(hi - lo) + 1);
}

/* ---- the generator's state --------------------------------------------------- */

struct out {
    FILE *f;
    char *buf;
    size_t len, cap;
    bool failed;
};

struct gen {
    uint64_t seed, count;
    unsigned birth_pm, death_pm, dup_pm;
    bool biometrics;
    const char *prefix;
    int32_t as_of_day, start_day;
    uint8_t *kind; /* one byte per line */
    uint64_t county_cum[SYNTH_COUNTIES];
    struct out out;
};

struct doc {
    enum doc_type type;
    char number[DOC_NUMBER_MAX_LEN + 1];
    int32_t issued, expires; /* expires 0: none */
};

/* One invented person, as enrolled on one line. */
struct who {
    uint64_t line, bio_line; /* bio_line: whose fingers (a near-duplicate's original) */
    int64_t captured;
    int32_t cap_day;
    unsigned centre_kit, officer;
    enum sex sex;
    enum citizenship cit;
    const char *nation; /* nationality, or country of birth of a Kenyan by registration */
    unsigned birth_county, res_county; /* 1..47; birth_county 0 when born abroad */
    unsigned community;
    int32_t dob;
    bool year_only;
    int age; /* at capture; in the same age band at as_of */
    char first[NAME_MAX_LEN + 1], other[NAME_MAX_LEN + 1], surname[NAME_MAX_LEN + 1];
    enum marital_status marital;
    char phone[20];
    char email[TEXT_MAX_LEN + 1];
    unsigned ndocs;
    struct doc docs[PERSON_MAX_DOCS];
    int exemption; /* index into synth_exemptions, -1 none */
    unsigned nfingers;
};

/* ---- line timing and enrolment centres --------------------------------------- */

/* Capture time of a line: in line order over the year, in office hours. */
static int64_t capture_time(const struct gen *g, uint64_t line, struct rng *meta)
{
    uint64_t total = (uint64_t)SPAN_DAYS * WORK_SECONDS;
    uint64_t t = (line * total + below(meta, total)) / g->count;
    int64_t day = g->start_day + (int64_t)(t / WORK_SECONDS);
    return day * 86400 + OPEN_SECONDS + (int64_t)(t % WORK_SECONDS);
}

/* The kit (in the person's county of residence) and officer of a line. */
static void pick_centre(struct rng *meta, struct who *w)
{
    const struct synth_county *c = &synth_counties[w->res_county - 1];
    unsigned kits = 5 + c->population / 50000;
    w->centre_kit = 1 + (unsigned)below(meta, kits);
    w->officer = ((w->res_county - 1) * 200 + w->centre_kit) * 3 + (unsigned)below(meta, 3) + 1;
}

static void set_line(const struct gen *g, uint64_t line, struct who *w)
{
    struct rng meta;
    rng_init(&meta, g->seed, line, S_META);
    w->line = line;
    w->captured = capture_time(g, line, &meta);
    w->cap_day = (int32_t)(w->captured / 86400);
    if (w->res_county)
        pick_centre(&meta, w);
}

static void enrolment_id(const struct gen *g, uint64_t line, char out[ID_MAX_LEN + 1])
{
    snprintf(out, ID_MAX_LEN + 1, "%s-%" PRIx64 "-%08" PRIu64, g->prefix, g->seed, line + 1);
}

/* ---- origin, sex, age, counties ---------------------------------------------- */

static unsigned pick_county(const struct gen *g, struct rng *r)
{
    uint64_t x = below(r, g->county_cum[SYNTH_COUNTIES - 1]);
    unsigned lo = 0, hi = SYNTH_COUNTIES - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (x < g->county_cum[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo + 1;
}

static unsigned pick_community(struct rng *r, unsigned county)
{
    const struct synth_mix *mix = synth_counties[county - 1].mix;
    unsigned total = 0, i;
    for (i = 0; i < SYNTH_MIX_MAX && mix[i].weight; i++)
        total += mix[i].weight;
    unsigned x = (unsigned)below(r, total);
    for (i = 0; x >= mix[i].weight; i++)
        x -= mix[i].weight;
    return mix[i].community;
}

static const struct synth_nation *pick_nation(struct rng *r, bool registration)
{
    unsigned total = 0, i;
    for (i = 0; i < synth_nation_count; i++)
        total +=
            registration ? synth_nations[i].registration_weight : synth_nations[i].foreign_weight;
    unsigned x = (unsigned)below(r, total);
    for (i = 0;; i++) {
        unsigned wt =
            registration ? synth_nations[i].registration_weight : synth_nations[i].foreign_weight;
        if (x < wt)
            return &synth_nations[i];
        x -= wt;
    }
}

/* 2019 census: 23,548,056 male, 24,014,716 female, 1,524 intersex. */
static enum sex pick_sex(struct rng *r)
{
    uint64_t x = below(r, 47564296);
    if (x < 1524)
        return SEX_INTERSEX;
    return x < 1524 + 24014716 ? SEX_FEMALE : SEX_MALE;
}

/* Five-year age groups (thousands), roughly the 2019 census; median near 19.7. */
static const uint16_t pyramid[] = {5975, 6316, 6363, 5518, 4563, 4229, 3481, 2813, 2169, 1677, 1322,
                                   1046, 813,  565,  443,  256,  186,  86,   53,   19,   10};

static int pick_age(struct rng *r)
{
    unsigned total = 0, i, n = sizeof(pyramid) / sizeof(pyramid[0]);
    for (i = 0; i < n; i++)
        total += pyramid[i];
    unsigned x = (unsigned)below(r, total);
    for (i = 0; x >= pyramid[i]; i++)
        x -= pyramid[i];
    return (int)(i * 5 + below(r, 5));
}

/* A date of birth giving `age` at capture, in the same age band at as_of. */
static void pick_dob(const struct gen *g, struct rng *r, struct who *w, int age)
{
    int32_t newest = add_years(w->cap_day, -age);
    int32_t oldest = add_years(w->cap_day, -age - 1) + 1;
    w->dob = between(r, oldest, newest);
    if (age_band(age_on(w->dob, w->cap_day)) != age_band(age_on(w->dob, g->as_of_day)))
        w->dob -= g->as_of_day - w->cap_day;
    /* Across a leap day the shift can fall one day short: step back until the
     * person is in the same age band at capture and on the as-of date. */
    for (int i = 0;
         i < 800 && age_band(age_on(w->dob, w->cap_day)) != age_band(age_on(w->dob, g->as_of_day));
         i++)
        w->dob--;
    w->age = age_on(w->dob, w->cap_day);
    unsigned year_only_pm = w->age >= 60 ? 500 : w->age >= 40 ? 200 : 0;
    w->year_only = chance(r, year_only_pm);
}

static void pick_origin(const struct gen *g, struct rng *r, struct who *w)
{
    unsigned x = (unsigned)below(r, 1000);
    w->cit = x < 10 ? CIT_FOREIGN : x < 15 ? CIT_KENYAN_REGISTRATION : CIT_KENYAN_BIRTH;
    if (w->cit == CIT_KENYAN_BIRTH) {
        w->res_county = pick_county(g, r);
        return;
    }
    const struct synth_nation *n = pick_nation(r, w->cit == CIT_KENYAN_REGISTRATION);
    w->nation = n->code;
    w->community = n->community;
    if (n->county && chance(r, n->county_pm))
        w->res_county = n->county;
    else
        w->res_county = pick_county(g, r);
}

/* Kenyans by birth: born in their county of residence, or (migrants) elsewhere. */
static void pick_birthplace(const struct gen *g, struct rng *r, struct who *w)
{
    if (w->cit != CIT_KENYAN_BIRTH)
        return;
    unsigned pm = synth_counties[w->res_county - 1].born_elsewhere_pm;
    if (w->age < 10)
        pm /= 2;
    w->birth_county = w->res_county;
    if (chance(r, pm))
        for (int i = 0; i < 8 && w->birth_county == w->res_county; i++)
            w->birth_county = pick_county(g, r);
    w->community = pick_community(r, w->birth_county);
}

/* ---- names and contacts ------------------------------------------------------ */

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, NAME_MAX_LEN + 1, "%s", src);
}

static const char *first_name(struct rng *r, const struct synth_community *c, bool female)
{
    unsigned x = (unsigned)below(r, 1000);
    if (x < c->christian_pm)
        return pick(r, female ? &synth_christian_female : &synth_christian_male);
    if (x < (unsigned)c->christian_pm + c->muslim_pm)
        return pick(r, female ? &synth_muslim_female : &synth_muslim_male);
    return pick(r, female ? &c->female : &c->male);
}

static void pick_names(struct rng *r, struct who *w)
{
    const struct synth_community *c = &synth_communities[w->community];
    bool female = w->sex == SEX_FEMALE || (w->sex == SEX_INTERSEX && below(r, 2));
    copy_name(w->first, first_name(r, c, female));
    copy_name(w->surname, pick(r, &c->surname));
    w->other[0] = '\0';
    if (!chance(r, 750))
        return;
    const struct synth_list *l = c->patronymic || !female ? &c->male : &c->female;
    const char *other = pick(r, l);
    if (!strcmp(other, w->surname) || !strcmp(other, w->first))
        other = pick(r, l);
    if (strcmp(other, w->surname) && strcmp(other, w->first))
        copy_name(w->other, other);
}

/* Lower-case ASCII letters of a name, for an e-mail address. */
static size_t mail_part(char *dst, size_t cap, const char *name)
{
    size_t n = 0;
    for (const char *s = name; *s && n + 1 < cap; s++) {
        char ch = *s;
        if (ch >= 'A' && ch <= 'Z')
            dst[n++] = (char)(ch - 'A' + 'a');
        else if (ch >= 'a' && ch <= 'z')
            dst[n++] = ch;
    }
    dst[n] = '\0';
    return n;
}

static void pick_email(struct rng *r, struct who *w)
{
    static const char *const domains[] = {"example.com", "example.org", "example.net"};
    char a[40], b[40], num[8] = "";
    if (!mail_part(a, sizeof a, w->first) || !mail_part(b, sizeof b, w->surname))
        return;
    if (chance(r, 500))
        snprintf(num, sizeof num, "%u", 1 + (unsigned)below(r, 99));
    snprintf(w->email, sizeof w->email, "%s.%s%s@%s", a, b, num, domains[below(r, 3)]);
}

/* Per mille never married, married, divorced, separated, widowed, by age. */
static const struct {
    int min_age;
    uint16_t pm[5];
} marital_by_age[] = {
    {70, {15, 540, 15, 40, 390}}, {60, {20, 680, 20, 50, 230}}, {50, {30, 760, 20, 60, 130}},
    {40, {50, 800, 20, 60, 70}},  {30, {120, 790, 15, 50, 25}}, {25, {300, 640, 10, 40, 10}},
    {20, {600, 370, 5, 20, 5}},   {18, {950, 45, 0, 5, 0}},
};

static enum marital_status pick_marital(struct rng *r, int age)
{
    unsigned i = 0;
    while (marital_by_age[i].min_age > age)
        i++;
    unsigned x = (unsigned)below(r, 1000), k = 0;
    while (k < 4 && x >= marital_by_age[i].pm[k])
        x -= marital_by_age[i].pm[k++];
    return (enum marital_status)(MARITAL_NEVER_MARRIED + k);
}

static void pick_contacts(struct rng *r, struct who *w)
{
    if (w->age < 18)
        return;
    w->marital = pick_marital(r, w->age);
    if (chance(r, 850)) {
        if (chance(r, 850))
            snprintf(w->phone, sizeof w->phone, "+2547%08u", (unsigned)below(r, 100000000));
        else
            snprintf(w->phone, sizeof w->phone, "+25411%07u", (unsigned)below(r, 10000000));
    }
    if (chance(r, w->age < 40 ? 350 : 120))
        pick_email(r, w);
}

/* ---- documents --------------------------------------------------------------- */

static uint64_t doc_key(const struct gen *g, unsigned kind)
{
    return mix64(g->seed ^ mix64(0x646f63ULL + kind));
}

/* The number of a document of this type belonging to `line`: unique per line. */
static void doc_number(const struct gen *g, enum doc_type t, uint64_t line, char *out)
{
    size_t cap = DOC_NUMBER_MAX_LEN + 1;
    switch (t) {
    case DOC_NATIONAL_ID:
        snprintf(out, cap, "%08" PRIu64,
                 10000000 + permute(doc_key(g, N_NATIONAL_ID), line, 90000000));
        break;
    case DOC_BIRTH_CERTIFICATE:
        snprintf(out, cap, "%09" PRIu64,
                 100000000 + permute(doc_key(g, N_BIRTH_CERT), line, 900000000));
        break;
    case DOC_PASSPORT:
        snprintf(out, cap, "%cK%07" PRIu64, (char)('A' + line / 10000000),
                 permute(doc_key(g, N_PASSPORT), line % 10000000, 10000000));
        break;
    case DOC_KRA_PIN: {
        uint64_t v = permute(doc_key(g, N_KRA), line, 1000000000);
        snprintf(out, cap, "A%09" PRIu64 "%c", v, (char)('A' + mix64(v) % 26));
        break;
    }
    case DOC_DRIVING_LICENCE:
        snprintf(out, cap, "DL%08" PRIu64, permute(doc_key(g, N_LICENCE), line, 100000000));
        break;
    default: /* alien id */
        snprintf(out, cap, "0%08" PRIu64, permute(doc_key(g, N_ALIEN), line, 100000000));
        break;
    }
}

static struct doc *add_doc(const struct gen *g, struct who *w, enum doc_type t, int32_t issued)
{
    struct doc *d = &w->docs[w->ndocs++];
    d->type = t;
    doc_number(g, t, w->line, d->number);
    d->issued = issued;
    d->expires = 0;
    return d;
}

/* Issued between the 18th birthday and capture, within `window` years of capture. */
static int32_t adult_issue(struct rng *r, const struct who *w, int window)
{
    int32_t lo = add_years(w->dob, 18), recent = add_years(w->cap_day, -window);
    return between(r, lo > recent ? lo : recent, w->cap_day);
}

static void adult_kenyan_docs(const struct gen *g, struct rng *r, struct who *w)
{
    int32_t at18 = add_years(w->dob, 18);
    add_doc(g, w, DOC_NATIONAL_ID,
            between(r, at18, add_years(at18, 7) < w->cap_day ? add_years(at18, 7) : w->cap_day));
    unsigned bc_pm = w->age < 30 ? 600 : w->age < 50 ? 250 : 50;
    if (w->cit == CIT_KENYAN_BIRTH && chance(r, bc_pm))
        add_doc(g, w, DOC_BIRTH_CERTIFICATE, between(r, w->dob, w->dob + 180));
    unsigned pp_pm = w->cit == CIT_KENYAN_REGISTRATION ? 250 : w->res_county == 47 ? 180 : 70;
    if (chance(r, pp_pm)) {
        struct doc *d = add_doc(g, w, DOC_PASSPORT, adult_issue(r, w, 10));
        d->expires = add_years(d->issued, 10);
    }
}

static void adult_common_docs(const struct gen *g, struct rng *r, struct who *w)
{
    if (chance(r, w->cit == CIT_FOREIGN ? 250 : 400))
        add_doc(g, w, DOC_KRA_PIN, adult_issue(r, w, 20));
    if (chance(r, w->sex == SEX_MALE ? 200 : 90)) {
        struct doc *d = add_doc(g, w, DOC_DRIVING_LICENCE, adult_issue(r, w, 3));
        d->expires = add_years(d->issued, 3);
    }
}

static void pick_documents(const struct gen *g, struct rng *r, struct who *w)
{
    w->ndocs = 0;
    if (w->cit == CIT_FOREIGN) {
        struct doc *d = add_doc(g, w, DOC_ALIEN_ID, adult_issue(r, w, 5));
        d->expires = add_years(d->issued, 5);
    } else if (w->age >= 18) {
        adult_kenyan_docs(g, r, w);
    } else {
        int32_t issued = between(r, w->dob, w->dob + 180);
        add_doc(g, w, DOC_BIRTH_CERTIFICATE, issued < w->cap_day ? issued : w->cap_day);
    }
    if (w->age >= 18)
        adult_common_docs(g, r, w);
}

/* ---- a person enrolled on a line --------------------------------------------- */

static void pick_biometrics(struct rng *r, struct who *w)
{
    w->exemption = -1;
    w->nfingers = 0;
    if (w->age < 6)
        return;
    if (chance(r, 2))
        w->exemption = (int)below(r, synth_exemptions.n);
    else
        w->nfingers = chance(r, 800) ? 2 : 1;
}

/* The person enrolled on `line` (always the same for the same seed). */
static void make_person(const struct gen *g, uint64_t line, struct who *w)
{
    struct rng r;
    rng_init(&r, g->seed, line, S_DEMO);
    memset(w, 0, sizeof *w);
    pick_origin(g, &r, w);
    set_line(g, line, w);
    w->bio_line = line;
    w->sex = pick_sex(&r);
    int age = pick_age(&r);
    for (int i = 0; i < 64 && w->cit != CIT_KENYAN_BIRTH && age < 18; i++)
        age = pick_age(&r);
    pick_dob(g, &r, w, w->cit != CIT_KENYAN_BIRTH && age < 18 ? 30 : age);
    pick_birthplace(g, &r, w);
    pick_names(&r, w);
    pick_contacts(&r, w);
    pick_documents(g, &r, w);
    pick_biometrics(&r, w);
}

/* ---- JSON output ------------------------------------------------------------- */

static void out_flush(struct out *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len)
        o->failed = true;
    o->len = 0;
}

static void put(struct out *o, const char *s, size_t n)
{
    if (o->cap - o->len < n) {
        out_flush(o);
        if (n > o->cap) {
            if (fwrite(s, 1, n, o->f) != n)
                o->failed = true;
            return;
        }
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

/* Only for string literals (sizeof). */
#define PUT(o, lit) put(o, "" lit, sizeof(lit) - 1)

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 as is. */
static void put_str(struct out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    PUT(o, "\"");
    const char *run = s;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        put(o, run, (size_t)(s - run));
        char esc[6] = {'\\', (char)ch, 0, 0, 0, 0};
        size_t n = 2;
        if (ch < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        put(o, esc, n);
        run = s + 1;
    }
    put(o, run, (size_t)(s - run));
    PUT(o, "\"");
}

static void put_digits(struct out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    put(o, tmp + sizeof tmp - n, (size_t)n);
}

static void put_day(struct out *o, int32_t day, bool year_only)
{
    int y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    put_digits(o, (uint64_t)y, 4);
    if (!year_only) {
        PUT(o, "-");
        put_digits(o, m, 2);
        PUT(o, "-");
        put_digits(o, d, 2);
    }
}

static void put_date(struct out *o, int32_t day, bool year_only)
{
    PUT(o, "\"");
    put_day(o, day, year_only);
    PUT(o, "\"");
}

static void put_time(struct out *o, int64_t t)
{
    unsigned s = (unsigned)(t % 86400);
    PUT(o, "\"");
    put_day(o, (int32_t)(t / 86400), false);
    PUT(o, "T");
    put_digits(o, s / 3600, 2);
    PUT(o, ":");
    put_digits(o, s / 60 % 60, 2);
    PUT(o, ":");
    put_digits(o, s % 60, 2);
    PUT(o, "Z\"");
}

static const char *const sex_names[] = {"", "female", "male", "intersex"};
static const char *const marital_names[] = {"",         "never_married", "married",
                                            "divorced", "separated",     "widowed"};
static const char *const doc_names[] = {
    [DOC_BIRTH_CERTIFICATE] = "birth_certificate",
    [DOC_NATIONAL_ID] = "national_id",
    [DOC_PASSPORT] = "passport",
    [DOC_ALIEN_ID] = "alien_id",
    [DOC_DRIVING_LICENCE] = "driving_licence",
    [DOC_KRA_PIN] = "kra_pin",
};
static const char *const doc_issuers[] = {
    [DOC_BIRTH_CERTIFICATE] = "CRS", [DOC_NATIONAL_ID] = "NRB",      [DOC_PASSPORT] = "DIS",
    [DOC_ALIEN_ID] = "DIS",          [DOC_DRIVING_LICENCE] = "NTSA", [DOC_KRA_PIN] = "KRA",
};

static void put_names(struct out *o, const struct who *w)
{
    PUT(o, "\"surname\":");
    put_str(o, w->surname);
    PUT(o, ",\"first_name\":");
    put_str(o, w->first);
    if (w->other[0]) {
        PUT(o, ",\"other_names\":");
        put_str(o, w->other);
    }
    PUT(o, ",\"sex\":");
    put_str(o, sex_names[w->sex]);
    PUT(o, ",\"date_of_birth\":");
    put_date(o, w->dob, w->year_only);
}

static void put_origin(struct out *o, const struct who *w)
{
    if (w->birth_county) {
        PUT(o, ",\"place_of_birth\":{\"county\":");
        put_str(o, synth_counties[w->birth_county - 1].code);
    } else {
        PUT(o, ",\"place_of_birth\":{\"country\":");
        put_str(o, w->nation);
    }
    if (w->cit == CIT_FOREIGN) {
        PUT(o, "},\"citizenship\":{\"type\":\"foreign\",\"nationality\":");
        put_str(o, w->nation);
        PUT(o, "}");
    } else if (w->cit == CIT_KENYAN_REGISTRATION) {
        PUT(o, "},\"citizenship\":{\"type\":\"registration\"}");
    } else {
        PUT(o, "},\"citizenship\":{\"type\":\"birth\"}");
    }
    PUT(o, ",\"residence\":{\"county\":");
    put_str(o, synth_counties[w->res_county - 1].code);
    PUT(o, "}");
}

static void put_contacts(struct out *o, const struct who *w)
{
    if (w->marital) {
        PUT(o, ",\"marital_status\":");
        put_str(o, marital_names[w->marital]);
    }
    if (w->phone[0]) {
        PUT(o, ",\"phone\":");
        put_str(o, w->phone);
    }
    if (w->email[0]) {
        PUT(o, ",\"email\":");
        put_str(o, w->email);
    }
}

static void put_documents(struct out *o, const struct who *w)
{
    PUT(o, ",\"documents\":[");
    for (unsigned i = 0; i < w->ndocs; i++) {
        const struct doc *d = &w->docs[i];
        if (i)
            PUT(o, ",");
        PUT(o, "{\"type\":");
        put_str(o, doc_names[d->type]);
        PUT(o, ",\"number\":");
        put_str(o, d->number);
        PUT(o, ",\"issuer\":");
        put_str(o, doc_issuers[d->type]);
        PUT(o, ",\"issued\":");
        put_date(o, d->issued, false);
        if (d->expires) {
            PUT(o, ",\"expires\":");
            put_date(o, d->expires, false);
        }
        PUT(o, "}");
    }
    PUT(o, "]");
}

static void put_enrolment(struct out *o, const struct gen *g, const struct who *w)
{
    char id[ID_MAX_LEN + 1];
    enrolment_id(g, w->line, id);
    PUT(o, ",\"enrolment\":{\"id\":");
    put_str(o, id);
    PUT(o, ",\"officer\":\"OFF-");
    put_digits(o, w->officer, 5);
    PUT(o, "\",\"centre\":\"KIT-");
    put_digits(o, w->res_county, 3);
    PUT(o, "-");
    put_digits(o, w->centre_kit, 3);
    PUT(o, "\",\"captured_at\":");
    put_time(o, w->captured);
    PUT(o, "}");
}

/* ---- fingerprints ------------------------------------------------------------ */

static void be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* One minutia; `jit` (NULL for a first capture) moves it as a re-capture would. */
static void make_minutia(struct rng *bio, struct rng *jit, uint8_t *m)
{
    unsigned type = 1 + (unsigned)below(bio, 2); /* 1 ending, 2 bifurcation */
    unsigned x = 16 + (unsigned)below(bio, FP_WIDTH - 32);
    unsigned y = 16 + (unsigned)below(bio, FP_HEIGHT - 32);
    unsigned angle = (unsigned)below(bio, 256);
    unsigned quality = 30 + (unsigned)below(bio, 71);
    if (jit) {
        x = x + (unsigned)below(jit, 7) - 3;
        y = y + (unsigned)below(jit, 7) - 3;
        angle = (angle + (unsigned)below(jit, 9) + 252) & 0xff;
    }
    m[0] = (uint8_t)((type << 6) | ((x >> 8) & 0x3f));
    m[1] = (uint8_t)x;
    m[2] = (uint8_t)((y >> 8) & 0x3f);
    m[3] = (uint8_t)y;
    m[4] = (uint8_t)angle;
    m[5] = (uint8_t)quality;
}

/* An ISO/IEC 19794-2:2005 finger minutiae record with one view; returns its length. */
static size_t make_template(struct rng *bio, struct rng *jit, unsigned position, uint8_t *t)
{
    unsigned n = 12 + (unsigned)below(bio, FP_MAX_MINUTIAE - 11);
    unsigned quality = 40 + (unsigned)below(bio, 61);
    if (jit) {
        quality = quality + (unsigned)below(jit, 11) - 5;
        quality = quality < 40 ? 40 : quality > 100 ? 100 : quality;
    }
    size_t len = 30 + 6 * (size_t)n;
    memcpy(t, "FMR\0 20\0", 8);
    be16(t + 8, (unsigned)(len >> 16));
    be16(t + 10, (unsigned)len);
    be16(t + 12, 0); /* capture equipment */
    be16(t + 14, FP_WIDTH);
    be16(t + 16, FP_HEIGHT);
    be16(t + 18, FP_RESOLUTION);
    be16(t + 20, FP_RESOLUTION);
    t[22] = 1; /* finger views */
    t[23] = 0;
    t[24] = (uint8_t)position;
    t[25] = 0; /* view 0, live-scan plain impression */
    t[26] = (uint8_t)quality;
    t[27] = (uint8_t)n;
    for (unsigned i = 0; i < n; i++)
        make_minutia(bio, jit, t + 28 + 6 * i);
    be16(t + 28 + 6 * n, 0); /* no extended data */
    return len;
}

static void put_biometrics(struct out *o, const struct gen *g, const struct who *w)
{
    static const unsigned positions[] = {2, 7}; /* right and left index */
    if (w->exemption >= 0) {
        PUT(o, ",\"biometric_exemption\":");
        put_str(o, synth_exemptions.v[w->exemption]);
        return;
    }
    if (!g->biometrics || !w->nfingers)
        return;
    struct rng bio, jit;
    rng_init(&bio, g->seed, w->bio_line, S_BIO);
    rng_init(&jit, g->seed, w->line, S_JITTER);
    PUT(o, ",\"biometrics\":{\"fingerprints\":[");
    for (unsigned i = 0; i < w->nfingers; i++) {
        uint8_t t[FP_MAX_LEN];
        unsigned char b64[4 * ((FP_MAX_LEN + 2) / 3) + 1];
        size_t len = make_template(&bio, w->bio_line != w->line ? &jit : NULL, positions[i], t);
        int n = EVP_EncodeBlock(b64, t, (int)len);
        if (i)
            PUT(o, ",");
        PUT(o, "{\"position\":");
        put_digits(o, positions[i], 1);
        PUT(o, ",\"template\":\"");
        put(o, (const char *)b64, (size_t)n);
        PUT(o, "\"}");
    }
    PUT(o, "]}");
}

static void put_enrol(struct out *o, const struct gen *g, const struct who *w)
{
    PUT(o, "{\"op\":\"enrol\",\"record\":{");
    put_names(o, w);
    put_origin(o, w);
    put_contacts(o, w);
    put_documents(o, w);
    put_biometrics(o, g, w);
    put_enrolment(o, g, w);
    PUT(o, "}}\n");
}

/* ---- earlier people
 * ------------------------------------------------------------------------------ */

/* An original enrolment whose person is alive. */
static bool eligible(const struct gen *g, uint64_t line)
{
    return (g->kind[line] & (K_MASK | K_DEAD)) == K_ENROL;
}

typedef bool (*who_ok)(const struct gen *g, const struct who *w, int32_t day);

/* A random earlier living enrolment accepted by `ok` (NULL: any), in `probes` tries. */
static bool find_earlier(const struct gen *g, struct rng *r, uint64_t line, int probes, who_ok ok,
                         int32_t day, struct who *w)
{
    for (int i = 0; line && i < probes; i++) {
        uint64_t j = below(r, line);
        if (!eligible(g, j))
            continue;
        make_person(g, j, w);
        if (!ok || ok(g, w, day))
            return true;
    }
    return false;
}

static bool mother_ok(const struct gen *g, const struct who *w, int32_t day)
{
    return w->sex == SEX_FEMALE && w->cit != CIT_FOREIGN && !w->year_only &&
           age_on(w->dob, day) >= 18 && age_on(w->dob, g->as_of_day) <= 45;
}

static bool father_ok(const struct gen *g, const struct who *w, int32_t day)
{
    (void)g;
    int age = age_on(w->dob, day);
    return w->sex == SEX_MALE && w->cit != CIT_FOREIGN && age >= 20 && age <= 65;
}

/* ---- births
 * ---------------------------------------------------------------------------------------- */

static void make_child(const struct gen *g, struct rng *r, struct who *c, const struct who *mother,
                       const struct who *father)
{
    c->sex = pick_sex(r);
    c->cit = CIT_KENYAN_BIRTH;
    c->res_county = mother->res_county;
    c->birth_county = chance(r, 900) ? mother->res_county : pick_county(g, r);
    c->community = (father ? father : mother)->community;
    c->dob = c->cap_day - (int32_t)(chance(r, 700) ? below(r, 91) : below(r, 701));
    c->age = age_on(c->dob, c->cap_day);
    pick_names(r, c);
    copy_name(c->surname, (father ? father : mother)->surname);
    if (!strcmp(c->other, c->surname))
        c->other[0] = '\0';
    c->exemption = -1;
    add_doc(g, c, DOC_BIRTH_CERTIFICATE, between(r, c->dob, c->cap_day));
}

static void put_birth(struct out *o, const struct gen *g, const struct who *c,
                      const struct who *mother, const struct who *father)
{
    char id[ID_MAX_LEN + 1];
    PUT(o, "{\"op\":\"birth\",\"record\":{");
    put_names(o, c);
    put_origin(o, c);
    enrolment_id(g, mother->line, id);
    PUT(o, ",\"parents\":{\"mother_enrolment\":");
    put_str(o, id);
    if (father) {
        enrolment_id(g, father->line, id);
        PUT(o, ",\"father_enrolment\":");
        put_str(o, id);
    }
    PUT(o, "}");
    put_documents(o, c);
    put_enrolment(o, g, c);
    PUT(o, "}}\n");
}

static bool do_birth(struct gen *g, uint64_t line)
{
    struct rng r;
    struct who child, mother, father;
    rng_init(&r, g->seed, line, S_EVENT);
    memset(&child, 0, sizeof child);
    set_line(g, line, &child);
    if (!find_earlier(g, &r, line, MOTHER_PROBES, mother_ok, child.cap_day, &mother))
        return false;
    bool has_father = chance(&r, 600) &&
                      find_earlier(g, &r, line, PERSON_PROBES, father_ok, child.cap_day, &father);
    child.res_county = mother.res_county;
    set_line(g, line, &child);
    make_child(g, &r, &child, &mother, has_father ? &father : NULL);
    put_birth(&g->out, g, &child, &mother, has_father ? &father : NULL);
    return true;
}

/* ---- deaths
 * ------------------------------------------------------------------------------------------ */

static unsigned mortality_pm(int age)
{
    return age < 5 ? 300 : age < 40 ? 100 : age < 60 ? 300 : 1000;
}

/* An earlier living person, favouring the old and the very young. */
static bool pick_deceased(const struct gen *g, struct rng *r, uint64_t line, int32_t day,
                          struct who *dead)
{
    struct who w;
    bool found = false;
    for (int i = 0; line && i < 2 * PERSON_PROBES; i++) {
        uint64_t j = below(r, line);
        if (!eligible(g, j))
            continue;
        make_person(g, j, &w);
        if (w.dob >= day)
            continue;
        *dead = w;
        found = true;
        if (chance(r, mortality_pm(w.age)))
            break;
    }
    return found;
}

static bool do_death(struct gen *g, uint64_t line)
{
    struct rng r;
    struct who now, dead;
    char id[ID_MAX_LEN + 1], cert[DOC_NUMBER_MAX_LEN + 1];
    rng_init(&r, g->seed, line, S_EVENT);
    memset(&now, 0, sizeof now);
    set_line(g, line, &now);
    if (!pick_deceased(g, &r, line, now.cap_day, &dead))
        return false;
    g->kind[dead.line] |= K_DEAD;
    int32_t lo = dead.cap_day > dead.dob ? dead.cap_day : dead.dob + 1;
    enrolment_id(g, dead.line, id);
    snprintf(cert, sizeof cert, "D%08" PRIu64, permute(doc_key(g, N_DEATH), line, 100000000));
    PUT(&g->out, "{\"op\":\"death\",\"enrolment_ref\":");
    put_str(&g->out, id);
    PUT(&g->out, ",\"date\":");
    put_date(&g->out, between(&r, lo, now.cap_day), false);
    PUT(&g->out, ",\"certificate\":");
    put_str(&g->out, cert);
    PUT(&g->out, "}\n");
    return true;
}

/* ---- near-duplicates
 * ------------------------------------------------------------------------------------ */

/* Upper or lower case, ASCII and the Latin-1 letters of UTF-8 (U+00C0..U+00FE). */
static void set_case(char *s, bool upper)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (upper && *p >= 'a' && *p <= 'z')
            *p = (unsigned char)(*p - 32);
        else if (!upper && *p >= 'A' && *p <= 'Z')
            *p = (unsigned char)(*p + 32);
        else if (*p == 0xc3 && p[1]) {
            p++;
            if (upper && *p >= 0xa0 && *p <= 0xbe && *p != 0xb7)
                *p = (unsigned char)(*p - 32);
            else if (!upper && *p >= 0x80 && *p <= 0x9e && *p != 0x97)
                *p = (unsigned char)(*p + 32);
        }
    }
}

static void pad(char *s)
{
    size_t n = strlen(s);
    if (n + 2 > NAME_MAX_LEN)
        return;
    memmove(s + 1, s, n);
    s[0] = ' ';
    s[n + 1] = ' ';
    s[n + 2] = '\0';
}

/* Puts an acute accent on one ASCII vowel (a -> U+00E1 and so on). */
static void accent(struct rng *r, char *s)
{
    static const char plain[] = "aeiouAEIOU";
    static const unsigned char acute[] = {0xa1, 0xa9, 0xad, 0xb3, 0xba,
                                          0x81, 0x89, 0x8d, 0x93, 0x9a};
    size_t n = strlen(s), vowels = 0;
    for (size_t i = 0; i < n; i++)
        vowels += strchr(plain, s[i]) != NULL;
    if (!vowels || n + 1 > NAME_MAX_LEN)
        return;
    size_t k = below(r, vowels), i = 0;
    for (;; i++)
        if (strchr(plain, s[i]) && !k--)
            break;
    unsigned v = (unsigned)(strchr(plain, s[i]) - plain);
    memmove(s + i + 2, s + i + 1, n - i);
    s[i] = (char)0xc3;
    s[i + 1] = (char)acute[v];
}

static char *some_name(struct rng *r, struct who *w)
{
    unsigned x = (unsigned)below(r, w->other[0] ? 3 : 2);
    return x == 0 ? w->first : x == 1 ? w->surname : w->other;
}

/* The names as a second officer might type them: case, spaces, order, accents. */
static void vary_names(struct rng *r, struct who *w)
{
    char tmp[NAME_MAX_LEN + 1];
    int n = 1 + chance(r, 300);
    for (int i = 0; i < n; i++) {
        switch (below(r, 4)) {
        case 0:
            memcpy(tmp, w->first, sizeof tmp);
            memcpy(w->first, w->surname, sizeof tmp);
            memcpy(w->surname, tmp, sizeof tmp);
            break;
        case 1:
            if (chance(r, 500)) {
                set_case(w->first, true);
                set_case(w->other, true);
                set_case(w->surname, true);
            } else {
                set_case(some_name(r, w), chance(r, 500));
            }
            break;
        case 2: {
            char *s = some_name(r, w);
            if (chance(r, 500))
                set_case(s, false);
            pad(s);
            break;
        }
        default:
            accent(r, some_name(r, w));
        }
    }
}

/* The re-enrolment of an earlier person: new line, varied names, one document. */
static bool do_dup(struct gen *g, uint64_t line)
{
    struct rng r;
    struct who w;
    rng_init(&r, g->seed, line, S_EVENT);
    if (!find_earlier(g, &r, line, PERSON_PROBES, NULL, 0, &w))
        return false;
    set_line(g, line, &w);
    vary_names(&r, &w);
    w.ndocs = 1;
    if (!chance(&r, 200))
        doc_number(g, w.docs[0].type, line, w.docs[0].number);
    if (!chance(&r, 600))
        w.phone[0] = '\0';
    if (chance(&r, 500))
        w.email[0] = '\0';
    put_enrol(&g->out, g, &w);
    return true;
}

/* ---- the stream
 * -----------------------------------------------------------------------------------------------
 */

static void do_line(struct gen *g, uint64_t line)
{
    struct rng r;
    rng_init(&r, g->seed, line, S_OP);
    unsigned x = (unsigned)below(&r, 1000);
    uint8_t kind = K_ENROL;
    if (x < g->birth_pm)
        kind = do_birth(g, line) ? K_BIRTH : K_ENROL;
    else if ((x -= g->birth_pm) < g->death_pm)
        kind = do_death(g, line) ? K_DEATH : K_ENROL;
    else if ((x -= g->death_pm) < g->dup_pm)
        kind = do_dup(g, line) ? K_DUP : K_ENROL;
    if (kind == K_ENROL) {
        struct who w;
        make_person(g, line, &w);
        put_enrol(&g->out, g, &w);
    }
    g->kind[line] = kind;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static const char *check_prefix(const char *p)
{
    size_t n = strlen(p);
    if (!n || n > SYNTH_PREFIX_MAX)
        return "kit prefix must be 1 to 24 characters";
    if (strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != n)
        return "kit prefix may hold only letters, digits, '-' and '_'";
    return NULL;
}

static const char *check_opts(FILE *out, const struct synth_opts *o)
{
    if (!out || !o)
        return "no output or no options";
    if (o->count > SYNTH_MAX_COUNT)
        return "count too large: at most 90000000 lines";
    if ((uint64_t)o->birth_per_mille + o->death_per_mille + o->dup_per_mille > 1000)
        return "births, deaths and duplicates exceed 1000 per mille";
    if (o->as_of && (o->as_of < MIN_AS_OF || o->as_of >= MAX_AS_OF))
        return "as_of must fall between the years 2000 and 2200";
    return o->kit_prefix ? check_prefix(o->kit_prefix) : NULL;
}

static int gen_init(struct gen *g, FILE *out, const struct synth_opts *o)
{
    memset(g, 0, sizeof *g);
    g->seed = o->seed;
    g->count = o->count;
    g->birth_pm = o->birth_per_mille;
    g->death_pm = o->death_per_mille;
    g->dup_pm = o->dup_per_mille;
    g->biometrics = o->biometrics;
    g->prefix = o->kit_prefix ? o->kit_prefix : "SYN";
    g->as_of_day = (int32_t)((o->as_of ? o->as_of : DEFAULT_AS_OF) / 86400);
    g->start_day = g->as_of_day - SPAN_DAYS;
    uint64_t sum = 0;
    for (unsigned i = 0; i < SYNTH_COUNTIES; i++)
        g->county_cum[i] = sum += synth_counties[i].population;
    g->out.f = out;
    g->out.cap = OUT_CAP;
    g->out.buf = malloc(OUT_CAP);
    g->kind = calloc(g->count ? g->count : 1, 1);
    return g->out.buf && g->kind ? 0 : -1;
}

void synth_opts_default(struct synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->count = 1000;
    o->dup_per_mille = 5;
    o->death_per_mille = 3;
    o->birth_per_mille = 20;
    o->biometrics = true;
    o->as_of = 0;
    o->kit_prefix = "SYN";
}

int synth_write(FILE *out, const struct synth_opts *o, char *err, size_t errlen)
{
    const char *bad = check_opts(out, o);
    if (bad) {
        set_err(err, errlen, bad);
        return -1;
    }
    struct gen g;
    int rc = gen_init(&g, out, o);
    if (rc)
        set_err(err, errlen, "out of memory");
    for (uint64_t i = 0; !rc && i < g.count && !g.out.failed; i++)
        do_line(&g, i);
    if (!rc) {
        out_flush(&g.out);
        if (g.out.failed || fflush(out)) {
            set_err(err, errlen, "write failed");
            rc = -1;
        }
    }
    free(g.out.buf);
    free(g.kind);
    return rc;
}
