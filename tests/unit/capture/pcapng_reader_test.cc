// pcapng files of several interfaces and link types, read by our own reader
// (capture/pcapng_reader.h) through openCaptureFile. Every file is built here
// block by block (pcapng_builder.h comments each field); one named test per
// malformed length.
#include "capture/pcapng_reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "capture/decoder.h"
#include "capture/packet_source.h"
#include "capture_files.h"
#include "common/anomaly.h"
#include "packet_builder.h"
#include "pcapng_builder.h"

using namespace provaudit;
using namespace provaudit::capture;
using namespace provaudit::capture::test;

namespace {

constexpr std::uint32_t SOURCE_ID = 5;
constexpr std::int64_t T0 = 1'700'000'000;  // seconds

std::unique_ptr<PacketSource> openOk(const TempFile& file) {
  std::string err;
  auto src = openCaptureFile(file.str(), SOURCE_ID, err);
  INFO(err);
  REQUIRE(src);
  CHECK(err.empty());
  return src;
}

Read readFile(const TempFile& file, const PcapngBuilder& f) {
  file.write(f.data());
  auto src = openOk(file);
  return readAll(*src);
}

// A malformed block at `offset`: the packets before it come first, then one
// error line naming the file and the block's offset, and the source stays failed.
void expectErrorAt(const std::string& name, const PcapngBuilder& f, std::size_t offset,
                   const std::vector<std::string>& good, const std::string& reason) {
  TempFile file(name);
  file.write(f.data());
  auto src = openOk(file);
  const Read r = readAll(*src);
  const std::string msg = src->error();
  INFO(msg);
  CHECK(r.data == good);
  CHECK(r.last == ReadStatus::Error);
  CHECK(msg.find(file.str() + ": pcapng block at byte offset " + std::to_string(offset) + ": ") == 0);
  CHECK(msg.find(reason) != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
  RawPacket p;
  CHECK(src->next(p) == ReadStatus::Error);
}

// A damaged packet block at `offset` whose lengths are sound: skipped and
// counted, the packets around it read (`good`), the frames after it numbered
// as in the file, and the first damage named with its offset.
void expectSkippedAt(const std::string& name, const PcapngBuilder& f, std::size_t offset,
                     const std::vector<std::string>& good, const std::string& reason) {
  TempFile file(name);
  file.write(f.data());
  auto src = openOk(file);
  const Read r = readAll(*src);
  INFO(src->firstDamage());
  CHECK(r.data == good);
  CHECK(r.last == ReadStatus::End);
  CHECK(src->error().empty());
  CHECK(src->damagedSkipped() == 1);
  CHECK(src->firstDamage().find("pcapng block at byte offset " + std::to_string(offset) + ": ") == 0);
  CHECK(src->firstDamage().find(reason) != std::string::npos);
  REQUIRE(!r.packets.empty());
  CHECK(r.packets.back().ref.frame == good.size() + 1);
}

// A section with one Ethernet interface and one good packet, for the malformed-block tests.
PcapngBuilder withOneGoodPacket() {
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET).epb(0, 1, "good");
  return f;
}

}  // namespace

