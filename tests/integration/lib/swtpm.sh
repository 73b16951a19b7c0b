# tests/integration/lib/swtpm.sh - a real swtpm for a test's register.  Sourced,
# never run (the runner only runs tests/integration/*.sh).
#
#   swtpm_start DIR   starts swtpm with its state in DIR/tpm (scripts/swtpm.sh)
#                     and points HUDUMA_TCTI and TPM2TOOLS_TCTI at it, so that
#                     huduma, hudumad and tpm2-tools all talk to this swtpm and
#                     never to a TPM of the machine
#   swtpm_stop DIR    stops it (its state stays: a later start is a reboot)
#   swtpm_stop_all    stops every swtpm swtpm_start started; call it on exit
#
# Each start is a TPM power-on: the PCRs start from zero.  Needs swtpm and
# swtpm-tools (swtpm_ioctl); tpm2-tools for the scripts that extend PCRs.

SWTPM_SH=$(cd "$(dirname "$0")/../.." && pwd)/scripts/swtpm.sh
SWTPM_DIRS=

swtpm_start() { # DIR
    if ! command -v swtpm >/dev/null 2>&1; then
        echo "not ok - swtpm is needed (Debian packages: swtpm swtpm-tools)"
        exit 1
    fi
    sh "$SWTPM_SH" start "$1" || {
        echo "not ok - cannot start swtpm in $1/tpm"
        exit 1
    }
    case " $SWTPM_DIRS " in *" $1 "*) ;; *) SWTPM_DIRS="$SWTPM_DIRS $1" ;; esac
    HUDUMA_TCTI=$(sh "$SWTPM_SH" tcti "$1")
    TPM2TOOLS_TCTI=$HUDUMA_TCTI
    export HUDUMA_TCTI TPM2TOOLS_TCTI
}

swtpm_stop() { # DIR
    sh "$SWTPM_SH" stop "$1" || :
}

swtpm_stop_all() {
    for d in $SWTPM_DIRS; do
        sh "$SWTPM_SH" stop "$d" || :
    done
}
