#!/usr/bin/env bash
# A live sensor whose disk fills up (never a crash, never lost findings).
# `provaudit capture` keeps its database on a small tmpfs of its own; once it
# runs, the rest of that file system is filled and tcpreplay sends every
# sample. The capture must keep running, say once that the database cannot
# be written, keep what it could not store and, when there is room again,
# store all of it and say so: its report then equals replay's of the same
# samples. Its evidence file (-w) on the same file system waits in memory the
# same way and is written again: replayed, it tells the same story. A second
# capture is stopped while the disk is still full: exit 1 and one error line
# naming the database and what could not be stored.
#
# Usage: disk_full_test.sh PROVAUDIT_BIN SOURCE_DIR
# Needs root (namespaces, mount), iproute2, tcpreplay, python3.
set -euo pipefail

BIN=${1:?usage: disk_full_test.sh PROVAUDIT_BIN SOURCE_DIR}
SRC=${2:?usage: disk_full_test.sh PROVAUDIT_BIN SOURCE_DIR}

source "$(dirname "${BASH_SOURCE[0]}")/live_lib.sh"

live_checks "$BIN" "$SRC" mount
live_setup

SMALL=$TMP/small
mkdir "$SMALL"
mount -t tmpfs -o size=8m tmpfs "$SMALL"
LIVE_CLEANUP="umount -l '$SMALL'"

"$BIN" replay --db "$TMP/replay.db" -q "${SAMPLES[@]}" || fail "replay failed"
"$BIN" report --db "$TMP/replay.db" --format json >"$TMP/replay.json" || fail "report (replay) failed"

# Fills what is left of the small file system.
fill() {
  dd if=/dev/zero of="$SMALL/filler" bs=4k 2>/dev/null || true
  local avail
  avail=$(df --output=avail -k "$SMALL" | tail -1 | tr -d ' ')
  ((avail == 0)) || fail "the file system still has $avail KiB free"
}

# start_capture DB [ARG...]: capture on the veth's end, its database on the
# small file system; returns once it captures and has written its database once.
start_capture() {
  local db=$1
  shift
  ip netns exec "$NS_CAP" "$BIN" capture -i "$IF_CAP" --db "$SMALL/$db" "$@" 2>"$TMP/capture.err" &
  CAP_PID=$!
  wait_for_capture "$CAP_PID"
  sleep 1.5  # a writer pass: the database holds the run's first rows
}

send_samples() {
  ip netns exec "$NS_GEN" tcpreplay -q -i "$IF_GEN" --mbps 50 "${SAMPLES[@]}" >"$TMP/tcpreplay.out" 2>&1 ||
    fail "tcpreplay: $(cat "$TMP/tcpreplay.out")"
}

stop_capture() {
  kill -INT "$CAP_PID"
  local rc=0
  wait "$CAP_PID" || rc=$?
  CAP_PID=""
  return "$rc"
}

count() { grep -c -- "$1" "$TMP/capture.err" || true; }

# 1. The disk fills while devices fetch their profiles, and empties again.
start_capture full.db -w "$SMALL/evidence.pcapng"
fill
send_samples
sleep 3  # several writer passes, each refused
kill -0 "$CAP_PID" 2>/dev/null || fail "capture died on a full disk: $(cat "$TMP/capture.err")"
warned=$(count 'warning: .*full.db: .*database or disk is full')
((warned == 1)) || fail "expected one warning about the full disk, got $warned: $(cat "$TMP/capture.err")"
(($(count 'written again') == 0)) || fail "said it was written again while the disk is full"
rm -f "$SMALL/filler"
for _ in $(seq 1 250); do
  (($(count 'written again') > 0)) && break
  sleep 0.1
done
(($(count 'full.db is written again') == 1)) || fail "no word that the database is written again: $(cat "$TMP/capture.err")"
# The evidence file: said once, kept, and written again after its wait (at most 16 s).
(($(count 'warning: .*evidence.pcapng: write failed: No space left on device; its evidence is kept in memory') == 1)) ||
  fail "expected one warning about the evidence file: $(cat "$TMP/capture.err")"
for _ in $(seq 1 250); do
  (($(count 'evidence.pcapng is written again') > 0)) && break
  sleep 0.1
