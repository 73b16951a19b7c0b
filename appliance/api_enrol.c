/*
 * appliance/api_enrol.c - the v1 routes of registration and adjudication:
 * enrolments and births, the answer given to an enrolment id, the
 * adjudication queue and its decisions, and the biometrics-due list.
 *
 * An enrolment's HTTP status says its outcome: 201 a new number, 200 a
 * resubmitted enrolment id (the first answer again, nothing created) or one
 * adjudicated earlier as a duplicate, 202 held for adjudication.  Kits can
 * therefore resend after a dropped link without creating anyone twice.
 */
#include "api_impl.h"

#include "hn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUE_LIMIT_DEFAULT 1000
#define DUE_LIMIT_MAX     10000

/* ---- enrolments and births ----------------------------------------------------------- */

static int answer_status(const struct enrol_answer *a)
{
    switch (a->outcome) {
    case ENROL_ASSIGNED:
        return 201;
    case ENROL_PENDING:
        return 202;
    default:
        return 200;
    }
}

static void enrol_common(struct api_call *c, bool birth)
{
    struct enrol_answer ans;
    struct reg_result res = {0};
    struct reg *r = c->api->reg;
    int rc = birth ? reg_birth(r, c->body, &ans, &res) : reg_enrol(r, c->body, &ans, &res);
    if (rc != REG_OK) {
        api_reg_fail(c, &res);
        return;
    }
    api_audit_subject(c, ans.hn);
    /* A resubmitted held enrolment answers as it did the first time, candidates included. */
    api_reply(c, answer_status(&ans), api_answer_json(&ans, true));
}

void api_enrol(struct api_call *c)
{
    enrol_common(c, false);
}

void api_birth(struct api_call *c)
{
    enrol_common(c, true);
}

/* ---- enrolment ids --------------------------------------------------------------------- */

static int check_enrolment_id(struct api_call *c)
{
    size_t n = strlen(c->param);
    bool ok = n >= 1 && n <= ID_MAX_LEN;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = c->param[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '_' || ch == '.';
    }
    if (ok)
        return 0;
    return api_fail(c, AE_INVALID_FIELD, "enrolment_id",
                    "expected 1-%d letters, digits, '-', '_' or '.'", ID_MAX_LEN);
}

void api_enrolment_status(struct api_call *c)
{
    if (check_enrolment_id(c) != 0)
        return;
    struct enrol_answer ans;
    struct reg_result res = {0};
    int rc = reg_enrolment_status(c->api->reg, c->param, &ans, &res);
    if (rc == REG_ENOTFOUND) {
        api_fail(c, AE_NOT_FOUND, "enrolment_id", "no enrolment has this id");
        return;
    }
    if (rc != REG_OK) {
        api_reg_fail(c, &res);
        return;
    }
    api_audit_subject(c, ans.hn);
    api_reply(c, 200, api_answer_json(&ans, false));
}

/* ---- adjudication ------------------------------------------------------------------------ */

static int add_pending(void *ctx, const struct enrol_answer *pending)
{
    json_t *o = api_answer_json(pending, true);
    return o && json_array_append_new(ctx, o) == 0 ? 0 : 1;
}

void api_adjudications(struct api_call *c)
{
    json_t *list = json_array();
    struct reg_result res = {0};
    if (!list) {
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
        return;
    }
    if (reg_pending(c->api->reg, add_pending, list, &res) != REG_OK) {
        json_decref(list);
        api_reg_fail(c, &res);
        return;
    }
    api_reply(c, 200, json_pack("{s:o}", "pending", list));
}

static const char *const decision_members[] = {"decision", "huduma_number", "officer",
                                               "reason",   "evidence",      NULL};

