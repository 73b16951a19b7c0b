/*
 * appliance/places.c - county and country code tables (see places.h).
 *
 * Counties are stored in code order, so the county with code n sits at index
 * n - 1: a lookup is a bounds check and one compare.  Country codes are a
 * sorted array of two-letter strings searched with bsearch().
 */
#include "appliance/places.h"

#include <stdlib.h>
#include <string.h>

struct county {
    char code[4];
    const char *name;
};

/* clang-format off */
static const struct county COUNTIES[] = {
    {"001", "Mombasa"},
    {"002", "Kwale"},
    {"003", "Kilifi"},
    {"004", "Tana River"},
    {"005", "Lamu"},
    {"006", "Taita-Taveta"},
    {"007", "Garissa"},
    {"008", "Wajir"},
    {"009", "Mandera"},
    {"010", "Marsabit"},
    {"011", "Isiolo"},
    {"012", "Meru"},
    {"013", "Tharaka-Nithi"},
    {"014", "Embu"},
    {"015", "Kitui"},
    {"016", "Machakos"},
    {"017", "Makueni"},
    {"018", "Nyandarua"},
    {"019", "Nyeri"},
    {"020", "Kirinyaga"},
    {"021", "Murang'a"},
    {"022", "Kiambu"},
    {"023", "Turkana"},
    {"024", "West Pokot"},
    {"025", "Samburu"},
    {"026", "Trans Nzoia"},
    {"027", "Uasin Gishu"},
    {"028", "Elgeyo-Marakwet"},
    {"029", "Nandi"},
    {"030", "Baringo"},
    {"031", "Laikipia"},
    {"032", "Nakuru"},
    {"033", "Narok"},
    {"034", "Kajiado"},
    {"035", "Kericho"},
    {"036", "Bomet"},
    {"037", "Kakamega"},
    {"038", "Vihiga"},
    {"039", "Bungoma"},
    {"040", "Busia"},
    {"041", "Siaya"},
    {"042", "Kisumu"},
    {"043", "Homa Bay"},
    {"044", "Migori"},
    {"045", "Kisii"},
    {"046", "Nyamira"},
    {"047", "Nairobi City"},
};
/* clang-format on */

#define N_COUNTIES (sizeof(COUNTIES) / sizeof(COUNTIES[0]))

/* Officially assigned ISO 3166-1 alpha-2 codes, sorted. */
/* clang-format off */
static const char ISO_ALPHA2[][3] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ",
    "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW",
    "CX", "CY", "CZ",
    "DE", "DJ", "DK", "DM", "DO", "DZ",
    "EC", "EE", "EG", "EH", "ER", "ES", "ET",
    "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT",
    "GU", "GW", "GY",
    "HK", "HM", "HN", "HR", "HT", "HU",
    "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT",
    "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ",
    "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
    "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM",
    "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY",
    "QA",
    "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ",
    "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ",
    "UA", "UG", "UM", "US", "UY", "UZ",
    "VA", "VC", "VE", "VG", "VI", "VN", "VU",
    "WF", "WS",
    "YE", "YT",
    "ZA", "ZM", "ZW",
};
/* clang-format on */

#define N_ISO_ALPHA2 (sizeof(ISO_ALPHA2) / sizeof(ISO_ALPHA2[0]))

static const struct county *county_find(const char *code)
{
    if (code == NULL)
        return NULL;
    for (int i = 0; i < 3; i++) {
        if (code[i] < '0' || code[i] > '9')
            return NULL;
    }
    if (code[3] != '\0')
        return NULL;
    size_t n =
        (size_t)(code[0] - '0') * 100 + (size_t)(code[1] - '0') * 10 + (size_t)(code[2] - '0');
    if (n == 0 || n > N_COUNTIES || strcmp(COUNTIES[n - 1].code, code) != 0)
        return NULL;
    return &COUNTIES[n - 1];
}

bool county_code_valid(const char *code)
{
    return county_find(code) != NULL;
}

const char *county_name(const char *code)
{
    const struct county *c = county_find(code);
    return c != NULL ? c->name : NULL;
}

size_t county_count(void)
{
    return N_COUNTIES;
}

const char *county_code_at(size_t i)
{
    return i < N_COUNTIES ? COUNTIES[i].code : NULL;
}

static int cmp_alpha2(const void *key, const void *elem)
{
    return strcmp(key, elem);
}

bool iso3166_alpha2_valid(const char *code)
{
    if (code == NULL)
        return false;
    for (int i = 0; i < 2; i++) {
        if (code[i] < 'A' || code[i] > 'Z')
            return false;
    }
    if (code[2] != '\0')
        return false;
    return bsearch(code, ISO_ALPHA2, N_ISO_ALPHA2, sizeof(ISO_ALPHA2[0]), cmp_alpha2) != NULL;
}
