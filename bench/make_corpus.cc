// make_corpus: a large mixed capture for benchmarking provaudit (issue 7).
//
//   make_corpus [--size 1G] --out corpus.pcap [--seed N] [--samples DIR]
//   make_corpus --synflood 1000000 --out syn.pcap
//   make_corpus --ooo 200000 --out ooo.pcap
//   make_corpus --certflood 50000 --out certs.pcap
//   make_corpus --hsflood 2000 --out stalled.pcap
//   make_corpus --uaflood 40000 --out long-uas.pcap
//
// The mixed corpus clones the real captures in samples/*.pcap: each clone of a
// sample gives every device of that sample a fresh MAC (same OUI, random low
// three bytes), a fresh client IP (IPv4 10.x, IPv6 fd77::/64), fresh client
// ports and ISNs, shifted timestamps, and valid IPv4/TCP/UDP/ICMPv6 checksums.
// A device keeps one MAC and IP across all flows of its clone (resumption).
// Clones are interleaved in time so many flows are open at once, and mixed
// with bulk traffic (long flows of large random segments, with or without a
// handshake), device flows picked up mid-stream (no SYN) and noise (UDP, ARP,
// ICMP, IPv6 ND). Next to the corpus, FILE.expected.json gives the device count
// and the count per identity class, from samples/expected/<name>.json.
//
// Output: classic pcap, Ethernet, microsecond timestamps, buffered fwrite.
#include <arpa/inet.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "rng.h"

namespace fs = std::filesystem;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "make_corpus: %s\n", msg.c_str());
  std::exit(1);
}

// ---------------------------------------------------------------- random
using provaudit::bench::Rng;

// ---------------------------------------------------------------- bytes
inline void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
inline std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
inline std::uint32_t get32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | p[3];
}

// Internet checksum (RFC 1071). Summing native-order words and storing the
// folded result natively gives the right bytes on either endianness.
inline std::uint64_t csumAdd(const std::uint8_t* p, std::size_t n, std::uint64_t acc) {
  while (n >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n != 0) {
    const std::uint8_t b[2] = {*p, 0};
    std::uint16_t w;
    std::memcpy(&w, b, 2);
    acc += w;
  }
  return acc;
}
inline void csumStore(std::uint8_t* at, std::uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  const std::uint16_t v = static_cast<std::uint16_t>(~acc & 0xffff);
  std::memcpy(at, &v, 2);
}

using Mac = std::array<std::uint8_t, 6>;
struct Ip {  // family 4 uses a[0..3]
  int family = 0;
  std::array<std::uint8_t, 16> a{};
  bool operator==(const Ip& o) const { return family == o.family && a == o.a; }
  bool operator<(const Ip& o) const { return family != o.family ? family < o.family : a < o.a; }
  std::size_t len() const { return family == 4 ? 4 : 16; }
};
Ip ip4(std::uint32_t v) {
  Ip ip;
  ip.family = 4;
  put32(ip.a.data(), v);
  return ip;
}
std::string macStr(const Mac& m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}
// A MAC as devices write it in text (User-Agents, URLs, POST bodies,
// certificate subjects): 12 hex digits, or 6 pairs joined by ':' or '-', or 3
// quads joined by '.', in lower or upper case.
constexpr int MAC_TEXT_FORMS = 8;
std::string macText(const Mac& m, int form) {
  const bool upper = (form & 1) != 0;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  const int kind = form / 2;  // 0 plain, 1 colon, 2 dash, 3 dotted
  std::string out;
  for (int i = 0; i < 6; ++i) {
    if (i > 0 && (kind == 1 || kind == 2 || (kind == 3 && i % 2 == 0))) out += ":-."[kind - 1];
    out += digits[m[i] >> 4];
    out += digits[m[i] & 15];
  }
  return out;
}
std::optional<Mac> parseMac(const std::string& s) {
  Mac m{};
  unsigned v[6];
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return std::nullopt;
  for (int i = 0; i < 6; ++i) m[i] = static_cast<std::uint8_t>(v[i]);
  return m;
}

// ---------------------------------------------------------------- minimal JSON (samples/expected)
struct Json {
  enum class T { Null, Bool, Num, Str, Arr, Obj } t = T::Null;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;
  const Json* get(const std::string& k) const {
    for (const auto& [key, v] : obj)
      if (key == k) return &v;
    return nullptr;
  }
  std::string str(const std::string& k) const {
    const Json* v = get(k);
    return v != nullptr && v->t == T::Str ? v->s : std::string();
  }
};
struct JsonParser {
  const std::string& in;
  std::size_t i = 0;
  void ws() {
    while (i < in.size() && std::isspace(static_cast<unsigned char>(in[i]))) ++i;
  }
  [[noreturn]] void fail() { throw std::runtime_error("bad JSON at offset " + std::to_string(i)); }
  Json value() {
    ws();
    if (i >= in.size()) fail();
    Json j;
    const char c = in[i];
    if (c == '{') {
      j.t = Json::T::Obj;
      ++i;
      ws();
      if (i < in.size() && in[i] == '}') {
        ++i;
        return j;
      }
      for (;;) {
        ws();
        Json k = value();
        if (k.t != Json::T::Str) fail();
        ws();
        if (i >= in.size() || in[i] != ':') fail();
        ++i;
        j.obj.emplace_back(k.s, value());
        ws();
        if (i < in.size() && in[i] == ',') {
          ++i;
          continue;
        }
        if (i < in.size() && in[i] == '}') {
          ++i;
          return j;
        }
        fail();
      }
    }
    if (c == '[') {
      j.t = Json::T::Arr;
      ++i;
      ws();
      if (i < in.size() && in[i] == ']') {
        ++i;
        return j;
      }
      for (;;) {
        j.arr.push_back(value());
        ws();
        if (i < in.size() && in[i] == ',') {
          ++i;
          continue;
        }
        if (i < in.size() && in[i] == ']') {
          ++i;
          return j;
        }
        fail();
      }
    }
    if (c == '"') {
      j.t = Json::T::Str;
      ++i;
      while (i < in.size() && in[i] != '"') {
        if (in[i] == '\\') {
          ++i;
          if (i >= in.size()) fail();
          const char e = in[i];
          if (e == 'u') {  // keep \uXXXX verbatim; only MACs/classes are used
            j.s += "\\u";
          } else if (e == 'n') {
            j.s += '\n';
          } else if (e == 't') {
            j.s += '\t';
          } else {
            j.s += e;
          }
          ++i;
          continue;
        }
        j.s += in[i++];
      }
      if (i >= in.size()) fail();
      ++i;
      return j;
    }
    if (in.compare(i, 4, "true") == 0) {
      j.t = Json::T::Bool;
      j.b = true;
      i += 4;
      return j;
    }
    if (in.compare(i, 5, "false") == 0) {
      j.t = Json::T::Bool;
      i += 5;
      return j;
    }
    if (in.compare(i, 4, "null") == 0) {
      i += 4;
      return j;
    }
    std::size_t end = i;
    while (end < in.size() && std::strchr("+-0123456789.eE", in[end]) != nullptr) ++end;
    if (end == i) fail();
    j.t = Json::T::Num;
    j.n = std::strtod(in.substr(i, end - i).c_str(), nullptr);
    i = end;
    return j;
  }
};
Json readJson(const fs::path& p) {
  std::ifstream f(p);
  if (!f) die("cannot read " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  JsonParser jp{text};
  return jp.value();
}

// ---------------------------------------------------------------- pcap writer
class Writer {
 public:
  explicit Writer(const std::string& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "wb");
    if (f_ == nullptr) die("cannot write " + path + ": " + std::strerror(errno));
    buf_.resize(BUF);
    std::uint8_t h[24];
    const std::uint32_t magic = 0xa1b2c3d4;  // native byte order, microseconds
    std::memcpy(h, &magic, 4);
    const std::uint16_t vmaj = 2, vmin = 4;
    std::memcpy(h + 4, &vmaj, 2);
    std::memcpy(h + 6, &vmin, 2);
    const std::uint32_t zero = 0, snap = SNAPLEN, link = 1 /* DLT_EN10MB */;
    std::memcpy(h + 8, &zero, 4);
    std::memcpy(h + 12, &zero, 4);
    std::memcpy(h + 16, &snap, 4);
    std::memcpy(h + 20, &link, 4);
    std::memcpy(buf_.data(), h, 24);
    used_ = 24;
    bytes_ = 24;
  }
  ~Writer() {
    if (f_ != nullptr) close();
  }
  static constexpr std::size_t SNAPLEN = 262144;
  static constexpr std::size_t MAX_FRAME = 65600;
  // Space for one frame; commit() with its length.
  std::uint8_t* reserve() {
    if (BUF - used_ < MAX_FRAME + 16) flush();
    return buf_.data() + used_ + 16;
  }
  void commit(std::int64_t ts_us, std::size_t caplen, std::size_t wirelen) {
    std::uint8_t* h = buf_.data() + used_;
    const std::uint32_t sec = static_cast<std::uint32_t>(ts_us / 1000000), usec = static_cast<std::uint32_t>(ts_us % 1000000);
    const std::uint32_t cl = static_cast<std::uint32_t>(caplen), wl = static_cast<std::uint32_t>(wirelen);
    std::memcpy(h, &sec, 4);
    std::memcpy(h + 4, &usec, 4);
    std::memcpy(h + 8, &cl, 4);
    std::memcpy(h + 12, &wl, 4);
    used_ += 16 + caplen;
    bytes_ += 16 + caplen;
    ++packets_;
    if (ts_us < last_ts_) die("internal: timestamps out of order");
    last_ts_ = ts_us;
    if (first_ts_ < 0) first_ts_ = ts_us;
  }
  void close() {
    flush();
    if (std::fclose(f_) != 0) die("write " + path_ + " failed");
    f_ = nullptr;
  }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t packets() const { return packets_; }
  std::int64_t firstTs() const { return first_ts_; }
  std::int64_t lastTs() const { return last_ts_; }

 private:
  static constexpr std::size_t BUF = 16 << 20;
  void flush() {
    if (used_ != 0 && std::fwrite(buf_.data(), 1, used_, f_) != used_) die("write " + path_ + ": " + std::strerror(errno));
    used_ = 0;
  }
  std::string path_;
  std::FILE* f_ = nullptr;
  std::vector<std::uint8_t> buf_;
  std::size_t used_ = 0;
  std::uint64_t bytes_ = 0, packets_ = 0;
  std::int64_t last_ts_ = 0, first_ts_ = -1;
};

// ---------------------------------------------------------------- packet layout
constexpr std::uint8_t TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_PSH = 0x08, TH_ACK = 0x10;

struct Layout {
  std::size_t l3 = 0;       // after Ethernet (+VLAN)
  std::uint16_t ethertype = 0;
  std::size_t l4 = 0;       // 0: none
  std::uint8_t proto = 0;   // IP protocol of l4
  std::size_t l4len = 0;    // bytes of L4 header+payload per the IP header
  bool complete = false;    // whole IP datagram captured, not a fragment
};

Layout parseLayout(const std::uint8_t* d, std::size_t n) {
  Layout L;
  if (n < 14) return L;
  std::size_t off = 12;
  std::uint16_t et = get16(d + off);
  off += 2;
  while ((et == 0x8100 || et == 0x88a8) && n >= off + 4) {
    et = get16(d + off + 2);
    off += 4;
  }
  L.l3 = off;
  L.ethertype = et;
  if (et == 0x0800 && n >= off + 20) {
    const std::size_t ihl = (d[off] & 0x0f) * 4u;
    const std::size_t total = get16(d + off + 2);
    const bool frag = (get16(d + off + 6) & 0x3fff) != 0;
    if (ihl < 20 || n < off + ihl) return L;
    L.l4 = off + ihl;
    L.proto = d[off + 9];
    L.l4len = total >= ihl ? total - ihl : 0;
    L.complete = !frag && n >= off + total;
  } else if (et == 0x86dd && n >= off + 40) {
    std::uint8_t nh = d[off + 6];
    std::size_t p = off + 40;
    std::size_t remaining = get16(d + off + 4);
    bool frag = false;
    while ((nh == 0 || nh == 43 || nh == 60 || nh == 44) && n >= p + 8) {
      if (nh == 44) frag = true;
      const std::size_t el = nh == 44 ? 8 : (d[p + 1] + 1u) * 8u;
      nh = d[p];
      p += el;
      remaining = remaining >= el ? remaining - el : 0;
    }
    L.l4 = p;
    L.proto = nh;
    L.l4len = remaining;
    L.complete = !frag && n >= p + remaining;
  }
  return L;
}

