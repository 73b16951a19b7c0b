/*
 * appliance/validate.c - the register's rules for a record, beyond its syntax
 * (which storage/record_json.c checks): required fields, known counties and
 * countries, dates that make sense against today, at least one document at
 * enrolment, and biometrics by age (captured from 6, never before).
 *
 * Each rule refuses with the field to blame and a sentence an officer at a kit
 * can act on.
 */
#include "register_impl.h"

#include "hn.h"
#include "places.h"

#include <string.h>

#define OLDEST_YEAR 1880

int age_years(const struct date *dob, const struct date *today)
{
    int age = today->year - dob->year;
    int month = dob->month ? dob->month : 1, day = dob->day ? dob->day : 1;
    if (today->month < month || (today->month == month && today->day < day))
        age--;
    return age;
}

/* Year-only dates of birth count from 1 January: the earliest the child can be due. */
struct date sixth_birthday(const struct person *p)
{
    struct date d = p->dob;
    d.year = (int16_t)(d.year + 6);
    if (!d.month)
        d.month = 1, d.day = 1;
    if (d.month == 2 && d.day == 29)
        d.month = 3, d.day = 1;
    return d;
}

static int need(struct reg_result *res, const char *field, const char *value)
{
    if (value[0])
        return REG_OK;
    return reg_fail(res, REG_EINVALID, field, "is required");
}

static int check_names(const struct person *p, struct reg_result *res)
{
    int rc = need(res, "surname", p->surname);
    if (rc == REG_OK)
        rc = need(res, "first_name", p->first_name);
    if (rc == REG_OK && p->sex == SEX_UNSET)
        rc = reg_fail(res, REG_EINVALID, "sex", "is required");
    return rc;
}

static int check_dates(struct reg *r, const struct person *p, struct reg_result *res)
{
    struct date today = reg_today(r);
    if (!date_is_set(&p->dob))
        return reg_fail(res, REG_EINVALID, "date_of_birth", "is required");
    if (p->dob.year < OLDEST_YEAR)
        return reg_fail(res, REG_EINVALID, "date_of_birth", "is before %d", OLDEST_YEAR);
    if (date_cmp(&p->dob, &today) > 0)
        return reg_fail(res, REG_EINVALID, "date_of_birth", "is in the future");
    for (int i = 0; i < p->ndocs; i++) {
        const struct id_document *d = &p->docs[i];
        char field[40];
        if (date_is_set(&d->issued) && date_cmp(&d->issued, &today) > 0) {
            snprintf(field, sizeof field, "documents[%d].issued", i);
            return reg_fail(res, REG_EINVALID, field, "is in the future");
        }
        if (date_is_set(&d->issued) && date_is_set(&d->expires) &&
            date_cmp(&d->expires, &d->issued) <= 0) {
            snprintf(field, sizeof field, "documents[%d].expires", i);
            return reg_fail(res, REG_EINVALID, field, "is not after the issue date");
        }
    }
    return REG_OK;
}

static int check_places(const struct person *p, struct reg_result *res)
{
    if (!p->birth_county[0] && !p->birth_country[0])
        return reg_fail(res, REG_EINVALID, "place_of_birth", "is required (county or country)");
    if (p->birth_county[0] && !county_code_valid(p->birth_county))
        return reg_fail(res, REG_EINVALID, "place_of_birth.county",
                        "unknown county code '%s' (001-047)", p->birth_county);
    if (p->birth_country[0] &&
        (!iso3166_alpha2_valid(p->birth_country) || strcmp(p->birth_country, "KE") == 0))
        return reg_fail(res, REG_EINVALID, "place_of_birth.country",
                        "'%s' is not an ISO 3166 country other than KE (use county)",
                        p->birth_country);
    if (!p->res_county[0])
        return reg_fail(res, REG_EINVALID, "residence.county", "is required");
    if (!county_code_valid(p->res_county))
        return reg_fail(res, REG_EINVALID, "residence.county", "unknown county code '%s' (001-047)",
                        p->res_county);
    return REG_OK;
}

static int check_citizenship(const struct person *p, struct reg_result *res)
{
    if (p->citizenship == CIT_UNSET)
        return reg_fail(res, REG_EINVALID, "citizenship.type", "is required");
    if (p->citizenship != CIT_FOREIGN && p->nationality[0])
        return reg_fail(res, REG_EINVALID, "citizenship.nationality",
                        "is for foreign nationals only");
    if (p->citizenship == CIT_FOREIGN &&
        (!iso3166_alpha2_valid(p->nationality) || strcmp(p->nationality, "KE") == 0))
        return reg_fail(res, REG_EINVALID, "citizenship.nationality",
                        "a foreign national needs an ISO 3166 nationality other than KE");
    return REG_OK;
}

