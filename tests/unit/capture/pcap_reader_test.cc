// Our classic pcap reader (capture/pcap_reader.h) against libpcap, which it
// replaced for capture files: every committed sample and a large generated
// file read packet for packet as libpcap reads them; the variants libpcap
// accepts (Kuznetzov's records, swapped lengths of old versions) read as
// libpcap reads them, records longer than the snap length whole (as tshark
// reads them; libpcap cuts them); a pipe hands out
// each record as soon as it is whole; bad headers and records end with one
// line that names the file and the byte offset.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "capture/decoder.h"
#include "capture/packet_source.h"
#include "capture/pcap_reader.h"
#include "capture_files.h"
#include "pcap_builder.h"

using namespace provaudit;
using namespace provaudit::capture;
using namespace provaudit::capture::test;

namespace {

struct Seen {
  std::int64_t ts_ns = 0;
  std::uint32_t orig_len = 0;
  int linktype = 0;
  std::string data;
  bool operator==(const Seen&) const = default;
};

// libpcap's reading of a file, at nanosecond precision, as the old source did.
std::vector<Seen> readWithLibpcap(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  INFO(errbuf);
  REQUIRE(p != nullptr);
  std::vector<Seen> out;
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  while (pcap_next_ex(p, &h, &d) == 1) {
    // libpcap gives the platform's DLT_RAW for LINKTYPE_RAW; we give it as stored.
    const int lt = pcap_datalink(p) == DLT_RAW ? LINKTYPE_RAW : pcap_datalink(p);
    out.push_back({static_cast<std::int64_t>(h->ts.tv_sec) * 1'000'000'000 + h->ts.tv_usec, h->len, lt,
                   std::string(reinterpret_cast<const char*>(d), h->caplen)});
  }
  pcap_close(p);
  return out;
}

std::vector<Seen> readWithOurs(const std::string& path, ReadStatus expect_last = ReadStatus::End) {
  std::string err;
  auto src = openCaptureFile(path, 0, err);
  INFO(err);
  REQUIRE(src);
  std::vector<Seen> out;
  RawPacket p;
  ReadStatus st;
  while ((st = src->next(p)) == ReadStatus::Packet) {
    out.push_back({p.ref.ts_ns, p.orig_len, p.linktype, std::string(reinterpret_cast<const char*>(p.data.data()), p.data.size())});
    CHECK(p.ref.frame == out.size());
  }
  INFO(src->error());
  CHECK(st == expect_last);
  return out;
}

void requireSame(const std::vector<Seen>& ours, const std::vector<Seen>& theirs) {
  REQUIRE(ours.size() == theirs.size());
  for (std::size_t i = 0; i < ours.size(); ++i) {
    INFO("packet " << i + 1);
    REQUIRE(ours[i].ts_ns == theirs[i].ts_ns);
    REQUIRE(ours[i].orig_len == theirs[i].orig_len);
    REQUIRE(ours[i].linktype == theirs[i].linktype);
    REQUIRE(ours[i].data == theirs[i].data);
  }
}

}  // namespace

TEST_CASE("every committed pcap sample reads packet for packet as libpcap reads it") {
  std::size_t files = 0, packets = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(PROVAUDIT_SOURCE_DIR) + "/samples")) {
    if (entry.path().extension() != ".pcap") continue;
    INFO(entry.path());
    const auto theirs = readWithLibpcap(entry.path().string());
    requireSame(readWithOurs(entry.path().string()), theirs);
    ++files;
    packets += theirs.size();
  }
  CHECK(files >= 10);
  CHECK(packets > 500);
}

