// Fuzz target: pcap/pcapng reading (capture::openCaptureFile: our classic
// pcap and pcapng readers, gzip- or zstd-compressed or not), then every frame through
// the Decoder. The input is
// written to a scratch file because the readers read files, not buffers.
#include <algorithm>
#include <cstdint>
#include <iterator>

#include "capture/decoder.h"
#include "capture/inflater.h"
#include "capture/packet_source.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/temp_dir.h"

namespace {
constexpr std::size_t MAX_PACKETS = 1024;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace provaudit;
  static fuzz::TempDir dir;
  const std::string path = dir.write("input.pcap", {data, size});
  std::string err;
  const bool compressed = (size >= 2 && data[0] == capture::GZIP_ID1 && data[1] == capture::GZIP_ID2) ||
                          (size >= 4 && std::equal(data, data + 4, std::begin(capture::ZSTD_MAGIC)));
  auto src = capture::openCaptureFile(path, 0, err);
  if (!src) {
    if (err.empty()) __builtin_trap();  // a failed open must say why
    return 0;
  }
  AnomalyCounters anomalies;
  capture::Decoder decoder(anomalies);
  capture::RawPacket raw;
  for (std::size_t n = 0; n < MAX_PACKETS; ++n) {
    const capture::ReadStatus st = src->next(raw);
    if (st == capture::ReadStatus::End) break;
    if (st == capture::ReadStatus::Error) {
      if (src->error().empty()) __builtin_trap();
      break;
    }
    // A frame cannot be larger than the file, unless the file is compressed.
    if (raw.data.size() > size && !compressed) __builtin_trap();
    // The reader's buffer is larger than the frame: decode a copy of exactly its size.
    const fuzz::HeapChunk frame(raw.data);
    raw.data = frame.span();
    capture::DecodedPacket out;
    (void)decoder.decode(raw, out);
  }
  (void)src->bytesRead();
  return 0;
}