// Checksums of IPv4 header and L4 (TCP/UDP/ICMPv6 with pseudo header, ICMPv4 without).
void fixChecksums(std::uint8_t* d, const Layout& L) {
  if (L.ethertype == 0x0800) {
    std::uint8_t* ip = d + L.l3;
    const std::size_t ihl = (ip[0] & 0x0f) * 4u;
    ip[10] = ip[11] = 0;
    csumStore(ip + 10, csumAdd(ip, ihl, 0));
  }
  if (L.l4 == 0 || !L.complete) return;
  std::uint8_t* l4 = d + L.l4;
  std::size_t at;
  switch (L.proto) {
    case 6: at = 16; break;
    case 17: at = 6; break;
    case 58: at = 2; break;
    case 1: at = 2; break;
    default: return;
  }
  if (L.l4len < at + 2) return;
  if (L.proto == 17 && L.ethertype == 0x0800 && l4[6] == 0 && l4[7] == 0) return;  // UDP/IPv4 without checksum
  l4[at] = l4[at + 1] = 0;
  std::uint64_t acc = 0;
  if (L.proto != 1) {
    std::uint8_t ph[40];
    std::size_t phl;
    if (L.ethertype == 0x0800) {
      std::memcpy(ph, d + L.l3 + 12, 8);
      ph[8] = 0;
      ph[9] = L.proto;
      put16(ph + 10, static_cast<std::uint16_t>(L.l4len));
      phl = 12;
    } else {
      std::memcpy(ph, d + L.l3 + 8, 32);
      put32(ph + 32, static_cast<std::uint32_t>(L.l4len));
      ph[36] = ph[37] = ph[38] = 0;
      ph[39] = L.proto;
      phl = 40;
    }
    acc = csumAdd(ph, phl, 0);
  }
  acc = csumAdd(l4, L.l4len, acc);
  if (L.proto == 17) {  // UDP: 0 means "none"; send 0xffff instead
    std::uint64_t a = acc;
    while (a >> 16) a = (a & 0xffff) + (a >> 16);
    if ((~a & 0xffff) == 0) {
      l4[at] = l4[at + 1] = 0xff;
      return;
    }
  }
  csumStore(l4 + at, acc);
}

// ---------------------------------------------------------------- generic packet builder
struct Endpoint {
  Mac mac{};
  Ip ip;
  std::uint16_t port = 0;
};

inline std::size_t tcpPayloadOffset(const Endpoint& src) { return 14 + (src.ip.family == 6 ? 40 : 20) + 20; }

// Ethernet + IPv4/IPv6 + TCP (20-byte header) + payload. Returns frame length.
std::size_t buildTcp(std::uint8_t* d, const Endpoint& src, const Endpoint& dst, std::uint32_t seq, std::uint32_t ack,
                     std::uint8_t flags, const std::uint8_t* payload, std::size_t plen, std::uint16_t ip_id,
                     std::uint16_t window = 64240) {
  std::memcpy(d, dst.mac.data(), 6);
  std::memcpy(d + 6, src.mac.data(), 6);
  std::size_t off = 14;
  const bool v6 = src.ip.family == 6;
  put16(d + 12, v6 ? 0x86dd : 0x0800);
  const std::size_t l4len = 20 + plen;
  if (!v6) {
    std::uint8_t* ip = d + off;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, static_cast<std::uint16_t>(20 + l4len));
    put16(ip + 4, ip_id);
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    std::memcpy(ip + 12, src.ip.a.data(), 4);
    std::memcpy(ip + 16, dst.ip.a.data(), 4);
    off += 20;
  } else {
    std::uint8_t* ip = d + off;
    put32(ip, 0x60000000);
    put16(ip + 4, static_cast<std::uint16_t>(l4len));
    ip[6] = 6;
    ip[7] = 64;
    std::memcpy(ip + 8, src.ip.a.data(), 16);
    std::memcpy(ip + 24, dst.ip.a.data(), 16);
    off += 40;
  }
  std::uint8_t* t = d + off;
  put16(t, src.port);
  put16(t + 2, dst.port);
  put32(t + 4, seq);
  put32(t + 8, ack);
  t[12] = 5 << 4;
  t[13] = flags;
  put16(t + 14, window);
  put16(t + 16, 0);
  put16(t + 18, 0);
  if (plen != 0 && payload != t + 20) std::memcpy(t + 20, payload, plen);
  Layout L;
  L.l3 = 14;
  L.ethertype = v6 ? 0x86dd : 0x0800;
  L.l4 = off;
  L.proto = 6;
  L.l4len = l4len;
  L.complete = true;
  fixChecksums(d, L);
  return off + l4len;
}

// ---------------------------------------------------------------- address allocation
class Allocator {
 public:
  explicit Allocator(Rng& rng) : rng_(rng) {}
  Mac mac(const Mac& like) {
    for (;;) {
      Mac m = like;
      const std::uint64_t r = rng_.next();
      m[3] = static_cast<std::uint8_t>(r);
      m[4] = static_cast<std::uint8_t>(r >> 8);
      m[5] = static_cast<std::uint8_t>(r >> 16);
      if (used_macs_.insert(key(m)).second) return m;
    }
  }
  // Locally administered MACs for non-device hosts (never a phone OUI).
  Mac hostMac() {
    for (;;) {
      const std::uint64_t r = rng_.next();
      Mac m{0x02, static_cast<std::uint8_t>(0x10 + (r & 0x3f)), static_cast<std::uint8_t>(r >> 8),
            static_cast<std::uint8_t>(r >> 16), static_cast<std::uint8_t>(r >> 24), static_cast<std::uint8_t>(r >> 32)};
      if (used_macs_.insert(key(m)).second) return m;
    }
  }
  void reserve(const Mac& m) { used_macs_.insert(key(m)); }
  // Device addresses: 10.0.0.0/8 without 10.77.0.0/16 (the samples' server net).
  Ip deviceIp(int family) {
    if (family == 4) {
      for (;;) {
        const std::uint32_t n = next_v4_++;
        const std::uint32_t v = 0x0a000000u + 0x10000u + (n / 254) * 256 + (n % 254) + 1;  // from 10.1.0.1, skip .0/.255
        if ((v >> 16) == 0x0a4d) continue;
        if (v >= 0x0b000000u) die("out of device IPv4 addresses");
        return ip4(v);
      }
    }
    Ip ip;
    ip.family = 6;
    ip.a = {0xfd, 0x77, 0, 0, 0, 0, 0, 0};
    const std::uint64_t iid = 0x0200000000000000ULL | (rng_.next() & 0x00ffffff00000000ULL) | next_v6_++;
    for (int i = 0; i < 8; ++i) ip.a[8 + i] = static_cast<std::uint8_t>(iid >> (56 - 8 * i));
    return ip;
  }
  Ip linkLocal(const Mac& m) {  // EUI-64
    Ip ip;
    ip.family = 6;
    ip.a = {0xfe, 0x80};
    ip.a[8] = m[0] ^ 0x02;
    ip.a[9] = m[1];
    ip.a[10] = m[2];
    ip.a[11] = 0xff;
    ip.a[12] = 0xfe;
    ip.a[13] = m[3];
    ip.a[14] = m[4];
    ip.a[15] = m[5];
    return ip;
  }
  // Other hosts (bulk, noise): 172.16.0.0/12 and fd00:bee::/64 inside; public-looking test nets outside.
  Ip hostIp(int family) {
    const std::uint32_t n = next_host_++;
    if (family == 4) return ip4(0xac100000u + 0x100u + (n % 0xffe00u));
    Ip ip;
    ip.family = 6;
    ip.a = {0xfd, 0x00, 0x0b, 0xee};
    put32(ip.a.data() + 12, n + 0x100);
    return ip;
  }
  Ip remoteIp(int family) {
    if (family == 4) {
      static const std::uint32_t nets[] = {0xc0000200u, 0xc6336400u, 0xcb007100u};  // 192.0.2/24, 198.51.100/24, 203.0.113/24
      return ip4(nets[rng_.below(3)] + 1 + static_cast<std::uint32_t>(rng_.below(253)));
    }
    Ip ip;
    ip.family = 6;
    ip.a = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0};
    put32(ip.a.data() + 12, static_cast<std::uint32_t>(rng_.range(1, 0xffff)));
    return ip;
  }
  std::uint16_t ephemeralPort() { return static_cast<std::uint16_t>(rng_.range(32768, 60999)); }
  std::uint64_t devicesAllocated() const { return used_macs_.size(); }

 private:
  static std::uint64_t key(const Mac& m) {
    std::uint64_t k = 0;
    for (auto b : m) k = (k << 8) | b;
    return k;
  }
  Rng& rng_;
  std::unordered_set<std::uint64_t> used_macs_;
  std::uint32_t next_v4_ = 0;
  std::uint64_t next_v6_ = 1;
  std::uint32_t next_host_ = 0;
};

// ---------------------------------------------------------------- samples as templates
// Where a device's MAC is written as text in a packet's TCP payload: the clone
// writes its fresh MAC there in the same form, as a real fleet's requests and
// certificates name each unit's own MAC.
struct TextMac {
  std::uint32_t at = 0;  // offset in the packet
  std::uint8_t dev = 0;
  std::uint8_t form = 0;
};
struct TPacket {
  std::int64_t t_us = 0;  // relative to the sample's first packet, stretched
  std::vector<TextMac> text_macs;
  std::vector<std::uint8_t> data;
  std::uint32_t wire_len = 0;
  Layout L;
  int dev = -1;           // device the packet belongs to (by Ethernet src/dst)
  int flow = -1;          // TCP flow index
  bool from_client = false;
  std::uint8_t flags = 0;
  std::uint32_t payload = 0;
};
struct TFlow {
  int dev = -1;
  int first = -1, last = -1;     // packet indexes
  int first_payload = -1;        // first packet carrying payload
  int anchor = -1;               // first FIN/RST (bulk is inserted before it); -1: after `last`
  std::uint32_t cli_next = 0, srv_next = 0;  // next seq per side at the anchor (original numbering)
  bool tls = false, http = false;
  std::uint64_t client_payload = 0;
};
struct TDevice {
  Mac mac{};
  // A router's MAC that the frames of devices behind it carry ('wire_mac' in
  // samples/expected): packets are told apart by it, but it is no device.
  bool wire_only = false;
  std::string identity, reason;
  std::vector<std::string> findings;  // expected finding codes (without --ca)
  std::vector<Ip> ips;  // every address it used (expected + seen)
};
void findTextMacs(TPacket& tp, std::size_t from, const std::vector<TDevice>& devices) {
  const std::size_t end = std::min(tp.data.size(), tp.L.l4 + tp.L.l4len);
  if (from >= end) return;
  const char* base = reinterpret_cast<const char*>(tp.data.data());
  for (std::size_t d = 0; d < devices.size() && d < 256; ++d)
    for (int form = 0; form < MAC_TEXT_FORMS; ++form) {
      const std::string pat = macText(devices[d].mac, form);
      for (std::size_t o = from; o + pat.size() <= end;) {
        const void* hit = memmem(base + o, end - o, pat.data(), pat.size());
        if (hit == nullptr) break;
        const auto at = static_cast<std::uint32_t>(static_cast<const char*>(hit) - base);
        const bool seen = std::any_of(tp.text_macs.begin(), tp.text_macs.end(), [&](const TextMac& t) { return t.at == at; });
        if (!seen) tp.text_macs.push_back({at, static_cast<std::uint8_t>(d), static_cast<std::uint8_t>(form)});
        o = at + pat.size();
      }
    }
}

struct Sample {
  std::string name;
  std::vector<TPacket> pkts;
  std::vector<TFlow> flows;
  std::vector<TDevice> devices;
  std::uint64_t bytes = 0;      // pcap record bytes
  std::int64_t duration_us = 0;
  std::int64_t first_ts_us = 0;
};