TEST_CASE("pcapng: interfaces with different link types and timestamp resolutions, packets interleaved") {
  TempFile file("interleaved.pcapng");
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET)                                                   // 0: Ethernet, default 10^-6
      .idb(LINKTYPE_LINUX_SLL, InterfaceOptions().resolution(TSRESOL_NANO))  // 1: SLL, 10^-9
      .idb(LINKTYPE_ETHERNET,
           InterfaceOptions().resolution(TSRESOL_2_POW_20).offsetSeconds(T0))  // 2: Ethernet, 2^-20, +T0 s
      .epb(1, T0 * 1'000'000'000 + 7, "sll one")
      .epb(0, T0 * 1'000'000 + 250'000, "eth zero")
      .epb(2, (1ULL << 20) + (1ULL << 19), "eth two")  // 1.5 s after the offset
      .epb(1, T0 * 1'000'000'000 + 999'999'999, "sll again");
  file.write(f.data());
  auto src = openOk(file);
  const Read r = readAll(*src);
  INFO(src->error());
  CHECK(r.last == ReadStatus::End);
  REQUIRE(r.packets.size() == 4);
  CHECK(r.data == std::vector<std::string>{"sll one", "eth zero", "eth two", "sll again"});
  CHECK(r.packets[0].linktype == LINKTYPE_LINUX_SLL);
  CHECK(r.packets[1].linktype == LINKTYPE_ETHERNET);
  CHECK(r.packets[2].linktype == LINKTYPE_ETHERNET);
  CHECK(r.packets[3].linktype == LINKTYPE_LINUX_SLL);
  CHECK(r.packets[0].ref.ts_ns == T0 * 1'000'000'000 + 7);
  CHECK(r.packets[1].ref.ts_ns == T0 * 1'000'000'000 + 250'000'000);
  CHECK(r.packets[2].ref.ts_ns == (T0 + 1) * 1'000'000'000 + 500'000'000);
  CHECK(r.packets[3].ref.ts_ns == T0 * 1'000'000'000 + 999'999'999);
  for (std::size_t i = 0; i < r.packets.size(); ++i) {
    CHECK(r.packets[i].ref.frame == i + 1);
    CHECK(r.packets[i].ref.source == SOURCE_ID);
    CHECK(r.packets[i].orig_len == r.data[i].size());
  }
  CHECK(src->totalBytes() == f.size());
  CHECK(src->bytesRead() == f.size());
  CHECK(src->name() == file.str());
}

TEST_CASE("pcapng: 2^-20 resolution keeps sub-microsecond fractions exact to the nanosecond") {
  TempFile file("binary.pcapng");
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET, InterfaceOptions().resolution(TSRESOL_2_POW_20))
      .epb(0, (static_cast<std::uint64_t>(T0) << 20) + 1, "one tick");  // T0 + 2^-20 s = 953.674 ns
  const Read r = readFile(file, f);
  REQUIRE(r.packets.size() == 1);
  CHECK(r.packets[0].ref.ts_ns == T0 * 1'000'000'000 + 953);
}

TEST_CASE("pcapng: captured length below the original length") {
  TempFile file("snap.pcapng");
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET, InterfaceOptions().snapLength(4)).epb(0, 1, Frame().text("abcd"), 1500);
  const Read r = readFile(file, f);
  REQUIRE(r.packets.size() == 1);
  CHECK(r.data[0] == "abcd");
  CHECK(r.packets[0].orig_len == 1500);
}

TEST_CASE("pcapng: big-endian section") {
  TempFile file("be.pcapng");
  PcapngBuilder f(true);
  f.idb(LINKTYPE_LINUX_SLL, InterfaceOptions().resolution(TSRESOL_NANO).offsetSeconds(10))
      .idb(LINKTYPE_ETHERNET)
      .epb(1, 3'000'001, "big endian eth")
      .epb(0, 42, "big endian sll");
  const Read r = readFile(file, f);
  REQUIRE(r.packets.size() == 2);
  CHECK(r.last == ReadStatus::End);
  CHECK(r.data[0] == "big endian eth");
  CHECK(r.packets[0].linktype == LINKTYPE_ETHERNET);
  CHECK(r.packets[0].ref.ts_ns == 3'000'001'000);
  CHECK(r.data[1] == "big endian sll");
  CHECK(r.packets[1].linktype == LINKTYPE_LINUX_SLL);
  CHECK(r.packets[1].ref.ts_ns == 10'000'000'042);
}

TEST_CASE("pcapng: two sections of different byte orders, each with its own interface list") {
  TempFile file("sections.pcapng");
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET)  // section 1, interface 0
      .idb(LINKTYPE_RAW)    // section 1, interface 1
      .epb(1, 1'000'000, "raw in section 1")
      .shb(true)                                                             // section 2, big-endian
      .idb(LINKTYPE_LINUX_SLL, InterfaceOptions().resolution(TSRESOL_NANO))  // section 2, interface 0
      .epb(0, 2'000'000'000, "sll in section 2");
  file.write(f.data());
  std::string err;
  auto src = openCaptureFile(file.str(), SOURCE_ID, err);
  REQUIRE(src);
  const Read r = readAll(*src);
  CHECK(r.last == ReadStatus::End);
  REQUIRE(r.packets.size() == 2);
  CHECK(r.packets[0].linktype == LINKTYPE_RAW);
  CHECK(r.packets[0].ref.ts_ns == 1'000'000'000);
  CHECK(r.packets[1].linktype == LINKTYPE_LINUX_SLL);
  CHECK(r.packets[1].ref.ts_ns == 2'000'000'000);
  CHECK(r.packets[1].ref.frame == 2);  // frame numbers run across sections
  const auto* ng = dynamic_cast<const PcapngFileSource*>(src.get());
  REQUIRE(ng != nullptr);
  CHECK(ng->sections() == 2);
}

TEST_CASE("pcapng: a new section forgets the interfaces of the previous one") {
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET).idb(LINKTYPE_ETHERNET).epb(1, 1, "section 1 eth1").shb(false).idb(LINKTYPE_ETHERNET);
  const std::size_t bad = f.size();
  f.epb(1, 2, "section 2 has no interface 1").epb(0, 3, "section 2 eth0");
  expectSkippedAt("forgotten.pcapng", f, bad, {"section 1 eth1", "section 2 eth0"}, "interface id 1 not declared");
}

TEST_CASE("pcapng: Simple Packet Block is on interface 0, cut to its snap length, with the previous packet's time") {
  TempFile file("spb.pcapng");
  PcapngBuilder f;
  f.idb(LINKTYPE_LINUX_SLL, InterfaceOptions().snapLength(5))  // interface 0: the one SPBs belong to
      .idb(LINKTYPE_ETHERNET)                                  // interface 1
      .spb("abc")                                              // no earlier packet: time 0
      .epb(1, 4'000'000, "timed")
      .spb("simple");  // 6 bytes on the wire, snap length 5
  const Read r = readFile(file, f);
  CHECK(r.last == ReadStatus::End);
  REQUIRE(r.packets.size() == 3);
  CHECK(r.data == std::vector<std::string>{"abc", "timed", "simpl"});
  CHECK(r.packets[0].linktype == LINKTYPE_LINUX_SLL);
  CHECK(r.packets[0].ref.ts_ns == 0);
  CHECK(r.packets[1].linktype == LINKTYPE_ETHERNET);
  CHECK(r.packets[2].linktype == LINKTYPE_LINUX_SLL);
  CHECK(r.packets[2].ref.ts_ns == 4'000'000'000);
  CHECK(r.packets[2].orig_len == 6);
  CHECK(r.packets[2].ref.frame == 3);
}

TEST_CASE("pcapng: obsolete Packet Block") {
  TempFile file("pb.pcapng");
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET).idb(LINKTYPE_RAW).packetBlock(1, 5'000'000, "old style");
  const Read r = readFile(file, f);
  REQUIRE(r.packets.size() == 1);
  CHECK(r.data[0] == "old style");
  CHECK(r.packets[0].linktype == LINKTYPE_RAW);
  CHECK(r.packets[0].ref.ts_ns == 5'000'000'000);
}

TEST_CASE("pcapng: name resolution, statistics, custom and unknown blocks are skipped by their length") {
  TempFile file("skipped.pcapng");
  PcapngBuilder f;
  f.block(PCAPNG_NRB, Frame().zeros(4))  // before any interface
      .idb(LINKTYPE_ETHERNET)
      .epb(0, 1, "first")
      .block(PCAPNG_ISB, Frame().zeros(12))                               // interface id | timestamp
      .block(PCAPNG_DSB, Frame().u32le(0x544c534b).u32le(3).text("key"))  // secrets type | length | data
      .block(PCAPNG_CUSTOM, Frame().u32le(32473).text("private enterprise data"))
      .block(PCAPNG_CUSTOM_NO_COPY, Frame().u32le(32473))
      .block(0x12345678, Frame().text("a block type nobody defined"))
      .block(0x80000001, Frame())  // local-use block type, empty body
      .epb(0, 2, "second");
  file.write(f.data());
  auto src = openOk(file);
  const Read r = readAll(*src);
  CHECK(r.last == ReadStatus::End);
  CHECK(r.data == std::vector<std::string>{"first", "second"});
  CHECK(r.packets[1].ref.frame == 2);
  const auto* ng = dynamic_cast<const PcapngFileSource*>(src.get());
  REQUIRE(ng != nullptr);
  CHECK(ng->skippedBlocks() == 6);
  CHECK(ng->secretsBlocks() == 1);  // read (and dropped: nobody asked for them)
}

// ---- Decryption Secrets Blocks (§4.7) ----

namespace {

struct SecretsSeen {
  std::uint32_t type = 0;
  std::string data;
  std::string damage;
  std::size_t packets_before = 0;  // packets next() had returned when they were handed up
};

// Reads `f` with a secrets handler: the packets and the secrets, in order.
std::vector<SecretsSeen> readSecrets(const std::string& name, const PcapngBuilder& f,
                                     std::vector<std::string>& packets) {
  TempFile file(name);
  file.write(f.data());
  auto src = openOk(file);
  std::vector<SecretsSeen> seen;
  src->setSecretsHandler([&](const CaptureSecrets& s) {
    seen.push_back({s.type, std::string(asText(s.data)), s.damage, packets.size()});
  });
  RawPacket p;
  ReadStatus st;
  while ((st = src->next(p)) == ReadStatus::Packet) packets.emplace_back(asText(p.data));
  CHECK(st == ReadStatus::End);
  CHECK(src->error().empty());
  CHECK(src->damagedSkipped() == 0);
  return seen;
}

}  // namespace

TEST_CASE("pcapng DSB: a TLS key log is handed up with its type, before the packets after it, in either byte order") {
  const std::string keys = "CLIENT_RANDOM 00 11\nSERVER_HANDSHAKE_TRAFFIC_SECRET 22 33\n";  // 58 bytes: padded
  for (const bool big_endian : {false, true}) {
    INFO(big_endian);
    PcapngBuilder f(big_endian);
    f.idb(LINKTYPE_ETHERNET).epb(0, 1, "before").dsb(PCAPNG_SECRETS_TLS_KEY_LOG, keys).epb(0, 2, "after");
    std::vector<std::string> packets;
    const auto seen = readSecrets("dsb_tls.pcapng", f, packets);
    CHECK(packets == std::vector<std::string>{"before", "after"});
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].type == PCAPNG_SECRETS_TLS_KEY_LOG);
    CHECK(seen[0].data == keys);
    CHECK(seen[0].damage.empty());
    CHECK(seen[0].packets_before == 1);
  }
}

TEST_CASE("pcapng DSB: a type we do not use is handed up too, named; the reading goes on") {
  PcapngBuilder f;
  f.dsb(0x57474b4c, "LOCAL_STATIC_PRIVATE_KEY = abc=\n").dsb(0x12345678, "?").idb(LINKTYPE_ETHERNET).epb(0, 1, "p");
  std::vector<std::string> packets;
  const auto seen = readSecrets("dsb_other.pcapng", f, packets);
  CHECK(packets == std::vector<std::string>{"p"});
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].type == 0x57474b4c);
  CHECK(seen[0].data == "LOCAL_STATIC_PRIVATE_KEY = abc=\n");
  CHECK(seen[1].type == 0x12345678);
  CHECK(seen[1].data == "?");
  CHECK(pcapngSecretsTypeName(0x57474b4c) == "WireGuard key log");
  CHECK(pcapngSecretsTypeName(0x5353484b) == "SSH key log");
  CHECK(pcapngSecretsTypeName(PCAPNG_SECRETS_TLS_KEY_LOG) == "TLS key log");
  CHECK(pcapngSecretsTypeName(0x12345678) == "secrets type 0x12345678");
}

TEST_CASE("pcapng DSB: zero secrets bytes are handed up empty, not as damage") {
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET).dsb(PCAPNG_SECRETS_TLS_KEY_LOG, "").epb(0, 1, "p");
  std::vector<std::string> packets;
  const auto seen = readSecrets("dsb_empty.pcapng", f, packets);
  CHECK(packets == std::vector<std::string>{"p"});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].type == PCAPNG_SECRETS_TLS_KEY_LOG);
  CHECK(seen[0].data.empty());
  CHECK(seen[0].damage.empty());
}

TEST_CASE("pcapng DSB malformed: secrets length beyond the block: damage with its offset, the packets after it read") {
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET).epb(0, 1, "before");
  const std::size_t bad = f.size();
  // Its secrets length says 400 bytes; it holds 13 (+3 padding).
  f.dsb(PCAPNG_SECRETS_TLS_KEY_LOG, "CLIENT_RANDOM", 400).epb(0, 2, "after");
  std::vector<std::string> packets;
  const auto seen = readSecrets("dsb_truncated.pcapng", f, packets);
  CHECK(packets == std::vector<std::string>{"before", "after"});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].data.empty());
  CHECK(seen[0].damage == "pcapng block at byte offset " + std::to_string(bad) +
                              ": TLS key log of 400 bytes exceeds the block (16 bytes left)");
}

