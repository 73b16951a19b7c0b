/*
 * appliance/api_records.c - the v1 routes on one person's record: read,
 * corrections, history, death, documents issued (record and list), and the
 * look-up of a person by document number.
 *
 * Every record that leaves goes through api_record_view(), so an agency sees
 * only the members its policy names (plus huduma_number and status), in the
 * current record and in every version of its history alike.  Recording a
 * document is idempotent: the same type, number and issue date sent again for
 * the same person answers 200 and records nothing, so a kit may resend.
 */
#include "api_impl.h"

#include "normalize.h"

#include <stdio.h>
#include <string.h>

/* A person route's refusal: an unknown number is the path's "hn" that was not found. */
static void person_fail(struct api_call *c, const struct reg_result *res)
{
    if (res->code == REG_ENOTFOUND && strcmp(res->field, "huduma_number") == 0)
        api_fail(c, AE_NOT_FOUND, "hn", "no person has this number");
    else
        api_reg_fail(c, res);
}

/* ---- read ------------------------------------------------------------------------- */

void api_person(struct api_call *c)
{
    if (api_param_hn(c) != 0)
        return;
    struct person p;
    struct reg_result res = {0};
    if (reg_get(c->api->reg, c->param, &p, &res) != REG_OK) {
        person_fail(c, &res);
        return;
    }
    json_t *view = api_record_view(c->caller, &p);
    explicit_bzero(&p, sizeof p);
    if (!view)
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
    else
        api_reply(c, 200, view);
}

/* ---- corrections -------------------------------------------------------------------- */

static const char *const note_members[] = {"reason", "officer", "evidence", NULL};
static const char *const correction_members[] = {"changes", "reason", "officer", "evidence", NULL};

static int read_note(struct api_call *c, struct change_note *note)
{
    return api_body_string(c, "reason", false, &note->reason) ||
                   api_body_string(c, "officer", false, &note->officer) ||
                   api_body_string(c, "evidence", false, &note->evidence)
               ? -1
               : 0;
}

/* The register names record members; in the body they sit under "changes". */
static void field_under_changes(struct reg_result *res)
{
    bool top = !res->field[0] || strcmp(res->field, "changes") == 0;
    for (const char *const *n = note_members; *n && !top; n++)
        top = strcmp(res->field, *n) == 0;
    if (top)
        return;
    char field[sizeof res->field];
    snprintf(field, sizeof field, "changes.%.54s", res->field);
    memcpy(res->field, field, sizeof field);
}

void api_correct(struct api_call *c)
{
    struct change_note note = {0};
    if (api_param_hn(c) || api_body_only(c, correction_members) || read_note(c, &note))
        return;
    const json_t *changes = json_object_get(c->body, "changes");
    uint32_t version = 0;
    struct reg_result res = {0};
    int rc = reg_correct(c->api->reg, c->param, changes, &note, &version, &res);
    if (rc == REG_ENOTFOUND) {
        person_fail(c, &res);
        return;
    }
    if (rc != REG_OK) {
        field_under_changes(&res);
        api_reg_fail(c, &res);
        return;
    }
    api_reply(c, 200,
              json_pack("{s:s, s:I}", "huduma_number", c->param, "version", (json_int_t)version));
}

/* ---- history ------------------------------------------------------------------------ */

struct history_list {
    const struct agency *caller;
    json_t *list;
    bool failed;
};

static int add_version(void *ctx, const struct person *p, const json_t *change)
{
    struct history_list *h = ctx;
    json_t *record = api_record_view(h->caller, p);
    json_t *o = record ? json_pack("{s:I, s:O?, s:o}", "version", (json_int_t)p->version, "change",
                                   (json_t *)change, "record", record)
                       : NULL;
    h->failed = !o || json_array_append_new(h->list, o) != 0;
    return h->failed;
}

void api_history(struct api_call *c)
{
    if (api_param_hn(c) != 0)
        return;
    struct history_list h = {c->caller, json_array(), false};
    struct reg_result res = {0};
    int rc = h.list ? reg_history(c->api->reg, c->param, add_version, &h, &res) : REG_OK;
    if (!h.list || h.failed)
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
    else if (rc != REG_OK)
        person_fail(c, &res);
    else
        api_reply(c, 200, json_pack("{s:s, s:O}", "huduma_number", c->param, "versions", h.list));
    json_decref(h.list);
}

/* ---- death ------------------------------------------------------------------------------ */

static const char *const death_members[] = {"date", "certificate", "officer", "reason", NULL};

