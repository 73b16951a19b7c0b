# tests/integration/lib/netns.sh - what the rate limiter's tests and its
# benchmark share: a server and a client network namespace joined by a veth
# pair, addressed from the documentation ranges only, and bounded floods sent
# with trafgen.  Sourced, never run (the runner only runs tests/integration/*.sh).
#
#   netns_up              makes the namespaces and the pair, names unique per run
#   netns_down            removes them (call it from the caller's exit trap;
#                         safe to call twice)
#   flood NAME COUNT PKT  trafgen sends COUNT copies of PKT (trafgen's syntax)
#                         from the client namespace, under timeout; $flood_ms
#                         gets how long it took
#   tcp_to_port SRC FLAGS / tcp6_to_port SRC FLAGS
#                         a TCP packet to the server's API port ($PORT)
#   hex BYTES...          a frame written in hex (blanks ignored) as a packet
#
# The caller defines fatal() and sets WORK (a directory for its files) and,
# before flooding, PORT.  What it sets: NS_S NS_C (namespaces), VS VC (the
# server's and the client's end of the pair), DMAC (the server end's MAC, in
# hex), SMAC.  Addresses:
#   server  192.0.2.1/24      2001:db8:0:1::1/64   routes to 198.51.100.0/24,
#                                                  203.0.113.0/24, 2001:db8::/32
#   client  192.0.2.2/24      2001:db8:0:1::2/64   and 198.51.100.10 (an agency's),
#                                                  203.0.113.10 (an unknown source's)
# Needs: root, ip (iproute2), trafgen (netsniff-ng), timeout.

NS_S=
NS_C=

netns_up() {
    netns_id=$(($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 100000))
    NS_S=hrl-s$netns_id
    NS_C=hrl-c$netns_id
    VS=hrls$netns_id
    VC=hrlc$netns_id
    ip netns add "$NS_S" && ip netns add "$NS_C" || fatal "ip netns add"
    ip -n "$NS_S" link add "$VS" type veth peer name "$VC" netns "$NS_C" || fatal "ip link add veth"
    {
        ip -n "$NS_S" addr add 192.0.2.1/24 dev "$VS" &&
            ip -n "$NS_S" addr add 2001:db8:0:1::1/64 dev "$VS" nodad &&
            ip -n "$NS_C" addr add 192.0.2.2/24 dev "$VC" &&
            ip -n "$NS_C" addr add 2001:db8:0:1::2/64 dev "$VC" nodad &&
            ip -n "$NS_C" addr add 198.51.100.10/32 dev "$VC" &&
            ip -n "$NS_C" addr add 203.0.113.10/32 dev "$VC" &&
            ip -n "$NS_S" link set lo up && ip -n "$NS_C" link set lo up &&
            ip -n "$NS_S" link set "$VS" up && ip -n "$NS_C" link set "$VC" up &&
            ip -n "$NS_S" route add 198.51.100.0/24 via 192.0.2.2 &&
            ip -n "$NS_S" route add 203.0.113.0/24 via 192.0.2.2 &&
            ip -n "$NS_S" -6 route add 2001:db8::/32 via 2001:db8:0:1::2
    } || fatal "addresses and routes of the namespaces"
    DMAC=$(ip -n "$NS_S" -br link show "$VS" | awk '{ print $3 }' | tr -d :)
    SMAC=020000000001
}

netns_down() {
    if [ -n "$NS_S" ]; then ip netns del "$NS_S" 2>/dev/null || :; fi
    if [ -n "$NS_C" ]; then ip netns del "$NS_C" 2>/dev/null || :; fi
}

flood() {
    printf '%s\n' "$3" >"$WORK/$1.cfg"
    flood_t0=$(($(date +%s%N) / 1000000))
    timeout "${FLOOD_TIMEOUT:-60}" ip netns exec "$NS_C" trafgen -i "$WORK/$1.cfg" -o "$VC" -n "$2" \
        -q -C -P 1 >"$WORK/$1.log" 2>&1 || fatal "trafgen $1: $(tail -n 3 "$WORK/$1.log")"
    flood_ms=$(($(date +%s%N) / 1000000 - flood_t0))
}

hex() { printf '{ %s }' "$(echo "$*" | tr -d ' ' | sed 's/../0x&,/g; s/,$//')"; }

netns_dmac() { echo "$DMAC" | sed 's/../&:/g; s/:$//'; }

tcp_to_port() {
    echo "{ eth(da=$(netns_dmac)), ipv4(saddr=$1, daddr=192.0.2.1, ttl=64), tcp(sp=40000, dp=$PORT, $2) }"
}

tcp6_to_port() {
    echo "{ eth(da=$(netns_dmac), type=0x86dd), ipv6(sa=$1, da=2001:db8:0:1::1), tcp(sp=40000, dp=$PORT, $2) }"
}
