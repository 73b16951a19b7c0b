/*
 * tests/fuzz/fuzz_api.c - libFuzzer target for the v1 API's request bodies.
 *
 * Feeds each input as the body of POST /v1/verify, POST /v1/enrolments and
 * POST /v1/births, through api_handle(), to a real register opened once in a
 * temporary directory (WAL sync off, a fixed "now") and removed at exit.  One
 * person is enrolled at start; every "@HN@" in an input is replaced by that
 * person's Huduma Number (the register's key, and so its numbers, are new on
 * each run), so seeds can verify a real record and name a real mother.
 *
 * Promises checked on every answer, any broken one aborts: a status the API
 * documents, a body that is one JSON object, an error with a code and a
 * message, a verification that never carries the record's names.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/api.h"
#include "appliance/register.h"
#include "keys/keys.h"

#define NOW          1796083200 /* 2026-12-01T00:00:00Z */
#define SEED_SURNAME "Wanjiru"

static char dir[256];
static struct reg *reg;
static struct keyholder *keys; /* a plain-file master key: no TPM in a fuzzer */
static struct api *api;
static char seed_hn[HN_LEN + 1];
static const struct agency caller = {.name = "fuzz", .roles = 0x7f};

static const char seed_record[] =
    "{\"enrolment\":{\"id\":\"FUZZ-SEED-1\",\"officer\":\"OFF-1\",\"centre\":\"KIT1\","
    "\"captured_at\":\"2026-11-26T09:12:44Z\"},\"surname\":\"" SEED_SURNAME "\","
    "\"first_name\":\"Akinyi\",\"sex\":\"female\",\"date_of_birth\":\"1990-04-12\","
    "\"place_of_birth\":{\"county\":\"042\"},\"citizenship\":{\"type\":\"birth\"},"
    "\"residence\":{\"county\":\"047\"},\"documents\":[{\"type\":\"national_id\","
    "\"number\":\"23456789\",\"issued\":\"2008-05-02\"}],"
    "\"biometric_exemption\":\"fingers injured\"}";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    api_free(api);
    reg_close(reg);
    keys_holder_close(keys);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Answers one request; aborts when the answer breaks a promise. */
static json_t *handle(const char *path, const char *body, size_t len, struct http_response *resp)
{
    static struct http_request req;
    memset(&req, 0, sizeof req);
    req.verb = HTTP_VERB_POST;
    snprintf(req.path, sizeof req.path, "%s", path);
    req.nheaders = 1;
    req.headers[0] = (struct http_header){"X-Purpose", 9, "fuzzing the API", 15};
    req.body = body;
    req.body_len = len;
    memset(resp, 0, sizeof *resp);
    api_handle(api, &caller, &req, resp);
    static const int statuses[] = {200, 201, 202, 400, 403, 404, 409, 500, 503};
    bool known = false;
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        known |= resp->status == statuses[i];
    json_t *j = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    if (!known || !json_is_object(j))
        abort();
    if (resp->status >= 400) {
        json_t *e = json_object_get(j, "error");
        if (!json_is_string(json_object_get(e, "code")) ||
            !json_is_string(json_object_get(e, "message")))
            abort();
    }
    return j;
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz_api.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    struct reg_result res = {0};
    static const struct keys_options software = {.insecure_software_key = true};
    if (!mkdtemp(dir) || reg_init(dir, &software, &keys, &res) != REG_OK)
        abort();
    struct reg_options o = {.sync = false, .now = NOW, .keys = keys};
    if (reg_open(dir, &o, &reg, &res) != REG_OK || api_new(reg, NULL, &api) != 0)
        abort();
    atexit(cleanup);
    struct http_response resp;
    json_t *j = handle("/v1/enrolments", seed_record, strlen(seed_record), &resp);
    const char *hn = json_string_value(json_object_get(j, "huduma_number"));
    if (resp.status != 201 || !hn)
        abort();
    snprintf(seed_hn, sizeof seed_hn, "%s", hn);
    json_decref(j);
    free(resp.body);
}

/* A copy of the input with every "@HN@" replaced by the seed person's number. */
static char *with_number(const uint8_t *data, size_t size, size_t *out_len)
{
    char *out = malloc(size * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < size;) {
        if (size - i >= 4 && memcmp(data + i, "@HN@", 4) == 0) {
            memcpy(out + o, seed_hn, HN_LEN);
            o += HN_LEN;
            i += 4;
        } else {
            out[o++] = (char)data[i++];
        }
    }
    *out_len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!api)
        setup();
    size_t len;
    char *body = with_number(data, size, &len);
    if (!body)
        return 0;
    static const char *const paths[] = {"/v1/verify", "/v1/enrolments", "/v1/births"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        struct http_response resp;
        json_t *j = handle(paths[i], body, len, &resp);
        if (i == 0 && resp.status == 200 && strstr(resp.body, SEED_SURNAME))
            abort(); /* a verification never carries the record */
        json_decref(j);
        free(resp.body);
    }
    free(body);
    return 0;
}