TEST_CASE("pcapng DSB malformed: too short for its type and length") {
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET);
  const std::size_t bad = f.size();
  f.block(PCAPNG_DSB, Frame().u32le(PCAPNG_SECRETS_TLS_KEY_LOG)).epb(0, 1, "after");  // secrets type only
  std::vector<std::string> packets;
  const auto seen = readSecrets("dsb_short.pcapng", f, packets);
  CHECK(packets == std::vector<std::string>{"after"});
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].damage ==
        "pcapng block at byte offset " + std::to_string(bad) + ": decryption secrets block too short");
}


// ---- malformed blocks: one test per length ----

TEST_CASE("pcapng malformed: block length below 12") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.rawBlock(0x12345678, 8, Frame(), 8);  // type | length 8 | length 8: shorter than its own framing
  expectErrorAt("len_small.pcapng", f, bad, {"good"}, "block length 8 is below the minimum of 12");
}

TEST_CASE("pcapng malformed: block length not a multiple of 4") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.rawBlock(0x12345678, 13, Frame().u8(0), 13);
  expectErrorAt("len_align.pcapng", f, bad, {"good"}, "block length 13 is not a multiple of 4");
}

TEST_CASE("pcapng malformed: trailing length differs from the leading length") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  // 12 framing + 20 fixed + 4 data = 36 bytes, but the trailing copy says 44.
  f.rawBlock(PCAPNG_EPB, 36, f.epbBody(0, 2, Frame().text("late"), 4, 4), 44);
  f.epb(0, 3, "never read");
  expectErrorAt("len_trailer.pcapng", f, bad, {"good"},
                "trailing block length 44 does not match the leading length 36");
}

