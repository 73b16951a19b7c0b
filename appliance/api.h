/*
 * appliance/api.h - the v1 JSON API (docs/openapi.yaml) between the network
 * front end and the register: routing, per-agency permissions, purposes,
 * and the answers with their stable error codes.
 *
 * The server calls api_handle() with a complete request and the agency its
 * client certificate names.  Requests that only read (verify, read, lookup,
 * lists) are fast and run on the network thread; requests that change the
 * register wait for a synced commit, so api_is_blocking() tells the server to
 * run them on its worker pool instead.
 */
#ifndef HUDUMA_API_H
#define HUDUMA_API_H

#include "agency.h"
#include "http.h"

struct reg;
struct api;
struct metrics;
struct audit;
struct audit_request;

int api_new(struct reg *r, struct metrics *m, struct api **out);
void api_free(struct api *a);
/* The audit log whose routes the API serves (/v1/audit/..., the access
 * history); without one they answer 503. */
void api_set_audit(struct api *a, struct audit *audit);

bool api_is_blocking(const struct http_request *req);
/* Fills resp (status, JSON body).  Never fails: errors are answers. */
void api_handle(struct api *a, const struct agency *caller, const struct http_request *req,
                struct http_response *resp);
/* The same, and says what the audit log must record of the request (out->wanted
 * false: nothing; no route, or an auditor reading the log). */
void api_handle_audited(struct api *a, const struct agency *caller, const struct http_request *req,
                        struct http_response *resp, struct audit_request *out);

#endif