std::optional<Ip> parseIpText(const std::string& s) {
  Ip ip;
  if (s.find(':') != std::string::npos) {
    ip.family = 6;
    if (inet_pton(AF_INET6, s.c_str(), ip.a.data()) != 1) return std::nullopt;
  } else {
    ip.family = 4;
    if (inet_pton(AF_INET, s.c_str(), ip.a.data()) != 1) return std::nullopt;
  }
  return ip;
}

struct LoadOptions {
  double stretch = 30;          // multiply the samples' inter-packet gaps
  std::int64_t gap_cap_us = 1500000;
};

std::optional<Sample> loadSample(const fs::path& pcap_path, const fs::path& expected_path, const LoadOptions& lo) {
  Sample s;
  s.name = pcap_path.stem().string();
  const Json ex = readJson(expected_path);
  const Json* devs = ex.get("devices");
  if (devs == nullptr || devs->t != Json::T::Arr) die(expected_path.string() + ": no devices array");
  for (const Json& d : devs->arr) {
    TDevice td;
    auto m = parseMac(d.str("mac"));
    if (!m) die(expected_path.string() + ": device without a MAC");
    td.mac = *m;
    td.identity = d.str("identity");
    td.reason = d.str("identity_reason");
    if (const Json* fl = d.get("findings")) {
      for (const Json& x : fl->arr)
        if (x.t == Json::T::Str) td.findings.push_back(x.s);
    }
    if (const Json* ips = d.get("ips")) {
      for (const Json& i : ips->arr)
        if (auto ip = parseIpText(i.s)) td.ips.push_back(*ip);
    }
    s.devices.push_back(std::move(td));
  }
  // Devices behind a router: their frames carry the router's MAC, so the
  // router stands for them on the wire; their own MACs appear only as text.
  for (const Json& d : devs->arr) {
    const std::string w = d.str("wire_mac");
    if (w.empty()) continue;
    const auto m = parseMac(w);
    if (!m) die(expected_path.string() + ": bad wire_mac " + w);
    if (std::none_of(s.devices.begin(), s.devices.end(), [&](const TDevice& x) { return x.mac == *m; })) {
      TDevice router;
      router.mac = *m;
      router.wire_only = true;
      s.devices.push_back(std::move(router));
    }
  }
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(pcap_path.c_str(), err);
  if (p == nullptr) die(pcap_path.string() + ": " + err);
  if (pcap_datalink(p) != DLT_EN10MB) {
    std::fprintf(stderr, "make_corpus: %s: not Ethernet, skipped\n", pcap_path.c_str());
    pcap_close(p);
    return std::nullopt;
  }
  pcap_pkthdr* h;
  const u_char* data;
  std::int64_t prev_raw = -1, t = 0;
  int rc;
  while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
    const std::int64_t raw = static_cast<std::int64_t>(h->ts.tv_sec) * 1000000 + h->ts.tv_usec;
    if (prev_raw < 0) {
      s.first_ts_us = raw;
    } else {
      const std::int64_t gap = std::max<std::int64_t>(0, raw - prev_raw);
      t += std::min<std::int64_t>(static_cast<std::int64_t>(static_cast<double>(gap) * lo.stretch), std::max(gap, lo.gap_cap_us));
    }
    prev_raw = raw;
    TPacket tp;
    tp.t_us = t;
    tp.data.assign(data, data + h->caplen);
    tp.wire_len = h->len;
    tp.L = parseLayout(tp.data.data(), tp.data.size());
    s.bytes += 16 + h->caplen;
    s.pkts.push_back(std::move(tp));
  }
  if (rc == PCAP_ERROR) die(pcap_path.string() + ": " + pcap_geterr(p));
  pcap_close(p);
  s.duration_us = t;

  auto devOf = [&](const Mac& m) -> int {
    for (std::size_t i = 0; i < s.devices.size(); ++i)
      if (s.devices[i].mac == m) return static_cast<int>(i);
    return -1;
  };
  std::map<std::pair<std::array<std::uint8_t, 18>, std::array<std::uint8_t, 18>>, int> flow_ids;
  for (std::size_t pi = 0; pi < s.pkts.size(); ++pi) {
    TPacket& tp = s.pkts[pi];
    const std::uint8_t* d = tp.data.data();
    Mac dst, src;
    std::memcpy(dst.data(), d, 6);
    std::memcpy(src.data(), d + 6, 6);
    const int ds = devOf(src), dd = devOf(dst);
    tp.dev = ds >= 0 ? ds : dd;
    // Every address a device uses, so all of them get fresh ones.
    if (ds >= 0) {
      auto& ips = s.devices[ds].ips;
      std::optional<Ip> ip;
      if (tp.L.ethertype == 0x0800 && tp.L.l4 != 0) {
        Ip x;
        x.family = 4;
        std::memcpy(x.a.data(), d + tp.L.l3 + 12, 4);
        ip = x;
      } else if (tp.L.ethertype == 0x86dd && tp.L.l4 != 0) {
        Ip x;
        x.family = 6;
        std::memcpy(x.a.data(), d + tp.L.l3 + 8, 16);
        ip = x;
      } else if (tp.L.ethertype == 0x0806 && tp.data.size() >= tp.L.l3 + 28) {
        Ip x;
        x.family = 4;
        std::memcpy(x.a.data(), d + tp.L.l3 + 14, 4);
        ip = x;
      }
      static const std::array<std::uint8_t, 16> zero{};
      if (ip && ip->a != zero && std::find(ips.begin(), ips.end(), *ip) == ips.end()) ips.push_back(*ip);
    }
    if (tp.L.proto != 6 || tp.L.l4 == 0 || tp.data.size() < tp.L.l4 + 20) continue;
    const std::uint8_t* tcp = d + tp.L.l4;
    const std::size_t iplen = tp.L.ethertype == 0x0800 ? 4 : 16;
    const std::size_t ipoff = tp.L.ethertype == 0x0800 ? tp.L.l3 + 12 : tp.L.l3 + 8;
    std::array<std::uint8_t, 18> a{}, b{};
    std::memcpy(a.data(), d + ipoff, iplen);
    std::memcpy(a.data() + 16, tcp, 2);
    std::memcpy(b.data(), d + ipoff + iplen, iplen);
    std::memcpy(b.data() + 16, tcp + 2, 2);
    if (tp.dev < 0) {
      std::fprintf(stderr, "make_corpus: %s: TCP packet %zu from %s belongs to no expected device: dropped\n",
                   s.name.c_str(), pi + 1, macStr(src).c_str());
      tp.dev = -2;  // marker: never emitted
      continue;
    }
    tp.from_client = ds >= 0;
    auto key = tp.from_client ? std::make_pair(a, b) : std::make_pair(b, a);
    auto [it, inserted] = flow_ids.emplace(key, static_cast<int>(s.flows.size()));
    if (inserted) {
      TFlow f;
      f.dev = tp.dev;
      f.first = static_cast<int>(pi);
      s.flows.push_back(f);
    }
    tp.flow = it->second;
    TFlow& f = s.flows[tp.flow];
    f.last = static_cast<int>(pi);
    tp.flags = tcp[13];
    const std::size_t thl = (tcp[12] >> 4) * 4u;
    tp.payload = tp.L.l4len > thl ? static_cast<std::uint32_t>(tp.L.l4len - thl) : 0;
    if (tp.payload != 0 && f.first_payload < 0) f.first_payload = static_cast<int>(pi);
    if (tp.payload != 0) findTextMacs(tp, tp.L.l4 + thl, s.devices);
    // HTTP/2 (its connection preface, in clear): HPACK codes the headers
    // (Huffman, table indexes), so a clone could not name its own MAC in them.
    static constexpr char PREFACE[] = "PRI * HTTP/2.0\r\n";
    if (tp.from_client && tp.payload >= sizeof PREFACE - 1 && tp.data.size() >= tp.L.l4 + thl + sizeof PREFACE - 1 &&
        std::memcmp(d + tp.L.l4 + thl, PREFACE, sizeof PREFACE - 1) == 0) {
      std::fprintf(stderr, "make_corpus: %s: HTTP/2 in clear (HPACK-coded headers: a clone's MACs cannot be rewritten), skipped\n",
                   pcap_path.c_str());
      return std::nullopt;
    }
    if (tp.payload != 0 && tp.from_client) {
      if (f.client_payload == 0 && tp.data.size() > tp.L.l4 + thl) {
        const std::uint8_t c0 = d[tp.L.l4 + thl];
        f.tls = c0 == 0x16;
        f.http = c0 >= 'A' && c0 <= 'Z';
      }
      f.client_payload += tp.payload;
    }
    if (f.anchor < 0) {
      if ((tp.flags & (TH_FIN | TH_RST)) != 0) {
        f.anchor = static_cast<int>(pi);
      } else {
        const std::uint32_t end = get32(tcp + 4) + tp.payload + ((tp.flags & TH_SYN) ? 1 : 0);
        std::uint32_t& nx = tp.from_client ? f.cli_next : f.srv_next;
        if (nx == 0 || static_cast<std::int32_t>(end - nx) > 0) nx = end;
      }
    }
  }
  return s;
}

// ---------------------------------------------------------------- generators
struct Stats {
  std::uint64_t open_flows = 0, max_open_flows = 0;
  std::map<std::string, std::uint64_t> flows_by_kind, bytes_by_kind;
  void open(const char* kind) {
    ++flows_by_kind[kind];
    if (++open_flows > max_open_flows) max_open_flows = open_flows;
  }
  void close() { --open_flows; }
};

struct Ctx {
  Writer& w;
  Rng& rng;
  Allocator& alloc;
  Stats& stats;
  const std::vector<std::uint8_t>& pool;  // random bytes
  const std::uint8_t* randomBytes(std::size_t n) {
    const std::size_t max = pool.size() - n;
    return pool.data() + (rng.next() % max);
  }
};

struct Gen {
  std::int64_t ts = 0;  // time of the next packet
  virtual ~Gen() = default;
  // Writes the packet due at ts, advances ts; false when nothing is left.
  virtual bool emit(Ctx& c) = 0;
};

// Fills a bulk byte stream: random bytes, optionally framed as TLS application
// data records; a segment never starts with something that looks like a
// ClientHello (0x16) or a request line (A-Z), so nothing but a handshake or a
// request turns a flow into evidence.
struct BulkStream {
  bool tls_records = false;
  std::uint32_t record_left = 0;
  void fill(Ctx& c, std::uint8_t* out, std::size_t n) {
    std::size_t off = 0;
    while (off < n) {
      if (tls_records && record_left == 0) {
        std::uint8_t hdr[5] = {0x17, 0x03, 0x03, 0, 0};
        const std::uint32_t len = 16384 + 17 + 8;  // full record: plaintext + AEAD tag + nonce
        put16(hdr + 3, static_cast<std::uint16_t>(len));
        const std::size_t k = std::min<std::size_t>(5 - hdr_done_, n - off);
        std::memcpy(out + off, hdr + hdr_done_, k);
        hdr_done_ += k;
        off += k;
        if (hdr_done_ == 5) {
          hdr_done_ = 0;
          record_left = len;
        }
        continue;
      }
      std::size_t k = n - off;
      if (tls_records) k = std::min<std::size_t>(k, record_left);
      std::memcpy(out + off, c.randomBytes(k), k);
      off += k;
      if (tls_records) record_left -= static_cast<std::uint32_t>(k);
    }
    if (!tls_records && n != 0 && (out[0] == 0x16 || (out[0] >= 'A' && out[0] <= 'Z'))) out[0] ^= 0x80;
  }
  std::size_t hdr_done_ = 0;
};

// One side's TCP state for synthesized segments.
struct Side {
  Endpoint ep;
  std::uint32_t seq = 0;
  std::uint16_t ip_id = 0;
};

// A long transfer: `bytes` of payload from `tx` to `rx` in segments of `mss`,
// an ACK every second segment, spread over `duration_us`.
struct Transfer {
  std::uint64_t left = 0;
  std::size_t mss = 1448;
  std::int64_t gap_us = 100;
  int since_ack = 0;
  bool ack_due = false;
  BulkStream stream;
};

