#!/usr/bin/env bash
# What `provaudit capture` says and leaves behind when it starts or stops:
#  - a bad --serve (a port alone, a non-loopback address without --token) or
#    a -Z user that does not exist: one error line naming the option as
#    typed, exit 1, and no database file created;
#  - a database that cannot be written: the error line names the file (as
#    replay's does);
#  - SIGHUP during shutdown (a reload racing Ctrl-C): exit 0 with the final
#    write, never killed by it (exit 129);
#  - an interface that saw no packet: its source row has no first or last
#    packet time (NULL), not 0 (1970-01-01 on the dashboard).
#
# Usage: capture_cli_test.sh PROVAUDIT_BIN SOURCE_DIR
# Needs root (namespaces, chattr), iproute2, tcpreplay (live_checks), python3.
set -euo pipefail

BIN=${1:?usage: capture_cli_test.sh PROVAUDIT_BIN SOURCE_DIR}
SRC=${2:?usage: capture_cli_test.sh PROVAUDIT_BIN SOURCE_DIR}

source "$(dirname "${BASH_SOURCE[0]}")/live_lib.sh"

live_checks "$BIN" "$SRC" chattr
live_setup
LIVE_CLEANUP='chattr -i "$TMP/ro.db" 2>/dev/null'

capture() { ip netns exec "$NS_CAP" "$BIN" capture -i "$IF_CAP" "$@"; }

# refused NAME EXPECTED_TEXT ARG...: capture with ARGs exits 1 with one error
# line containing EXPECTED_TEXT, and creates no database.
refused() {
  local name=$1 expected=$2 db="$TMP/$1.db" rc=0
  shift 2
  capture --db "$db" "$@" 2>"$TMP/$name.err" || rc=$?
  ((rc == 1)) || fail "$name: exit $rc, expected 1: $(cat "$TMP/$name.err")"
  [[ $(wc -l <"$TMP/$name.err") -eq 1 ]] || fail "$name: not one line: $(cat "$TMP/$name.err")"
  grep -qF -- "provaudit: error: $expected" "$TMP/$name.err" || fail "$name: $(cat "$TMP/$name.err")"
  grep -q -- '--listen' "$TMP/$name.err" && fail "$name: names --listen, an option capture has not: $(cat "$TMP/$name.err")"
  [[ ! -e $db ]] || fail "$name: left a database file behind"
}
refused serve_port "--serve: expected ADDR:PORT" --serve 18080
refused serve_addr "--serve: '10.0.0.300' is not an IP address" --serve 10.0.0.300:18080
refused serve_open "--serve 0.0.0.0:18080 without --token" --serve 0.0.0.0:18080
refused user "-Z pa-no-such-user: no such user" -Z pa-no-such-user

# A database that cannot be written: its name is in the error.
"$BIN" replay --db "$TMP/ro.db" -q "${SAMPLES[0]}" || fail "replay failed"
chattr +i "$TMP/ro.db" || fail "chattr +i failed"
rc=0
capture --db "$TMP/ro.db" 2>"$TMP/ro.err" || rc=$?
chattr -i "$TMP/ro.db"
((rc == 1)) || fail "read-only database: exit $rc: $(cat "$TMP/ro.err")"
grep -qF "provaudit: error: $TMP/ro.db: " "$TMP/ro.err" || fail "read-only database: error does not name it: $(cat "$TMP/ro.err")"

# SIGHUP a moment after SIGINT, several times (the race is narrow).
for i in 1 2 3 4 5; do
  # Not through capture(): $! must be provaudit itself (ip netns exec execs it), not a subshell.
  ip netns exec "$NS_CAP" "$BIN" capture -i "$IF_CAP" --db "$TMP/hup$i.db" 2>"$TMP/capture.err" &
  CAP_PID=$!
  wait_for_capture "$CAP_PID"
  kill -INT "$CAP_PID"
  sleep 0.005
  kill -HUP "$CAP_PID" 2>/dev/null || true
  rc=0
  wait "$CAP_PID" || rc=$?
  CAP_PID=""
  ((rc == 0)) || fail "SIGHUP during shutdown ($i): exit $rc: $(cat "$TMP/capture.err")"
  # The final write happened: the interface's source row says the run is complete.
  python3 - "$TMP/hup$i.db" <<'PY' || fail "SIGHUP during shutdown ($i): no final write, or a quiet interface stored as 1970"
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT status, packets, first_ts_ns IS NULL, last_ts_ns IS NULL FROM sources WHERE kind = 'interface'").fetchall()
print(rows)
sys.exit(0 if rows and all(r[0] == "complete" and (r[1] > 0 or (r[2] and r[3])) for r in rows) else 1)
PY
done
echo "PASS"
