#!/usr/bin/env python3
"""Cross-check samples/expected/*.json against what tshark shows in the captures.

Independent of provaudit: checks the wire facts the expected files rely on
(device MAC <-> IP, client certificates in clear, empty Certificate messages,
CertificateRequest, User-Agents in clear, and with keys: the decrypted UAs).
Usage: samples/check_samples.py [name ...]      (needs tshark)
"""
import json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))

def tshark(pcap, fields, dfilter, opts=(), h2c_ports=()):
    cmd = ["tshark", "-r", os.path.join(HERE, pcap), "-Y", dfilter, "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for o in opts:
        cmd += ["-o", o]
    for p in h2c_ports:  # HTTP/2 in clear on a port tshark does not know for it
        cmd += ["-d", "tcp.port==%d,http2" % p]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]

def unescape_dn(value):
    """An RFC 4514 attribute value as the certificate holds it (tshark shows it so)."""
    return re.sub(r'\\(.)', r'\1', value)

def wire(device):
    """The MAC the device's frames carry: its own, or its router's."""
    return device.get("wire_mac", device["mac"])

def check(exp):
    errs = []
    pcap = exp["capture"]
    server_ips = {s["ip"] for s in exp["servers"]}
    # every device: its MAC is seen with exactly its IPs (TCP frames)
    rows = tshark(pcap, ["eth.src", "ip.src", "ipv6.src"], "tcp")
    seen = {}
    for mac, ip4, ip6 in rows:
        seen.setdefault(mac, set()).add(ip4 or ip6)
    # Units behind a router ("wire_mac": its MAC) share what the wire shows of it.
    behind = {}
    for d in exp["devices"]:
        behind.setdefault(wire(d), []).append(d)
    macs = set(behind)
    for mac, units in behind.items():
        ips = set().union(*(set(d["ips"]) for d in units))
        if seen.get(mac) != ips:
            errs.append("%s: wire IPs %s != %s" % (mac, seen.get(mac), sorted(ips)))
    for mac, ips in seen.items():
        if mac not in macs and not ips <= server_ips:
            errs.append("unexpected device on the wire: %s %s" % (mac, ips))
    # client Certificate messages in clear (sent by a non-server address)
    rows = tshark(pcap, ["eth.src", "ip.src", "ipv6.src", "tls.handshake.type", "tls.handshake.certificates_length",
                         "x509sat.printableString", "x509sat.uTF8String"], "tls.handshake.type == 11")
    n_clear = 0
    certs = {}
    for mac, ip4, ip6, types, lens, ps, us in rows:
        if (ip4 or ip6) in server_ips:
            continue
        lens = [int(x) for x in lens.split("|") if x]
        n_clear += sum(1 for x in lens if x > 0)
        certs.setdefault(mac, []).append((lens, ps + "|" + us))
    if n_clear != exp["client_certificates_in_clear"]:
        errs.append("client certs in clear: tshark %d != expected %d" % (n_clear, exp["client_certificates_in_clear"]))
    for d in exp["devices"]:
        got = certs.get(wire(d), [])
        nonempty = [s for lens, s in got if any(x > 0 for x in lens)]
        if d["identity"] == "none" and not any(0 in lens for lens, s in got):
            errs.append("%s: expected an empty Certificate message" % d["mac"])
        c = d.get("cert")
        if c:
            want = unescape_dn(c["subject_contains"].split("=", 1)[1])
            if not any(want in s for s in nonempty):
                errs.append("%s: no client cert containing %r" % (d["mac"], want))
            if c.get("mac") and not any(c["mac"].replace(":", "") in re.sub(r"[:.-]", "", s).lower() for s in nonempty):
                errs.append("%s: client cert without MAC %s" % (d["mac"], c["mac"]))
        elif nonempty and len(behind[wire(d)]) == 1:
            errs.append("%s: unexpected client cert in clear" % d["mac"])
    # CertificateRequest in clear
    rows = tshark(pcap, ["ip.src", "ipv6.src", "tcp.srcport"], "tls.handshake.type == 13")
    asked = {(a or b, int(p)) for a, b, p in rows}
    for s in exp["servers"]:
        if s["requests_client_cert"] is not None and ((s["ip"], s["port"]) in asked) != s["requests_client_cert"]:
            errs.append("server %s:%d CertificateRequest in clear: %s" % (s["ip"], s["port"], (s["ip"], s["port"]) in asked))
    # User-Agents in clear (HTTP/1.x, and HTTP/2 requests' HEADERS frames)
    h2c = exp.get("h2c_ports", [])
    rows = tshark(pcap, ["eth.src", "http.user_agent", "http2.headers.user_agent"],
                  "http.request || http2.headers.user_agent", h2c_ports=h2c)
    uas = {}
    for mac, ua, ua2 in rows:
        for u in [ua] + ua2.split("|"):
            if u:
                uas.setdefault(mac, set()).add(u)
    for mac, units in behind.items():
        want = set().union(*(set(d["user_agents"]) for d in units))
        if uas.get(mac, set()) != want:
            errs.append("%s: UAs in clear %s != %s" % (mac, uas.get(mac), sorted(want)))
    # decrypted views
    opts = []
    if exp.get("keylog"):
        opts.append("tls.keylog_file:" + os.path.join(HERE, exp["keylog"]))
    if exp.get("rsa_key"):
        opts.append('uat:rsa_keys:"%s",""' % os.path.join(HERE, exp["rsa_key"]))
    if opts:
        rows = tshark(pcap, ["eth.src", "http.user_agent", "http2.headers.user_agent", "x509sat.printableString"],
                      "http.request || http2.headers.user_agent || tls.handshake.type == 11", opts, h2c)
        dec = {}
        for mac, ua, ua2, ps in rows:
            dec.setdefault(mac, []).append(ua + "|" + ua2 + "|" + ps)
        for d in exp["devices"]:
            x = d.get("decrypted")
            if not x:
                continue
            blob = " ".join(dec.get(wire(d), []))
            for ua in x.get("user_agents", []):
                if ua not in blob:
                    errs.append("%s: decrypted UA %r not found" % (d["mac"], ua))
            if x.get("cert") and unescape_dn(x["cert"]["subject_contains"].split("=", 1)[1]) not in blob:
                errs.append("%s: decrypted cert not found" % d["mac"])
    return errs

def main():
    names = sys.argv[1:] or sorted(f[:-5] for f in os.listdir(os.path.join(HERE, "expected")) if f.endswith(".json"))
    bad = 0
    for n in names:
        exp = json.load(open(os.path.join(HERE, "expected", n + ".json")))
        errs = check(exp)
        print("%-18s %s" % (n, "ok" if not errs else "FAIL"))
        for e in errs:
            print("    " + e)
        bad += bool(errs)
    sys.exit(1 if bad else 0)

if __name__ == "__main__":
    main()
