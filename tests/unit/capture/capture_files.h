#pragma once
// Test helper: scratch capture files and reading a PacketSource to its end.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "capture/packet_source.h"
#include "common/byte_reader.h"

namespace provaudit::capture::test {

// A scratch file that disappears with the test.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("pa_capture_" + std::to_string(::getpid()) + "_" + name)) {}
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  void write(const std::vector<std::uint8_t>& bytes) const {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    // fwrite's buffer must not be null, even for zero bytes (an empty vector's data() may be).
    if (!bytes.empty()) REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
    REQUIRE(std::fclose(f) == 0);
  }
  [[nodiscard]] std::string str() const { return path.string(); }
};

// Every packet up to the first non-packet status; the bytes are copied because
// RawPacket::data is valid only until the next next().
struct Read {
  std::vector<RawPacket> packets;
  std::vector<std::string> data;
  ReadStatus last = ReadStatus::End;
};
inline Read readAll(PacketSource& src) {
  Read r;
  RawPacket p;
  while ((r.last = src.next(p)) == ReadStatus::Packet) {
    r.data.emplace_back(asText(p.data));
    p.data = {};  // would dangle after the next next()
    r.packets.push_back(p);
  }
  return r;
}

}  // namespace provaudit::capture::test
