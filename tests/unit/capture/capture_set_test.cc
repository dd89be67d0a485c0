// Several capture files read as one capture (capture/capture_set.h): the
// order they are read in, and when one continues the last.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "capture/capture_set.h"
#include "capture_files.h"
#include "pcap_builder.h"

using namespace provaudit::capture;
using namespace provaudit::capture::test;

namespace {

constexpr std::int64_t SECOND = 1'000'000'000;
constexpr std::int64_t IDLE = 300 * SECOND;

// A pcap file of one packet per time (seconds, microseconds).
void writeCapture(const TempFile& file, const std::vector<std::pair<std::uint32_t, std::uint32_t>>& times) {
  PcapWriter w(PcapHeader{});
  for (const auto& [sec, usec] : times) w.record(sec, usec, std::string(60, 'x'));
  file.write(w.out.data());
}

std::vector<std::string> paths(const std::vector<CaptureFile>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path);
  return out;
}

}  // namespace

TEST_CASE("a file continues the capture when it starts within the flows' idle timeout after its last packet") {
  const std::int64_t last = 1'700'000'000 * SECOND;
  CHECK(continuesCapture(last, last, IDLE));
  CHECK(continuesCapture(last, last + 1, IDLE));
  CHECK(continuesCapture(last, last + IDLE, IDLE));
  CHECK_FALSE(continuesCapture(last, last + IDLE + 1, IDLE));  // every flow would have closed as idle
  CHECK_FALSE(continuesCapture(last, last + 3600 * SECOND, IDLE));
}

TEST_CASE("files are read in the time order of their first packets, those without one last, ties as given") {
  // A rotated capture as the shell's glob lists it: cap1 cap10 cap2.
  TempFile cap1("set_cap1.pcap"), cap10("set_cap10.pcap"), cap2("set_cap2.pcap"), empty("set_empty.pcap"),
      twin("set_twin.pcap"), junk("set_junk.pcap");
  writeCapture(cap1, {{1'700'000'000, 5}, {1'700'000'100, 0}});
  writeCapture(cap10, {{1'700'000'900, 0}});
  writeCapture(cap2, {{1'700'000'100, 1}, {1'700'000'200, 0}});
  writeCapture(twin, {{1'700'000'100, 1}});  // the same first packet time as cap2, given after it
  writeCapture(empty, {});
  junk.write({'n', 'o', 't', ' ', 'a', ' ', 'c', 'a', 'p', 't', 'u', 'r', 'e', '!', '!', '!', '!', '!', '!', '!', '!',
              '!', '!', '!', '!'});
  const std::string missing = cap1.str() + ".missing";
  const auto ordered =
      inTimeOrder({empty.str(), cap1.str(), missing, cap10.str(), cap2.str(), junk.str(), twin.str()});
  CHECK(paths(ordered) ==
        std::vector<std::string>{cap1.str(), cap2.str(), twin.str(), cap10.str(), empty.str(), missing, junk.str()});
  REQUIRE(ordered[0].first_ns.has_value());
  CHECK(*ordered[0].first_ns == 1'700'000'000 * SECOND + 5'000);
  CHECK(*ordered[1].first_ns == 1'700'000'100 * SECOND + 1'000);
  CHECK(*ordered[3].first_ns == 1'700'000'900 * SECOND);
  for (std::size_t i = 4; i < ordered.size(); ++i) CHECK_FALSE(ordered[i].first_ns.has_value());
}

TEST_CASE("with standard input or a pipe among the files, the order given is kept and nothing is read ahead") {
  TempFile late("set_late.pcap"), early("set_early.pcap"), fifo("set_fifo");
  writeCapture(late, {{1'700'000'900, 0}});
  writeCapture(early, {{1'700'000'000, 0}});
  SECTION("standard input") {
    const auto kept = inTimeOrder({late.str(), "-", early.str()});
    CHECK(paths(kept) == std::vector<std::string>{late.str(), "-", early.str()});
    for (const auto& f : kept) CHECK_FALSE(f.first_ns.has_value());
  }
  SECTION("a named pipe (read ahead, its packets would be gone)") {
    REQUIRE(::mkfifo(fifo.path.c_str(), 0600) == 0);
    const auto kept = inTimeOrder({late.str(), fifo.str(), early.str()});
    CHECK(paths(kept) == std::vector<std::string>{late.str(), fifo.str(), early.str()});
    for (const auto& f : kept) CHECK_FALSE(f.first_ns.has_value());
  }
  SECTION("the same files alone are sorted") {
    CHECK(paths(inTimeOrder({late.str(), early.str()})) == std::vector<std::string>{early.str(), late.str()});
  }
  SECTION("one file is not read ahead") {
    const auto one = inTimeOrder({late.str()});
    REQUIRE(one.size() == 1);
    CHECK_FALSE(one[0].first_ns.has_value());
  }
}

TEST_CASE("a directory stands for the capture files in it and below, told by their first bytes") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("pa_capture_" + std::to_string(::getpid()) + "_dir");
  fs::remove_all(dir);
  const auto put = [&](const std::string& name, const std::vector<std::uint8_t>& bytes) {
    fs::create_directories((dir / name).parent_path());
    std::FILE* f = std::fopen((dir / name).c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!bytes.empty()) REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
    REQUIRE(std::fclose(f) == 0);
  };
  PcapWriter pcap(PcapHeader{});
  pcap.record(1'700'000'000, 0, std::string(60, 'x'));
  PcapHeader swapped;
  swapped.big_endian = true;
  PcapWriter big(swapped);
  put("day2/b.pcap", pcap.out.data());
  put("day1/a.cap", big.out.data());                                   // any name: the bytes tell
  put("day1/c.pcapng", {0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0});
  put("d.pcap.gz", {0x1f, 0x8b, 0x08, 0x00});
  put("e.pcap.zst", {0x28, 0xb5, 0x2f, 0xfd});
  put("f.pcap.xz", {0xfd, 0x37, 0x7a, 0x58, 0x5a});                    // refused when read, with the pipe to use
  put("README.txt", {'n', 'o', 't', 'e', 's'});
  put("keys.log", {'C', 'L', 'I', 'E', 'N', 'T', '_'});
  put("empty.pcap", {});
  put(".partial.pcap", pcap.out.data());                               // hidden: a download in progress
  put(".snapshot/old.pcap", pcap.out.data());                          // a hidden directory
  fs::create_directories(dir / "nothing");
  fs::create_symlink(dir / "day1", dir / "link-to-day1");              // not followed: day1 is read once
  const DirectoryCaptures found = capturesIn(dir.string());
  const auto under = [&](std::vector<std::string> names) {
    for (auto& n : names) n = (dir / n).string();
    return names;
  };
  CHECK(found.captures == under({"d.pcap.gz", "day1/a.cap", "day1/c.pcapng", "day2/b.pcap", "e.pcap.zst", "f.pcap.xz"}));
  CHECK(found.left_out == under({"README.txt", "empty.pcap", "keys.log"}));
  CHECK(capturesIn((dir / "nothing").string()).captures.empty());
  const DirectoryCaptures missing = capturesIn((dir / "missing").string());
  CHECK(missing.captures.empty());
  REQUIRE(missing.left_out.size() == 1);  // the walk's error, with the directory's name
  CHECK(missing.left_out[0].rfind((dir / "missing").string() + " (", 0) == 0);
  fs::remove_all(dir);
}