// Writes one transfer step (a data segment or an ACK); returns false when done.
bool transferStep(Ctx& c, Transfer& x, Side& tx, Side& rx, std::int64_t ts, std::int64_t& next_ts,
                  std::uint64_t* bytes_kind) {
  std::uint8_t* d = c.w.reserve();
  std::size_t len;
  if (x.ack_due) {
    len = buildTcp(d, rx.ep, tx.ep, rx.seq, tx.seq, TH_ACK, nullptr, 0, rx.ip_id++);
    x.ack_due = false;
    next_ts = ts + x.gap_us;
  } else {
    if (x.left == 0) return false;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(x.left, x.mss));
    std::uint8_t* payload = d + tcpPayloadOffset(tx.ep);  // filled in place, no copy
    x.stream.fill(c, payload, n);
    len = buildTcp(d, tx.ep, rx.ep, tx.seq, rx.seq, TH_ACK | (n < x.mss ? TH_PSH : 0), payload, n, tx.ip_id++);
    tx.seq += static_cast<std::uint32_t>(n);
    x.left -= n;
    if (++x.since_ack >= 2 || x.left == 0) {
      x.since_ack = 0;
      x.ack_due = true;
      next_ts = ts + 30;
    } else {
      next_ts = ts + x.gap_us;
    }
  }
  c.w.commit(ts, len, len);
  if (bytes_kind != nullptr) *bytes_kind += 16 + len;
  return true;
}

// A clone of a whole sample (all its devices), or of one device of it with a
// long download appended to its last flow (firmware/bulk over its own TLS or
// HTTP connection).
struct CloneGen : Gen {
  struct FlowState {
    std::uint16_t port = 0;
    std::uint32_t c_off = 0, s_off = 0;  // ISN shifts
    std::uint32_t bulk_shift = 0;        // server seq shift after the appended transfer
    bool skip_until_payload = false;     // picked up mid-stream: no SYN/SYN-ACK/ACK
    bool opened = false;
  };
  const Sample& s;
  int only_dev = -1;                   // -1: all devices
  std::vector<Mac> mac_new;            // per device
  std::vector<std::pair<Ip, Ip>> ip_map;
  std::vector<FlowState> fs;
  std::size_t i = 0;                   // next template packet
  std::int64_t t0 = 0;                 // corpus time of template t=0
  std::int64_t shift_us = 0;           // added after an appended transfer
  // Appended transfer
  int bulk_flow = -1;
  std::uint64_t bulk_bytes = 0;
  std::int64_t bulk_duration_us = 0;
  bool in_bulk = false, bulk_done = false;
  Transfer xfer;
  Side srv_side, cli_side;
  const char* kind;
  std::uint64_t* bytes_kind = nullptr;
  // Four bytes of one template packet written over (the certificate flood):
  // packet index, offset in the packet, value.
  int patch_pkt = -1;
  std::size_t patch_at = 0;
  std::uint32_t patch_value = 0;

  CloneGen(Ctx& c, const Sample& smp, std::int64_t start, int dev, double midstream_p, std::uint64_t bulk,
           std::int64_t bulk_dur, const char* k)
      : s(smp), only_dev(dev), kind(k) {
    for (std::size_t d = 0; d < s.devices.size(); ++d) {
      const TDevice& td = s.devices[d];
      const Mac m = c.alloc.mac(td.mac);
      mac_new.push_back(m);
      for (const Ip& ip : td.ips) {
        Ip n;
        if (ip.family == 6 && ip.a[0] == 0xfe && ip.a[1] == 0x80) n = c.alloc.linkLocal(m);
        else n = c.alloc.deviceIp(ip.family);
        ip_map.emplace_back(ip, n);
      }
    }
    fs.resize(s.flows.size());
    for (std::size_t f = 0; f < s.flows.size(); ++f) {
      fs[f].port = c.alloc.ephemeralPort();
      fs[f].c_off = static_cast<std::uint32_t>(c.rng.next());
      fs[f].s_off = static_cast<std::uint32_t>(c.rng.next());
      fs[f].skip_until_payload = s.flows[f].first_payload >= 0 && c.rng.chance(midstream_p);
    }
    std::int64_t first_t = 0;
    if (only_dev >= 0) {
      for (const auto& p : s.pkts)
        if (p.dev == only_dev) {
          first_t = p.t_us;
          break;
        }
      // The device's last flow that carries a request or a handshake gets the download.
      for (std::size_t f = 0; f < s.flows.size(); ++f)
        if (s.flows[f].dev == only_dev && s.flows[f].client_payload != 0) bulk_flow = static_cast<int>(f);
      bulk_bytes = bulk;
      bulk_duration_us = bulk_dur;
      if (bulk_flow >= 0) fs[bulk_flow].skip_until_payload = false;
    }
    t0 = start - first_t;
    bytes_kind = &c.stats.bytes_by_kind[kind];
    advance();
  }

  bool wanted(const TPacket& p) const {
    if (p.dev == -2) return false;
    if (only_dev >= 0 && p.dev != only_dev) return false;
    if (p.flow >= 0 && fs[p.flow].skip_until_payload) {
      const TFlow& f = s.flows[p.flow];
      if (static_cast<int>(&p - s.pkts.data()) < f.first_payload) return false;
    }
    return true;
  }
  // Positions i on the next packet to emit and sets ts.
  void advance() {
    while (i < s.pkts.size() && !wanted(s.pkts[i]) && !isAnchor(i)) ++i;
    if (i < s.pkts.size()) ts = t0 + s.pkts[i].t_us + shift_us;
  }
  bool isAnchor(std::size_t idx) const {
    if (bulk_flow < 0 || bulk_done) return false;
    const TFlow& f = s.flows[bulk_flow];
    return f.anchor >= 0 ? static_cast<int>(idx) == f.anchor : static_cast<int>(idx) == f.last + 1;
  }
  void startBulk(Ctx& c) {
    const TFlow& f = s.flows[bulk_flow];
    const FlowState& st = fs[bulk_flow];
    // Addresses of the flow after rewriting: take them from its first packet.
    const TPacket& p0 = s.pkts[f.first];
    std::vector<std::uint8_t> tmp(p0.data);
    rewrite(tmp.data(), tmp.size(), p0, p0.L);
    const std::uint8_t* d = tmp.data();
    Endpoint a, b;  // a = sender of p0 (client)
    std::memcpy(b.mac.data(), d, 6);
    std::memcpy(a.mac.data(), d + 6, 6);
    if (p0.L.ethertype == 0x0800) {
      a.ip.family = b.ip.family = 4;
      std::memcpy(a.ip.a.data(), d + p0.L.l3 + 12, 4);
      std::memcpy(b.ip.a.data(), d + p0.L.l3 + 16, 4);
    } else {
      a.ip.family = b.ip.family = 6;
      std::memcpy(a.ip.a.data(), d + p0.L.l3 + 8, 16);
      std::memcpy(b.ip.a.data(), d + p0.L.l3 + 24, 16);
    }
    a.port = get16(d + p0.L.l4);
    b.port = get16(d + p0.L.l4 + 2);
    if (!p0.from_client) std::swap(a, b);
    cli_side.ep = a;
    srv_side.ep = b;
    cli_side.seq = f.cli_next + st.c_off;
    srv_side.seq = f.srv_next + st.s_off;
    cli_side.ip_id = static_cast<std::uint16_t>(c.rng.next());
    srv_side.ip_id = static_cast<std::uint16_t>(c.rng.next());
    xfer = Transfer{};
    xfer.left = bulk_bytes;
    xfer.mss = 1448;
    const std::uint64_t segs = std::max<std::uint64_t>(1, bulk_bytes / xfer.mss);
    xfer.gap_us = std::max<std::int64_t>(1, bulk_duration_us / static_cast<std::int64_t>(segs + segs / 2));
    xfer.stream.tls_records = f.tls;
    in_bulk = true;
  }

  Ip mapIp(const Ip& ip) const {
    for (const auto& [o, n] : ip_map)
      if (o == ip) return n;
    return ip;
  }
  void mapIpAt(std::uint8_t* p, int family) const {
    Ip ip;
    ip.family = family;
    std::memcpy(ip.a.data(), p, family == 4 ? 4 : 16);
    const Ip n = mapIp(ip);
    std::memcpy(p, n.a.data(), family == 4 ? 4 : 16);
  }
  void mapMacAt(std::uint8_t* p) const {
    for (std::size_t d = 0; d < s.devices.size(); ++d)
      if (std::memcmp(p, s.devices[d].mac.data(), 6) == 0) {
        std::memcpy(p, mac_new[d].data(), 6);
        return;
      }
  }

  void rewrite(std::uint8_t* d, std::size_t n, const TPacket& tp, const Layout& L) const {
    mapMacAt(d);
    mapMacAt(d + 6);
    if (L.ethertype == 0x0806 && n >= L.l3 + 28) {
      std::uint8_t* a = d + L.l3;
      if (get16(a + 2) == 0x0800 && a[4] == 6 && a[5] == 4) {
        mapMacAt(a + 8);
        mapIpAt(a + 14, 4);
        mapMacAt(a + 18);
        mapIpAt(a + 24, 4);
      }
      return;
    }
    if (L.ethertype == 0x0800 && L.l4 != 0) {
      mapIpAt(d + L.l3 + 12, 4);
      mapIpAt(d + L.l3 + 16, 4);
    } else if (L.ethertype == 0x86dd && L.l4 != 0) {
      mapIpAt(d + L.l3 + 8, 6);
      mapIpAt(d + L.l3 + 24, 6);
    } else {
      return;
    }
    if (L.proto == 6 && tp.flow >= 0 && n >= L.l4 + 20) {
      for (const TextMac& tm : tp.text_macs) {
        const std::string text = macText(mac_new[tm.dev], tm.form);
        std::memcpy(d + tm.at, text.data(), text.size());
      }
      std::uint8_t* t = d + L.l4;
      const FlowState& st = fs[tp.flow];
      const bool after_bulk = bulk_done && tp.flow == bulk_flow;
      put16(t + (tp.from_client ? 0 : 2), st.port);
      const std::uint32_t my_off = tp.from_client ? st.c_off : st.s_off + (after_bulk ? st.bulk_shift : 0);
      const std::uint32_t peer_off = tp.from_client ? st.s_off + (after_bulk ? st.bulk_shift : 0) : st.c_off;
      put32(t + 4, get32(t + 4) + my_off);
      if (t[13] & TH_ACK) put32(t + 8, get32(t + 8) + peer_off);
      // SACK blocks acknowledge the peer's sequence space.
      const std::size_t thl = (t[12] >> 4) * 4u;
      for (std::size_t o = 20; o + 1 < thl && L.l4 + o < n;) {
        const std::uint8_t opt = t[o];
        if (opt == 0) break;
        if (opt == 1) {
          ++o;
          continue;
        }
        const std::uint8_t ol = t[o + 1];
        if (ol < 2) break;
        if (opt == 5)
          for (std::size_t b = o + 2; b + 4 <= o + ol && L.l4 + b + 4 <= n; b += 4) put32(t + b, get32(t + b) + peer_off);
        o += ol;
      }
    } else if (L.proto == 58 && n >= L.l4 + 8) {
      std::uint8_t* icmp = d + L.l4;
      const std::uint8_t type = icmp[0];
      if ((type == 135 || type == 136) && n >= L.l4 + 24) {
        mapIpAt(icmp + 8, 6);
        // Solicited-node destination follows the (maybe new) target.
        std::uint8_t* dst = d + L.l3 + 24;
        if (type == 135 && dst[0] == 0xff && dst[1] == 0x02 && dst[11] == 0x01 && dst[12] == 0xff) {
          std::memcpy(dst + 13, icmp + 8 + 13, 3);
          std::memcpy(d + 3, icmp + 8 + 13, 3);  // 33:33:ff:xx:xx:xx
        }
        for (std::size_t o = L.l4 + 24; o + 8 <= n;) {
          const std::size_t ol = d[o + 1] * 8u;
          if (ol == 0) break;
          if ((d[o] == 1 || d[o] == 2) && ol >= 8) mapMacAt(d + o + 2);
          o += ol;
        }
      }
    }
  }

