#!/usr/bin/env bash
# provaudit in a real memory-limited cgroup (as systemd's MemoryMax= puts the
# packaged service, packaging/provaudit.service): a --max-sightings whose worst
# case may need more memory than the cgroup allows is said once, when the run
# starts, naming the cgroup, the limit and the largest --max-sightings that
# fits; one that fits says nothing; the run's results are the same either way.
# A live capture counts its kernel buffer (-B) and its interfaces in.
#
# Usage: memory_limit_test.sh PROVAUDIT_BIN SOURCE_DIR
# Needs root and a cgroup file system with the memory controller: cgroup v1
# (a child of this process's memory cgroup), cgroup v2 (a child of the root,
# or a transient scope from systemd-run). None usable is a FAILURE.
set -euo pipefail

BIN=${1:?usage: memory_limit_test.sh PROVAUDIT_BIN SOURCE_DIR}
SRC=${2:?usage: memory_limit_test.sh PROVAUDIT_BIN SOURCE_DIR}
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "needs root (cgroups)"
[[ -x $BIN ]] || fail "no provaudit binary at $BIN"
SAMPLE=$SRC/samples/audit_cases.pcap
[[ -s $SAMPLE ]] || fail "no $SAMPLE"

TMP=$(mktemp -d /tmp/provaudit-memlimit.XXXXXX)
CG_DIR=""
cleanup() {
  if [[ -n $CG_DIR && -d $CG_DIR ]]; then
    # Our shells have exited; the directory goes once empty.
    for _ in 1 2 3 4 5; do rmdir "$CG_DIR" 2>/dev/null && break; sleep 0.2; done
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

GIB=$((1 << 30))
# in_cgroup LIMIT_BYTES CMD...: runs CMD in a cgroup limited to LIMIT_BYTES.
MODE=""
V1_BASE=""
CG_NAME=""
mem_line=$(grep -E '^[0-9]+:([^:]*,)?memory(,[^:]*)?:' /proc/self/cgroup || true)
if [[ -n $mem_line && -d /sys/fs/cgroup/memory ]]; then
  V1_BASE=/sys/fs/cgroup/memory${mem_line#*:*:}
  if [[ -w $V1_BASE ]] && mkdir "$V1_BASE/pa-mem-$$" 2>/dev/null; then
    MODE=v1
    CG_DIR=$V1_BASE/pa-mem-$$
    CG_NAME=${mem_line#*:*:}
    CG_NAME=${CG_NAME%/}/pa-mem-$$
  fi
fi
if [[ -z $MODE && -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
  if mkdir /sys/fs/cgroup/pa-mem-$$ 2>/dev/null; then
    echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    if [[ -f /sys/fs/cgroup/pa-mem-$$/memory.max ]]; then
      MODE=v2
      CG_DIR=/sys/fs/cgroup/pa-mem-$$
      CG_NAME=/pa-mem-$$
    else
      rmdir /sys/fs/cgroup/pa-mem-$$
    fi
  fi
  if [[ -z $MODE && -d /run/systemd/system ]] && command -v systemd-run >/dev/null; then
    MODE=systemd
  fi
fi
[[ -n $MODE ]] || fail "no cgroup with a memory controller can be made here (cgroup v1 memory, cgroup v2 root, systemd-run)"
echo "cgroups: $MODE ${CG_DIR:-(systemd-run scopes)}"

in_cgroup() {
  local limit=$1
  shift
  case $MODE in
    v1)
      echo "$limit" > "$CG_DIR/memory.limit_in_bytes"
      sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$CG_DIR" "$@" ;;
    v2)
      echo "$limit" > "$CG_DIR/memory.max"
      sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$CG_DIR" "$@" ;;
    systemd)
      systemd-run --quiet --scope -p MemoryMax="$limit" "$@" ;;
  esac
}

# run NAME LIMIT_BYTES [provaudit options...]: a replay of the sample in a
# cgroup of that limit; stderr in $TMP/NAME.err, the report in $TMP/NAME.json.
run() {
  local name=$1 limit=$2
  shift 2
  in_cgroup "$limit" "$BIN" replay "$@" --db "$TMP/$name.db" "$SAMPLE" 2> "$TMP/$name.err" ||
    fail "$name: replay exited $?: $(cat "$TMP/$name.err")"
  "$BIN" report --db "$TMP/$name.db" --format json |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps(r["devices"], sort_keys=True))' > "$TMP/$name.json"
}
warnings() { grep -c 'may need up to' "$TMP/$1.err" || true; }

# 1 GiB: the default (150,000 sightings, up to 1.5 GB) may not fit; 98,304 do
# ((1 GiB - 256 MiB) / 8 KiB).
run small $GIB
[[ $(warnings small) -eq 1 ]] || fail "default limit in 1 GiB: $(warnings small) memory warnings: $(cat "$TMP/small.err")"
w=$(grep 'may need up to' "$TMP/small.err")
for want in "--max-sightings 150000 may need up to 1.5 GB" "more than this process may use (1.1 GB: memory" \
            "of cgroup /" "--max-sightings 98304 fits"; do
  [[ $w == *"$want"* ]] || fail "the warning does not say \"$want\": $w"
done
if [[ -n $CG_NAME ]]; then
  [[ $w == *"of cgroup $CG_NAME)"* ]] || fail "the warning does not name the cgroup $CG_NAME: $w"
fi
[[ $(head -1 "$TMP/small.err") == "provaudit: warning: --max-sightings 150000 may need up to"* ]] ||
  fail "the warning is not the run's first line: $(cat "$TMP/small.err")"

# The limit it names fits: no warning.
run fits $GIB --max-sightings 98304
[[ $(warnings fits) -eq 0 ]] || fail "--max-sightings 98304 in 1 GiB warned: $(cat "$TMP/fits.err")"
# One more does not.
run over $GIB --max-sightings 98305
[[ $(warnings over) -eq 1 ]] || fail "--max-sightings 98305 in 1 GiB: $(warnings over) warnings"

# Plenty of room (64 GiB, or the machine's memory, whichever is less): nothing to say.
run roomy $((64 * GIB)) --max-sightings 1000
[[ $(warnings roomy) -eq 0 ]] || fail "--max-sightings 1000 warned: $(cat "$TMP/roomy.err")"

# The warning changes nothing the run finds.
for name in fits over roomy; do
  cmp -s "$TMP/small.json" "$TMP/$name.json" || fail "devices differ between the runs small and $name"
done
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/small.json")
((n > 0)) || fail "no devices from $SAMPLE"

# A live capture counts its own buffers in: a kernel buffer of 256 MiB (-B)
# is 192 MiB more than the base allows for, so the --max-sightings that fits
# a replay in 1 GiB (98,304) does not fit this capture; (1 GiB - 256 MiB -
# 192 MiB) / 8 KiB = 73,728 do. At the default -B it says nothing. (On the
# loopback of a network namespace of its own, stopped with SIGINT once it
# captures: sent to the capture itself, found by its database's path, as the
# job is a subshell that ignores SIGINT.)
capture_run() {
  local name=$1
  shift
  in_cgroup "$GIB" unshare -n sh -c 'ip link set lo up && exec "$@"' sh \
    "$BIN" capture -i lo --db "$TMP/$name.db" "$@" 2> "$TMP/$name.err" &
  local job=$! rc=0
  for _ in $(seq 1 200); do
    grep -q 'capturing on' "$TMP/$name.err" && break
    kill -0 "$job" 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'capturing on' "$TMP/$name.err" || fail "$name: capture did not start: $(cat "$TMP/$name.err")"
  pkill -INT -f -- "capture -i lo --db $TMP/$name.db" || fail "$name: no capture process to stop"
  wait "$job" || rc=$?
  ((rc == 0)) || fail "$name: capture exited $rc: $(cat "$TMP/$name.err")"
}
capture_run cap_big --max-sightings 98304 -B 256
[[ $(warnings cap_big) -eq 1 ]] || fail "capture -B 256: $(warnings cap_big) memory warnings: $(cat "$TMP/cap_big.err")"
w=$(grep 'may need up to' "$TMP/cap_big.err")
for want in "--max-sightings 98304 may need up to" "and 0.2 GB for the capture buffers of 1 interface at -B 256" \
            "--max-sightings 73728 fits"; do
  [[ $w == *"$want"* ]] || fail "the capture's warning does not say \"$want\": $w"
done
capture_run cap_fits --max-sightings 73728 -B 256
[[ $(warnings cap_fits) -eq 0 ]] || fail "capture --max-sightings 73728 -B 256 warned: $(cat "$TMP/cap_fits.err")"
capture_run cap_default --max-sightings 98304
[[ $(warnings cap_default) -eq 0 ]] || fail "capture at the default -B warned: $(cat "$TMP/cap_default.err")"
echo "PASS: memory warning in a ${MODE} cgroup of 1 GiB, none where it fits ($n devices each run); a capture counts its buffers"
