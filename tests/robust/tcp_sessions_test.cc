// TCP session edge cases through the real binary, each capture derived at
// test time from the real-traffic sample spa_mixed_tls12.pcap (OpenSSL, MTU
// 576: the client's Certificate spans its segments 18-19) by pcap surgery: a
// stray RST outside the window, an in-window RST that a SPAN port delivers
// ahead of the client's last flight, and a device that reboots and reuses its
// source port for a new handshake with no FIN or RST in between.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
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