  bool emit(Ctx& c) override {
    if (in_bulk) {
      std::int64_t nt = ts;
      if (transferStep(c, xfer, srv_side, cli_side, ts, nt, bytes_kind)) {
        ts = nt;
        return true;
      }
      // Transfer done (nothing written this call): the template resumes after it.
      in_bulk = false;
      bulk_done = true;
      fs[bulk_flow].bulk_shift = static_cast<std::uint32_t>(bulk_bytes);
      const std::int64_t tmpl = i < s.pkts.size() ? s.pkts[i].t_us : s.duration_us;
      shift_us = std::max<std::int64_t>(0, ts - (t0 + tmpl));
      if (s.flows[bulk_flow].anchor < 0) c.stats.close();  // no FIN in the template: the flow ends here
      advance();
      return i < s.pkts.size();
    }
    if (isAnchor(i)) {
      startBulk(c);
      return true;  // rescheduled at the same time; the transfer starts next call
    }
    if (i >= s.pkts.size()) return false;
    const TPacket& tp = s.pkts[i];
    std::uint8_t* d = c.w.reserve();
    const std::size_t n = tp.data.size();
    std::memcpy(d, tp.data.data(), n);
    rewrite(d, n, tp, tp.L);
    if (static_cast<int>(i) == patch_pkt) put32(d + patch_at, patch_value);
    fixChecksums(d, tp.L);
    c.w.commit(ts, n, tp.wire_len);
    *bytes_kind += 16 + n;
    if (tp.flow >= 0) {
      FlowState& st = fs[tp.flow];
      if (!st.opened) {
        st.opened = true;
        c.stats.open(kind);
      }
      const bool open_for_bulk = tp.flow == bulk_flow && !bulk_done && s.flows[tp.flow].anchor < 0;
      if (static_cast<int>(i) == s.flows[tp.flow].last && !open_for_bulk) c.stats.close();
    }
    ++i;
    advance();
    return i < s.pkts.size() || isAnchor(i);
  }
};

// Synthesized bulk TCP flow: mid-stream (no SYN) or after a TCP handshake.
struct BulkGen : Gen {
  Side cli, srv;
  Transfer xfer;
  bool upload = false;   // client sends the data
  bool handshake = false;
  int phase = 0;         // 0 SYN,1 SYN-ACK,2 ACK,3 request,4 transfer,5 FIN,6 FIN,7 ACK,8 done
  const char* kind;
  std::uint64_t* bytes_kind;
  std::vector<std::uint8_t> first_request;  // handshake flows: what the client says first

  BulkGen(Ctx& c, std::int64_t start, std::uint64_t bytes, std::int64_t duration_us, bool v6, std::uint16_t sport,
          bool syn, bool tls, const char* k)
      : handshake(syn), kind(k) {
    ts = start;
    const int fam = v6 ? 6 : 4;
    cli.ep = {c.alloc.hostMac(), c.alloc.hostIp(fam), c.alloc.ephemeralPort()};
    srv.ep = {c.alloc.hostMac(), c.alloc.remoteIp(fam), sport};  // the router's MAC, really: any fixed MAC will do
    cli.seq = static_cast<std::uint32_t>(c.rng.next());
    srv.seq = static_cast<std::uint32_t>(c.rng.next());
    cli.ip_id = static_cast<std::uint16_t>(c.rng.next());
    srv.ip_id = static_cast<std::uint16_t>(c.rng.next());
    upload = c.rng.chance(0.15);
    xfer.left = bytes;
    const double r = c.rng.unit();
    xfer.mss = r < 0.6 ? 1448 : r < 0.8 ? 8948 : static_cast<std::size_t>(c.rng.range(16384, 64000));
    if (v6) xfer.mss = std::min<std::size_t>(xfer.mss, 64000);
    const std::uint64_t segs = std::max<std::uint64_t>(1, bytes / xfer.mss);
    xfer.gap_us = std::max<std::int64_t>(1, duration_us / static_cast<std::int64_t>(segs + segs / 2));
    xfer.stream.tls_records = tls;
    phase = syn ? 0 : 4;
    if (syn) {
      // SMB2-ish negotiate: binary, so neither a ClientHello nor a request line.
      const std::uint8_t* rnd = c.randomBytes(180);
      first_request.assign(rnd, rnd + 180);
      first_request[0] = 0;
      first_request[1] = 0;
      put16(first_request.data() + 2, 176);
      first_request[4] = 0xfe;
      first_request[5] = 'S';
      first_request[6] = 'M';
      first_request[7] = 'B';
    }
    bytes_kind = &c.stats.bytes_by_kind[kind];
  }
  bool emit(Ctx& c) override {
    std::uint8_t* d;
    std::size_t len = 0;
    switch (phase) {
      case 0:
        c.stats.open(kind);
        opened_ = true;
        d = c.w.reserve();
        len = buildTcp(d, cli.ep, srv.ep, cli.seq++, 0, TH_SYN, nullptr, 0, cli.ip_id++);
        ts += 0;
        break;
      case 1:
        d = c.w.reserve();
        len = buildTcp(d, srv.ep, cli.ep, srv.seq++, cli.seq, TH_SYN | TH_ACK, nullptr, 0, srv.ip_id++);
        break;
      case 2:
        d = c.w.reserve();
        len = buildTcp(d, cli.ep, srv.ep, cli.seq, srv.seq, TH_ACK, nullptr, 0, cli.ip_id++);
        break;
      case 3:
        d = c.w.reserve();
        len = buildTcp(d, cli.ep, srv.ep, cli.seq, srv.seq, TH_ACK | TH_PSH, first_request.data(), first_request.size(),
                       cli.ip_id++);
        cli.seq += static_cast<std::uint32_t>(first_request.size());
        break;
      case 4: {
        if (!opened_) {
          c.stats.open(kind);
          opened_ = true;
        }
        std::int64_t nt = ts;
        const bool more = upload ? transferStep(c, xfer, cli, srv, ts, nt, bytes_kind)
                                 : transferStep(c, xfer, srv, cli, ts, nt, bytes_kind);
        if (more) {
          ts = nt;
          return true;
        }
        phase = handshake ? 5 : 8;
        if (!handshake) {
          c.stats.close();
          return false;
        }
        return emit(c);
      }
      case 5:
        d = c.w.reserve();
        len = buildTcp(d, cli.ep, srv.ep, cli.seq++, srv.seq, TH_FIN | TH_ACK, nullptr, 0, cli.ip_id++);
        break;
      case 6:
        d = c.w.reserve();
        len = buildTcp(d, srv.ep, cli.ep, srv.seq++, cli.seq, TH_FIN | TH_ACK, nullptr, 0, srv.ip_id++);
        break;
      case 7:
        d = c.w.reserve();
        len = buildTcp(d, cli.ep, srv.ep, cli.seq, srv.seq, TH_ACK, nullptr, 0, cli.ip_id++);
        c.stats.close();
        break;
      default:
        return false;
    }
    c.w.commit(ts, len, len);
    *bytes_kind += 16 + len;
    ++phase;
    ts += 200;
    return phase <= 7;
  }
  bool opened_ = false;
};

// Background noise: DNS, SIP and RTP over UDP, ARP, ICMP echo, IPv6 ND.
struct NoiseGen : Gen {
  std::int64_t end = 0;
  std::int64_t mean_gap_us = 1000;
  std::vector<Endpoint> hosts4, hosts6;
  Endpoint router4, router6;
  std::uint64_t* bytes_kind;
  std::uint16_t ip_id = 1;

  NoiseGen(Ctx& c, std::int64_t start, std::int64_t end_us, std::uint64_t budget) : end(end_us) {
    ts = start;
    for (int k = 0; k < 200; ++k) {
      Endpoint e{c.alloc.hostMac(), c.alloc.hostIp(4), 0};
      hosts4.push_back(e);
      Endpoint e6{e.mac, c.alloc.linkLocal(e.mac), 0};
      hosts6.push_back(e6);
    }
    router4 = {c.alloc.hostMac(), ip4(0xac100001u), 0};
    router6 = {router4.mac, c.alloc.linkLocal(router4.mac), 0};
    const double avg = 230;  // average noise frame incl. pcap header
    const double n = std::max(1.0, static_cast<double>(budget) / avg);
    mean_gap_us = std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(end - start) / n));
    bytes_kind = &c.stats.bytes_by_kind["noise"];
  }

  std::size_t udp(std::uint8_t* d, const Endpoint& s, const Endpoint& t, const std::uint8_t* pl, std::size_t n) {
    std::memcpy(d, t.mac.data(), 6);
    std::memcpy(d + 6, s.mac.data(), 6);
    put16(d + 12, 0x0800);
    std::uint8_t* ip = d + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, static_cast<std::uint16_t>(28 + n));
    put16(ip + 4, ip_id++);
    put16(ip + 6, 0);
    ip[8] = 64;
    ip[9] = 17;
    std::memcpy(ip + 12, s.ip.a.data(), 4);
    std::memcpy(ip + 16, t.ip.a.data(), 4);
    std::uint8_t* u = ip + 20;
    put16(u, s.port);
    put16(u + 2, t.port);
    put16(u + 4, static_cast<std::uint16_t>(8 + n));
    put16(u + 6, 0xffff);  // non-zero: recomputed
    std::memcpy(u + 8, pl, n);
    Layout L{14, 0x0800, 34, 17, 8 + n, true};
    fixChecksums(d, L);
    return 42 + n;
  }

  bool emit(Ctx& c) override {
    if (ts >= end) return false;
    std::uint8_t* d = c.w.reserve();
    std::size_t len = 0;
    Endpoint h = hosts4[c.rng.below(hosts4.size())];
    const double r = c.rng.unit();
    if (r < 0.30) {  // DNS query + answer
      Endpoint dns = router4;
      dns.port = 53;
      h.port = static_cast<std::uint16_t>(c.rng.range(1024, 65535));
      std::uint8_t q[64];
      std::memcpy(q, c.randomBytes(2), 2);
      static const std::uint8_t rest[] = {1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 'p', 'r', 'o', 'v', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
      std::memcpy(q + 2, rest, sizeof rest);
      len = c.rng.chance(0.5) ? udp(d, h, dns, q, 2 + sizeof rest) : udp(d, dns, h, q, 2 + sizeof rest);
    } else if (r < 0.45) {  // SIP OPTIONS keepalive
      Endpoint sip = router4;
      sip.port = 5060;
      h.port = 5060;
      static const char msg[] =
          "OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 172.16.0.10:5060;branch=z9hG4bK776asdhds\r\n"
          "Max-Forwards: 70\r\nTo: <sip:pbx.example.com>\r\nFrom: <sip:ext@pbx.example.com>;tag=1928301774\r\n"
          "Call-ID: a84b4c76e66710\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n";
      len = udp(d, h, sip, reinterpret_cast<const std::uint8_t*>(msg), sizeof msg - 1);
    } else if (r < 0.75) {  // RTP (G.711, 20 ms)
      Endpoint peer = hosts4[c.rng.below(hosts4.size())];
      h.port = static_cast<std::uint16_t>(16384 + 2 * c.rng.below(1000));
      peer.port = static_cast<std::uint16_t>(16384 + 2 * c.rng.below(1000));
      std::uint8_t rtp[172];
      std::memcpy(rtp, c.randomBytes(172), 172);
      rtp[0] = 0x80;
      rtp[1] = 0x00;
      len = udp(d, h, peer, rtp, sizeof rtp);
    } else if (r < 0.85) {  // ARP who-has
      Endpoint t = hosts4[c.rng.below(hosts4.size())];
      static const Mac bcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
      std::memcpy(d, bcast.data(), 6);
      std::memcpy(d + 6, h.mac.data(), 6);
      put16(d + 12, 0x0806);
      std::uint8_t* a = d + 14;
      put16(a, 1);
      put16(a + 2, 0x0800);
      a[4] = 6;
      a[5] = 4;
      put16(a + 6, 1);
      std::memcpy(a + 8, h.mac.data(), 6);
      std::memcpy(a + 14, h.ip.a.data(), 4);
      std::memset(a + 18, 0, 6);
      std::memcpy(a + 24, t.ip.a.data(), 4);
      std::memset(a + 28, 0, 18);
      len = 60;
    } else if (r < 0.92) {  // ICMP echo
      std::memcpy(d, router4.mac.data(), 6);
      std::memcpy(d + 6, h.mac.data(), 6);
      put16(d + 12, 0x0800);
      std::uint8_t* ip = d + 14;
      ip[0] = 0x45;
      ip[1] = 0;
      put16(ip + 2, 84);
      put16(ip + 4, ip_id++);
      put16(ip + 6, 0x4000);
      ip[8] = 64;
      ip[9] = 1;
      std::memcpy(ip + 12, h.ip.a.data(), 4);
      std::memcpy(ip + 16, router4.ip.a.data(), 4);
      std::uint8_t* ic = ip + 20;
      ic[0] = 8;
      ic[1] = 0;
      put16(ic + 2, 0);
      std::memcpy(ic + 4, c.randomBytes(60), 60);
      Layout L{14, 0x0800, 34, 1, 64, true};
      fixChecksums(d, L);
      len = 98;
    } else {  // IPv6 neighbour solicitation for the router
      const Endpoint& h6 = hosts6[c.rng.below(hosts6.size())];
      std::uint8_t* ip = d + 14;
      const std::uint8_t* tgt = router6.ip.a.data();
      d[0] = 0x33;
      d[1] = 0x33;
      d[2] = 0xff;
      std::memcpy(d + 3, tgt + 13, 3);
      std::memcpy(d + 6, h6.mac.data(), 6);
      put16(d + 12, 0x86dd);
      put32(ip, 0x60000000);
      put16(ip + 4, 32);
      ip[6] = 58;
      ip[7] = 255;
      std::memcpy(ip + 8, h6.ip.a.data(), 16);
      static const std::uint8_t sn[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0};
      std::memcpy(ip + 24, sn, 16);
      std::memcpy(ip + 24 + 13, tgt + 13, 3);
      std::uint8_t* ic = ip + 40;
      ic[0] = 135;
      ic[1] = 0;
      put16(ic + 2, 0);
      put32(ic + 4, 0);
      std::memcpy(ic + 8, tgt, 16);
      ic[24] = 1;
      ic[25] = 1;
      std::memcpy(ic + 26, h6.mac.data(), 6);
      Layout L{14, 0x86dd, 54, 58, 32, true};
      fixChecksums(d, L);
      len = 86;
    }
    c.w.commit(ts, len, len);
    *bytes_kind += 16 + len;
    // Exponential gaps around the mean.
    const double u = std::max(1e-12, c.rng.unit());
    ts += std::max<std::int64_t>(1, static_cast<std::int64_t>(-std::log(u) * static_cast<double>(mean_gap_us)));
    return ts < end;
  }
};

