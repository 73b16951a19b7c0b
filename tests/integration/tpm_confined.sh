#!/bin/sh
# tests/integration/tpm_confined.sh - hudumad run as the appliance's systemd
# unit runs it (image/rootfs/etc/systemd/system/hudumad.service): a non-root
# user whose only capabilities are the ambient CAP_BPF, CAP_PERFMON and
# CAP_NET_ADMIN (the bounding set the same), no_new_privs, and the XDP rate
# limiter on an interface.  Run as root, as the other
# tests are, hudumad has CAP_SYS_ADMIN and hides the TPM in a plain mount
# namespace; here it must use a user namespace, which costs it every
# capability outside that namespace, so the order of its start-up matters.
#
# What it proves, each with an "ok - ..." line:
#   - hudumad starts, serves, logs that the network process cannot reach the
#     TPM, and logs no warning that it still can or that it keeps
#     capabilities;
#   - the XDP rate limiter is attached to the interface (native mode, logged,
#     seen by `ip link`), and /metrics says hudumad_ratelimit_enabled 1;
#   - both processes run as the service user and hold no capability (the
#     network process: none in any set, the bounding set included; the key
#     process: no effective, permitted, inheritable or ambient one), both have
#     no_new_privs, and both are non-dumpable again (their /proc files are
#     root's), the network process after having been dumpable to write its
#     user namespace's maps;
#   - as the service user without capabilities, the swtpm answers
#     tpm2_getrandom; in the network process's user and mount namespaces,
#     with the same uid and no capability (what a taken-over network process
#     has), the swtpm directory is empty, tpm2_getrandom fails, the cover
#     cannot be unmounted, not even from a user namespace made inside, and
#     the key process's view (/proc/PID/root) is refused;
#   - SIGTERM: hudumad exits 0 and the XDP program is detached (closing the
#     BPF link needs no capability).
#
# How: lib/daemon.sh (the sanitized hudumad, a real swtpm), lib/netns.sh's
# namespaces (documentation addresses only), setpriv, nsenter and unshare
# (util-linux), tpm2-tools.  Locked memory stays at this machine's limit (the
# unit raises it to 64 MiB; raising it here would need CAP_SYS_RESOURCE).  The service user is a uid and gid no
# account uses; the register and its swtpm are handed to it, as the
# appliance's register belongs to huduma and its TPM to huduma's group.
set -eu

LIB_NAME=tpm-confined
# shellcheck source=tests/integration/lib/daemon.sh
. "$(dirname "$0")/lib/daemon.sh"
lib_init
need_tools ip nsenter setpriv unshare tpm2_getrandom
[ "$(id -u)" -eq 0 ] || fatal "needs root: it switches users, makes network namespaces and attaches XDP"
# shellcheck source=tests/integration/lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
on_cleanup() {
    stop_daemon
    netns_down
}
netns_up
INSTANCE=test-confined-$netns_id

# A uid and gid that no account of this machine uses.
SVC=64000
while getent passwd "$SVC" >/dev/null 2>&1 || getent group "$SVC" >/dev/null 2>&1; do
    SVC=$((SVC + 1))
done
CAPS=+bpf,+perfmon,+net_admin
as_service() { # COMMAND...: as the service user, no supplementary group, no capability
    setpriv --reuid="$SVC" --regid="$SVC" --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
}

huduma_init
add_agency ops operator
swtpm_stop "$HUDUMA_DIR"
chown -R "$SVC:$SVC" "$HUDUMA_DIR"
chown "$SVC:$SVC" "$WORK" # the daemon's pid file
as_service sh "$SWTPM_SH" start "$HUDUMA_DIR" || fatal "cannot start swtpm as uid $SVC"
SOCK=${HUDUMA_TCTI#swtpm:path=}
SOCK_DIR=$(dirname "$SOCK")

CONFIG_LISTEN=0.0.0.0
DAEMON_PREFIX="nsenter --net=/run/netns/$NS_S setpriv --reuid=$SVC --regid=$SVC --clear-groups --inh-caps=-all,$CAPS --ambient-caps=-all,$CAPS --bounding-set=-all,$CAPS --no-new-privs --"
API_PREFIX="nsenter --net=/run/netns/$NS_C"
API_VIA=192.0.2.1
config_extra() {
    cat <<EOF

[ratelimit]
interface = $VS
instance = $INSTANCE
class.default = rate 2000 burst 4000 syn_rate 200 syn_burst 400
network.link = 192.0.2.0/24
class.link = rate 100000 burst 100000
EOF
}
start_daemon ops
net_pid=$dpid
key_pid=$(pgrep -P "$dpid" -x hudumad-keys || :)
[ -n "$key_pid" ] || fatal "no key process under hudumad $dpid"

# ---- the log: the TPM hidden, nothing kept, the limiter on ---------------------------------

if grep -q 'msg="the network process cannot reach the TPM: only the key process can"' "$LOG" &&
    ! grep -q -e 'can still reach the TPM' -e 'keeps capabilities' "$LOG"; then
    ok "as uid $SVC with only $CAPS: hudumad logs that the network process cannot reach the TPM, and no warning that it still can or keeps capabilities"
else
    not_ok "the TPM from the network process: $(grep -e 'reach the TPM' -e 'capabilities' "$LOG" | head -n 3)"
fi

api ops GET /metrics
if grep -q "msg=\"rate limiting is on\" interface=$VS mode=native" "$LOG" &&
    ip -n "$NS_S" link show "$VS" | grep -q 'prog/xdp' &&
    [ "$code" = 200 ] && grep -q '^hudumad_ratelimit_enabled 1$' "$WORK/body"; then
    ok "the XDP rate limiter is attached to $VS (native mode, logged, seen by ip link; hudumad_ratelimit_enabled 1)"
else
    not_ok "XDP: log '$(grep 'rate limiting' "$LOG" | head -n 2)', link '$(ip -n "$NS_S" link show "$VS" | tr '\n' ' ')', /metrics $code"
fi

# ---- both processes: the service user, no capability, not dumpable ---------------------------

status() { # PID FIELD: the field of /proc/PID/status
    sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"
}
none=0000000000000000
uids_ok=1
for p in "$net_pid" "$key_pid"; do
    [ "$(status "$p" Uid)" = "$SVC	$SVC	$SVC	$SVC" ] || uids_ok=0
done
if [ "$uids_ok" = 1 ]; then
    ok "both processes run as uid $SVC"
else
    not_ok "uids: network process '$(status "$net_pid" Uid)', key process '$(status "$key_pid" Uid)'"
fi
caps() { # PID: its capability sets and no_new_privs, on one line
    echo "inh $(status "$1" CapInh) prm $(status "$1" CapPrm) eff $(status "$1" CapEff) bnd $(status "$1" CapBnd) amb $(status "$1" CapAmb) nnp $(status "$1" NoNewPrivs)"
}
if [ "$(caps "$net_pid")" = "inh $none prm $none eff $none bnd $none amb $none nnp 1" ]; then
    ok "the network process holds no capability in any set, the bounding set included, and has no_new_privs"
else
    not_ok "the network process: $(caps "$net_pid")"
fi
case $(caps "$key_pid") in
"inh $none prm $none eff $none bnd "*" amb $none nnp 1")
    ok "the key process holds no capability (its bounding set is left as it was, which no_new_privs makes moot): $(caps "$key_pid")"
    ;;