static int check_parents(struct reg *r, const struct person *p, enum rule_mode mode,
                         struct reg_result *res)
{
    if (mode == RULES_BIRTH && !p->mother_hn[0])
        return reg_fail(res, REG_EINVALID, "parents.mother", "a birth needs the mother's number");
    const char *hns[2] = {p->mother_hn, p->father_hn};
    const char *fields[2] = {"parents.mother", "parents.father"};
    const enum sex sexes[2] = {SEX_FEMALE, SEX_MALE};
    for (int i = 0; i < 2; i++) {
        if (!hns[i][0])
            continue;
        if (p->hn[0] && strcmp(hns[i], p->hn) == 0)
            return reg_fail(res, REG_EINVALID, fields[i], "a person cannot be their own parent");
        struct person parent;
        struct reg_result sub;
        int rc = load_person(r, NULL, hns[i], &parent, &sub);
        if (rc == REG_ENOTFOUND || rc == REG_EINVALID)
            return reg_fail(res, REG_EINVALID, fields[i], "%s", sub.msg);
        if (rc != REG_OK)
            return reg_fail(res, rc, fields[i], "%s", sub.msg);
        if (date_cmp(&parent.dob, &p->dob) >= 0)
            return reg_fail(res, REG_EINVALID, fields[i], "was not born before the child");
        if (mode == RULES_BIRTH && parent.sex != SEX_INTERSEX && parent.sex != sexes[i])
            return reg_fail(res, REG_EINVALID, fields[i], "is recorded as %s",
                            sex_name(parent.sex));
    }
    return REG_OK;
}

static bool has_biometrics(const struct biometrics *bio)
{
    return bio && (bio->nfingers > 0 || bio->face_model[0]);
}

static int check_biometrics(struct reg *r, const struct person *p, const struct biometrics *bio,
                            enum rule_mode mode, struct reg_result *res)
{
    struct date today = reg_today(r);
    int age = age_years(&p->dob, &today);
    if (mode == RULES_BIRTH && age >= 6)
        return reg_fail(res, REG_EINVALID, "date_of_birth",
                        "a birth registration is for a child under 6; enrol older children");
    if (age < 6 && has_biometrics(bio))
        return reg_fail(res, REG_EINVALID, "biometrics",
                        "children under 6 have no biometrics captured");
    if (age < 6 && p->bio_exemption[0])
        return reg_fail(res, REG_EINVALID, "biometric_exemption",
                        "children under 6 are exempt without a reason");
    if (mode != RULES_CORRECT && age >= 6 && !has_biometrics(bio) && !p->bio_exemption[0])
        return reg_fail(res, REG_EINVALID, "biometrics",
                        "a person aged 6 or over needs fingerprints or face, or a "
                        "biometric_exemption with the reason");
    return REG_OK;
}

int check_person(struct reg *r, const struct person *p, const struct biometrics *bio,
                 enum rule_mode mode, struct reg_result *res)
{
    int rc = check_names(p, res);
    if (rc == REG_OK)
        rc = check_dates(r, p, res);
    if (rc == REG_OK)
        rc = check_places(p, res);
    if (rc == REG_OK)
        rc = check_citizenship(p, res);
    if (rc == REG_OK && p->ndocs == 0)
        rc = reg_fail(res, REG_EINVALID, "documents", "at least one identity document is required");
    if (rc == REG_OK)
        rc = check_biometrics(r, p, bio, mode, res);
    if (rc == REG_OK)
        rc = check_parents(r, p, mode, res);
    return rc;
}

void derive_bio_status(struct reg *r, struct person *p, const struct biometrics *bio)
{
    struct date today = reg_today(r);
    if (has_biometrics(bio))
        p->bio_status = BIO_CAPTURED;
    else if (age_years(&p->dob, &today) < 6)
        p->bio_status = BIO_EXEMPT_UNDER_6;
    else if (p->bio_exemption[0])
        p->bio_status = BIO_EXEMPT;
    else if (p->bio_status != BIO_CAPTURED)
        p->bio_status = BIO_DUE;
}

static int check_text(struct reg_result *res, const char *field, const char *v, size_t max)
{
    if (!v || !v[0])
        return reg_fail(res, REG_EINVALID, field, "is required");
    if (strlen(v) > max)
        return reg_fail(res, REG_EINVALID, field, "must be at most %zu bytes", max);
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return reg_fail(res, REG_EINVALID, field, "contains a control character");
    return REG_OK;
}

int check_note(const struct change_note *note, bool need_evidence, struct reg_result *res)
{
    int rc = check_text(res, "reason", note->reason, 256);
    if (rc == REG_OK)
        rc = check_text(res, "officer", note->officer, ID_MAX_LEN);
    if (rc == REG_OK && (need_evidence || note->evidence))
        rc = check_text(res, "evidence", note->evidence, TEXT_MAX_LEN);
    return rc;
}
