#!/bin/sh
# tests/integration/daemon_openapi.sh - docs/openapi.yaml and the running
# hudumad describe the same API: every route of the spec is served, as the spec
# says, and nothing is served that the spec does not list.
#
# What it proves, each with an "ok - ..." line:
#   - the routes the daemon serves, the API's route table (`routes[]` in
#     appliance/api.c) and the two routes the front end answers itself (GET
#     /healthz, GET /metrics, found in appliance/conn.c), and the spec's paths
#     and methods are the same set, both ways;
#   - the spec says which serves what: the operations marked `x-served-by:
#     front-end` are exactly the front end's routes, all others exactly the
#     route table's; the front end's routes are also documented in
#     docs/configuration.md;
#   - over mutual TLS, for every operation of the spec and an agency of each
#     role: the route exists (never 405, never a 404 without a `field`, which
#     is "no such route"); an agency whose role is not in the operation's
#     `x-roles` gets 403 forbidden, and one whose role is gets past the
#     permission check with a status the spec lists for that operation (for
#     the front end's routes, which are called without X-Purpose: 200), and a
#     200 comes with the Content-Type the spec gives it;
#   - the daemon counts each request under the spec's path template
#     (hudumad_requests_total{route="/v1/persons/{hn}",...} in /metrics);
#   - from the outside, nothing else answers: every other method on a spec path
#     is 405 method_not_allowed, and paths not in the spec (/v1/nope,
#     /v2/verify, /v1/verify/, /v1/persons, /v1/persons/HN/unknown, ...) are
#     404 not_found without a field;
#   - the daemon exits 0 on SIGTERM with no sanitizer report.
#
# How: the sanitized build (HUDUMA_SAN_BIN) in a fresh temporary register, one
# person enrolled (so that {hn}, {enrolment_id} and {number} name real things),
# one agency per role, hudumad on a random free port of 127.0.0.1, curl.  The
# spec is read with awk: the keys under `paths:`, their methods, `x-roles`,
# response codes, `x-served-by` and the media type of the 200 response.  Every command is bounded by `timeout`; the daemon and the
# temporary directory are removed on any exit.
#
# Needs: HUDUMA_SAN_BIN, sh, coreutils, awk, curl, openssl.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SPEC=$ROOT/docs/openapi.yaml
LIB_NAME=openapi
. "$(dirname "$0")/lib/daemon.sh"
lib_init
ROLES="registration verifier kyc adjudicator auditor operator registrar"

# ---- the spec and the route table ---------------------------------------------------------

