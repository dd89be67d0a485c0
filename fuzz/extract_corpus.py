#!/usr/bin/env python3
"""Builds the seed corpora under fuzz/corpus/<target>/ from the committed samples.

Reads samples/*.pcap (Ethernet, as recorded by tcpdump) with a small pcap
reader of its own (no tshark needed), follows each TCP flow (client = SYN
sender) and writes, per target:
  decoder/        frames (as captured, re-encapsulated: raw IP, VLAN, QinQ,
                  IPv4 fragments) in decoder_fuzzer.cc's format
  flow_table/     synthetic segment scripts (flow_table_fuzzer.cc's format)
  pcap/           the smallest captures, a pcapng copy, cut-down copies
  tls/            client/server TLS byte streams, one chunk per segment
  flow_analyzer/  the same for TLS and plain HTTP flows
  http/           client streams of plain HTTP flows
  http2/          client streams of plain HTTP/2 flows (h2c, the preface first)
  x509/           DER certificates (samples/pki and those sent in clear)
  rules_match/    User-Agents, URLs, POST bodies, certificate subjects
  rules_load/     each bundled rule file behind its selector byte
Deterministic: run it again and the files are the same (names are content hashes).
Usage: fuzz/extract_corpus.py [REPO_ROOT]
"""
import glob
import hashlib
import os
import re
import struct
import subprocess
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
MAX_STREAM_INPUT = 24 * 1024  # bytes per TLS/analyzer seed: the handshake, not the bulk data


def write(target, data, tag=""):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = (tag + "-" if tag else "") + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off, frames = 24, []
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return linktype, frames


def parse_tcp(frame):
    """Ethernet frame -> (src, dst, sport, dport, flags, seq, payload, l3_offset) or None."""
    if len(frame) < 14:
        return None
    etype = struct.unpack(">H", frame[12:14])[0]
    if etype == 0x0800:
        ihl = (frame[14] & 0x0F) * 4
        total = struct.unpack(">H", frame[16:18])[0]
        if frame[23] != 6:
            return None
        src, dst = frame[26:30], frame[30:34]
        tcp = frame[14 + ihl:14 + total]
    elif etype == 0x86DD:
        if frame[20] != 6:
            return None
        plen = struct.unpack(">H", frame[18:20])[0]
        src, dst = frame[22:38], frame[38:54]
        tcp = frame[54:54 + plen]
    else:
        return None
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    doff = (tcp[12] >> 4) * 4
    return src, dst, sport, dport, tcp[13], seq, tcp[doff:]


def flows_of(frames):
    """Per flow, the segments in capture order as (is_server, seq, payload), deduplicated by seq."""
    flows, order = {}, []
    for fr in frames:
        t = parse_tcp(fr)
        if not t:
            continue
        src, dst, sport, dport, flags, seq, payload = t
        key = tuple(sorted([(src, sport), (dst, dport)]))
        if key not in flows:
            flows[key] = {"client": None, "segs": [], "seen": set()}
            order.append(key)
        fl = flows[key]
        if flags & 0x02 and not flags & 0x10:
            fl["client"] = (src, sport)
        if payload:
            if (src, sport, seq) in fl["seen"]:
                continue  # retransmission
            fl["seen"].add((src, sport, seq))
            fl["segs"].append(((src, sport), payload))
    out = []
    for key in order:
        fl = flows[key]
        client = fl["client"] or (fl["segs"][0][0] if fl["segs"] else None)
        out.append([(ep != client, p) for ep, p in fl["segs"]])
    return out


def chunks(segments, limit=MAX_STREAM_INPUT):
    b = bytearray()
    for is_server, payload in segments:
        if len(b) + 3 + len(payload) > limit:
            break
        b += struct.pack(">BH", 1 if is_server else 0, len(payload)) + payload
    return bytes(b)


def decoder_input(selector, frames):
    return bytes([selector]) + b"".join(struct.pack(">H", len(f)) + f for f in frames)


# Indices into decoder_fuzzer.cc's LINKTYPES.
SEL_NULL, SEL_ETHERNET, SEL_RAW, SEL_SLL, SEL_IPV4, SEL_IPV6, SEL_SLL2 = 0, 1, 4, 6, 7, 8, 9