// ---------------------------------------------------------------- the plan
struct Plan {
  std::int64_t start = 0;
  enum Kind : std::uint8_t { Clone, CloneBulk, Bulk, Noise } kind = Clone;
  std::uint16_t sample = 0;
  std::int16_t dev = -1;
  std::uint8_t flavour = 0;      // Bulk: 0 midstream https, 1 midstream http, 2 tcp with handshake
  bool v6 = false;
  std::uint64_t bytes = 0;
  std::int64_t duration = 0;
};

std::uint64_t parseSize(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v <= 0) die("bad size: " + s);
  double mul = 1;
  std::string suf(end);
  if (!suf.empty() && (suf.back() == 'B' || suf.back() == 'b') && suf.size() > 1) suf.pop_back();
  if (suf.empty()) mul = 1;
  else if (suf == "K" || suf == "k") mul = 1024.0;
  else if (suf == "M" || suf == "m") mul = 1024.0 * 1024;
  else if (suf == "G" || suf == "g") mul = 1024.0 * 1024 * 1024;
  else die("bad size suffix: " + s);
  return static_cast<std::uint64_t>(v * mul);
}

std::string jsonStr(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", ch);
      o += b;
    } else {
      o += ch;
    }
  }
  return o + "\"";
}

struct Options {
  std::uint64_t size = 1ULL << 30;
  std::string out;
  std::uint64_t seed = 1;
  std::string samples;
  std::uint64_t synflood = 0;
  std::uint64_t ooo = 0;
  std::uint64_t certflood = 0;
  std::uint64_t hsflood = 0;
  std::uint64_t uaflood = 0;
  bool one_device = false;
  double device_share = 0.15, noise_share = 0.03;
  double midstream_devices = 0.05;
  double duration_s = 0;  // 0: from size
  double stretch = 30;
};

void usage() {
  std::fprintf(stderr,
               "usage: make_corpus [--size 1G] --out FILE [--seed N] [--samples DIR]\n"
               "                   [--device-share 0.15] [--noise-share 0.03] [--midstream-devices 0.05]\n"
               "                   [--duration SECONDS] [--stretch 30]\n"
               "       make_corpus --synflood N --out FILE [--seed N]   (N SYNs of distinct flows)\n"
               "       make_corpus --ooo N --out FILE [--seed N]        (N out-of-order segments, holes never filled)\n"
               "       make_corpus --certflood N --out FILE [--seed N] [--samples DIR]\n"
               "                   (N handshakes of N devices, each with a client certificate of its own)\n"
               "       make_corpus --hsflood N --out FILE [--seed N]    (N flows of 250 KB ClientHellos that never end)\n"
               "       make_corpus --uaflood N --out FILE [--seed N] [--one-device]\n"
               "                   (N requests from N devices, or one, with 15 KiB User-Agents)\n");
  std::exit(1);
}

// The expected counts of a flood. Its devices, if any, are all individualized
// (the certificate flood's); the others make none.
void writeSimpleExpected(const std::string& path, const Options& o, const Writer& w, const char* mode,
                         const std::string& extra, std::uint64_t individualized = 0,
                         const char* note = "no payload ever reaches a handshake or a request: no devices") {
  std::ofstream f(path);
  f << "{\n  \"schema\": \"provaudit.bench.expected/1\",\n  \"mode\": \"" << mode << "\",\n  \"corpus\": "
    << jsonStr(fs::path(o.out).filename().string()) << ",\n  \"seed\": " << o.seed << ",\n  \"size_bytes\": " << w.bytes()
    << ",\n  \"packets\": " << w.packets() << ",\n  \"devices\": " << individualized
    << ",\n  \"identity\": {\"individualized\": " << individualized << ", \"generic\": 0, \"none\": 0, \"unknown\": 0},\n"
    << extra << "  \"notes\": [" << jsonStr(note) << "]\n}\n";
}

// The floods' endpoints: client number i behind one router, distinct
// 4-tuples (address from the number's high bits, port from its low bits),
// all to one server.
Endpoint floodClient(std::uint64_t i) {
  const Mac router{0x02, 0x10, 0x00, 0x00, 0x00, 0x01};
  return Endpoint{router, ip4(0x64400000u + static_cast<std::uint32_t>(i >> 14)), static_cast<std::uint16_t>(1024 + (i & 0x3fff))};
}
Endpoint floodServer() {
  const Mac server{0x02, 0x77, 0x00, 0x00, 0x00, 0x02};
  return Endpoint{server, ip4(0x0a4d0002u), 443};
}

// SYN, SYN-ACK, ACK between `src` and `dst` from random initial sequence
// numbers; `cseq` and `sseq` come back as each side's next one.
void openFlow(Writer& w, Rng& rng, const Endpoint& src, const Endpoint& dst, std::int64_t& ts, std::uint32_t& cseq,
              std::uint32_t& sseq) {
  cseq = static_cast<std::uint32_t>(rng.next());
  sseq = static_cast<std::uint32_t>(rng.next());
  std::uint8_t* d = w.reserve();
  std::size_t len = buildTcp(d, src, dst, cseq++, 0, TH_SYN, nullptr, 0, 1);
  w.commit(ts++, len, len);
  d = w.reserve();
  len = buildTcp(d, dst, src, sseq++, cseq, TH_SYN | TH_ACK, nullptr, 0, 1);
  w.commit(ts++, len, len);
  d = w.reserve();
  len = buildTcp(d, src, dst, cseq, sseq, TH_ACK, nullptr, 0, 2);
  w.commit(ts++, len, len);
}

int synflood(const Options& o) {
  Rng rng(o.seed);
  Writer w(o.out);
  const Endpoint dst = floodServer();
  const std::int64_t t0 = 1'800'000'000LL * 1000000;  // 2027-01-15
  for (std::uint64_t i = 0; i < o.synflood; ++i) {
    const Endpoint src = floodClient(i);
    std::uint8_t* d = w.reserve();
    const std::size_t len =
        buildTcp(d, src, dst, static_cast<std::uint32_t>(rng.next()), 0, TH_SYN, nullptr, 0, static_cast<std::uint16_t>(i));
    w.commit(t0 + static_cast<std::int64_t>(i * 10), len, len);  // 100k SYN/s
  }
  w.close();
  writeSimpleExpected(o.out + ".expected.json", o, w, "synflood",
                      "  \"flows\": " + std::to_string(o.synflood) + ",\n");
  std::fprintf(stderr, "make_corpus: %s: %llu SYNs, %llu bytes\n", o.out.c_str(), static_cast<unsigned long long>(o.synflood),
               static_cast<unsigned long long>(w.bytes()));
  return 0;
}

// Flows whose first data segment never arrives: every later segment is out of order.
int oooflood(const Options& o) {
  Rng rng(o.seed);
  Writer w(o.out);
  std::vector<std::uint8_t> pool(1 << 20);
  for (auto& b : pool) b = static_cast<std::uint8_t>(rng.next());
  const Endpoint dst = floodServer();
  const std::uint64_t per_flow = 64;
  const std::uint64_t flows = std::max<std::uint64_t>(1, o.ooo / per_flow);
  const std::uint64_t batch = 2048;  // flows open at once
  std::int64_t ts = 1'800'000'000LL * 1000000;
  std::uint64_t segs = 0;
  for (std::uint64_t b0 = 0; b0 < flows; b0 += batch) {
    const std::uint64_t nb = std::min(batch, flows - b0);
    std::vector<std::uint32_t> cseq(nb), sseq(nb);
    for (std::uint64_t k = 0; k < nb; ++k) openFlow(w, rng, floodClient(b0 + k), dst, ts, cseq[k], sseq[k]);
    for (std::uint64_t s = 1; s <= per_flow; ++s) {
      for (std::uint64_t k = 0; k < nb; ++k) {
        const Endpoint src = floodClient(b0 + k);
        std::uint8_t* d = w.reserve();
        const std::size_t len = buildTcp(d, src, dst, cseq[k] + static_cast<std::uint32_t>(s * 1448), sseq[k], TH_ACK,
                                         pool.data() + rng.below(pool.size() - 1448), 1448, static_cast<std::uint16_t>(s + 2));
        w.commit(ts++, len, len);
        ++segs;
      }
    }
  }
  w.close();
  writeSimpleExpected(o.out + ".expected.json", o, w, "ooo",
                      "  \"flows\": " + std::to_string(flows) + ",\n  \"out_of_order_segments\": " + std::to_string(segs) + ",\n");
  std::fprintf(stderr, "make_corpus: %s: %llu flows, %llu out-of-order segments, %llu bytes\n", o.out.c_str(),
               static_cast<unsigned long long>(flows), static_cast<unsigned long long>(segs),
               static_cast<unsigned long long>(w.bytes()));
  return 0;
}

// Handshakes that never finish: N flows open at once, each client sending a
// ClientHello that announces HSFLOOD_MESSAGE bytes (under the parser's
// TLS_MAX_HANDSHAKE_MESSAGE) in full-size records, in order, and stopping
// HSFLOOD_SHORT bytes before its end. Every flow's reassembly holds almost a
// whole message until the end of the capture.
constexpr std::size_t HSFLOOD_MESSAGE = 250000;
constexpr std::size_t HSFLOOD_SHORT = 1000;
constexpr std::size_t HSFLOOD_RECORD = 16384;
constexpr std::size_t HSFLOOD_MSS = 1448;