TEST_CASE("pcapng malformed: block length beyond PCAPNG_MAX_BLOCK") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  // Only the header is written: the limit is checked before anything is read or allocated.
  f.raw(Frame().u32le(PCAPNG_EPB).u32le(PCAPNG_MAX_BLOCK + 4));
  expectErrorAt("len_limit.pcapng", f, bad, {"good"},
                "block length " + std::to_string(PCAPNG_MAX_BLOCK + 4) + " exceeds the limit of 16777216 bytes");
}

TEST_CASE("pcapng malformed: EPB captured length beyond the block") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.block(PCAPNG_EPB, f.epbBody(0, 2, Frame().text("eight by"), 9, 9));  // claims 9 captured bytes, holds 8
  f.epb(0, 3, "after");
  expectSkippedAt("caplen.pcapng", f, bad, {"good", "after"}, "captured length 9 exceeds the block (8 bytes left)");
}

TEST_CASE("pcapng malformed: EPB captured length of 2^32-1") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.block(PCAPNG_EPB, f.epbBody(0, 2, Frame().text("tiny"), 0xFFFFFFFF, 4));
  f.epb(0, 3, "after");
  expectSkippedAt("caplen_max.pcapng", f, bad, {"good", "after"}, "captured length 4294967295 exceeds the block");
}

