// pcapng evidence writer (capture/evidence_writer.h), read back with libpcap.
#include <catch2/catch.hpp>
#include <pcap/pcap.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>

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
  int rc = 0;
  while ((rc = pcap_next_ex(p.get(), &hdr, &data)) == 1) {
    out.push_back({static_cast<std::int64_t>(hdr->ts.tv_sec) * 1'000'000'000 + hdr->ts.tv_usec,
                   std::vector<std::uint8_t>(data, data + hdr->caplen), hdr->len});
  }
  if (rc == PCAP_ERROR) err = pcap_geterr(p.get());  // a block cut short, say; the end of the file is PCAP_ERROR_BREAK
  return out;
}

// The process's files may not grow past `bytes` while this lives (RLIMIT_FSIZE):
// a write past it fails with EFBIG, as one fails on a full disk, after writing
// what fits. (SIGXFSZ, which would end the process, is ignored meanwhile.)
class FileSizeLimit {
 public:
  explicit FileSizeLimit(std::uint64_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit r = saved_;
    r.rlim_cur = static_cast<rlim_t>(bytes);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &r) == 0);
  }
  void lift() {
    if (lifted_) return;
    lifted_ = true;
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }
  ~FileSizeLimit() { lift(); }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
  bool lifted_ = false;
};

std::uint64_t fileSize(const fs::path& path) { return fs::file_size(path); }

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

TEST_CASE("evidence writer: a file that cannot be written keeps its evidence in memory and writes it once it can") {
  TempPath file("full.pcapng");
  std::string err;
  auto w = PcapngWriter::create(file.path.string(), err);
  REQUIRE(w);
  w->addInterface(1, "eth1", LINKTYPE_ETHERNET, 262144);
  std::vector<std::vector<std::uint8_t>> sent;
  for (int i = 0; i < 10; ++i) {
    sent.push_back(bytes(60 + i, static_cast<std::uint8_t>(i)));
    REQUIRE(w->write(1, TS1 + i, sent.back(), static_cast<std::uint32_t>(sent.back().size())));
  }
  REQUIRE(w->flush());
  const std::uint64_t complete = fileSize(file.path);
  {
    // A little room: the next write gets part of its first block out, then fails.
    FileSizeLimit full(complete + 50);
    for (int i = 10; i < 30; ++i) {
      sent.push_back(bytes(60 + i, static_cast<std::uint8_t>(i)));
      CHECK(w->write(1, TS1 + i, sent.back(), static_cast<std::uint32_t>(sent.back().size())));  // kept
    }
    CHECK_FALSE(w->flush(true));
    CHECK(w->failing());
    CHECK(w->error().find(file.path.string() + ": write failed: ") == 0);
    CHECK(w->error().ends_with(": " + w->failureReason()));
    CHECK_FALSE(w->failureReason().empty());
    CHECK(w->packetsWritten() == 10);
    CHECK(w->packetsWaiting() == 20);
    CHECK(fileSize(file.path) == complete + 50);  // half a block: what a full disk leaves
    full.lift();
    // Room again, but the wait after a failure is not over: no attempt yet.
    CHECK_FALSE(w->flush());
    CHECK(fileSize(file.path) == complete + 50);
  }
  REQUIRE(w->flush(true));
  CHECK_FALSE(w->failing());
  CHECK(w->error().empty());
  CHECK(w->failureReason().empty());
  CHECK(w->packetsWritten() == 30);
  CHECK(w->packetsWaiting() == 0);
  CHECK(w->packetsLost() == 0);
  // Every packet once, in order, and nothing of the half block left between them.
  int linktype = 0;
  const auto got = readBack(file.path, linktype, err);
  CHECK(err.empty());
  REQUIRE(got.size() == sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    INFO(i);
    CHECK(got[i].data == sent[i]);
    CHECK(got[i].ts_ns == TS1 + static_cast<std::int64_t>(i));
  }
}

TEST_CASE("evidence writer: past the memory kept while failing, packets are lost and counted; the file stays valid") {
  TempPath file("lost.pcapng");
  std::string err;
  auto w = PcapngWriter::create(file.path.string(), err);
  REQUIRE(w);
  w->addInterface(1, "eth1", LINKTYPE_ETHERNET, 262144);
  REQUIRE(w->write(1, TS1, bytes(60, 1), 60));
  REQUIRE(w->flush());
  const std::uint64_t complete = fileSize(file.path);
  const std::vector<std::uint8_t> big(64 * 1024, 0xab);
  FileSizeLimit full(complete + 10);
  REQUIRE(w->write(1, TS2, big, static_cast<std::uint32_t>(big.size())));
  CHECK_FALSE(w->flush(true));
  std::uint64_t kept = 1, lost = 0;
  for (int i = 0; i < 200; ++i) {
    if (w->write(1, TS2 + i, big, static_cast<std::uint32_t>(big.size()))) ++kept;
    else ++lost;
  }
  // 8 MiB of 64 KiB packets (32 bytes of block each) are kept; the rest are lost and counted.
  CHECK(kept == EVIDENCE_FAILING_BUFFER_BYTES / (big.size() + 32));
  CHECK(lost == 201 - kept);
  CHECK(w->packetsLost() == lost);
  CHECK(w->packetsRefused() == lost);
  CHECK(w->packetsWaiting() == kept);
  // The run ends while the disk is still full: the file is cut back to its
  // complete blocks, and reads as the one packet written before.
  w.reset();
  full.lift();
  CHECK(fileSize(file.path) == complete);
  int linktype = 0;
  const auto got = readBack(file.path, linktype, err);
  CHECK(err.empty());
  CHECK(got.size() == 1);
}