def fragments(frame):
    """An Ethernet IPv4 frame split into two IP fragments (RFC 791), or None."""
    if struct.unpack(">H", frame[12:14])[0] != 0x0800:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    body = ip[ihl:total]
    if len(body) < 48:
        return None
    cut = (len(body) // 2) & ~7
    out = []
    for off, part, more in ((0, body[:cut], True), (cut, body[cut:], False)):
        hdr = bytearray(ip[:ihl])
        struct.pack_into(">H", hdr, 2, ihl + len(part))
        struct.pack_into(">H", hdr, 6, (0x2000 if more else 0) | (off // 8))
        out.append(frame[:14] + bytes(hdr) + part)
    return out


def main():
    samples = sorted(glob.glob(os.path.join(ROOT, "samples", "*.pcap")))
    tls_done, http_done = 0, 0
    for path in samples:
        name = os.path.splitext(os.path.basename(path))[0]
        _, frames = read_pcap(path)
        # decoder: the first frames with payload, re-encapsulated several ways.
        picked = [f for f in frames if (parse_tcp(f) or [None] * 7)[6]][:3] + frames[:2]
        for f in picked:
            write("decoder", decoder_input(SEL_ETHERNET, [f]), name)
        f = picked[0]
        ip = f[14:]
        write("decoder", decoder_input(SEL_RAW, [ip]), name + "-raw")
        write("decoder", decoder_input(SEL_IPV4 if ip[0] >> 4 == 4 else SEL_IPV6, [ip]), name + "-ip")
        vlan = f[:12] + b"\x81\x00\x00\x64" + f[12:]
        write("decoder", decoder_input(SEL_ETHERNET, [vlan]), name + "-vlan")
        qinq = f[:12] + b"\x88\xa8\x00\x0a\x81\x00\x00\x64" + f[12:]
        write("decoder", decoder_input(SEL_ETHERNET, [qinq]), name + "-qinq")
        sll = b"\x00\x00\x00\x01\x00\x06" + f[6:12] + b"\x00\x00" + f[12:]
        write("decoder", decoder_input(SEL_SLL, [sll]), name + "-sll")
        loop = struct.pack("<I", 2 if ip[0] >> 4 == 4 else 10) + ip
        write("decoder", decoder_input(SEL_NULL, [loop]), name + "-null")
        frag = fragments(f)
        if frag:
            write("decoder", decoder_input(SEL_ETHERNET, frag), name + "-frag")
            write("decoder", decoder_input(SEL_ETHERNET, frag[::-1]), name + "-frag-rev")
        # Streams.
        for segs in flows_of(frames):
            client = b"".join(p for s, p in segs if not s)
            if not client:
                continue
            if client[:1] == b"\x16":
                data = chunks(segs)
                write("tls", data, name)
                write("flow_analyzer", data, name + "-tls")
                tls_done += 1
            elif client.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
                write("http2", b"\x00\x00" + client[:MAX_STREAM_INPUT], name)
                write("http2", b"\x07\x21" + client[:MAX_STREAM_INPUT], name + "-gaps")
                write("flow_analyzer", chunks(segs), name + "-h2c")
            elif re.match(rb"^(GET|POST|HEAD|PUT) ", client):
                write("http", b"\x00\x00" + client[:MAX_STREAM_INPUT], name)
                write("http", b"\x07\x21" + client[:MAX_STREAM_INPUT], name + "-gaps")
                write("flow_analyzer", chunks(segs), name + "-http")
                http_done += 1
                for line in client.split(b"\r\n"):
                    if line.lower().startswith(b"user-agent:"):
                        write("rules_match", b"\x00" + line[11:].strip(), "ua")
                    m = re.match(rb"^[A-Z]+ (\S+) HTTP", line)
                    if m:
                        write("rules_match", b"\x01" + m.group(1), "url")
                body = client.split(b"\r\n\r\n", 1)
                if client.startswith(b"POST") and len(body) == 2:
                    write("rules_match", b"\x02" + body[1][:2048], "post")

    # pcap: small captures whole, a pcapng copy, and cut-down copies.
    for path in samples:
        if os.path.getsize(path) <= 10 * 1024:
            with open(path, "rb") as fh:
                write("pcap", fh.read(), os.path.basename(path))
    small = os.path.join(ROOT, "samples", "tls12_rsa.pcap")
    tmp = os.path.join(CORPUS, ".tmp.pcapng")
    if subprocess.run(["editcap", "-F", "pcapng", small, tmp], capture_output=True).returncode == 0:
        with open(tmp, "rb") as fh:
            write("pcap", fh.read(), "tls12_rsa.pcapng")
        os.remove(tmp)
    with open(small, "rb") as fh:
        whole = fh.read()
    write("pcap", whole[:24], "header-only")
    write("pcap", whole[:1000], "cut-record")

    # x509: every certificate under samples/pki, as DER.
    for pem in sorted(glob.glob(os.path.join(ROOT, "samples", "pki", "**", "*.pem"), recursive=True)):
        r = subprocess.run(["openssl", "x509", "-in", pem, "-outform", "DER"], capture_output=True)
        if r.returncode == 0 and r.stdout:
            write("x509", r.stdout, os.path.basename(pem)[:-4])

    # rules_match: User-Agents from the rules tests; certificate subjects.
    ua_test = os.path.join(ROOT, "tests", "unit", "analyze_rules", "rules_user_agent_test.cc")
    if os.path.exists(ua_test):
        for ua in sorted(set(re.findall(r'"([A-Za-z][^"\\]*/[^"\\]*)"', open(ua_test).read())))[:60]:
            if not ua.endswith(".h"):
                write("rules_match", b"\x00" + ua.encode(), "ua")
    for subject in (b"OU=SPA-962\nL=88012BA01234\nST=000e08abcdef\n!CN=Sipura CA Client Root",
                    b"OU=cisco.com\nL=ciscogeneric\nST=ciscogeneric",
                    b"CN=\"><img src=x>\nOU=<script>\nL==HYPERLINK(\"x\")\nST='; DROP TABLE devices;--"):
        write("rules_match", b"\x03" + subject, "cert")

    # rules_load: selector = index of the file in sorted order (rules_load_fuzzer.cc).
    rule_files = sorted(glob.glob(os.path.join(ROOT, "rules", "*.toml")))
    for i, path in enumerate(rule_files):
        with open(path, "rb") as fh:
            write("rules_load", bytes([i]) + fh.read(), os.path.basename(path)[:-5])

    # flow_table: scripts of 6-byte segments (see flow_table_fuzzer.cc).
    def seg(b0, flags, off, ln, dt=1):
        return struct.pack(">BBHBB", b0, flags, off, ln, dt)
    SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
    isn = struct.pack(">I", 1000)
    hs = seg(0, SYN, 0, 0) + seg(4, SYN | ACK, 0, 0) + seg(0, ACK, 1, 0)
    write("flow_table", isn + hs + seg(0, PSH | ACK, 1, 100) + seg(4, ACK, 1, 200) + seg(0, FIN | ACK, 101, 0)
          + seg(4, FIN | ACK, 201, 0), "inorder")
    write("flow_table", isn + hs + seg(0, ACK, 101, 100) + seg(0, ACK, 1, 100) + seg(0, ACK, 51, 100)
          + seg(0, ACK, 301, 50), "reorder")
    write("flow_table", struct.pack(">I", 0xFFFFFF80) + hs + seg(0, ACK, 1, 200) + seg(0, ACK, 201, 200), "wrap")
    write("flow_table", isn + seg(0, ACK, 1, 100) + seg(1, ACK, 1, 100) + seg(2, ACK, 1, 100) + seg(3, ACK, 1, 100)
          + seg(0x40, ACK, 101, 10, 250), "evict")
    write("flow_table", isn + hs + seg(0x08, ACK, 1, 200) + seg(0x80, 0, 201, 0), "cut-rst")

    print(f"tls flows {tls_done}, http flows {http_done}")


if __name__ == "__main__":
    main()