TEST_CASE("pcapng malformed: EPB too short for its fixed fields") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.block(PCAPNG_EPB, Frame().u32le(0).u32le(0).u32le(0).u32le(0));  // 16 of 20 fixed bytes
  f.epb(0, 3, "after");
  expectSkippedAt("epb_short.pcapng", f, bad, {"good", "after"}, "enhanced packet block too short");
}

TEST_CASE("pcapng malformed: interface id out of range") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.epb(1, 2, "on an interface never declared").epb(0, 3, "after");
  expectSkippedAt("ifid.pcapng", f, bad, {"good", "after"}, "interface id 1 not declared (the section has 1)");
}

TEST_CASE("pcapng malformed: packet before any interface") {
  PcapngBuilder f;
  const std::size_t bad = f.size();
  f.spb("no interface").idb(LINKTYPE_ETHERNET).spb("after");
  expectSkippedAt("no_idb.pcapng", f, bad, {"after"}, "simple packet block in a section without an interface");
}

TEST_CASE("pcapng malformed: SPB original length beyond the block, no snap length") {
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET, InterfaceOptions().snapLength(0)).spb("ok");
  const std::size_t bad = f.size();
  f.spb("xyz", 1500);  // 1500 bytes on the wire, nothing cut them, 4 in the block
  f.spb("after");
  expectSkippedAt("spb_len.pcapng", f, bad, {"ok", "after"}, "captured length 1500 exceeds the block (4 bytes left)");
}

TEST_CASE("pcapng malformed: IDB too short") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.block(PCAPNG_IDB, Frame().u16le(LINKTYPE_ETHERNET).u16le(0));  // link type | reserved, no snap length
  expectErrorAt("idb_short.pcapng", f, bad, {"good"}, "interface description block too short");
}

TEST_CASE("pcapng malformed: IDB option runs past the block") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.block(PCAPNG_IDB, Frame()
                          .u16le(LINKTYPE_ETHERNET)  // link type
                          .u16le(0)                  // reserved
                          .u32le(65535)              // snap length
                          .u16le(9)                  // option code: if_tsresol
                          .u16le(200)                // option length: 200, 4 bytes follow
                          .u8(6)
                          .zeros(3));
  expectErrorAt("idb_opt.pcapng", f, bad, {"good"}, "interface option runs past the end of the block");
}

// ---- times that cannot be used: the packets are read, their times unknown ----

