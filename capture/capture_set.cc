#include "capture/capture_set.h"

#include <sys/stat.h>

#include <algorithm>
#include <limits>

#include "capture/packet_source.h"

namespace provaudit::capture {

bool continuesCapture(std::int64_t last_ns, std::int64_t first_ns, std::int64_t idle_timeout_ns) {
  return first_ns - last_ns <= idle_timeout_ns;
}

std::optional<std::int64_t> firstPacketTime(const std::string& path) {
  std::string err;
  auto src = openCaptureFile(path, 0, err);
  if (!src) return std::nullopt;
  RawPacket pkt;
  if (src->next(pkt) != ReadStatus::Packet) return std::nullopt;
  return pkt.ref.ts_ns;
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
