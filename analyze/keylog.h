#pragma once
// NSS key log files (the SSLKEYLOGFILE format written by OpenSSL, NSS, curl,
// browsers): one "<LABEL> <client_random hex> <secret hex>" per line, '#'
// comments. A KeyLog is a store of such secrets keyed by (label, client random)
// and fed from files that may still be growing (a live capture next to a test
// lab that appends to the file): lookups that miss re-read what was appended.
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provaudit::analyze {

// Entries kept over all files; more are counted (keylog_too_many_entries) and dropped.
inline constexpr std::size_t KEYLOG_MAX_ENTRIES = 1'000'000;
// A line longer than this is malformed (the longest valid one is ~230 bytes).
inline constexpr std::size_t KEYLOG_MAX_LINE = 1024;

// The labels we use (NSS key log format; TLS 1.3 labels from RFC 8446 §7.1 secrets).
enum class KeyLogLabel : std::uint8_t {
  ClientRandom,                  // TLS <= 1.2: 48-byte master secret
  ClientHandshakeTrafficSecret,  // TLS 1.3
  ServerHandshakeTrafficSecret,
  ClientTrafficSecret0,
  ServerTrafficSecret0,
  ClientEarlyTrafficSecret,      // TLS 1.3 0-RTT (RFC 8446 §7.1 client_early_traffic_secret)
};

using ClientRandom = std::array<std::uint8_t, 32>;

struct KeyLogStats {
  std::uint64_t entries = 0;    // distinct (label, random) secrets held
  std::uint64_t lines = 0;      // non-empty, non-comment lines read
  std::uint64_t malformed = 0;  // lines that are not "<LABEL> <64 hex> <hex>"
  std::uint64_t ignored = 0;    // well-formed lines with a label we do not use (EXPORTER_SECRET, ...)
  std::uint64_t dropped = 0;    // past KEYLOG_MAX_ENTRIES
};

// Thread-safe: analyzers of several capture workers look up concurrently.
class KeyLog {
 public:
  // Reads the file now and remembers it for refresh(). Throws std::runtime_error
  // when it cannot be opened (a configuration error).
  void addFile(const std::string& path);
  // Parses key log text (complete lines; a last line without '\n' is taken too).
  // Returns how many of its lines were taken as keys (new or replacing one).
  std::uint64_t addText(std::string_view text);
  // Reads what was appended to the files since the last read (from the start
  // again when a file shrank: rotated or rewritten).
  void refresh();

  // The secret for `label` and `client_random`; on a miss, files that changed
  // since they were last read (size or modification time: one stat each) are
  // read on and the lookup retried. Not throttled by time: a server logs a
  // key a moment before the records that need it go by, and lookups of other
  // connections just before must not hide it.
  std::optional<std::vector<std::uint8_t>> find(KeyLogLabel label, const ClientRandom& client_random);

  [[nodiscard]] KeyLogStats stats() const;
  // Whether any file was added (and may still grow).
  [[nodiscard]] bool hasFiles() const;

 private:
  struct File {
    std::string path;
    std::uint64_t offset = 0;  // bytes consumed (complete lines)
    // What the file looked like when last read: unchanged, a miss does not read it again.
    std::uint64_t size_seen = 0;
    std::filesystem::file_time_type mtime_seen{};
    bool read_once = false;
  };
  // Whether the line was taken as a key.
  bool parseLineLocked(std::string_view line);
  void refreshLocked();

  mutable std::mutex mu_;
  std::vector<File> files_;
  std::map<std::pair<KeyLogLabel, ClientRandom>, std::vector<std::uint8_t>> secrets_;
  KeyLogStats stats_;
};

// Hex text to bytes; nullopt on an odd length or a non-hex digit.
std::optional<std::vector<std::uint8_t>> parseHex(std::string_view text);

}  // namespace provaudit::analyze