// `f`'s packets, all read, their times as `times` (0: unknown), the first
// unknown one named with its block's offset and reason.
void expectTimesUnknown(const std::string& name, const PcapngBuilder& f, const std::vector<std::string>& data,
                        const std::vector<std::int64_t>& times, std::size_t offset, const std::string& reason) {
  TempFile file(name);
  file.write(f.data());
  auto src = openOk(file);
  const Read r = readAll(*src);
  INFO(src->firstTimeUnknown());
  CHECK(r.last == ReadStatus::End);
  CHECK(src->error().empty());
  CHECK(src->damagedSkipped() == 0);
  CHECK(r.data == data);
  std::vector<std::int64_t> got;
  for (const auto& p : r.packets) got.push_back(p.ref.ts_ns);
  CHECK(got == times);
  CHECK(src->timesUnknown() == static_cast<std::uint64_t>(std::count(times.begin(), times.end(), 0)));
  CHECK(src->firstTimeUnknown().find("pcapng block at byte offset " + std::to_string(offset) + ": ") == 0);
  CHECK(src->firstTimeUnknown().find(reason) != std::string::npos);
}

TEST_CASE("pcapng: an interface whose if_tsresol is finer than 64 bits can count: its packets, times unknown") {
  // Wireshark reads them; the whole file was refused. The other interface keeps its times.
  std::uint8_t resolution = 0;
  std::string reason;
  SECTION("10^-20") {
    resolution = 20;
    reason = "interface 1's if_tsresol 10^-20 is too fine";
  }
  SECTION("10^-127, the largest the byte says") {
    resolution = 127;
    reason = "interface 1's if_tsresol 10^-127 is too fine";
  }
  SECTION("2^-64") {
    resolution = 0x80 | 64;
    reason = "interface 1's if_tsresol 2^-64 is too fine";
  }
  PcapngBuilder f = withOneGoodPacket();
  f.idb(LINKTYPE_ETHERNET, InterfaceOptions().resolution(resolution));
  const std::size_t first = f.size();
  f.epb(1, 5, "fine").epb(0, 3, "dated").epb(1, 7, "fine too");
  expectTimesUnknown("tsresol.pcapng", f, {"good", "fine", "dated", "fine too"}, {1'000, 0, 3'000, 0}, first, reason);
}

TEST_CASE("pcapng: an interface whose if_tsresol or if_tsoffset has the wrong length: its packets, times unknown") {
  PcapngBuilder f = withOneGoodPacket();
  Frame idb;
  idb.u16le(LINKTYPE_ETHERNET)  // link type
      .u16le(0)                 // reserved
      .u32le(65535);            // snap length
  std::string reason;
  SECTION("if_tsresol of 2 bytes") {
    idb.u16le(9).u16le(2).u8(6).u8(0).zeros(2);  // option code: if_tsresol | length 2 | value, padded
    reason = "interface 1's if_tsresol of 2 bytes, expected 1";
  }
  SECTION("if_tsoffset of 4 bytes") {
    idb.u16le(14).u16le(4).u32le(100);  // option code: if_tsoffset | length 4 | value
    reason = "interface 1's if_tsoffset of 4 bytes, expected 8";
  }
  idb.u16le(0).u16le(0);  // opt_endofopt
  f.block(PCAPNG_IDB, idb);
  const std::size_t first = f.size();
  f.epb(1, 5, "on it");
  expectTimesUnknown("idb_time_len.pcapng", f, {"good", "on it"}, {1'000, 0}, first, reason);
}

TEST_CASE("pcapng: a timestamp beyond what nanoseconds since 1970 hold: the packet read, its time unknown") {
  // editcap -t -2000000000 on a 2024 capture wraps its times to the far
  // future: every packet was skipped as damaged and the file given up.
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t first = f.size();
  f.epb(0, 0xFFFFFFFFFFFFFFFFULL, "year 586524").epb(0, 3, "after");
  expectTimesUnknown("ts_range.pcapng", f, {"good", "year 586524", "after"}, {1'000, 0, 3'000}, first,
                     "timestamp out of range");
}

TEST_CASE("pcapng: a time past 2262 by its interface's if_tsoffset: the packet read, its time unknown") {
  PcapngBuilder f = withOneGoodPacket();
  f.idb(LINKTYPE_ETHERNET, InterfaceOptions().offsetSeconds(INT64_MAX / 2));
  const std::size_t late = f.size();
  f.epb(1, 1, "year 146 billion").epb(0, 3, "after");
  expectTimesUnknown("ts_offset_range.pcapng", f, {"good", "year 146 billion", "after"}, {1'000, 0, 3'000}, late,
                     "timestamp out of range");
}

TEST_CASE("pcapng malformed: truncated final block") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.epb(0, 2, "cut short by the end of the file");
  const Frame cut = slice(f.frame(), 0, f.size() - 10);  // the file ends 10 bytes before the block does
  TempFile file("trunc.pcapng");
  file.write(cut.data());
  auto src = openOk(file);
  const Read r = readAll(*src);
  const std::string msg = src->error();
  INFO(msg);
  CHECK(r.data == std::vector<std::string>{"good"});
  CHECK(r.last == ReadStatus::Error);
  CHECK(msg.find(file.str() + ": pcapng block at byte offset " + std::to_string(bad) + ": truncated block") == 0);
  CHECK(msg.find("of 64 bytes") != std::string::npos);  // 12 + 20 + 32
  CHECK(src->bytesRead() == cut.size());
}

TEST_CASE("pcapng malformed: truncated block header") {
  TempFile file("trunc_head.pcapng");
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.raw(Frame().u32le(PCAPNG_EPB).u16le(40));  // type and half of the length
  file.write(f.data());
  auto src = openOk(file);
  const Read r = readAll(*src);
  INFO(src->error());
  CHECK(r.data == std::vector<std::string>{"good"});
  CHECK(src->error().find("byte offset " + std::to_string(bad) +
                          ": truncated block: the file ends after 6 of 8 bytes") != std::string::npos);
}

TEST_CASE("pcapng malformed: second section with an unknown byte-order magic") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.rawBlock(PCAPNG_SHB, 28, Frame().u32le(0x11223344).zeros(12), 28);
  expectErrorAt("bom.pcapng", f, bad, {"good"}, "unknown byte-order magic");
}