/* Reads the decision: *same_as the existing person's number, or NULL for "different". */
static int read_decision(struct api_call *c, const char **same_as, struct change_note *note)
{
    const char *decision, *hn;
    if (api_body_only(c, decision_members) || api_body_string(c, "decision", true, &decision) ||
        api_body_string(c, "huduma_number", false, &hn) ||
        api_body_string(c, "officer", false, &note->officer) ||
        api_body_string(c, "reason", false, &note->reason) ||
        api_body_string(c, "evidence", false, &note->evidence))
        return -1;
    bool same = strcmp(decision, "same_person") == 0;
    if (!same && strcmp(decision, "different") != 0)
        return api_fail(c, AE_INVALID_FIELD, "decision", "expected same_person or different");
    if (same && !hn)
        return api_fail(c, AE_INVALID_FIELD, "huduma_number",
                        "is required with decision same_person");
    if (!same && hn)
        return api_fail(c, AE_INVALID_FIELD, "huduma_number",
                        "is given only with decision same_person");
    if (same && !hn_is_well_formed(hn))
        return api_fail(c, AE_INVALID_FIELD, "huduma_number",
                        "expected a Huduma Number (12 digits with a valid check digit)");
    *same_as = same ? hn : NULL;
    return 0;
}

/* A decision on an enrolment that is not pending: decided before, or unknown. */
static void not_pending(struct api_call *c)
{
    struct enrol_answer ans;
    struct reg_result res = {0};
    if (reg_enrolment_status(c->api->reg, c->param, &ans, &res) == REG_OK)
        api_fail(c, AE_ALREADY_DECIDED, "enrolment_id",
                 "this enrolment is not held for adjudication");
    else
        api_fail(c, AE_NOT_FOUND, "enrolment_id", "no enrolment has this id");
}

void api_adjudicate(struct api_call *c)
{
    const char *same_as = NULL;
    struct change_note note = {0};
    if (check_enrolment_id(c) != 0 || read_decision(c, &same_as, &note) != 0)
        return;
    struct enrol_answer ans;
    struct reg_result res = {0};
    int rc = reg_adjudicate(c->api->reg, c->param, same_as, &note, &ans, &res);
    if (rc == REG_ENOTFOUND && strcmp(res.field, "huduma_number") == 0)
        api_fail(c, AE_INVALID_FIELD, "huduma_number", "no person has this number");
    else if (rc == REG_ENOTFOUND)
        not_pending(c);
    else if (rc != REG_OK)
        api_reg_fail(c, &res);
    else
        api_audit_subject(c, ans.hn), api_reply(c, 200, api_answer_json(&ans, false));
}

/* ---- biometrics due ------------------------------------------------------------------------ */

struct due_list {
    json_t *list;
    long limit;
    bool truncated;
};

static int add_due(void *ctx, const char *hn, const char *due)
{
    struct due_list *d = ctx;
    if ((long)json_array_size(d->list) >= d->limit) {
        d->truncated = true;
        return 1;
    }
    json_t *o = json_pack("{s:s, s:s}", "huduma_number", hn, "due", due);
    return o && json_array_append_new(d->list, o) == 0 ? 0 : 1;
}

static int read_limit(struct api_call *c, long *limit)
{
    char text[16], *end;
    int found = api_query(c, "limit", text, sizeof text);
    *limit = DUE_LIMIT_DEFAULT;
    if (found <= 0)
        return found;
    *limit = strtol(text, &end, 10);
    if (*end || *limit < 1 || *limit > DUE_LIMIT_MAX)
        return api_fail(c, AE_INVALID_FIELD, "limit", "expected an integer from 1 to %d",
                        DUE_LIMIT_MAX);
    return 0;
}

void api_due(struct api_call *c)
{
    char as_of[16];
    struct due_list d = {0};
    int found = api_query(c, "as_of", as_of, sizeof as_of);
    if (found < 0 || read_limit(c, &d.limit) < 0)
        return;
    if (!(d.list = json_array())) {
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory");
        return;
    }
    struct reg_result res = {0};
    if (reg_due_biometrics(c->api->reg, found ? as_of : NULL, add_due, &d, &res) != REG_OK) {
        json_decref(d.list);
        api_reg_fail(c, &res);
        return;
    }
    api_reply(c, 200, json_pack("{s:o, s:b}", "due", d.list, "truncated", d.truncated));
}
