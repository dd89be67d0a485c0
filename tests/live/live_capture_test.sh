#!/usr/bin/env bash
# Live capture end to end (issue 5): two network namespaces joined by a veth
# pair; `provaudit capture` listens on one end, tcpreplay sends the committed
# samples/*.pcap into the other. The report of the live database must equal the
# report `provaudit replay` makes from the same files, with 1 and with 2
# analysis workers, and no packet may be dropped at any stage.
#
# Usage: live_capture_test.sh PROVAUDIT_BIN SOURCE_DIR
# Needs root, iproute2, tcpreplay, python3. Anything missing is a FAILURE, not a
# skip: the README test command runs as root and installs them.
#
# What the comparison leaves out, and why (everything else must be equal):
#  - "generated": wall-clock time of the report.
#  - "first_seen", "last_seen": packet times. Live packets carry the time
#    tcpreplay sent them, not the time they were recorded.
#  - the packet time inside finding details ("certificate expired X, presented
#    <packet time>"): same reason. The verdicts themselves (chain, cert-expired,
#    cert-not-yet-valid) are compared: the samples were recorded the day the
#    suite was generated and their certificates' windows are years wide.
#  - the order of scalar lists (tls_versions, cipher_suites, sni, ips, ja4, ...):
#    they list values in order of first appearance in packet time. tcpreplay
#    sends the files one after the other, in command-line order, while their
#    recorded times interleave differently, so first appearances can reorder.
#    The lists are compared as sorted multisets.
set -euo pipefail

BIN=${1:?usage: live_capture_test.sh PROVAUDIT_BIN SOURCE_DIR}
SRC=${2:?usage: live_capture_test.sh PROVAUDIT_BIN SOURCE_DIR}

source "$(dirname "${BASH_SOURCE[0]}")/live_lib.sh"

live_checks "$BIN" "$SRC"
live_setup

# live_run NAME WORKERS [CAPTURE OPTIONS...]: capture while tcpreplay sends
# every sample; report to $TMP/NAME.json.
live_run() {
  local name=$1 workers=$2 db="$TMP/$1.db"
  shift 2
  ip netns exec "$NS_CAP" "$BIN" capture -i "$IF_CAP" --db "$db" --workers "$workers" "$@" \
    2>"$TMP/capture.err" &
  CAP_PID=$!
  wait_for_capture "$CAP_PID"
  ip netns exec "$NS_GEN" tcpreplay -q -i "$IF_GEN" --mbps 50 "${SAMPLES[@]}" >"$TMP/tcpreplay.out" 2>&1 ||
    fail "tcpreplay: $(cat "$TMP/tcpreplay.out")"
  sleep 1.5  # at least one writer pass with everything (shutdown drains anyway)
  kill -INT "$CAP_PID"
  local rc=0
  wait "$CAP_PID" || rc=$?
  CAP_PID=""
  ((rc == 0)) || fail "capture ($name) exited $rc: $(cat "$TMP/capture.err")"
  if grep -q 'dropped' "$TMP/capture.err"; then fail "capture ($name) dropped packets: $(cat "$TMP/capture.err")"; fi
  grep -q 'error' "$TMP/capture.err" && fail "capture ($name) reported an error: $(cat "$TMP/capture.err")"
  "$BIN" report --db "$db" --format json >"$TMP/$name.json" || fail "report ($name) failed"
}

"$BIN" replay --db "$TMP/replay.db" -q --events "$TMP/replay.jsonl" "${SAMPLES[@]}" || fail "replay failed"
"$BIN" report --db "$TMP/replay.db" --format json >"$TMP/replay.json" || fail "report (replay) failed"

live_run live1 1 -w "$TMP/evidence.pcapng" --events "$TMP/live1.jsonl"
live_run live2 2

# The evidence file (-w) alone, replayed, must tell the same story as the live run.
"$BIN" replay --db "$TMP/evidence.db" -q "$TMP/evidence.pcapng" || fail "replay of the evidence file failed"
"$BIN" report --db "$TMP/evidence.db" --format json >"$TMP/evidence.json" || fail "report (evidence) failed"

# --events under capture: as many handshake and request events as replay writes.
count_events() { grep -c "\"event\":\"$2\"" "$1" || true; }
for ev in tls_handshake http_request finding; do
  r=$(count_events "$TMP/replay.jsonl" "$ev")
  l=$(count_events "$TMP/live1.jsonl" "$ev")
  ((r > 0)) || fail "replay wrote no $ev events"
  [[ $ev == finding ]] && continue  # findings are written on each audit pass: live audits more often
  ((r == l)) || fail "--events: capture wrote $l $ev events, replay $r"
done

# --max-sightings under capture: every sighting stored, devices from the first
# five only, one warning in the journal, and the left-out sightings counted
# where the dashboard lists anomalies.
live_run livecap 1 --max-sightings 5
sql() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$@"; }
s_all=$(sql "$TMP/live1.db" "SELECT count(*) FROM sightings")
s_cap=$(sql "$TMP/livecap.db" "SELECT count(*) FROM sightings")
d_cap=$(sql "$TMP/livecap.db" "SELECT count(*) FROM devices")
over=$(sql "$TMP/livecap.db" "SELECT coalesce(sum(count), 0) FROM source_anomalies WHERE name = 'audit_sightings_over_limit'")
((s_cap == s_all)) || fail "--max-sightings: capture stored $s_cap sightings, without the limit $s_all"
((d_cap >= 1 && d_cap <= 5)) || fail "--max-sightings 5: $d_cap devices"
((over == s_all - 5)) || fail "--max-sightings 5: $over sightings counted over the limit, expected $((s_all - 5))"
left=$(sql "$TMP/livecap.db" "SELECT value FROM stats WHERE name = 'audit_sightings_left_out'")
((left == s_all - 5)) || fail "--max-sightings 5: the dashboard's count of the moment is $left, expected $((s_all - 5))"
warned=$(grep -c -- '--max-sightings' "$TMP/capture.err" || true)
((warned == 1)) || fail "--max-sightings: $warned warnings: $(cat "$TMP/capture.err")"

compare replay live1 || fail "live capture (1 worker) differs from replay"
compare live1 live2 || fail "live capture with 2 workers differs from 1 worker"
compare live1 evidence || fail "the evidence file (-w) does not reproduce the live result"
echo "PASS"
