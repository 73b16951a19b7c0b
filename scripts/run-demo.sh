#!/bin/sh
# scripts/run-demo.sh - what `make run` does after building: a demo register of
# synthetic people in run/register (created once, kept across runs), and how to
# talk to it.  Nothing real is in it: every person comes from `huduma synth`.
set -eu
cd "$(dirname "$0")/.."

BIN=build/rel/bin
DIR=${HUDUMA_DIR:-$(pwd)/run/register}
COUNT=${DEMO_PEOPLE:-2000}
export HUDUMA_DIR="$DIR"

if [ ! -d "$DIR/db" ]; then
    mkdir -p "$(dirname "$DIR")"
    "$BIN/huduma" init
    echo "generating $COUNT synthetic people (seed 2026)..."
    "$BIN/huduma" synth --seed 2026 --count "$COUNT" > "$DIR/../demo-people.jsonl"
    "$BIN/huduma" import "$DIR/../demo-people.jsonl" --threads 8 --acks > "$DIR/../demo-acks.tsv" || true
fi

hn=$(awk -F '\t' '$3 == "assigned" { print $4; exit }' "$DIR/../demo-acks.tsv")
doc=$("$BIN/huduma" show "$hn" | sed -n 's/.*"number": "\([^"]*\)".*/\1/p' | head -n 1)
cat <<MSG

The demo register is ready in $DIR.
Talk to it with the huduma tool (every command: $BIN/huduma --help):

  export HUDUMA_DIR=$DIR
  $BIN/huduma show $hn
  $BIN/huduma history $hn
  $BIN/huduma lookup $doc
  $BIN/huduma pending
  $BIN/huduma due-biometrics
  $BIN/huduma enrol docs/examples/enrolment.json

The record format is in docs/record.md; the commands in docs/cli.md.
MSG