int hsflood(const Options& o) {
  Rng rng(o.seed);
  Writer w(o.out);
  // The client's byte stream, the same for every flow: records of up to
  // 16 KiB carrying the message's header and then random bytes.
  std::vector<std::uint8_t> stream;
  std::size_t message_left = 4 + HSFLOOD_MESSAGE - HSFLOOD_SHORT;
  bool first = true;
  while (message_left > 0) {
    const std::size_t n = std::min(HSFLOOD_RECORD, message_left);
    stream.insert(stream.end(), {0x16, 0x03, 0x01, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
    std::size_t k = 0;
    if (first) {
      stream.insert(stream.end(), {0x01, static_cast<std::uint8_t>(HSFLOOD_MESSAGE >> 16),
                                   static_cast<std::uint8_t>(HSFLOOD_MESSAGE >> 8), static_cast<std::uint8_t>(HSFLOOD_MESSAGE)});
      stream.insert(stream.end(), {0x03, 0x03});  // client_version, then the "random" and the rest
      k = 6;
      first = false;
    }
    for (; k < n; ++k) stream.push_back(static_cast<std::uint8_t>(rng.next()));
    message_left -= n;
  }
  const Endpoint dst = floodServer();
  std::vector<std::uint32_t> cseq(o.hsflood), sseq(o.hsflood);
  std::int64_t ts = 1'800'000'000LL * 1000000;
  for (std::uint64_t f = 0; f < o.hsflood; ++f) openFlow(w, rng, floodClient(f), dst, ts, cseq[f], sseq[f]);
  std::uint64_t segs = 0;
  for (std::size_t at = 0; at < stream.size(); at += HSFLOOD_MSS) {
    const std::size_t n = std::min(HSFLOOD_MSS, stream.size() - at);
    for (std::uint64_t f = 0; f < o.hsflood; ++f) {
      std::uint8_t* d = w.reserve();
      const std::size_t len = buildTcp(d, floodClient(f), dst, cseq[f] + static_cast<std::uint32_t>(at), sseq[f], TH_ACK,
                                       stream.data() + at, n, static_cast<std::uint16_t>(3 + at / HSFLOOD_MSS));
      w.commit(ts++, len, len);
      ++segs;
    }
  }
  w.close();
  writeSimpleExpected(o.out + ".expected.json", o, w, "hsflood",
                      "  \"flows\": " + std::to_string(o.hsflood) + ",\n  \"handshake_bytes_per_flow\": " +
                          std::to_string(stream.size()) + ",\n",
                      0, "no handshake ever completes: no devices");
  std::fprintf(stderr, "make_corpus: %s: %llu flows, %zu handshake bytes each, %llu segments, %llu bytes\n", o.out.c_str(),
               static_cast<unsigned long long>(o.hsflood), stream.size(), static_cast<unsigned long long>(segs),
               static_cast<unsigned long long>(w.bytes()));
  return 0;
}

// Profile requests from N devices (MAC and address of their own), each with
// a User-Agent of UAFLOOD_UA_BYTES (a plausible prefix, then filler): plain
// HTTP, one connection each, every sighting new to the evidence. What the
// evidence's size limit is for.
constexpr std::size_t UAFLOOD_UA_BYTES = 15 * 1024;

int uaflood(const Options& o) {
  Rng rng(o.seed);
  Writer w(o.out);
  const Endpoint server = floodServer();
  const Endpoint dst{server.mac, server.ip, 80};
  std::int64_t ts = 1'800'000'000LL * 1000000;
  std::string filler(UAFLOOD_UA_BYTES, 'A');
  std::uint64_t segs = 0;
  for (std::uint64_t i = 0; i < o.uaflood; ++i) {
    // A device each (Linksys's OUI, as its User-Agent says), not a router's
    // clients; with --one-device, one device sending them all (new ports).
    const std::uint64_t dev = o.one_device ? 0 : i;
    Endpoint src = floodClient(dev);
    src.mac = {0x00, 0x0e, 0x08, static_cast<std::uint8_t>(dev >> 16), static_cast<std::uint8_t>(dev >> 8),
               static_cast<std::uint8_t>(dev)};
    src.port = static_cast<std::uint16_t>(1024 + i % 60000);
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "Linksys/SPA-962-6.1.5(a) (%012llX) ", static_cast<unsigned long long>(i));
    for (auto& c : filler) c = static_cast<char>('A' + rng.below(26));
    const std::string req = "GET /spa962-" + std::to_string(i) + ".cfg HTTP/1.1\r\nHost: prov\r\nUser-Agent: " +
                            std::string(prefix) + filler + "\r\n\r\n";
    std::uint32_t cseq = 0, sseq = 0;
    openFlow(w, rng, src, dst, ts, cseq, sseq);
    for (std::size_t at = 0; at < req.size(); at += 1448) {
      const std::size_t n = std::min<std::size_t>(1448, req.size() - at);
      std::uint8_t* d = w.reserve();
      const std::size_t len = buildTcp(d, src, dst, cseq, sseq, TH_ACK | TH_PSH,
                                       reinterpret_cast<const std::uint8_t*>(req.data()) + at, n, 3);
      w.commit(ts++, len, len);
      cseq += static_cast<std::uint32_t>(n);
      ++segs;
    }
    std::uint8_t* d = w.reserve();
    std::size_t len = buildTcp(d, src, dst, cseq, sseq, TH_FIN | TH_ACK, nullptr, 0, 4);
    w.commit(ts++, len, len);
    d = w.reserve();
    len = buildTcp(d, dst, src, sseq, cseq + 1, TH_FIN | TH_ACK, nullptr, 0, 2);
    w.commit(ts++, len, len);
  }
  w.close();
  writeSimpleExpected(o.out + ".expected.json", o, w, "uaflood", "  \"requests\": " + std::to_string(o.uaflood) + ",\n", 0,
                      "every request a device of its own (identity unknown: plain HTTP)");
  std::fprintf(stderr, "make_corpus: %s: %llu requests with %zu-byte User-Agents, %llu segments, %llu bytes\n",
               o.out.c_str(), static_cast<unsigned long long>(o.uaflood), UAFLOOD_UA_BYTES,
               static_cast<unsigned long long>(segs), static_cast<unsigned long long>(w.bytes()));
  return 0;
}

// --samples, else the nearest samples/ (with its expected/) up from here.
fs::path samplesDir(const Options& o) {
  if (!o.samples.empty()) return o.samples;
  for (fs::path p = fs::current_path(); !p.empty(); p = p.parent_path()) {
    if (fs::exists(p / "samples" / "expected")) return p / "samples";
    if (p == p.parent_path()) break;
  }
  die("no samples/ found; use --samples DIR");
}

// A flood of distinct client certificates (the certificate cache's bound,
// CERT_CACHE_MAX_BYTES): N clones of samples/tls12_rsa.pcap one after the
// other, each from a device of its own (MAC, address, port), whose
// certificate differs from the others in four bytes of its signature: the
// DER still parses, and nothing verifies it without --ca.
int certflood(const Options& o) {
  const fs::path dir = samplesDir(o);
  LoadOptions lo;
  lo.stretch = 1;
  auto s = loadSample(dir / "tls12_rsa.pcap", dir / "expected" / "tls12_rsa.json", lo);
  if (!s || s->devices.size() != 1) die("certflood: " + (dir / "tls12_rsa.pcap").string() + " is not usable as the template");
  // The client's Certificate message: type 11, its length, the list's, the first certificate's, its DER (30 82 hi lo).
  int pkt = -1;
  std::size_t at = 0;
  for (std::size_t pi = 0; pi < s->pkts.size() && pkt < 0; ++pi) {
    const TPacket& p = s->pkts[pi];
    if (!p.from_client || p.payload == 0) continue;
    for (std::size_t k = p.data.size() - p.payload; k + 14 <= p.data.size(); ++k) {
      const std::uint8_t* q = p.data.data() + k;
      if (q[0] != 0x0b || q[10] != 0x30 || q[11] != 0x82) continue;
      const std::size_t der = 4 + ((std::size_t{q[12]} << 8) | q[13]);
      const std::size_t listed = (std::size_t{q[7]} << 16) | (std::size_t{q[8]} << 8) | q[9];
      if (listed != der || k + 10 + der > p.data.size()) continue;
      pkt = static_cast<int>(pi);
      at = k + 10 + der - 8;  // the signature's last bytes
      break;
    }
  }
  if (pkt < 0) die("certflood: no client certificate whole in one segment of tls12_rsa.pcap");
  Rng rng(o.seed);
  std::vector<std::uint8_t> pool(1 << 16);
  for (auto& b : pool) b = static_cast<std::uint8_t>(rng.next());
  Writer w(o.out);
  Allocator alloc(rng);
  alloc.reserve(s->devices[0].mac);
  Stats stats;
  Ctx c{w, rng, alloc, stats, pool};
  std::int64_t start = (s->first_ts_us + s->duration_us) / 1000000 * 1000000 + 60000000;
  for (std::uint64_t k = 0; k < o.certflood; ++k) {
    CloneGen g(c, *s, start, -1, 0.0, 0, 0, "certflood");
    g.patch_pkt = pkt;
    g.patch_at = at;
    g.patch_value = static_cast<std::uint32_t>(k);
    while (g.emit(c)) {
    }
    start = g.ts + 1000;  // the next handshake 1 ms after this one's last packet
  }
  w.close();
  writeSimpleExpected(o.out + ".expected.json", o, w, "certflood",
                      "  \"certificates\": " + std::to_string(o.certflood) + ",\n", o.certflood,
                      "one individualized device per handshake, each certificate distinct");
  std::fprintf(stderr, "make_corpus: %s: %llu handshakes with distinct client certificates, %llu bytes\n", o.out.c_str(),
               static_cast<unsigned long long>(o.certflood), static_cast<unsigned long long>(w.bytes()));
  return 0;
}

int mixed(const Options& o) {
  const auto wall0 = std::chrono::steady_clock::now();
  Rng rng(o.seed);
  // ---- samples
  const fs::path dir = samplesDir(o);
  LoadOptions lo;
  lo.stretch = o.stretch;
  std::vector<Sample> samples;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".pcap") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const fs::path ex = dir / "expected" / (f.stem().string() + ".json");
    if (!fs::exists(ex)) {
      std::fprintf(stderr, "make_corpus: %s: no expected/%s.json, skipped\n", f.c_str(), f.stem().c_str());
      continue;
    }
    auto s = loadSample(f, ex, lo);
    if (!s) continue;
    if (s->pkts.empty() || s->devices.empty()) {
      std::fprintf(stderr, "make_corpus: %s: empty, skipped\n", f.c_str());
      continue;
    }
    samples.push_back(std::move(*s));
  }
  if (samples.empty()) die("no usable samples in " + dir.string());
  std::int64_t base_us = 0;  // corpus starts after the newest sample (certificates are valid then)
  for (const auto& s : samples) base_us = std::max(base_us, s.first_ts_us + s.duration_us);
  base_us = (base_us / 1000000 + 60) * 1000000;

  // Single-device samples with one TLS flow (firmware over HTTPS) and plain-HTTP devices (download over HTTP).
  std::vector<std::pair<int, int>> tls_bulk_devs, http_bulk_devs;
  for (std::size_t si = 0; si < samples.size(); ++si) {
    const Sample& s = samples[si];
    for (std::size_t d = 0; d < s.devices.size(); ++d) {
      int tls = 0, http = 0;
      for (const auto& f : s.flows) {
        if (f.dev != static_cast<int>(d) || f.client_payload == 0) continue;
        tls += f.tls;
        http += f.http;
      }
      const std::string& r = s.devices[d].reason;
      // Bulk after the handshake must not change what the handshake shows.
      if (tls == 1 && http == 0 && (r == "client-cert" || r == "tls13" || r == "generic-cert" || r == "empty-certificate"))
        tls_bulk_devs.emplace_back(static_cast<int>(si), static_cast<int>(d));
      if (http >= 1 && tls == 0 && r == "plaintext-only") http_bulk_devs.emplace_back(static_cast<int>(si), static_cast<int>(d));
    }
  }

  // ---- plan
  const double total = static_cast<double>(o.size);
  const double dur_s = o.duration_s > 0 ? o.duration_s : std::max(30.0, total / 40e6);
  const std::int64_t T = static_cast<std::int64_t>(dur_s * 1e6);
  const std::uint64_t dev_budget = static_cast<std::uint64_t>(total * o.device_share);
  const std::uint64_t noise_budget = static_cast<std::uint64_t>(total * o.noise_share);
  const std::uint64_t bulk_budget = o.size > dev_budget + noise_budget + 24 ? o.size - dev_budget - noise_budget - 24 : 0;
  std::vector<Plan> plan;
  std::vector<std::uint64_t> clones(samples.size(), 0);
  std::map<std::pair<int, int>, std::uint64_t> bulk_clones;  // (sample, dev) -> count
  std::map<std::string, std::uint64_t> identity, reason, findings;
  std::uint64_t devices = 0;
  auto countDevice = [&](const TDevice& d) {
    ++devices;
    ++identity[d.identity];
    ++reason[d.identity + "/" + d.reason];
    for (const auto& code : d.findings) ++findings[code];
  };
  {
    std::uint64_t acc = 0;
    while (acc < dev_budget) {
      const int si = static_cast<int>(rng.below(samples.size()));
      const Sample& s = samples[si];
      Plan p;
      p.kind = Plan::Clone;
      p.sample = static_cast<std::uint16_t>(si);
      p.start = s.duration_us >= T ? 0 : static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(T - s.duration_us)));
      plan.push_back(p);
      ++clones[si];
      for (const auto& d : s.devices)
        if (!d.wire_only) countDevice(d);
      acc += s.bytes;
    }
  }
  {
    std::uint64_t acc = 0;
    const double lo_b = std::max(256.0 * 1024, std::min(1.0 * 1024 * 1024, static_cast<double>(bulk_budget) / 40));
    const double hi_b = std::max(lo_b * 2, std::min(32.0 * 1024 * 1024, static_cast<double>(bulk_budget) / 10));
    while (acc < bulk_budget) {
      Plan p;
      p.bytes = static_cast<std::uint64_t>(std::exp(std::log(lo_b) + rng.unit() * (std::log(hi_b) - std::log(lo_b))));
      p.bytes = std::min<std::uint64_t>(p.bytes, bulk_budget - acc + 1448);
      p.duration = static_cast<std::int64_t>((0.2 + 0.7 * rng.unit()) * static_cast<double>(T));
      p.start = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(std::max<std::int64_t>(1, T - p.duration))));
      p.v6 = rng.chance(0.15);
      const double r = rng.unit();
      if (r < 0.20 && !tls_bulk_devs.empty()) {
        const auto [si, d] = tls_bulk_devs[rng.below(tls_bulk_devs.size())];
        p.kind = Plan::CloneBulk;
        p.sample = static_cast<std::uint16_t>(si);
        p.dev = static_cast<std::int16_t>(d);
        countDevice(samples[si].devices[d]);
        ++bulk_clones[{si, d}];
      } else if (r < 0.30 && !http_bulk_devs.empty()) {
        const auto [si, d] = http_bulk_devs[rng.below(http_bulk_devs.size())];
        p.kind = Plan::CloneBulk;
        p.sample = static_cast<std::uint16_t>(si);
        p.dev = static_cast<std::int16_t>(d);
        countDevice(samples[si].devices[d]);
        ++bulk_clones[{si, d}];
      } else {
        p.kind = Plan::Bulk;
        p.flavour = r < 0.70 ? 0 : r < 0.80 ? 1 : 2;
      }
      plan.push_back(p);
      acc += p.bytes + p.bytes / 1448 * 70;  // payload + headers + ACKs, roughly
    }
  }
  {
    Plan p;
    p.kind = Plan::Noise;
    p.start = 0;
    p.bytes = noise_budget;
    p.duration = T;
    plan.push_back(p);
  }
  std::stable_sort(plan.begin(), plan.end(), [](const Plan& a, const Plan& b) { return a.start < b.start; });

  // ---- random payload pool
  std::vector<std::uint8_t> pool(8 << 20);
  for (std::size_t k = 0; k + 8 <= pool.size(); k += 8) {
    const std::uint64_t v = rng.next();
    std::memcpy(pool.data() + k, &v, 8);
  }

  // ---- run
  Writer w(o.out);
  Allocator alloc(rng);
  for (const auto& s : samples)
    for (const auto& d : s.devices) alloc.reserve(d.mac);  // never reuse an original MAC
  Stats stats;
  Ctx c{w, rng, alloc, stats, pool};
  struct HeapItem {
    std::int64_t ts;
    std::uint64_t seq;
    Gen* g;
    bool operator>(const HeapItem& o2) const { return ts != o2.ts ? ts > o2.ts : seq > o2.seq; }
  };
  std::priority_queue<HeapItem, std::vector<HeapItem>, std::greater<>> heap;
  std::uint64_t seq = 0;
  std::size_t next_plan = 0;
  auto startGen = [&](const Plan& p) -> Gen* {
    const std::int64_t at = base_us + p.start;
    switch (p.kind) {
      case Plan::Clone:
        return new CloneGen(c, samples[p.sample], at, -1, o.midstream_devices, 0, 0, "device-clone");
      case Plan::CloneBulk: {
        const Sample& s = samples[p.sample];
        bool http = false;
        for (const auto& f : s.flows)
          if (f.dev == p.dev && f.http) http = true;
        return new CloneGen(c, s, at, p.dev, 0.0, p.bytes, p.duration, http ? "bulk-http-after-request" : "bulk-https-after-handshake");
      }
      case Plan::Bulk: {
        static const char* names[] = {"bulk-https-midstream", "bulk-http-midstream", "bulk-tcp-with-syn"};
        return new BulkGen(c, at, p.bytes, p.duration, p.v6, p.flavour == 0 ? 443 : p.flavour == 1 ? 80 : 445,
                           p.flavour == 2, p.flavour == 0, names[p.flavour]);
      }
      case Plan::Noise:
        return new NoiseGen(c, at, at + p.duration, p.bytes);
    }
    return nullptr;
  };
  for (;;) {
    while (next_plan < plan.size() && (heap.empty() || base_us + plan[next_plan].start <= heap.top().ts)) {
      Gen* g = startGen(plan[next_plan++]);
      heap.push({g->ts, seq++, g});
    }
    if (heap.empty()) break;
    HeapItem it = heap.top();
    heap.pop();
    const bool more = it.g->emit(c);
    if (more) heap.push({it.g->ts, seq++, it.g});
    else delete it.g;
  }
  w.close();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();

  // ---- expected
  std::ofstream f(o.out + ".expected.json");
  f << "{\n  \"schema\": \"provaudit.bench.expected/1\",\n  \"mode\": \"mixed\",\n";
  f << "  \"corpus\": " << jsonStr(fs::path(o.out).filename().string()) << ",\n";
  f << "  \"samples_dir\": " << jsonStr(fs::absolute(dir).string()) << ",\n";
  f << "  \"seed\": " << o.seed << ",\n  \"size_bytes\": " << w.bytes() << ",\n  \"packets\": " << w.packets() << ",\n";
  f << "  \"first_ts_us\": " << w.firstTs() << ",\n  \"last_ts_us\": " << w.lastTs() << ",\n";
  f << "  \"devices\": " << devices << ",\n  \"identity\": {";
  const char* classes[] = {"individualized", "generic", "none", "unknown"};
  for (int k = 0; k < 4; ++k) f << (k ? ", " : "") << "\"" << classes[k] << "\": " << identity[classes[k]];
  f << "},\n  \"identity_reason\": {";
  bool first = true;
  for (const auto& [k, v] : reason) {
    f << (first ? "" : ", ") << jsonStr(k) << ": " << v;
    first = false;
  }
  f << "},\n  \"findings_from_samples\": {";
  first = true;
  for (const auto& [k, v] : findings) {
    f << (first ? "" : ", ") << jsonStr(k) << ": " << v;
    first = false;
  }
  f << "},\n  \"clones\": {\n";
  first = true;
  for (std::size_t si = 0; si < samples.size(); ++si) {
    f << (first ? "" : ",\n") << "    " << jsonStr(samples[si].name) << ": {\"clones\": " << clones[si]
      << ", \"devices_per_clone\": "
      << std::count_if(samples[si].devices.begin(), samples[si].devices.end(), [](const TDevice& d) { return !d.wire_only; })
      << "}";
    first = false;
  }
  f << "\n  },\n  \"bulk_clones\": {\n";
  first = true;
  for (const auto& [k, v] : bulk_clones) {
    f << (first ? "" : ",\n") << "    " << jsonStr(samples[k.first].name + "/" + macStr(samples[k.first].devices[k.second].mac))
      << ": {\"clones\": " << v << ", \"identity\": " << jsonStr(samples[k.first].devices[k.second].identity) << "}";
    first = false;
  }
  f << "\n  },\n  \"flows\": {";
  first = true;
  for (const auto& [k, v] : stats.flows_by_kind) {
    f << (first ? "" : ", ") << jsonStr(k) << ": " << v;
    first = false;
  }
  f << "},\n  \"bytes\": {";
  first = true;
  for (const auto& [k, v] : stats.bytes_by_kind) {
    f << (first ? "" : ", ") << jsonStr(k) << ": " << v;
    first = false;
  }
  f << "},\n  \"max_concurrent_tcp_flows\": " << stats.max_open_flows << ",\n";
  f << "  \"notes\": [\n"
       "    \"a device is its fresh MAC: every clone of samples/X.pcap adds the devices of samples/expected/X.json, with the same identity class\",\n"
       "    \"bulk_clones: one device of a sample with a long download appended to its own TLS/HTTP connection; counted like any clone\",\n"
       "    \"certificates are cloned too: every non-generic client certificate is presented by many MACs, so cert-clone (and cert-mac-mismatch: subject ST is the original MAC) findings are expected on those devices; identity classes do not change\",\n"
       "    \"findings_from_samples: the sum of the samples' expected findings (without --ca) over all cloned devices; cert-clone, cert-mac-mismatch and fingerprint-mismatch come on top (fleets of clones), the other codes should match\",\n"
       "    \"some device flows start mid-stream (SYN, SYN-ACK and ACK dropped); bulk flows never carry a ClientHello or a request line and create no device\"\n"
       "  ]\n}\n";
  f.close();
  std::fprintf(stderr,
               "make_corpus: %s: %.1f MB, %llu packets, %llu devices (individualized %llu, generic %llu, none %llu, unknown "
               "%llu), max %llu TCP flows open, %.1f s\n",
               o.out.c_str(), static_cast<double>(w.bytes()) / 1e6, static_cast<unsigned long long>(w.packets()),
               static_cast<unsigned long long>(devices), static_cast<unsigned long long>(identity["individualized"]),
               static_cast<unsigned long long>(identity["generic"]), static_cast<unsigned long long>(identity["none"]),
               static_cast<unsigned long long>(identity["unknown"]), static_cast<unsigned long long>(stats.max_open_flows),
               secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--size") o.size = parseSize(val());
    else if (a == "--out" || a == "-o") o.out = val();
    else if (a == "--seed") o.seed = std::stoull(val());
    else if (a == "--samples") o.samples = val();
    else if (a == "--synflood") o.synflood = std::stoull(val());
    else if (a == "--ooo") o.ooo = std::stoull(val());
    else if (a == "--certflood") o.certflood = std::stoull(val());
    else if (a == "--hsflood") o.hsflood = std::stoull(val());
    else if (a == "--uaflood") o.uaflood = std::stoull(val());
    else if (a == "--one-device") o.one_device = true;
    else if (a == "--device-share") o.device_share = std::stod(val());
    else if (a == "--noise-share") o.noise_share = std::stod(val());
    else if (a == "--midstream-devices") o.midstream_devices = std::stod(val());
    else if (a == "--duration") o.duration_s = std::stod(val());
    else if (a == "--stretch") o.stretch = std::stod(val());
    else if (a == "-h" || a == "--help") usage();
    else die("unknown option " + a);
  }
  if (o.out.empty()) usage();
  if (o.device_share < 0 || o.noise_share < 0 || o.device_share + o.noise_share > 1) die("shares must add up to at most 1");
  try {
    if (o.synflood != 0) return synflood(o);
    if (o.ooo != 0) return oooflood(o);
    if (o.certflood != 0) return certflood(o);
    if (o.hsflood != 0) return hsflood(o);
    if (o.uaflood != 0) return uaflood(o);
    return mixed(o);
  } catch (const std::exception& e) {
    die(e.what());
  }
}