*) not_ok "the key process: $(caps "$key_pid")" ;;
esac
# The kernel gives a process's /proc files (not its /proc/PID directory) to
# root while it is not dumpable.
if [ "$(stat -c %u "/proc/$net_pid/status")" = 0 ] && [ "$(stat -c %u "/proc/$key_pid/status")" = 0 ]; then
    ok "both processes are non-dumpable (their /proc files are root's, not uid $SVC's)"
else
    not_ok "dumpable: /proc/$net_pid/status is uid $(stat -c %u "/proc/$net_pid/status")'s, /proc/$key_pid/status uid $(stat -c %u "/proc/$key_pid/status")'s"
fi

# ---- the TPM from the network process's place --------------------------------------------------

# As the service user without capabilities, inside the network process's user
# and mount namespaces: supplementary groups are cleared before entering
# (setgroups is denied in there), nsenter sets the uid and gid inside, and
# the probe, executed as a uid that is not root there, keeps no capability.
as_network_process() { # SHELL-COMMAND
    setpriv --clear-groups -- nsenter -t "$net_pid" -U -m -S "$SVC" -G "$SVC" -- sh -c "$1"
}
tpm_random() { # the swtpm's answer to tpm2_getrandom, as the probe runs it
    echo "TSS2_LOG=all+none TPM2TOOLS_TCTI='$HUDUMA_TCTI' timeout 20 tpm2_getrandom --hex 8"
}
if as_service sh -c "$(tpm_random)" >/dev/null 2>&1; then
    ok "as uid $SVC without capabilities, outside hudumad's namespaces, the swtpm answers tpm2_getrandom"
else
    not_ok "the swtpm does not answer uid $SVC outside hudumad's namespaces: the checks below prove nothing"
fi
probe=$(as_network_process "grep -E '^(Uid|CapEff|CapPrm)' /proc/self/status | tr -s '\t\n' '  '" 2>&1) || :
listing=$(as_network_process "ls -A '$SOCK_DIR'" 2>&1) || listing="ls failed: $listing"
if [ -z "$listing" ] && ! as_network_process "$(tpm_random)" >/dev/null 2>&1; then
    ok "in the network process's namespaces, as uid $SVC without capabilities ($probe): the swtpm directory is empty and tpm2_getrandom fails"
else
    not_ok "in the network process's namespaces: '$listing' in $SOCK_DIR, or tpm2_getrandom answered"
fi
undo=$(as_network_process "umount '$SOCK_DIR' 2>/dev/null; umount -l '$SOCK_DIR' 2>/dev/null; ls -A '$SOCK_DIR'; unshare -U -r -m sh -c \"umount '$SOCK_DIR' 2>/dev/null; umount -l '$SOCK_DIR' 2>/dev/null; ls -A '$SOCK_DIR'; echo inside\"" 2>&1) || :
if [ "$undo" = inside ]; then
    ok "the cover cannot be unmounted, not even as root of a user and mount namespace made inside (its mounts come locked)"
else
    not_ok "the cover over $SOCK_DIR: after trying to unmount it, the probe saw: $undo"
fi
if as_network_process "test -d '/proc/$key_pid' && ! ls -A '/proc/$key_pid/root$SOCK_DIR'" >/dev/null 2>&1; then
    ok "the key process's view of the file system (/proc/$key_pid/root) is refused"
else
    not_ok "the network process reaches $SOCK_DIR through /proc/$key_pid/root"
fi

# ---- stop -------------------------------------------------------------------------------------

sigterm_daemon
if [ "$stop_status" = 0 ] && grep -q 'msg="rate limiting stopped: the XDP program is detached"' "$LOG" &&
    ! ip -n "$NS_S" link show "$VS" | grep -q 'prog/xdp'; then
    ok "SIGTERM: hudumad exits 0, and the XDP program is detached although it holds no capability any more"
else
    not_ok "stop: exit $stop_status, link '$(ip -n "$NS_S" link show "$VS" | tr '\n' ' ')'"
fi
grep 'level=warn' "$LOG" | sed 's/^/# hudumad: /' | sort -u
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
