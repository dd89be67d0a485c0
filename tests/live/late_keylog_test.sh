#!/usr/bin/env bash
# A live sensor decrypting with the key log a real server writes as it goes
# (`openssl s_server -keylogfile`): the server logs a session's key only when
# it reads the client's ClientKeyExchange (TLS 1.2) or Finished (TLS 1.3's
# client application secret), after the records that need it went by the
# sensor. Every session must still decrypt: each device request inside TLS is
# in the report, none is counted as without a key. (Once only one session in
# six was: the key was looked up once, at the client's first encrypted
# record, and the file re-read at most every 200 ms.)
#
# Usage: late_keylog_test.sh PROVAUDIT_BIN SOURCE_DIR
# Needs root (namespaces), iproute2, tcpreplay (live_checks), python3, openssl.
set -euo pipefail

BIN=${1:?usage: late_keylog_test.sh PROVAUDIT_BIN SOURCE_DIR}
SRC=${2:?usage: late_keylog_test.sh PROVAUDIT_BIN SOURCE_DIR}

source "$(dirname "${BASH_SOURCE[0]}")/live_lib.sh"

live_checks "$BIN" "$SRC" openssl timeout
live_setup

SRV_PID=""
LIVE_CLEANUP='[[ -n $SRV_PID ]] && kill "$SRV_PID" 2>/dev/null'

# The provisioning server, next to the sensor, on the veth's capture end.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/srv.key" -out "$TMP/srv.pem" -days 30 \
  -subj "/CN=prov.example" >/dev/null 2>&1 || fail "openssl req failed"
mkdir "$TMP/www"
for i in 1 2 3 4 5 6; do echo "<flat-profile/>" >"$TMP/www/spa000e08abcde$i.cfg"; done
: >"$TMP/srv.keylog"
(cd "$TMP/www" && exec ip netns exec "$NS_CAP" openssl s_server -accept 10.78.0.1:4433 -cert "$TMP/srv.pem" \
  -key "$TMP/srv.key" -WWW -keylogfile "$TMP/srv.keylog" >"$TMP/srv.out" 2>&1) &
SRV_PID=$!

ip netns exec "$NS_CAP" "$BIN" capture -i "$IF_CAP" --db "$TMP/live.db" --keylog "$TMP/srv.keylog" \
  2>"$TMP/capture.err" &
CAP_PID=$!
wait_for_capture "$CAP_PID"
for _ in $(seq 1 50); do
  ip netns exec "$NS_CAP" ss -ltn | grep -q '10.78.0.1:4433' && break
  sleep 0.1
done

# Six devices' profile requests, three over TLS 1.2 and three over TLS 1.3,
# one after the other as a provisioning round does them.
for i in 1 2 3 4 5 6; do
  version=-tls1_2
  ((i > 3)) && version=-tls1_3
  printf 'GET /spa000e08abcde%s.cfg HTTP/1.0\r\nUser-Agent: Linksys/SPA-962-6.1.5(a) (88012BA0123%s)\r\n\r\n' \
    "$i" "$i" |
    ip netns exec "$NS_GEN" timeout 10 openssl s_client -connect 10.78.0.1:4433 "$version" -quiet -ign_eof \
      >"$TMP/cli$i.out" 2>&1 || fail "s_client $i: $(cat "$TMP/cli$i.out")"
done
sleep 1.5  # a writer pass (shutdown drains anyway)
kill -INT "$CAP_PID"
rc=0
wait "$CAP_PID" || rc=$?
CAP_PID=""
((rc == 0)) || fail "capture exited $rc: $(cat "$TMP/capture.err")"
n_keys=$(grep -c '^CLIENT_RANDOM\|^CLIENT_TRAFFIC_SECRET_0' "$TMP/srv.keylog" || true)
((n_keys == 6)) || fail "the server logged $n_keys session keys, expected 6: $(cat "$TMP/srv.out")"

"$BIN" report --db "$TMP/live.db" --format json >"$TMP/live.json" || fail "report failed"
python3 - "$TMP/live.json" "$TMP/live.db" <<'PY' || fail "not every session was decrypted live: $(cat "$TMP/capture.err")"
import json, sqlite3, sys
report = json.load(open(sys.argv[1]))
urls = sorted({u for d in report["devices"] for u in d["urls"]})
want = [f"/spa000e08abcde{i}.cfg" for i in range(1, 7)]
got = [u for u in want if any(x.endswith(u) for x in urls)]
db = sqlite3.connect(sys.argv[2])
no_key = db.execute("SELECT coalesce(sum(count), 0) FROM source_anomalies WHERE name LIKE 'decrypt%'").fetchone()[0]
print(f"decrypted requests: {len(got)}/6 ({urls}); decrypt anomalies: {no_key}")
sys.exit(0 if len(got) == 6 and no_key == 0 else 1)
PY
echo "PASS"