TEST_CASE("pcapng malformed: unsupported major version") {
  PcapngBuilder f = withOneGoodPacket();
  const std::size_t bad = f.size();
  f.shb(false, 2);
  expectErrorAt("version.pcapng", f, bad, {"good"}, "unsupported pcapng version 2.0");
}

TEST_CASE("pcapng malformed: a bad first Section Header Block fails the open") {
  TempFile file("bad_shb.pcapng");
  std::string err;
  SECTION("length not a multiple of 4") {
    PcapngBuilder f;
    file.write(patched(f.frame(), 4, Frame().u32le(30)).data());
  }
  SECTION("only the block type") { file.write(Frame().u32le(PCAPNG_SHB).data()); }
  SECTION("SHB too short for its fields") {
    file.write(Frame().u32le(PCAPNG_SHB).u32le(16).u32le(0x1A2B3C4D).u32le(16).data());
  }
  CHECK_FALSE(openCaptureFile(file.str(), 0, err));
  INFO(err);
  CHECK(err.find(file.str() + ": pcapng block at byte offset 0: ") == 0);
  CHECK(err.find('\n') == std::string::npos);
}

// ---- streams that cannot seek ----

TEST_CASE("pcapng and classic pcap through a pipe: the format is detected without seeking back") {
  TempFile fifo("pipe.fifo");
  REQUIRE(::mkfifo(fifo.path.c_str(), 0600) == 0);
  std::vector<std::uint8_t> bytes;
  std::vector<std::string> expect;
  int expect_linktype = 0;
  SECTION("pcapng") {
    PcapngBuilder f;
    f.idb(LINKTYPE_LINUX_SLL).epb(0, 1, "through").epb(0, 2, "a pipe");
    bytes = f.data();
    expect = {"through", "a pipe"};
    expect_linktype = LINKTYPE_LINUX_SLL;
  }
  SECTION("classic pcap") {
    Frame f;
    f.u32le(0xa1b2c3d4).u16le(2).u16le(4).u32le(0).u32le(0).u32le(65535).u32le(1);  // file header, Ethernet
    f.u32le(1).u32le(0).u32le(7).u32le(7).text("classic");                          // one record
    bytes = f.data();
    expect = {"classic"};
    expect_linktype = LINKTYPE_ETHERNET;
  }
  std::thread writer([&] {
    std::FILE* w = std::fopen(fifo.path.c_str(), "wb");
    if (w == nullptr) return;
    std::fwrite(bytes.data(), 1, bytes.size(), w);
    std::fclose(w);
  });
  std::string err;
  auto src = openCaptureFile(fifo.str(), SOURCE_ID, err);
  INFO(err);
  Read r;
  if (src) r = readAll(*src);
  writer.join();
  REQUIRE(src);
  CHECK(r.last == ReadStatus::End);
  CHECK(r.data == expect);
  CHECK(!r.packets.empty());
  if (!r.packets.empty()) CHECK(r.packets[0].linktype == expect_linktype);
  CHECK_FALSE(src->totalBytes());
}

