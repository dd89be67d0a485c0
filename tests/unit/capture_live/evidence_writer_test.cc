// pcapng evidence writer (capture/evidence_writer.h), read back with libpcap.
#include <catch2/catch.hpp>
#include <pcap/pcap.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "capture/evidence_writer.h"
#include "common/c_handles.h"

using namespace provaudit;
using namespace provaudit::capture;

namespace {

namespace fs = std::filesystem;
constexpr int LINKTYPE_ETHERNET = 1;
constexpr int LINKTYPE_LINUX_SLL2 = 276;
constexpr std::int64_t TS1 = 1'795'000'000'123'456'789;  // nanoseconds: must survive exactly
constexpr std::int64_t TS2 = 1'795'000'001'000'000'001;

struct TempPath {
  fs::path path;
  explicit TempPath(const std::string& name)
      : path(fs::temp_directory_path() / ("pa_live_" + std::to_string(::getpid()) + "_" + name)) {}
  ~TempPath() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

struct ReadPacket {
  std::int64_t ts_ns;
  std::vector<std::uint8_t> data;
  std::uint32_t orig_len;
};

std::vector<ReadPacket> readBack(const fs::path& path, int& linktype, std::string& err) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  PcapPtr p(pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf));
  std::vector<ReadPacket> out;
  if (!p) {
    err = errbuf;
    return out;
  }
  linktype = pcap_datalink(p.get());
  pcap_pkthdr* hdr = nullptr;
  const std::uint8_t* data = nullptr;
  while (pcap_next_ex(p.get(), &hdr, &data) == 1) {
    out.push_back({static_cast<std::int64_t>(hdr->ts.tv_sec) * 1'000'000'000 + hdr->ts.tv_usec,
                   std::vector<std::uint8_t>(data, data + hdr->caplen), hdr->len});
  }
  return out;
}

std::vector<std::uint8_t> bytes(std::size_t n, std::uint8_t first) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(first + i);
  return v;
}

}  // namespace

TEST_CASE("evidence writer: pcapng with two interfaces reads back through libpcap, nanoseconds exact") {
  TempPath file("two_ifaces.pcapng");
  std::string err;
  auto w = PcapngWriter::create(file.path.string(), err);
  REQUIRE(w);
  w->addInterface(1, "eth1", LINKTYPE_ETHERNET, 262144);
  w->addInterface(2, "eth2", LINKTYPE_ETHERNET, 262144);
  const auto a = bytes(60, 0x10);  // multiple of 4: no padding
  const auto b = bytes(61, 0x80);  // needs 3 bytes of padding
  CHECK(w->write(1, TS1, a, 60));
  CHECK(w->write(2, TS2, b, 1514));  // cut by a snap length: orig_len > captured
  REQUIRE(w->flush());
  CHECK(w->packetsWritten() == 2);

  int linktype = 0;
  const auto got = readBack(file.path, linktype, err);
  INFO(err);
  REQUIRE(got.size() == 2);
  CHECK(linktype == LINKTYPE_ETHERNET);
  CHECK(got[0].ts_ns == TS1);
  CHECK(got[0].data == a);
  CHECK(got[0].orig_len == 60);
  CHECK(got[1].ts_ns == TS2);
  CHECK(got[1].data == b);
  CHECK(got[1].orig_len == 1514);
}

TEST_CASE("evidence writer: Linux cooked (SLL2) frames keep their link type") {
  TempPath file("sll2.pcapng");
  std::string err;
  auto w = PcapngWriter::create(file.path.string(), err);
  REQUIRE(w);
  w->addInterface(1, "any", LINKTYPE_LINUX_SLL2, 65535);
  CHECK(w->write(1, TS1, bytes(40, 1), 40));
  REQUIRE(w->flush());
  int linktype = 0;
  const auto got = readBack(file.path, linktype, err);
  REQUIRE(got.size() == 1);
  CHECK(linktype == LINKTYPE_LINUX_SLL2);
}

TEST_CASE("evidence writer: the file is readable after each flush, while still open") {
  TempPath file("flushed.pcapng");
  std::string err;
  auto w = PcapngWriter::create(file.path.string(), err);
  REQUIRE(w);
  w->addInterface(1, "eth1", LINKTYPE_ETHERNET, 262144);
  CHECK(w->write(1, TS1, bytes(54, 0), 54));
  REQUIRE(w->flush());
  int linktype = 0;
  CHECK(readBack(file.path, linktype, err).size() == 1);
  CHECK(w->write(1, TS2, bytes(54, 0), 54));
  REQUIRE(w->flush());
  CHECK(readBack(file.path, linktype, err).size() == 2);
}

TEST_CASE("evidence writer: a packet of an undeclared interface is refused and counted") {
  TempPath file("unknown.pcapng");
  std::string err;
  auto w = PcapngWriter::create(file.path.string(), err);
  REQUIRE(w);
  w->addInterface(1, "eth1", LINKTYPE_ETHERNET, 262144);
  CHECK_FALSE(w->write(7, TS1, bytes(54, 0), 54));
  CHECK(w->packetsRefused() == 1);
  CHECK(w->packetsWritten() == 0);
}

TEST_CASE("evidence writer: a file that cannot be created gives a one-line error") {
  std::string err;
  auto w = PcapngWriter::create("/nonexistent-dir/evidence.pcapng", err);
  CHECK_FALSE(w);
  CHECK(err.find("/nonexistent-dir/evidence.pcapng: ") == 0);
  CHECK(err.find('\n') == std::string::npos);
}
