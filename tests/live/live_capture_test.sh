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

fail() { echo "FAIL: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || fail "needs root (network namespaces, packet capture)"
for tool in ip tcpreplay python3; do
  command -v "$tool" >/dev/null || fail "$tool not installed (scripts/install-deps.sh --test)"
done
[[ -x $BIN ]] || fail "no provaudit binary at $BIN"
shopt -s nullglob
SAMPLES=("$SRC"/samples/*.pcap)
((${#SAMPLES[@]} > 0)) || fail "no samples in $SRC/samples"

TAG=$$
NS_CAP=pa-cap-$TAG
NS_GEN=pa-gen-$TAG
IF_CAP=pacap$TAG
IF_GEN=pagen$TAG
TMP=$(mktemp -d /tmp/provaudit-live.XXXXXX)
CAP_PID=""

cleanup() {
  if [[ -n $CAP_PID ]] && kill -0 "$CAP_PID" 2>/dev/null; then kill -KILL "$CAP_PID" 2>/dev/null || true; fi
  ip netns del "$NS_CAP" 2>/dev/null || true
  ip netns del "$NS_GEN" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$NS_CAP"
ip netns add "$NS_GEN"
ip link add "$IF_CAP" netns "$NS_CAP" type veth peer name "$IF_GEN" netns "$NS_GEN"
for side in "$NS_CAP $IF_CAP 10.78.0.1/24" "$NS_GEN $IF_GEN 10.78.0.2/24"; do
  read -r ns dev addr <<<"$side"
  # No IPv6 autoconfiguration or router solicitations of our own on the wire.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" addr add "$addr" dev "$dev"
  ip -n "$ns" link set "$dev" up
  ip -n "$ns" link set lo up
done

# Waits until the capture says it is capturing: every interface open with its
# filter, the kernel buffering from then on. (Its packet socket alone is not
# enough: libpcap drops what arrived before the filter was set, and a capture
# whose ring took a while to set up missed the first samples.)
wait_for_capture() {
  local pid=$1
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || fail "capture exited early: $(cat "$TMP/capture.err")"
    if grep -q 'capturing on' "$TMP/capture.err"; then return 0; fi
    sleep 0.1
  done
  fail "capture did not start on $IF_CAP within 10 s: $(cat "$TMP/capture.err")"
}

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

# compare A B: equal devices and servers, except the fields named at the top.
compare() {
  python3 - "$TMP/$1.json" "$TMP/$2.json" "$1" "$2" <<'PY'
import json, sys
import re
TIME_FIELDS = {"first_seen", "last_seen"}
PRESENTED = re.compile(r"presented \d{4}-\d\d-\d\dT[0-9:.]+Z")
def strip(v, key=None):
    if isinstance(v, dict):
        return {k: strip(x, k) for k, x in v.items() if k not in TIME_FIELDS}
    if isinstance(v, list):
        items = [strip(x) for x in v]
        if all(not isinstance(x, (dict, list)) for x in items):
            return sorted(items, key=lambda x: (x is None, str(x)))
        return items
    if isinstance(v, str) and key == "detail":
        return PRESENTED.sub("presented <packet time>", v)
    return v
def load(path):
    with open(path) as f:
        r = json.load(f)
    return {k: strip(r[k]) for k in ("devices", "servers")}
a, b = load(sys.argv[1]), load(sys.argv[2])
if not a["devices"]:
    sys.exit(f"{sys.argv[3]}: no devices at all")
if a != b:
    for k in ("devices", "servers"):
        if a[k] != b[k]:
            print(f"{sys.argv[3]} vs {sys.argv[4]}: {k} differ", file=sys.stderr)
            for x, y in zip(a[k], b[k]):
                if x != y:
                    print("  " + json.dumps(x, sort_keys=True)[:2000], file=sys.stderr)
                    print("  " + json.dumps(y, sort_keys=True)[:2000], file=sys.stderr)
                    break
            if len(a[k]) != len(b[k]):
                print(f"  {len(a[k])} vs {len(b[k])} entries", file=sys.stderr)
    sys.exit(1)
print(f"{sys.argv[3]} == {sys.argv[4]}: {len(a['devices'])} devices, {len(a['servers'])} servers")
PY
}

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
