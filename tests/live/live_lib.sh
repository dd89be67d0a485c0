#!/usr/bin/env bash
# Shared by the live tests (sourced, not run): two network namespaces of
# their own joined by a veth pair, the capture listening on one end and
# tcpreplay sending into the other; waiting for the capture to start; and
# comparing two reports. Needs root, iproute2, tcpreplay and python3: the
# caller checks them, then calls live_setup, which sets TMP (removed on
# exit), NS_CAP, NS_GEN, IF_CAP, IF_GEN and CAP_PID (a capture still running
# on exit is killed); the caller may set LIVE_CLEANUP to more to undo on
# exit (run first).

fail() { echo "FAIL: $*" >&2; exit 1; }

# live_checks BIN SRC [TOOL...]: root, ip, tcpreplay, python3 and the tools
# named, the binary, and the samples (SAMPLES). Anything missing is a
# FAILURE, not a skip: the README test command runs as root and installs them.
live_checks() {
  local bin=$1 src=$2 tool
  shift 2
  [[ $(id -u) -eq 0 ]] || fail "needs root (network namespaces, packet capture)"
  for tool in ip tcpreplay python3 "$@"; do
    command -v "$tool" >/dev/null || fail "$tool not installed (scripts/install-deps.sh --test)"
  done
  [[ -x $bin ]] || fail "no provaudit binary at $bin"
  shopt -s nullglob
  SAMPLES=("$src"/samples/*.pcap)
  ((${#SAMPLES[@]} > 0)) || fail "no samples in $src/samples"
}

live_cleanup() {
  if [[ -n ${LIVE_CLEANUP:-} ]]; then eval "$LIVE_CLEANUP" || true; fi
  if [[ -n $CAP_PID ]] && kill -0 "$CAP_PID" 2>/dev/null; then kill -KILL "$CAP_PID" 2>/dev/null || true; fi
  ip netns del "$NS_CAP" 2>/dev/null || true
  ip netns del "$NS_GEN" 2>/dev/null || true
  rm -rf "$TMP"
}

# live_setup: the namespaces, the veth pair and TMP; undone on exit.
live_setup() {
  TAG=$$
  NS_CAP=pa-cap-$TAG
  NS_GEN=pa-gen-$TAG
  IF_CAP=pacap$TAG
  IF_GEN=pagen$TAG
  TMP=$(mktemp -d /tmp/provaudit-live.XXXXXX)
  CAP_PID=""
  trap live_cleanup EXIT

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
}

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

# compare A B: the reports $TMP/A.json and $TMP/B.json have equal devices and
# servers, except packet times and the order of scalar lists
# (live_capture_test.sh says why).
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

