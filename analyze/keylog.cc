#include "analyze/keylog.h"

#include <fstream>
#include <stdexcept>

namespace provaudit::analyze {
namespace {

constexpr std::size_t CLIENT_RANDOM_HEX = 64;
// TLS <= 1.2 master secret (RFC 5246 §8.1) is 48 bytes; TLS 1.3 secrets are a
// hash length (32 or 48). Anything else is not a secret we can use.
constexpr std::size_t MIN_SECRET_BYTES = 32;
constexpr std::size_t MAX_SECRET_BYTES = 64;

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<KeyLogLabel> labelFor(std::string_view name) {
  if (name == "CLIENT_RANDOM") return KeyLogLabel::ClientRandom;
  if (name == "CLIENT_HANDSHAKE_TRAFFIC_SECRET") return KeyLogLabel::ClientHandshakeTrafficSecret;
  if (name == "SERVER_HANDSHAKE_TRAFFIC_SECRET") return KeyLogLabel::ServerHandshakeTrafficSecret;
  if (name == "CLIENT_TRAFFIC_SECRET_0") return KeyLogLabel::ClientTrafficSecret0;
  if (name == "SERVER_TRAFFIC_SECRET_0") return KeyLogLabel::ServerTrafficSecret0;
  if (name == "CLIENT_EARLY_TRAFFIC_SECRET") return KeyLogLabel::ClientEarlyTrafficSecret;
  return std::nullopt;
}

// Labels of the format we recognise but do not need.
bool isOtherKnownLabel(std::string_view name) {
  return name == "EXPORTER_SECRET" || name == "EARLY_EXPORTER_SECRET" ||
         name == "RSA";
}

std::string_view nextField(std::string_view& rest) {
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::size_t end = 0;
  while (end < rest.size() && rest[end] != ' ' && rest[end] != '\t') ++end;
  std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end);
  return field;
}

}  // namespace

std::optional<std::vector<std::uint8_t>> parseHex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = hexDigit(text[i]);
    const int lo = hexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>((hi << 4) | lo));
  }
  return out;
}

bool KeyLog::parseLineLocked(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string_view rest = line;
  const std::string_view name = nextField(rest);
  if (name.empty() || name.front() == '#') return false;  // blank line or comment
  ++stats_.lines;
  const std::string_view random_hex = nextField(rest);
  const std::string_view secret_hex = nextField(rest);
  const bool trailing = !nextField(rest).empty();
  const auto label = labelFor(name);
  if (line.size() > KEYLOG_MAX_LINE || trailing || random_hex.size() != CLIENT_RANDOM_HEX) {
    ++stats_.malformed;
    return false;
  }
  const auto random = parseHex(random_hex);
  const auto secret = parseHex(secret_hex);
  if (!random || !secret || (label && (secret->size() < MIN_SECRET_BYTES || secret->size() > MAX_SECRET_BYTES))) {
    ++stats_.malformed;
    return false;
  }
  if (!label) {
    // An unknown label on an otherwise well-formed line: a newer stack's secret.
    ++(isOtherKnownLabel(name) ? stats_.ignored : stats_.malformed);
    return false;
  }
  ClientRandom cr{};
  std::copy(random->begin(), random->end(), cr.begin());
  auto key = std::make_pair(*label, cr);
  auto it = secrets_.find(key);
  if (it != secrets_.end()) {
    it->second = *secret;
    return true;
  }
  if (secrets_.size() >= KEYLOG_MAX_ENTRIES) {
    ++stats_.dropped;
    return false;
  }
  secrets_.emplace(key, *secret);
  stats_.entries = secrets_.size();
  return true;
}

std::uint64_t KeyLog::addText(std::string_view text) {
  std::lock_guard lock(mu_);
  std::uint64_t taken = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    if (parseLineLocked(text.substr(0, nl))) ++taken;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return taken;
}

void KeyLog::addFile(const std::string& path) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw std::runtime_error(path + ": cannot open key log file");
  }
  std::lock_guard lock(mu_);
  files_.push_back(File{path, 0});
  refreshLocked();
}

void KeyLog::refresh() {
  std::lock_guard lock(mu_);
  refreshLocked();
}

void KeyLog::refreshLocked() {
  for (File& f : files_) {
    std::error_code ec;
    const std::uint64_t size = std::filesystem::file_size(f.path, ec);
    if (ec) continue;  // removed meanwhile: keep what was read
    const auto mtime = std::filesystem::last_write_time(f.path, ec);
    if (ec) continue;
    if (f.read_once && size == f.size_seen && mtime == f.mtime_seen) continue;
    f.read_once = true;
    f.size_seen = size;
    f.mtime_seen = mtime;
    if (size < f.offset) f.offset = 0;  // rewritten: read it again
    if (size == f.offset) continue;
    std::ifstream in(f.path, std::ios::binary);
    if (!in) continue;
    in.seekg(static_cast<std::streamoff>(f.offset));
    std::string chunk(static_cast<std::size_t>(size - f.offset), '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<std::size_t>(in.gcount()));
    // Only complete lines: the writer may be half-way through the last one
    // (its end changes the size, so the next miss reads it).
    const std::size_t last_nl = chunk.rfind('\n');
    if (last_nl == std::string::npos) continue;
    std::string_view text(chunk.data(), last_nl + 1);
    f.offset += last_nl + 1;
    while (!text.empty()) {
      const std::size_t nl = text.find('\n');
      (void)parseLineLocked(text.substr(0, nl));
      text.remove_prefix(nl + 1);
    }
  }
}

std::optional<std::vector<std::uint8_t>> KeyLog::find(KeyLogLabel label, const ClientRandom& client_random) {
  std::lock_guard lock(mu_);
  const auto key = std::make_pair(label, client_random);
  auto it = secrets_.find(key);
  if (it == secrets_.end() && !files_.empty()) {
    refreshLocked();
    it = secrets_.find(key);
  }
  if (it == secrets_.end()) return std::nullopt;
  return it->second;
}

bool KeyLog::hasFiles() const {
  std::lock_guard lock(mu_);
  return !files_.empty();
}

KeyLogStats KeyLog::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace provaudit::analyze