void api_death(struct api_call *c)
{
    const char *date, *certificate;
    struct change_note note = {0};
    if (api_param_hn(c) || api_body_only(c, death_members) ||
        api_body_string(c, "date", true, &date) ||
        api_body_string(c, "certificate", true, &certificate) || read_note(c, &note))
        return;
    if (!note.reason)
        note.reason = "death registration";
    struct reg_result res = {0};
    int rc = reg_death(c->api->reg, c->param, date, certificate, &note, &res);
    if (rc == REG_ECONFLICT)
        api_fail(c, AE_ALREADY_DECEASED, NULL, "a death is already recorded for this person");
    else if (rc != REG_OK)
        person_fail(c, &res);
    else
        api_reply(c, 200, json_pack("{s:s, s:s}", "huduma_number", c->param, "status", "deceased"));
}

/* ---- documents -------------------------------------------------------------------------- */

static const char *const document_members[] = {"type",    "number",  "issuer", "issued",
                                               "expires", "officer", NULL};

static bool same_string(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return !a && !b;
    return json_is_string(a) && json_is_string(b) &&
           strcmp(json_string_value(a), json_string_value(b)) == 0;
}

static bool same_number(const json_t *a, const json_t *b)
{
    char fa[DOC_NUMBER_MAX_LEN + 1], fb[DOC_NUMBER_MAX_LEN + 1];
    return json_is_string(a) && json_is_string(b) &&
           docnum_fold(json_string_value(a), fa, sizeof fa) > 0 &&
           docnum_fold(json_string_value(b), fb, sizeof fb) > 0 && strcmp(fa, fb) == 0;
}

/* True when this person already has this document (type, number, issue date) recorded. */
static bool already_recorded(struct api_call *c, const json_t *doc)
{
    json_t *list = NULL, *d;
    struct reg_result res = {0};
    if (reg_documents(c->api->reg, c->param, &list, &res) != REG_OK)
        return false;
    bool found = false;
    size_t i;
    json_array_foreach(list, i, d)
    {
        found |= same_string(json_object_get(d, "type"), json_object_get(doc, "type")) &&
                 same_number(json_object_get(d, "number"), json_object_get(doc, "number")) &&
                 same_string(json_object_get(d, "issued"), json_object_get(doc, "issued"));
    }
    json_decref(list);
    return found;
}

static void issue_fail(struct api_call *c, const struct reg_result *res)
{
    if (res->code == REG_ECONFLICT && strcmp(res->field, "huduma_number") == 0)
        api_fail(c, AE_NOT_ACTIVE, NULL, "%s", res->msg);
    else
        person_fail(c, res);
}

void api_issue_document(struct api_call *c)
{
    const char *officer;
    if (api_param_hn(c) || api_body_only(c, document_members) ||
        api_body_string(c, "officer", false, &officer))
        return;
    json_t *doc = json_deep_copy(c->body);
    if (!doc) {
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
        return;
    }
    json_object_del(doc, "officer");
    struct reg_result res = {0};
    if (already_recorded(c, doc))
        api_reply(
            c, 200,
            json_pack("{s:s, s:s}", "huduma_number", c->param, "outcome", "already_recorded"));
    else if (reg_issue_document(c->api->reg, c->param, doc, officer, &res) != REG_OK)
        issue_fail(c, &res);
    else
        api_reply(c, 201,
                  json_pack("{s:s, s:s}", "huduma_number", c->param, "outcome", "recorded"));
    json_decref(doc);
}

void api_documents(struct api_call *c)
{
    if (api_param_hn(c) != 0)
        return;
    json_t *list = NULL;
    struct reg_result res = {0};
    if (reg_documents(c->api->reg, c->param, &list, &res) != REG_OK)
        person_fail(c, &res);
    else
        api_reply(c, 200, json_pack("{s:s, s:o}", "huduma_number", c->param, "documents", list));
}

void api_lookup(struct api_call *c)
{
    char type[40], hn[HN_LEN + 1];
    int found = api_query(c, "type", type, sizeof type);
    if (found < 0)
        return;
    struct reg_result res = {0};
    int rc = reg_lookup_document(c->api->reg, found ? type : NULL, c->param, hn, &res);
    if (rc == REG_ENOTFOUND)
        api_fail(c, AE_NOT_FOUND, "number", "no person holds this document");
    else if (rc != REG_OK)
        api_reg_fail(c, &res);
    else
        api_audit_subject(c, hn), api_reply(c, 200, json_pack("{s:s}", "huduma_number", hn));
}
