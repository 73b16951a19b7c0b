/*
 * appliance/api_identify.c - POST /v1/identify: who in the register is the
 * person these biometrics came from?  For agencies holding the
 * identification role (an unidentified person, a body, a suspected second
 * identity), a 1:N search of the whole gallery (register_bio.c).
 *
 *   request  {"biometrics": {"fingerprints": [...], "face": {...}}}
 *   answer   {"transaction_id", "candidates": [{"huduma_number", "band",
 *            "fingers_compared", "finger_score"?, "face_score"?}]}
 *
 * Candidates come best first, at most the configured number, none below the
 * identification band; persons only (enrolments held for adjudication are
 * not people yet).  The answer names numbers and scores, never a template or
 * any other member of a record.  Like every request it is written to the
 * audit log; its subject is the best candidate, so that the person's access
 * history shows the identification.  A search of a large gallery takes
 * milliseconds: the route runs on the worker pool.
 */
#include "api_impl.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static const char *const identify_members[] = {"biometrics", NULL};

static json_t *candidate_json(const struct reg_candidate *c)
{
    json_t *o = json_pack("{s:s, s:s, s:i}", "huduma_number", c->hn, "band", bio_band_name(c->band),
                          "fingers_compared", (int)c->scores.fingers);
    if (o && c->scores.fingers)
        json_object_set_new(o, "finger_score", json_real(c->scores.finger));
    if (o && c->scores.face_compared)
        json_object_set_new(o, "face_score", json_real(c->scores.face));
    return o;
}

static int new_txid(char out[33])
{
    unsigned char b[16];
    static const char hex[] = "0123456789abcdef";
    if (RAND_bytes(b, sizeof b) != 1)
        return -1;
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

void api_identify(struct api_call *c)
{
    if (api_body_only(c, identify_members) != 0)
        return;
    const json_t *probe = json_object_get(c->body, "biometrics");
    if (!json_is_object(probe)) {
        api_fail(c, AE_INVALID_FIELD, "biometrics", "expected an object with fingerprints or face");
        return;
    }
    struct reg_candidate found[BIO_MAX_CANDIDATES];
    unsigned n = 0;
    struct reg_result res = {0};
    if (reg_identify(c->api->reg, probe, found, &n, &res) != REG_OK) {
        api_reg_fail(c, &res);
        return;
    }
    char txid[33];
    json_t *list = json_array();
    for (unsigned i = 0; list && i < n; i++)
        if (json_array_append_new(list, candidate_json(&found[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    if (!list || new_txid(txid) != 0) {
        json_decref(list);
        api_fail(c, AE_INTERNAL_ERROR, NULL, "out of memory or randomness");
        return;
    }
    if (n > 0)
        api_audit_subject(c, found[0].hn);
    snprintf(c->txid, sizeof c->txid, "%s", txid); /* the answer's id is the audit leaf's */
    api_reply(c, 200, json_pack("{s:s, s:o}", "transaction_id", txid, "candidates", list));
}
