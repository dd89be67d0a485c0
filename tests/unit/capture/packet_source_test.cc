#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "capture/decoder.h"
#include "capture/packet_source.h"
#include "capture_files.h"
#include "packet_builder.h"
#include "pcap_builder.h"
#include "pcapng_builder.h"

using namespace provaudit;
using namespace provaudit::capture;
using namespace provaudit::capture::test;

TEST_CASE("pcap files in both byte orders with micro- and nanosecond timestamps") {
  struct Variant {
    bool big_endian;
    std::uint32_t magic;
    std::uint32_t frac;
    std::int64_t expect_ns;
  };
  const Variant variants[] = {
      {false, PCAP_MAGIC_MICRO, 250000, 1'700'000'000'250'000'000},
      {true, PCAP_MAGIC_MICRO, 250000, 1'700'000'000'250'000'000},
      {false, PCAP_MAGIC_NANO, 123456789, 1'700'000'000'123'456'789},
      {true, PCAP_MAGIC_NANO, 123456789, 1'700'000'000'123'456'789},
  };
  for (const Variant& v : variants) {
    TempFile file("order.pcap");
    PcapWriter w(v.big_endian, v.magic, LINKTYPE_ETHERNET_FILE);
    w.record(1'700'000'000, v.frac, "first packet").record(1'700'000'001, 0, "second");
    file.write(w.out.data());
    std::string err;
    auto src = openCaptureFile(file.str(), 7, err);
    REQUIRE(src);
    CHECK(err.empty());
    const Read r = readAll(*src);
    CHECK(r.last == ReadStatus::End);
    REQUIRE(r.packets.size() == 2);
    CHECK(r.data[0] == "first packet");
    CHECK(r.data[1] == "second");
    CHECK(r.packets[0].ref.ts_ns == v.expect_ns);
    CHECK(r.packets[1].ref.ts_ns == 1'700'000'001'000'000'000);
    CHECK(r.packets[0].ref.frame == 1);
    CHECK(r.packets[1].ref.frame == 2);
    CHECK(r.packets[1].ref.source == 7);
    CHECK(r.packets[0].linktype == 1);
    CHECK(r.packets[0].orig_len == 12);
    CHECK(src->totalBytes() == w.out.size());
    CHECK(src->bytesRead() == w.out.size());
    CHECK(src->name() == file.str());
  }
}

TEST_CASE("Raw IP pcap gives its link type as stored (LINKTYPE_RAW), and the decoder reads IP from it") {
  TempFile file("raw.pcap");
  PcapWriter w(false, PCAP_MAGIC_MICRO, LINKTYPE_RAW_FILE);
  const Frame packet = ipv4(6, tcp(40000, 443, 1, TCP_SYN), 7, 9);
  w.record(1, 0, std::string(packet.data().begin(), packet.data().end()));
  file.write(w.out.data());
  std::string err;
  auto src = openCaptureFile(file.str(), 0, err);
  REQUIRE(src);
  RawPacket p;
  REQUIRE(src->next(p) == ReadStatus::Packet);
  CHECK(p.linktype == LINKTYPE_RAW);
  AnomalyCounters anomalies;
  Decoder decoder(anomalies);
  DecodedPacket d;
  REQUIRE(decoder.decode(p, d));
  CHECK(d.src.str() == "10.0.0.7");
  CHECK(d.dst.str() == "10.0.0.9");
  CHECK(d.dport == 443);
  CHECK(d.tcp_flags == TCP_SYN);
}