done
(($(count "evidence.pcapng is written again, after [0-9]* s of 'No space left on device'; every packet kept meanwhile is written\$") == 1)) ||
  fail "no word that the evidence file is written again (with nothing lost): $(cat "$TMP/capture.err")"
rc=0
stop_capture || rc=$?
((rc == 0)) || fail "capture exited $rc: $(cat "$TMP/capture.err")"
(($(count 'error') == 0)) || fail "capture reported an error: $(cat "$TMP/capture.err")"
(($(count 'packets dropped:') == 0)) || fail "capture dropped packets: $(cat "$TMP/capture.err")"
"$BIN" report --db "$SMALL/full.db" --format json >"$TMP/live.json" || fail "report (live) failed"
compare replay live || fail "what the capture stored once the disk had room differs from replay"
grep -q 'evidence: [1-9][0-9]* packets written to .*evidence.pcapng$' "$TMP/capture.err" ||
  fail "the summary does not say the evidence was written, nothing lost: $(cat "$TMP/capture.err")"
"$BIN" replay --db "$TMP/evidence.db" -q "$SMALL/evidence.pcapng" || fail "replay of the evidence file failed"
"$BIN" report --db "$TMP/evidence.db" --format json >"$TMP/evidence.json" || fail "report (evidence) failed"
compare replay evidence || fail "the evidence file written after the disk had room does not reproduce replay"

# 2. Stopped while the disk is still full: what could not be stored is said.
rm -f "$SMALL"/*
start_capture stuck.db -w "$SMALL/stuck.pcapng"
fill
send_samples
sleep 1.5
rc=0
stop_capture || rc=$?
((rc == 1)) || fail "capture stopped on a full disk exited $rc: $(cat "$TMP/capture.err")"
(($(count 'error:') == 1)) || fail "expected one error line: $(cat "$TMP/capture.err")"
grep -Eq "error: $SMALL/stuck.db: .*database or disk is full.*; [1-9][0-9]* observations could not be stored" \
  "$TMP/capture.err" || fail "the error line does not say what was not stored: $(cat "$TMP/capture.err")"
# Its evidence file: what could not be written is said, and the file keeps
# its complete blocks only (it reads to its end without an error).
(($(count "warning: $SMALL/stuck.pcapng: write failed: No space left on device; [1-9][0-9]* packets of evidence could not be written") == 1)) ||
  fail "expected one warning about the evidence not written: $(cat "$TMP/capture.err")"
"$BIN" replay --db "$TMP/stuck-evidence.db" -q "$SMALL/stuck.pcapng" 2>"$TMP/stuck-evidence.err" ||
  fail "the evidence file left on a full disk does not read: $(cat "$TMP/stuck-evidence.err")"
[[ ! -s $TMP/stuck-evidence.err ]] || fail "the evidence file left on a full disk ends badly: $(cat "$TMP/stuck-evidence.err")"

# 3. A replay into a database on a full disk: one error line that names it
# (not the rollback that SQLite had already done), exit 1, and the database
# as it was.
rm -f "$SMALL"/*
"$BIN" replay -q --db "$SMALL/replay.db" "$SRC/samples/tls12_rsa.pcap" || fail "replay of one sample failed"
before=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM sightings").fetchone()[0])' "$SMALL/replay.db")
fill
rc=0
"$BIN" replay -q --db "$SMALL/replay.db" "${SAMPLES[@]}" 2>"$TMP/replay.err" || rc=$?
((rc == 1)) || fail "replay onto a full disk exited $rc: $(cat "$TMP/replay.err")"
(($(wc -l <"$TMP/replay.err") == 1)) || fail "expected one line: $(cat "$TMP/replay.err")"
# (SQLite says "disk I/O error" when even its WAL file cannot be created.)
grep -Eq "^provaudit: error: $SMALL/replay.db: .*\(no space left on the file system that holds it\)\$" \
  "$TMP/replay.err" ||
  fail "the error does not name the database and the full disk: $(cat "$TMP/replay.err")"
rm -f "$SMALL/filler"
check=$(python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute("PRAGMA integrity_check").fetchone()[0], c.execute("SELECT count(*) FROM sightings").fetchone()[0])' "$SMALL/replay.db")
[[ $check == "ok $before" ]] || fail "after the failed replay the database says '$check', expected 'ok $before'"
echo "PASS"