[ -r "$SPEC" ] || fatal "cannot read $SPEC"
# One line per operation: METHOD PATH ROLES,... CODES,... SERVED-BY TYPE-OF-200
# (SERVED-BY: x-served-by, "api" when absent; TYPE-OF-200: "-" when none).
cat >"$WORK/spec.awk" <<'EOF'
function flush() {
    if (method != "")
        print method, path, (roles == "" ? "-" : roles), (codes == "" ? "-" : codes), served,
            (ctype == "" ? "-" : ctype)
    method = ""
}
/^paths:/ { inpaths = 1; next }
inpaths && /^[^ #]/ { flush(); inpaths = 0 }
!inpaths { next }
/^  \/[^ ]*:[ ]*$/ { flush(); path = $1; sub(/:$/, "", path); next }
/^    [a-z]/ {
    flush()
    m = $1; sub(/:$/, "", m)
    if (m ~ /^(get|put|post|delete|options|head|patch|trace)$/) {
        method = toupper(m); roles = ""; codes = ""; served = "api"; ctype = ""; code = ""
    }
    next
}
method != "" && /^      [a-z]/ { code = "" }
method != "" && /^      x-roles:/ {
    r = $0; sub(/^[^[]*\[/, "", r); sub(/\].*$/, "", r); gsub(/[ \t]/, "", r); roles = r; next
}
method != "" && /^      x-served-by:/ { s = $2; gsub(/["']/, "", s); served = s; next }
method != "" && /^        '[0-9][0-9][0-9]':/ {
    code = $1; gsub(/[^0-9]/, "", code); codes = codes (codes == "" ? "" : ",") code; next
}
method != "" && code == "200" && ctype == "" && /^            [a-z]+\/[^ :]+:[ ]*$/ {
    ctype = $1; sub(/:$/, "", ctype); next
}
END { flush() }
EOF
awk -f "$WORK/spec.awk" "$SPEC" >"$WORK/spec.ops"
nops=$(wc -l <"$WORK/spec.ops")
[ "$nops" -gt 0 ] || fatal "no operation found under paths: in $SPEC"
if awk '$3 == "-" || $4 == "-"' "$WORK/spec.ops" | grep -q .; then
    not_ok "operations of the spec without x-roles or responses: $(awk '$3 == "-" || $4 == "-" { printf "%s %s; ", $1, $2 }' "$WORK/spec.ops")"
fi
if awk '$5 != "api" && $5 != "front-end"' "$WORK/spec.ops" | grep -q .; then
    not_ok "operations of the spec whose x-served-by is neither api nor front-end: $(awk '$5 != "api" && $5 != "front-end" { printf "%s %s (%s); ", $1, $2, $5 }' "$WORK/spec.ops")"
fi
cut -d ' ' -f 1,2 "$WORK/spec.ops" | sort >"$WORK/spec.routes"
awk '$5 == "api" { print $1, $2 }' "$WORK/spec.ops" | sort >"$WORK/spec.api.routes"
awk '$5 == "front-end" { print $1, $2 }' "$WORK/spec.ops" | sort >"$WORK/spec.frontend.routes"

# The API's route table: entries {HTTP_VERB_X, "/path", ...} in appliance/*.c.
grep -ho '{HTTP_VERB_[A-Z]*, *"/[^"]*"' "$ROOT"/appliance/*.c |
    sed 's/{HTTP_VERB_\([A-Z]*\), *"\([^"]*\)"/\1 \2/' | sort >"$WORK/api.routes"
[ -s "$WORK/api.routes" ] || fatal "no route table ({HTTP_VERB_..., \"/...\"}) found in appliance/*.c"
# The front end's own routes: the paths conn_dispatch() compares, answered to GET (and HEAD, as GET).
grep -ho 'strcmp(req->path, "/[^"]*")' "$ROOT/appliance/conn.c" | sed 's/.*"\(\/[^"]*\)".*/\1/' |
    sort -u >"$WORK/frontend.paths"
[ -s "$WORK/frontend.paths" ] || fatal "no front-end route (strcmp(req->path, \"/...\")) found in appliance/conn.c"
sed 's/^/GET /' "$WORK/frontend.paths" | sort >"$WORK/frontend.routes"
sort -u "$WORK/api.routes" "$WORK/frontend.routes" >"$WORK/served.routes"
napi=$(wc -l <"$WORK/api.routes")
nfront=$(wc -l <"$WORK/frontend.routes")
only_served=$(comm -13 "$WORK/spec.routes" "$WORK/served.routes" | tr '\n' ';')
only_spec=$(comm -23 "$WORK/spec.routes" "$WORK/served.routes" | tr '\n' ';')
if [ -z "$only_served$only_spec" ] && [ "$nops" -eq "$(wc -l <"$WORK/served.routes")" ]; then
    ok "the daemon's routes ($napi of the API's route table, $nfront of the front end) and docs/openapi.yaml hold the same $nops operations"
else
    not_ok "served routes and spec differ: served but not in the spec: [$only_served]; in the spec but not served: [$only_spec] ($nops operations in the spec)"
fi
if cmp -s "$WORK/spec.api.routes" "$WORK/api.routes" && cmp -s "$WORK/spec.frontend.routes" "$WORK/frontend.routes"; then
    ok "x-served-by: the spec's front-end operations are the front end's routes ($(tr '\n' ';' <"$WORK/frontend.routes" | sed 's/;$//; s/;/, /g')), its other operations the API's route table"
else
    not_ok "x-served-by does not match: API operations not in api.c's table [$(comm -23 "$WORK/spec.api.routes" "$WORK/api.routes" | tr '\n' ';')]; api.c's routes not API operations [$(comm -13 "$WORK/spec.api.routes" "$WORK/api.routes" | tr '\n' ';')]; front-end operations not in conn.c [$(comm -23 "$WORK/spec.frontend.routes" "$WORK/frontend.routes" | tr '\n' ';')]; conn.c's routes not front-end operations [$(comm -13 "$WORK/spec.frontend.routes" "$WORK/frontend.routes" | tr '\n' ';')]"
fi
undocumented=
# shellcheck disable=SC2013 # one path a line, no spaces
for p in $(cat "$WORK/frontend.paths"); do
    grep -q "\`GET $p\`" "$ROOT/docs/configuration.md" || undocumented="$undocumented $p"
done
if [ -z "$undocumented" ]; then
    ok "the front end's own routes ($(tr '\n' ' ' <"$WORK/frontend.paths" | sed 's/ $//')) are documented in docs/configuration.md"
else
    not_ok "front-end routes not documented in docs/configuration.md:$undocumented"
fi

# ---- the register, one person, one agency per role ------------------------------------------

huduma_init
for role in $ROLES; do
    attrs=
    if [ "$role" = kyc ]; then attrs="--attributes surname,first_name,date_of_birth"; fi
    # shellcheck disable=SC2086 # $attrs is two words or none
    timeout "$T" "$HUDUMA" agency add "as-$role" --role "$role" $attrs --out "$CERTS" \
        >/dev/null 2>"$WORK/agency.err" || fatal "huduma agency add as-$role: $(cat "$WORK/agency.err")"
done
EID=KIT0077-000001
DOC=27654321
cat >"$WORK/person.json" <<EOF
{
  "enrolment": {"id": "$EID", "officer": "OFF-3001", "centre": "KIT0077",
                "captured_at": "2026-01-05T09:00:00Z"},
  "surname": "Chebet", "first_name": "Jepkoech", "sex": "female", "date_of_birth": "1992-03-09",
  "place_of_birth": {"county": "042"},
  "citizenship": {"type": "birth"},
  "residence": {"county": "047", "sub_county": "Westlands", "ward": "Parklands", "village": "Highridge"},
  "marital_status": "never_married",
  "documents": [{"type": "national_id", "number": "$DOC", "issuer": "NRB", "issued": "2010-04-01"}],
  "biometric_exemption": "fingers injured at capture; face camera out of order"
}
EOF
timeout "$T" "$HUDUMA" enrol "$WORK/person.json" >"$WORK/enrol.out" 2>"$WORK/enrol.err" ||
    fatal "huduma enrol: $(cat "$WORK/enrol.err")"
HN=$(sed -n 's/.*"huduma_number": *"\([0-9]*\)".*/\1/p' "$WORK/enrol.out" | head -n 1)
[ ${#HN} -eq 12 ] || fatal "huduma enrol gave no Huduma Number: $(cat "$WORK/enrol.out")"
ok "a register with one person ($HN) and an agency for each role ($ROLES)"

# ---- the daemon ----------------------------------------------------------------------------

PURPOSE='API conformance test'
content_type() { # of the last answer, without parameters ("text/plain; version=0.0.4" -> text/plain)
    tr -d '\r' <"$WORK/headers" | sed -n 's/^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Tt][Yy][Pp][Ee]: *\([^; ]*\).*/\1/p' |
        tail -n 1
}

start_daemon as-verifier
ok "hudumad listens on 127.0.0.1:$PORT ($(($(date +%s) - STARTED)) s)"

# ---- every operation of the spec, by every role ---------------------------------------------

fill() { # PATH TEMPLATE -> a path naming real things
    echo "$1" | sed -e "s/{hn}/$HN/g" -e "s/{enrolment_id}/$EID/g" -e "s/{number}/$DOC/g" \
        -e 's/{[a-z_]*}/X1/g'
}
no_route() { # the answer in $WORK/body is "no such route" or "no such method"
    [ "$code" = 405 ] || { [ "$code" = 404 ] && ! grep -q '"field"' "$WORK/body"; }
}

calls=0
bad=0
nofront=0
while read -r method tmpl roles codes served ctype; do
    path=$(fill "$tmpl")
    body=
    case $method in POST | PUT | PATCH) body='{}' ;; esac
    PURPOSE='API conformance test'
    if [ "$served" = front-end ]; then
        PURPOSE= # the front end's routes need none
        nofront=$((nofront + 1))
    fi
    for role in $ROLES; do
        api "as-$role" "$method" "$path" "$body"
        calls=$((calls + 1))
        if [ "$code" = 000 ]; then
            not_ok "$method $tmpl as $role: no answer (curl exit $crc: $(cat "$WORK/curl.err"))"
            bad=$((bad + 1))
            continue
        fi
        if no_route; then
            not_ok "$method $tmpl as $role: the daemon has no such route ($code: $(cat "$WORK/body"))"
            bad=$((bad + 1))
            continue
        fi
        case ",$roles," in
        *",$role,"*)
            case ",$codes," in
            *",$code,"*)
                if [ "$code" = 403 ]; then
                    not_ok "$method $tmpl as $role (in x-roles [$roles]): 403 $(cat "$WORK/body")"
                    bad=$((bad + 1))
                elif [ "$served" = front-end ] && [ "$code" != 200 ]; then
                    not_ok "$method $tmpl as $role (in x-roles [$roles], front end, no X-Purpose): $code, not 200: $(head -c 300 "$WORK/body")"
                    bad=$((bad + 1))
                elif [ "$code" = 200 ] && [ "$ctype" != - ] && [ "$(content_type)" != "$ctype" ]; then
                    not_ok "$method $tmpl as $role: 200 with Content-Type '$(content_type)', the spec says $ctype"
                    bad=$((bad + 1))
                fi
                ;;
            *)
                not_ok "$method $tmpl as $role: status $code is not among the spec's responses ($codes): $(head -c 300 "$WORK/body")"
                bad=$((bad + 1))
                ;;
            esac
            ;;
        *)
            if [ "$code" != 403 ] || ! grep -q '"code":"forbidden"' "$WORK/body"; then
                not_ok "$method $tmpl as $role (not in x-roles [$roles]): $code $(head -c 300 "$WORK/body")"
                bad=$((bad + 1))
            fi
            ;;
        esac
    done
done <"$WORK/spec.ops"
PURPOSE='API conformance test'
if [ "$bad" -eq 0 ]; then
    ok "every operation of the spec answers over mutual TLS ($calls calls: $nops operations x 7 roles): 403 for exactly the roles outside its x-roles, a status the spec lists for the others (200 for the front end's $nofront, called without X-Purpose), with the spec's Content-Type on a 200"
fi

api as-operator GET /metrics
if [ "$code" != 200 ]; then
    not_ok "/metrics as the operator: $code"
else
    missing=
    # shellcheck disable=SC2013 # one path a line, no spaces
    for tmpl in $(cut -d ' ' -f 2 "$WORK/spec.ops" | sort -u); do
        grep -q "^hudumad_requests_total{route=\"$tmpl\"," "$WORK/body" || missing="$missing $tmpl"
    done
    if [ -z "$missing" ]; then
        ok "/metrics counts those requests under the spec's path templates ($(cut -d ' ' -f 2 "$WORK/spec.ops" | sort -u | wc -l) templates)"
    else
        not_ok "/metrics has no hudumad_requests_total for the spec paths:$missing"
    fi
fi

# ---- nothing else answers --------------------------------------------------------------------

bad=0
probes=0
# shellcheck disable=SC2013 # one path a line, no spaces
for tmpl in $(cut -d ' ' -f 2 "$WORK/spec.ops" | sort -u); do
    for method in GET POST PUT DELETE PATCH; do
        if grep -qx "$method $tmpl" "$WORK/spec.routes"; then continue; fi
        api as-registrar "$method" "$(fill "$tmpl")" '{}'
        probes=$((probes + 1))
        if [ "$code" != 405 ] || ! grep -q '"code":"method_not_allowed"' "$WORK/body"; then
            not_ok "$method $tmpl (a method the spec does not list for the path): $code, not 405 method_not_allowed: $(head -c 200 "$WORK/body")"
            bad=$((bad + 1))
        fi
    done
done
[ "$bad" -eq 0 ] && ok "every method a spec path does not list is 405 method_not_allowed ($probes probes)"

bad=0
probes=0
for probe in "GET /v1/nope" "POST /v2/verify" "POST /v1/verify/" "POST /v1/verify/extra" "POST /V1/verify" \
    "POST /v1//verify" "GET /v1" "GET /" "GET /v1/persons" "GET /v1/persons/" "GET /v1/persons/$HN/unknown" \
    "GET /v1/persons//history" "GET /v1/persons/$HN/history/" "GET /v1/persons/../verify" \
    "GET /v1/agencies" "GET /v1/audit" "POST /v1/deaths" "GET /v1/documents" "GET /v1/biometrics" \
    "GET /v1/enrolments/$EID/history" "GET /healthz/" "GET /metrics/x" "GET /v1/healthz" "GET /v1/metrics"; do
    method=${probe%% *}
    path=${probe#* }
    body=
    [ "$method" = GET ] || body='{}'
    api as-registrar "$method" "$path" "$body"
    probes=$((probes + 1))
    if [ "$code" != 404 ] || ! grep -q '"code":"not_found"' "$WORK/body" || grep -q '"field"' "$WORK/body"; then
        not_ok "$method $path (not in the spec): $code, not 404 not_found without a field: $(head -c 200 "$WORK/body")"
        bad=$((bad + 1))
    fi
done
[ "$bad" -eq 0 ] && ok "paths not in the spec are 404 not_found without a field ($probes probes: /v1/nope, /v2/verify, trailing slashes, empty and extra segments, ...)"
api as-registrar DELETE /v1/verify
if [ "$code" = 405 ] && grep -q '"code":"method_not_allowed"' "$WORK/body"; then
    ok "DELETE /v1/verify: 405 method_not_allowed"
else
    not_ok "DELETE /v1/verify: $code $(cat "$WORK/body")"
fi

# ---- shutdown --------------------------------------------------------------------------------

kill -TERM "$dpid"
i=0
while kill -0 "$tpid" 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
if kill -0 "$tpid" 2>/dev/null; then kill -KILL "$dpid" 2>/dev/null || :; fi
st=0
wait "$tpid" || st=$?
dpid=
if [ "$st" = 0 ]; then
    ok "SIGTERM: hudumad exits 0"
else
    not_ok "SIGTERM: hudumad exited $st"
fi
no_sanitizer_report

echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