// ---- end to end with a real capture ----

namespace {

constexpr std::uint16_t SLL_PACKET_OUTGOING = 4;  // packet type: sent by this host
constexpr std::uint16_t ARPHRD_ETHER_TYPE = 1;
constexpr std::size_t ETHERNET_HEADER = 14;

// The same frame as Linux "cooked" v1 capture (`tcpdump -i any`) shows it:
// packet type(2) | ARPHRD type(2) | address length(2) | address(8) | protocol(2) | payload.
Frame asLinuxSll(const std::string& ethernet_frame) {
  const std::vector<std::uint8_t> b(ethernet_frame.begin(), ethernet_frame.end());
  Frame f;
  f.u16(SLL_PACKET_OUTGOING)                                            // packet type
      .u16(ARPHRD_ETHER_TYPE)                                           // ARPHRD_ETHER
      .u16(6)                                                           // address length: a MAC
      .bytes(std::vector<std::uint8_t>(b.begin() + 6, b.begin() + 12))  // address: the source MAC
      .zeros(2)                                                         // address padding to 8
      .bytes({b[12], b[13]})                                            // protocol: the EtherType
      .bytes(std::vector<std::uint8_t>(b.begin() + ETHERNET_HEADER, b.end()));
  return f;
}

}  // namespace

TEST_CASE("pcapng end to end: a real capture as Ethernet and as Linux SLL in one file, decoded alike") {
  std::string err;
  auto sample = openCaptureFile(std::string(PROVAUDIT_SOURCE_DIR) + "/samples/spa_mixed_tls12.pcap", 0, err);
  INFO(err);
  REQUIRE(sample);
  const Read frames = readAll(*sample);
  REQUIRE(frames.last == ReadStatus::End);
  REQUIRE(frames.packets.size() > 10);
  REQUIRE(frames.packets[0].linktype == LINKTYPE_ETHERNET);

  // Interface 0 carries the frames as captured; interface 1 the same frames cooked, a second later.
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET, InterfaceOptions().resolution(TSRESOL_NANO))
      .idb(LINKTYPE_LINUX_SLL, InterfaceOptions().resolution(TSRESOL_NANO));
  for (std::size_t i = 0; i < frames.packets.size(); ++i) {
    const auto ts = static_cast<std::uint64_t>(frames.packets[i].ref.ts_ns);
    f.epb(0, ts, Frame().text(frames.data[i]));
    if (frames.data[i].size() >= ETHERNET_HEADER) f.epb(1, ts + 1'000'000'000, asLinuxSll(frames.data[i]));
  }
  TempFile file("mixed_sample.pcapng");
  file.write(f.data());
  auto src = openOk(file);

  AnomalyCounters anomalies;
  Decoder decoder{anomalies};
  RawPacket p;
  std::size_t eth = 0, sll = 0, tcp_eth = 0, tcp_sll = 0;
  DecodedPacket last_eth;
  bool last_eth_ok = false;
  ReadStatus st;
  while ((st = src->next(p)) == ReadStatus::Packet) {
    DecodedPacket d;
    const bool ok = decoder.decode(p, d);
    if (p.linktype == LINKTYPE_ETHERNET) {
      ++eth;
      tcp_eth += ok ? 1 : 0;
      last_eth = d;
      last_eth_ok = ok;
    } else {
      REQUIRE(p.linktype == LINKTYPE_LINUX_SLL);
      ++sll;
      tcp_sll += ok ? 1 : 0;
      // The cooked copy follows its Ethernet original and decodes to the same segment.
      CHECK(ok == last_eth_ok);
      if (ok && last_eth_ok) {
        CHECK(d.src == last_eth.src);
        CHECK(d.dst == last_eth.dst);
        CHECK(d.sport == last_eth.sport);
        CHECK(d.dport == last_eth.dport);
        CHECK(d.seq == last_eth.seq);
        CHECK(d.src_mac == last_eth.src_mac);
        CHECK(d.ref.ts_ns == last_eth.ref.ts_ns + 1'000'000'000);
      }
    }
  }
  INFO(src->error());
  CHECK(st == ReadStatus::End);
  CHECK(eth == frames.packets.size());
  CHECK(sll == frames.packets.size());
  CHECK(tcp_eth > 0);
  CHECK(tcp_sll == tcp_eth);
  CHECK(src->bytesRead() == f.size());
}