TEST_CASE("Truncated last record: the good packets first, then an error naming the file and offset") {
  TempFile file("trunc.pcap");
  PcapWriter w(false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE);
  w.record(1, 0, "aaaa").record(2, 0, "bbbb");
  const std::size_t good_end = w.out.size();  // 24 + 2 * (16 + 4) = 64
  w.record(3, 0, "only ten b", 100);          // header claims 100 captured bytes, 10 follow
  file.write(w.out.data());
  std::string err;
  auto src = openCaptureFile(file.str(), 0, err);
  REQUIRE(src);
  const Read r = readAll(*src);
  CHECK(r.packets.size() == 2);
  CHECK(r.last == ReadStatus::Error);
  const std::string msg = src->error();
  INFO(msg);
  CHECK(msg.find(file.str()) == 0);
  CHECK(msg.find("offset " + std::to_string(good_end)) != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
  RawPacket p;
  CHECK(src->next(p) == ReadStatus::Error);  // stays failed
}

TEST_CASE("Files that are not captures fail to open with a one-line reason") {
  std::string err;
  SECTION("empty file") {
    TempFile file("empty.pcap");
    file.write({});
    CHECK_FALSE(openCaptureFile(file.str(), 0, err));
    CHECK(err.find(file.str() + ": ") == 0);
  }
  SECTION("text file") {
    TempFile file("notes.txt");
    Frame text;
    text.text("this is not a capture file\nsecond line\n");
    file.write(text.data());
    CHECK_FALSE(openCaptureFile(file.str(), 0, err));
    CHECK(err.find(file.str() + ": ") == 0);
  }
  SECTION("truncated header") {
    TempFile file("short.pcap");
    file.write(Frame().u32le(PCAP_MAGIC_MICRO).u16le(2).data());  // 6 of 24 header bytes
    CHECK_FALSE(openCaptureFile(file.str(), 0, err));
    CHECK(err.find(file.str() + ": ") == 0);
  }
  SECTION("missing file") {
    CHECK_FALSE(openCaptureFile("/nonexistent/dir/x.pcap", 0, err));
    CHECK(err.find("/nonexistent/dir/x.pcap: ") == 0);
  }
  INFO(err);
  CHECK_FALSE(err.empty());
  CHECK(err.find('\n') == std::string::npos);
}

TEST_CASE("pcapng with two interfaces of the same link type and different timestamp resolutions") {
  TempFile file("two.pcapng");
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET)                                      // interface 0: Ethernet, microseconds
      .idb(LINKTYPE_ETHERNET, InterfaceOptions().resolution(TSRESOL_NANO))        // interface 1: Ethernet, nanoseconds
      .epb(0, 1'700'000'000'000'001ULL, "on eth0")
      .epb(1, 1'700'000'000'000'000'002ULL, "on eth1");
  file.write(f.data());
  std::string err;
  auto src = openCaptureFile(file.str(), 0, err);
  REQUIRE(src);
  const Read r = readAll(*src);
  CHECK(r.last == ReadStatus::End);
  REQUIRE(r.packets.size() == 2);
  CHECK(r.data[0] == "on eth0");
  CHECK(r.data[1] == "on eth1");
  CHECK(r.packets[0].ref.ts_ns == 1'700'000'000'000'001'000);
  CHECK(r.packets[1].ref.ts_ns == 1'700'000'000'000'000'002);
  CHECK(r.packets[1].ref.frame == 2);
}

TEST_CASE("pcapng with interfaces of different link types: each packet has its interface's (libpcap 1.10 refused)") {
  TempFile file("mixed.pcapng");
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET)                  // interface 0: Ethernet
      .epb(0, 1'000'000, "ethernet frame")
      .idb(LINKTYPE_LINUX_SLL)              // interface 1: Linux SLL
      .epb(1, 2'000'000, "cooked frame");
  file.write(f.data());
  std::string err;
  auto src = openCaptureFile(file.str(), 0, err);
  REQUIRE(src);
  const Read r = readAll(*src);
  INFO(src->error());
  CHECK(r.last == ReadStatus::End);
  REQUIRE(r.packets.size() == 2);
  CHECK(r.data[0] == "ethernet frame");
  CHECK(r.packets[0].linktype == LINKTYPE_ETHERNET);
  CHECK(r.data[1] == "cooked frame");
  CHECK(r.packets[1].linktype == LINKTYPE_LINUX_SLL);
  CHECK(r.packets[1].ref.ts_ns == 2'000'000'000);
}
