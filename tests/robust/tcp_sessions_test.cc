// TCP session edge cases through the real binary, each capture derived at
// test time from the real-traffic sample spa_mixed_tls12.pcap (OpenSSL, MTU
// 576: the client's Certificate spans its segments 18-19) by pcap surgery: a
// stray RST outside the window, an in-window RST that a SPAN port delivers
// ahead of the client's last flight, a device that reboots and reuses its
// source port for a new handshake with no FIN or RST in between, and every
// packet captured a second time on the other side of a router.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "robust_util.h"

namespace {
using robust::bin;

constexpr std::size_t ETH_HEADER = 14;
constexpr std::size_t PCAP_FILE_HEADER = 24;
constexpr std::uint8_t FLAG_FIN = 0x01;
constexpr std::uint8_t FLAG_RST = 0x04;
constexpr std::uint8_t FLAG_ACK = 0x10;
constexpr char DEVICE_11_MAC[] = "00:0e:08:ab:cd:ef";  // 10.77.0.11: individualized in the sample

// One packet of the sample: its pcap timestamp and frame (Ethernet, IPv4, TCP or not).
struct Packet {
  std::int64_t ts_ns = 0;
  std::vector<std::uint8_t> frame;

  [[nodiscard]] bool tcp() const {
    return frame.size() >= ETH_HEADER + 20 && frame[12] == 0x08 && frame[13] == 0x00 && frame[ETH_HEADER + 9] == 6;
  }
  [[nodiscard]] std::size_t tcpAt() const { return ETH_HEADER + (frame[ETH_HEADER] & 0x0F) * 4U; }
  [[nodiscard]] std::uint32_t be32(std::size_t at) const {
    return std::uint32_t{frame[at]} << 24 | std::uint32_t{frame[at + 1]} << 16 | std::uint32_t{frame[at + 2]} << 8 |
           frame[at + 3];
  }
  void put32(std::size_t at, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) frame[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
  }
  [[nodiscard]] std::uint32_t seq() const { return be32(tcpAt() + 4); }
  [[nodiscard]] std::uint8_t flags() const { return frame[tcpAt() + 13]; }
  // The last octet of the source's or destination's address (10.77.0.x).
  [[nodiscard]] std::uint8_t host(bool src) const { return frame[ETH_HEADER + (src ? 15 : 19)]; }
  [[nodiscard]] bool involves(std::uint8_t h) const { return tcp() && (host(true) == h || host(false) == h); }
  [[nodiscard]] std::size_t payload() const {
    const std::size_t ip_len = std::size_t{frame[ETH_HEADER + 2]} << 8 | frame[ETH_HEADER + 3];
    return ETH_HEADER + ip_len - tcpAt() - (frame[tcpAt() + 12] >> 4) * 4U;
  }
};

std::vector<Packet> samplePackets() {
  const auto file = robust::readFile(robust::samplePath("spa_mixed_tls12.pcap"));
  std::vector<Packet> out;
  for (const auto& r : robust::pcapRecords(file)) {
    out.push_back({r.ts_ns,
                   {file.begin() + static_cast<std::ptrdiff_t>(r.offset + 16),
                    file.begin() + static_cast<std::ptrdiff_t>(r.end())}});
  }
  return out;
}

std::string writePcap(const std::string& name, const std::vector<Packet>& packets) {
  const auto sample = robust::readFile(robust::samplePath("spa_mixed_tls12.pcap"));
  std::vector<std::uint8_t> out(sample.begin(), sample.begin() + PCAP_FILE_HEADER);
  auto le32 = [&out](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  for (const Packet& p : packets) {
    le32(static_cast<std::uint32_t>(p.ts_ns / 1'000'000'000));
    le32(static_cast<std::uint32_t>(p.ts_ns % 1'000'000'000 / 1000));
    le32(static_cast<std::uint32_t>(p.frame.size()));
    le32(static_cast<std::uint32_t>(p.frame.size()));
    out.insert(out.end(), p.frame.begin(), p.frame.end());
  }
  const std::string path = robust::tmpPath(name);
  robust::writeFile(path, out);
  return path;
}

// A bare RST (no options, no payload) from the sender of `from`, sequence number `seq`.
Packet rstFrom(const Packet& from, std::uint32_t seq, std::uint8_t flags, std::int64_t ts_ns) {
  Packet r = from;
  const std::size_t t = r.tcpAt();
  r.frame.resize(t + 20);
  const std::size_t ip_len = r.frame.size() - ETH_HEADER;
  r.frame[ETH_HEADER + 2] = static_cast<std::uint8_t>(ip_len >> 8);
  r.frame[ETH_HEADER + 3] = static_cast<std::uint8_t>(ip_len);
  r.frame[t + 12] = 0x50;
  r.frame[t + 13] = flags;
  r.put32(t + 4, seq);
  r.ts_ns = ts_ns;
  return r;
}

struct Replayed {
  boost::json::object device;  // the report's entry for DEVICE_11_MAC
  long long rst_out_of_window = 0;
};

Replayed replay(const std::string& path) {
  const std::string db = path + ".db";
  const auto run = robust::run({bin(), "replay", "-q", "--db", db, path});
  INFO(run.err);
  REQUIRE(run.status == 0);
  Replayed r;
  const boost::json::value report = robust::report(db);
  for (const auto& d : report.at("devices").as_array()) {
    if (d.at("mac") == DEVICE_11_MAC) r.device = d.as_object();
  }
  const auto count =
      robust::run({"sqlite3", db, "SELECT sum(count) FROM source_anomalies WHERE name = 'tcp_rst_out_of_window'"});
  REQUIRE(count.status == 0);
  r.rst_out_of_window = std::stoll("0" + count.out);
  return r;
}

// Index of the first packet of device `host`'s connection sent by `from_host` with payload after `after`.
std::size_t nextWithPayload(const std::vector<Packet>& pk, std::uint8_t host, bool from_device, std::size_t after) {
  for (std::size_t i = after + 1; i < pk.size(); ++i) {
    if (pk[i].involves(host) && (pk[i].host(true) == host) == from_device && pk[i].payload() > 0) return i;
  }
  FAIL("no such packet");
  return 0;
}

// Index of the client's first Certificate segment of device 10.77.0.11 (its
// second segment with payload, after the ClientHello).
std::size_t clientCertificate(const std::vector<Packet>& pk) {
  return nextWithPayload(pk, 11, true, nextWithPayload(pk, 11, true, 0));
}

// The server's last segment with payload before `at` (its ServerHelloDone).
const Packet& serverBefore(const std::vector<Packet>& pk, std::size_t at) {
  while (!pk[at].involves(11) || pk[at].host(true) != 2 || pk[at].payload() == 0) --at;
  return pk[at];
}

// The sample with a RST from the server, `beyond_next` past its next sequence
// number, 5 µs ahead of 10.77.0.11's Certificate segment; replayed.
Replayed replayWithServerRst(const std::string& name, std::uint32_t beyond_next, std::uint8_t flags) {
  auto pk = samplePackets();
  const std::size_t cert = clientCertificate(pk);
  const Packet& done = serverBefore(pk, cert);
  const auto seq = done.seq() + static_cast<std::uint32_t>(done.payload()) + beyond_next;
  const Packet rst = rstFrom(done, seq, flags, pk[cert].ts_ns - 5000);
  pk.insert(pk.begin() + static_cast<std::ptrdiff_t>(cert), rst);
  return replay(writePcap(name, pk));
}
}  // namespace

TEST_CASE("a RST far outside the window ends nothing: the Certificate after it is read, the RST counted") {
  const Replayed r = replayWithServerRst("rst_out_of_window.pcap", 1U << 30, FLAG_RST);
  REQUIRE(!r.device.empty());
  CHECK(r.device.at("identity") == "individualized");
  CHECK(r.rst_out_of_window == 1);
}

TEST_CASE("an in-window RST a SPAN port delivers ahead of the client's last flight: the flight is still read") {
  // The RST the server sent (its next sequence number) overtakes the
  // client's flight, sent before it.
  const Replayed r = replayWithServerRst("rst_ahead.pcap", 0, FLAG_RST | FLAG_ACK);
  REQUIRE(!r.device.empty());
  CHECK(r.device.at("identity") == "individualized");
  CHECK(r.rst_out_of_window == 0);
}

TEST_CASE("a device that reboots and reuses its source port: the second handshake on the 4-tuple is the latest") {
  // 10.77.0.11's connection without its FIN exchange (the device rebooted),
  // then 10.77.0.12's handshake (a generic certificate) as if 10.77.0.11
  // made it from the same port, with a new ISN.
  const auto pk = samplePackets();
  std::size_t first11 = 0;
  while (!pk[first11].involves(11)) ++first11;
  const Packet& syn11 = pk[first11];
  const std::size_t t = syn11.tcpAt();
  std::vector<Packet> out;
  bool fin_seen = false;
  for (const Packet& p : pk) {
    if (p.involves(11)) {
      fin_seen = fin_seen || (p.flags() & FLAG_FIN) != 0;
      if (!fin_seen) out.push_back(p);
    } else if (p.involves(12)) {
      Packet q = p;
      const bool from_device = q.host(true) == 12;
      // MAC, IP address and port of 10.77.0.11 on the device's side.
      std::copy_n(syn11.frame.begin() + 6, 6, q.frame.begin() + (from_device ? 6 : 0));
      std::copy_n(syn11.frame.begin() + ETH_HEADER + 12, 4, q.frame.begin() + ETH_HEADER + (from_device ? 12 : 16));
      std::copy_n(syn11.frame.begin() + t, 2, q.frame.begin() + q.tcpAt() + (from_device ? 0 : 2));
      out.push_back(q);
    } else {
      out.push_back(p);
    }
  }
  REQUIRE(fin_seen);
  const Replayed r = replay(writePcap("port_reuse.pcap", out));
  REQUIRE(!r.device.empty());
  CHECK(r.device.at("identity") == "generic");
  CHECK(r.device.at("sessions") == 2);
}

namespace {
// The MACs of a router between the devices and the server: what its two
// interfaces put on the frames they forward.
constexpr std::uint8_t ROUTER_DEVICE_SIDE[] = {0xaa, 0x91, 0x4f, 0x85, 0xf9, 0x36};
constexpr std::uint8_t ROUTER_SERVER_SIDE[] = {0x6a, 0x2b, 0xdd, 0x3b, 0xc4, 0x62};
constexpr std::uint8_t SERVER_HOST = 2;  // 10.77.0.2

// `p` as captured on the router's other side: the same IP packet, forwarded
// (TTL one lower, header checksum updated) 30 µs later, under the router's
// MAC as source. nullopt for frames that are not IPv4 (not forwarded).
std::optional<Packet> routedCopy(const Packet& p) {
  if (p.frame.size() < ETH_HEADER + 20 || p.frame[12] != 0x08 || p.frame[13] != 0x00) return std::nullopt;
  Packet q = p;
  q.ts_ns += 30'000;
  const bool from_server = q.host(true) == SERVER_HOST;
  std::copy_n(from_server ? ROUTER_DEVICE_SIDE : ROUTER_SERVER_SIDE, 6, q.frame.begin() + 6);
  q.frame[ETH_HEADER + 8] = static_cast<std::uint8_t>(q.frame[ETH_HEADER + 8] - 1);  // TTL
  // RFC 791 §3.1: the one's complement of the one's complement sum of the header's 16-bit words.
  q.frame[ETH_HEADER + 10] = q.frame[ETH_HEADER + 11] = 0;
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < (q.frame[ETH_HEADER] & 0x0FU) * 4U; i += 2) {
    sum += std::uint32_t{q.frame[ETH_HEADER + i]} << 8 | q.frame[ETH_HEADER + i + 1];
  }
  while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
  q.frame[ETH_HEADER + 10] = static_cast<std::uint8_t>(~sum >> 8);
  q.frame[ETH_HEADER + 11] = static_cast<std::uint8_t>(~sum);
  return q;
}

// What a report says of each device, keyed by MAC: the fields a second
// capture point must not change.
std::map<std::string, std::string> deviceRows(const std::string& db) {
  std::map<std::string, std::string> out;
  const boost::json::value report = robust::report(db);
  for (const auto& d : report.at("devices").as_array()) {
    const auto& o = d.as_object();
    std::string findings;
    for (const auto& f : o.at("findings").as_array()) findings += std::string(f.at("code").as_string()) + " ";
    const auto& cert = o.at("cert");
    out[boost::json::serialize(o.at("mac"))] =
        boost::json::serialize(o.at("ips")) + " " + std::string(o.at("identity").as_string()) + " " +
        (cert.is_object() ? std::string(cert.at("sha256").as_string()) : "-") + " " + findings +
        boost::json::serialize(o.at("sessions"));
  }
  return out;
}

long long scalar(const std::string& db, const std::string& sql) {
  const auto r = robust::run({"sqlite3", db, sql});
  REQUIRE(r.status == 0);
  return std::stoll("0" + r.out);
}
}  // namespace

TEST_CASE("a connection captured on both sides of a router is one connection: one handshake, the device's own MAC") {
  // The sample's packets seen twice, as dumpcap on a router's two interfaces
  // writes them: the same TCP segments, once as sent and once forwarded
  // under the router's MACs. Read as new connections, every device's
  // handshake came twice, the router's MAC made devices of its own and the
  // certificates were reported cloned.
  const auto pk = samplePackets();
  const std::string plain_db = robust::tmpPath("two_points_plain.db");
  REQUIRE(robust::run({bin(), "replay", "-q", "--db", plain_db, robust::samplePath("spa_mixed_tls12.pcap")}).status == 0);
  const auto want = deviceRows(plain_db);
  REQUIRE(want.size() == 5);
  const long long want_flows = scalar(plain_db, "SELECT value FROM stats WHERE name = 'flows'");
  const long long want_handshakes = scalar(plain_db, "SELECT value FROM stats WHERE name = 'tls_handshakes'");
  std::vector<Packet> blocks = pk, interleaved, routed_first;
  for (const Packet& p : pk) {
    const auto copy = routedCopy(p);
    if (copy) blocks.push_back(*copy);
    interleaved.push_back(p);
    if (copy) interleaved.push_back(*copy);
    if (copy) routed_first.push_back(*copy);
    routed_first.push_back(p);
  }
  REQUIRE(blocks.size() > pk.size() + 150);
  // One interface's packets after the other's (as the reviewer's dumpcap
  // file holds them); each packet beside its copy; the forwarded copy first
  // (the MAC then comes from the copy with the higher TTL).
  for (const auto& [name, packets] : {std::pair{"two_points_blocks.pcap", blocks},
                                      std::pair{"two_points_interleaved.pcap", interleaved},
                                      std::pair{"two_points_routed_first.pcap", routed_first}}) {
    INFO(name);
    const std::string path = writePcap(name, packets);
    const std::string db = path + ".db";
    const auto run = robust::run({bin(), "replay", "-q", "--db", db, path});
    INFO(run.err);
    REQUIRE(run.status == 0);
    CHECK(deviceRows(db) == want);
    CHECK(scalar(db, "SELECT value FROM stats WHERE name = 'flows'") == want_flows);
    CHECK(scalar(db, "SELECT value FROM stats WHERE name = 'tls_handshakes'") == want_handshakes);
    const long long twice =
        scalar(db, "SELECT sum(count) FROM source_anomalies WHERE name = 'tcp_connection_captured_twice'");
    if (std::string(name) == "two_points_blocks.pcap") {
      CHECK(twice == want_flows);  // each connection's SYN, seen again after it ended
    } else {
      CHECK(twice == 0);
    }
  }
  // One device alone: the router's MAC then appears with one address only,
  // like a device's own, and made a second device presenting the same
  // certificate (cert-clone, and cert-mac-mismatch on the router's).
  std::vector<Packet> alone;
  for (const Packet& p : pk) {
    if (p.involves(11)) alone.push_back(p);
  }
  const std::size_t one_point = alone.size();
  for (std::size_t i = 0; i < one_point; ++i) alone.push_back(*routedCopy(alone[i]));
  const std::string path = writePcap("two_points_one_device.pcap", alone);
  const auto run = robust::run({bin(), "replay", "-q", "--db", path + ".db", path});
  INFO(run.err);
  REQUIRE(run.status == 0);
  const std::string device_11 = std::string("\"") + DEVICE_11_MAC + "\"";
  CHECK(deviceRows(path + ".db") == std::map<std::string, std::string>{{device_11, want.at(device_11)}});
}