TEST_CASE("a file of several read chunks, big-endian with nanoseconds, reads as libpcap reads it") {
  // Records of random sizes up to the snap length, so that records straddle
  // the PCAP_READ_CHUNK boundaries at every possible split.
  TempFile file("chunks.pcap");
  PcapWriter w(PcapHeader{true, PCAP_MAGIC_NANO, LINKTYPE_ETHERNET_FILE, 2, 4, 65535});
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> small(1, 1600), big(1, 65535), byte(0, 255);
  std::uint32_t ns = 0;
  while (w.out.size() < 3 * PCAP_READ_CHUNK + 12345) {
    const int n = rng() % 50 == 0 ? big(rng) : small(rng);
    std::string data(static_cast<std::size_t>(n), '\0');
    for (auto& c : data) c = static_cast<char>(byte(rng));
    w.record(1'700'000'000 + ns / 1'000'000'000, ns % 1'000'000'000, data);
    ns += 999'983;
  }
  file.write(w.out.data());
  const auto theirs = readWithLibpcap(file.str());
  CHECK(theirs.size() > 1000);
  requireSame(readWithOurs(file.str()), theirs);
}

TEST_CASE("the variants libpcap reads: Kuznetzov's records, old versions' swapped lengths, records over the snap length") {
  TempFile file("variant.pcap");
  SECTION("Kuznetzov's patched format: 24-byte record headers") {
    PcapWriter w(PcapHeader{false, PCAP_MAGIC_KUZNETZOV});
    w.record(1, 500, "first").record(2, 0, "second packet");
    file.write(w.out.data());
    const auto ours = readWithOurs(file.str());
    REQUIRE(ours.size() == 2);
    CHECK(ours[0].data == "first");
    CHECK(ours[0].ts_ns == 1'000'500'000);
    CHECK(ours[1].data == "second packet");
    requireSame(ours, readWithLibpcap(file.str()));
  }
  SECTION("version 2.2: captured and original lengths written swapped") {
    PcapWriter w(PcapHeader{false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE, 2, 2});
    w.record(1, 0, "cut frame", 1514, 9);  // on the wire 1514, 9 captured, written the other way round
    file.write(w.out.data());
    const auto ours = readWithOurs(file.str());
    REQUIRE(ours.size() == 1);
    CHECK(ours[0].data == "cut frame");
    CHECK(ours[0].orig_len == 1514);
    requireSame(ours, readWithLibpcap(file.str()));
  }
  SECTION("version 2.3: swapped only where the captured length exceeds the original") {
    PcapWriter w(PcapHeader{true, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE, 2, 3});
    w.record(1, 0, "swapped", 1000, 7).record(2, 0, "in order", 8, 1000);
    file.write(w.out.data());
    const auto ours = readWithOurs(file.str());
    REQUIRE(ours.size() == 2);
    CHECK(ours[0].orig_len == 1000);
    CHECK(ours[1].orig_len == 1000);
    requireSame(ours, readWithLibpcap(file.str()));
  }
  SECTION("a record longer than the file's snap length is read whole (libpcap cuts it, tshark does not)") {
    // tcpdump -s 8 on an interface with GRO writes merged frames whole: the
    // bytes are in the file, and nothing of the record was lost on the wire.
    PcapWriter w(PcapHeader{false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE, 2, 4, 8});
    w.record(1, 0, "0123456789abcdef").record(2, 0, "short");
    file.write(w.out.data());
    const auto ours = readWithOurs(file.str());
    REQUIRE(ours.size() == 2);
    CHECK(ours[0].data == "0123456789abcdef");
    CHECK(ours[0].orig_len == 16);
    CHECK(ours[1].data == "short");
    const auto theirs = readWithLibpcap(file.str());
    REQUIRE(theirs.size() == 2);
    CHECK(theirs[0].data == "01234567");  // what libpcap makes of it
    CHECK(theirs[1].data == ours[1].data);
  }
  SECTION("DG/UX tcpdump's version 543.0") {
    PcapWriter w(PcapHeader{false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE, 543, 0});
    w.record(1, 0, "dgux");
    file.write(w.out.data());
    requireSame(readWithOurs(file.str()), readWithLibpcap(file.str()));
  }
}

TEST_CASE("the variants only their records tell apart (Red Hat 6.1, SuSE 6.3, Nokia) read as the capture they were made of") {
  // Wireshark's editcap writes each from a real capture (libpcap refuses the
  // three: their records are read with the wrong header size). Each sample
  // converted must read packet for packet as the sample itself, time included.
  for (const char* sample : {"spa_mixed_tls12.pcap", "tls12_rsa.pcap", "ipv6.pcap"}) {
    const std::string original = std::string(PROVAUDIT_SOURCE_DIR) + "/samples/" + sample;
    const auto want = readWithOurs(original);
    REQUIRE(want.size() > 5);
    for (const char* format : {"rh6_1pcap", "suse6_3pcap", "nokiapcap", "modpcap", "nsecpcap"}) {
      INFO(sample << " as " << format);
      TempFile file(std::string(format) + ".pcap");
      const std::string cmd = std::string("editcap -F ") + format + " '" + original + "' '" + file.str() + "'";
      REQUIRE(std::system(cmd.c_str()) == 0);
      requireSame(readWithOurs(file.str()), want);
    }
  }
}

TEST_CASE("a pcap file damaged from its first record is read with its magic number's record size and says where") {
  // No record size makes the records chain: the error is the one the magic
  // number's own size gives, at the first record.
  TempFile file("damaged.pcap");
  PcapWriter w(PcapHeader{false, PCAP_MAGIC_MICRO});
  w.record(1, 0, "ok", 0x7FFFFFFF, 0x7FFFFFFF);  // lengths no record has
  file.write(w.out.data());
  std::string err;
  auto src = openCaptureFile(file.str(), 0, err);
  REQUIRE(src);
  RawPacket p;
  CHECK(src->next(p) == ReadStatus::Error);
  CHECK(src->error().find("bad record at byte offset 24 after frame 0") != std::string::npos);
}

TEST_CASE("bad records end reading with every good packet first and one line naming the record's offset") {
  TempFile file("bad.pcap");
  PcapWriter w(false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE);
  w.record(1, 0, "good one").record(2, 0, "good two");
  const std::size_t bad_at = w.out.size();  // 24 + 2 * (16 + 8)
  std::string expect;
  SECTION("a captured length beyond the largest record") {
    w.record(3, 0, "x", PCAP_MAX_RECORD + 1);
    expect = "captured length 262145";
  }
  SECTION("a record header cut short by the end of the file") {
    w.out.u32le(3).u32le(0);  // 8 of 16 header bytes
    expect = "after 8 of 16 bytes";
  }
  SECTION("a record cut short by the end of the file") {
    w.record(3, 0, "only ten b", 300);
    expect = "after 10 of 300 bytes";
  }
  file.write(w.out.data());
  std::string err;
  auto src = openCaptureFile(file.str(), 0, err);
  REQUIRE(src);
  const Read r = readAll(*src);
  REQUIRE(r.packets.size() == 2);
  CHECK(r.data[1] == "good two");
  CHECK(r.last == ReadStatus::Error);
  const std::string msg = src->error();
  INFO(msg);
  CHECK(msg.find(file.str() + ": bad record at byte offset " + std::to_string(bad_at) + " after frame 2: ") == 0);
  CHECK(msg.find(expect) != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(src->bytesRead() == bad_at);
}

TEST_CASE("any record time is read: the last second before 2106, fractions past a second, both resolutions") {
  // Classic pcap's seconds are unsigned 32 bits: every time fits int64
  // nanoseconds, and nothing is refused over a time (as pcapng's was, once).
  for (const std::uint32_t magic : {PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO}) {
    INFO(magic);
    TempFile file("times.pcap");
    PcapWriter w(false, magic, LINKTYPE_ETHERNET_FILE);
    w.record(0xFFFFFFFF, 0xFFFFFFFF, "latest").record(0, 0, "epoch").record(1, 2'000'000'000, "fraction past 1 s");
    file.write(w.out.data());
    std::string err;
    auto src = openCaptureFile(file.str(), 0, err);
    REQUIRE(src);
    const Read r = readAll(*src);
    CHECK(r.last == ReadStatus::End);
    REQUIRE(r.packets.size() == 3);
    const std::int64_t unit = magic == PCAP_MAGIC_NANO ? 1 : 1'000;
    CHECK(r.packets[0].ref.ts_ns == 0xFFFFFFFFLL * 1'000'000'000 + 0xFFFFFFFFLL * unit);
    CHECK(r.packets[1].ref.ts_ns == 0);
    CHECK(r.packets[2].ref.ts_ns == 1'000'000'000 + 2'000'000'000LL * unit);
  }
}

TEST_CASE("file headers that are not pcap fail to open with one line, as libpcap refused them") {
  TempFile file("header.pcap");
  std::string expect;
  SECTION("archaic version 1.0") {
    file.write(PcapWriter(PcapHeader{false, PCAP_MAGIC_MICRO, 1, 1, 0}).out.data());
    expect = "archaic pcap file format (version 1.0)";
  }
  SECTION("version 2.5") {
    file.write(PcapWriter(PcapHeader{false, PCAP_MAGIC_MICRO, 1, 2, 5}).out.data());
    expect = "unsupported pcap file version 2.5";
  }
  SECTION("an unknown magic number") {
    file.write(Frame().u32le(0xdeadbeef).zeros(20).data());
    expect = "0xdeadbeef";
  }
  SECTION("a header of 10 bytes") {
    file.write(Frame().u32le(PCAP_MAGIC_MICRO).u16le(2).u16le(4).u16le(0).data());
    expect = "truncated pcap file header: the file ends after 10 of 24 bytes";
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(file.str().c_str(), errbuf);
  CHECK(p == nullptr);  // libpcap refuses each of them too
  if (p != nullptr) pcap_close(p);
  std::string err;
  CHECK_FALSE(openCaptureFile(file.str(), 0, err));
  INFO(err);
  CHECK(err.find(file.str() + ": ") == 0);
  CHECK(err.find(expect) != std::string::npos);
  CHECK(err.find('\n') == std::string::npos);
}

TEST_CASE("from a pipe, each record is handed out as soon as all of it has arrived") {
  // The replay of a capture still being written (tcpdump -w - | provaudit
  // replay -) must not wait for a chunk to fill.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const int saved_stdin = ::dup(STDIN_FILENO);
  REQUIRE(::dup2(fds[0], STDIN_FILENO) == STDIN_FILENO);
  ::close(fds[0]);
  PcapWriter w(false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE);
  w.record(1, 0, "first");
  const auto& bytes = w.out.data();
  REQUIRE(::write(fds[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  std::string err;
  auto src = openCaptureFile("-", 0, err);
  REQUIRE(::dup2(saved_stdin, STDIN_FILENO) == STDIN_FILENO);  // the source has a descriptor of its own
  ::close(saved_stdin);
  INFO(err);
  REQUIRE(src);
  CHECK(src->name() == "<stdin>");
  RawPacket p;
  REQUIRE(src->next(p) == ReadStatus::Packet);  // the writer is still open: no end of file yet
  CHECK(asText(p.data) == "first");
  // The next record arrives in two halves, the second a little later.
  PcapWriter second(false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE);
  second.record(2, 0, "second, in two writes");
  const std::vector<std::uint8_t> rec(second.out.data().begin() + 24, second.out.data().end());
  REQUIRE(::write(fds[1], rec.data(), 10) == 10);
  ssize_t late_written = 0;
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    late_written = ::write(fds[1], rec.data() + 10, rec.size() - 10);
  });
  const ReadStatus st = src->next(p);
  late.join();
  REQUIRE(late_written == static_cast<ssize_t>(rec.size() - 10));
  REQUIRE(st == ReadStatus::Packet);
  CHECK(asText(p.data) == "second, in two writes");
  ::close(fds[1]);
  CHECK(src->next(p) == ReadStatus::End);
}
