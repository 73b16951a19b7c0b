# tests/bench/lib.sh - what the benchmark scripts share, sourced by them:
# stopping a server, medians and fields of huduma-load's RESULT lines, a free
# port, a register of synthetic people with its own swtpm, one person's true
# claims as a verify body, and a throwaway server certificate.
#
# The sourcing script sets BENCH_NAME (for messages) and STARTED (date +%s)
# first, runs from the repository's root, and stops swtpm itself at exit
# (sh scripts/swtpm.sh stop REGISTER).

bench_fatal() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}

# bench_stop PID [TENTHS]: TERM, then KILL if it is still there after TENTHS
# tenths of a second (50).
bench_stop() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    n=0
    while kill -0 "$1" 2>/dev/null && [ "$n" -lt "${2:-50}" ]; do
        sleep 0.1
        n=$((n + 1))
    done
    kill -KILL "$1" 2>/dev/null || :
    wait "$1" 2>/dev/null || :
}

bench_elapsed() { echo $(($(date +%s) - STARTED)); }

# The median of the numbers on stdin, one per line (0 when there are none).
bench_median() {
    sort -n | awk '{ v[NR] = $1 }
        END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_field NAME: the value of NAME=... in the last line of stdin that has it.
bench_field() { sed -n "s/.* $1=\\([0-9.]*\\).*/\\1/p" | tail -n 1; }

# bench_free_port [AVOID]: a TCP port of 127.0.0.1 that nothing listens on
# (per /proc/net/tcp{,6}), other than AVOID.
bench_port_in_use() {
    hex=$(printf '%04X' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v p="$hex" 'NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == p) f = 1 }
                         END { exit !f }'
}
bench_free_port() {
    tries=0
    while [ "$tries" -lt 50 ]; do
        p=$(awk -v s="$(($(date +%N | sed 's/^0*//;s/^$/0/') + $$ + tries))" \
            'BEGIN { srand(s); print 20000 + int(rand() * 40000) }')
        if ! bench_port_in_use "$p" && [ "$p" != "${1:-}" ]; then
            echo "$p"
            return 0
        fi
        tries=$((tries + 1))
    done
    bench_fatal "no free port found"
}

# bench_register HUDUMA REG PEOPLE SEED OUTDIR [SYNTH FLAGS...]: a register
# with its master key sealed in a swtpm of its own (HUDUMA_TCTI exported),
# and PEOPLE synthetic people imported without syncing (nothing is measured
# during the import); the acknowledgements in OUTDIR/acks.  Prints the
# import's summary line.
bench_register() {
    huduma=$1 reg=$2 people=$3 seed=$4 out=$5
    shift 5
    sh scripts/swtpm.sh start "$reg" # its master key is sealed there; used at start only
    HUDUMA_TCTI=$(sh scripts/swtpm.sh tcti "$reg")
    export HUDUMA_TCTI
    timeout 60 "$huduma" --dir "$reg" init >/dev/null
    rc=0
    # shellcheck disable=SC2016
    timeout 300 sh -c 'h=$1 n=$2 r=$3 o=$4 s=$5; shift 5
        "$h" synth --seed "$s" --count "$n" --no-events --as-of "$(date -u +%F)" "$@" |
        "$h" --dir "$r" import - --acks --no-sync >"$o/acks" 2>"$o/import.log"' sh \
        "$huduma" "$people" "$reg" "$out" "$seed" "$@" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then # 2: some lines refused, the rest committed
        bench_fatal "the import failed ($rc): $(tr '\r' '\n' <"$out/import.log" | tail -n 3)"
    fi
    echo "   $(tr '\r' '\n' <"$out/import.log" | grep '^imported' | tail -n 1)"
}

# bench_verify_body HUDUMA REG OUTDIR NTH: the NTH person the import assigned
# a number, and their true claims (surname, first_name, date_of_birth, sex,
# as `huduma show` prints them) as a verify body in OUTDIR/verify.json.
# Prints the Huduma Number.
bench_verify_body() {
    hn=$(awk -F'\t' -v k="$4" '$3 == "assigned" { n++; if (n == k) { print $4; exit } }' "$3/acks")
    [ -n "$hn" ] || bench_fatal "the import assigned fewer than $4 numbers"
    timeout 60 "$1" --dir "$2" show "$hn" >"$3/person.json"
    for m in surname first_name date_of_birth sex; do
        v=$(sed -n "s/^  \"$m\": \\(\".*\"\\),\\{0,1\\}\$/\\1/p" "$3/person.json")
        [ -n "$v" ] || bench_fatal "cannot read the claim $m of $hn"
        eval "claim_$m=\$v"
    done
    # shellcheck disable=SC2154 # set by the eval above
    printf '{"huduma_number":"%s","claims":{"surname":%s,"first_name":%s,"date_of_birth":%s,"sex":%s}}' \
        "$hn" "$claim_surname" "$claim_first_name" "$claim_date_of_birth" "$claim_sex" \
        >"$3/verify.json"
    echo "$hn"
}

# bench_server_cert DIR CN SAN: a throwaway CA (DIR/bench-ca.crt) and an ECDSA
# P-256 server key and certificate (DIR/server.key, DIR/server.crt) for CN,
# with subjectAltName SAN ("IP:127.0.0.1, DNS:localhost").  The register's own
# server key is wrapped by its master key, which a peer server cannot read:
# such a pair serves both; clients are still checked against the agency CA.
bench_server_cert() {
    (
        cd "$1"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -keyout bench-ca.key -out bench-ca.crt -subj '/CN=benchmark server CA' &&
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -keyout server.key -out server.csr -subj "/CN=$2" &&
            printf 'subjectAltName = %s\nextendedKeyUsage = serverAuth\n' "$3" >server.ext &&
            openssl x509 -req -in server.csr -CA bench-ca.crt -CAkey bench-ca.key \
                -CAcreateserial -days 2 -extfile server.ext -out server.crt
    ) >"$1/openssl.log" 2>&1 || bench_fatal "openssl: $(tail -n 3 "$1/openssl.log")"
}
