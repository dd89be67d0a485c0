#include "capture/capture_set.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>

#include "capture/packet_source.h"
#include "common/saturating.h"

namespace provaudit::capture {

bool continuesCapture(std::int64_t last_ns, std::int64_t first_ns, std::int64_t idle_timeout_ns) {
  return saturatingSub(first_ns, last_ns) <= idle_timeout_ns;
}

std::optional<std::int64_t> firstPacketTime(const std::string& path) {
  std::string err;
  auto src = openCaptureFile(path, 0, err);
  if (!src) return std::nullopt;
  RawPacket pkt;
  if (src->next(pkt) != ReadStatus::Packet) return std::nullopt;
  return pkt.ref.ts_ns;
}

DirectoryCaptures capturesIn(const std::string& dir) {
  namespace fs = std::filesystem;
  DirectoryCaptures out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    const bool hidden = path.filename().string().starts_with('.');
    std::error_code type_ec;
    const fs::file_status link = it->symlink_status(type_ec);
    if (fs::is_directory(link)) {
      if (hidden) {
        it.disable_recursion_pending();
      } else if (::access(path.c_str(), R_OK | X_OK) != 0) {
        out.left_out.push_back(path.string() + "/ (" + std::strerror(errno) + ")");
      }
      continue;
    }
    if (hidden || !fs::is_regular_file(it->status(type_ec))) continue;
    (hasCaptureMagic(path.string()) ? out.captures : out.left_out).push_back(path.string());
  }
  if (ec) out.left_out.push_back(dir + " (" + ec.message() + ")");
  std::sort(out.captures.begin(), out.captures.end());
  std::sort(out.left_out.begin(), out.left_out.end());
  return out;
}

std::vector<CaptureFile> inTimeOrder(const std::vector<std::string>& files) {
  std::vector<CaptureFile> out;
  out.reserve(files.size());
  for (const auto& f : files) out.push_back({f, std::nullopt});
  if (files.size() < 2) return out;
  for (const auto& f : files) {
    // (A file that is not there has no first packet: the replay says so in its turn.)
    struct stat st {};
    if (f == "-" || (::stat(f.c_str(), &st) == 0 && !S_ISREG(st.st_mode))) return out;
  }
  for (auto& f : out) f.first_ns = firstPacketTime(f.path);
  std::stable_sort(out.begin(), out.end(), [](const CaptureFile& a, const CaptureFile& b) {
    constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();
    return a.first_ns.value_or(none) < b.first_ns.value_or(none);
  });
  return out;
}

}  // namespace provaudit::capture
