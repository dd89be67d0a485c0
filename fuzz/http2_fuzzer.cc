// Fuzz target: the HTTP/2 client-side reader and its HPACK decoder
// (analyze::Http2RequestReader, analyze::HpackDecoder).
//
// Input: u8 chunking seed, u8 gap seed, then the client's byte stream (the
// connection preface first), fed in chunks and gaps as
// fuzz::feedClientStream cuts it; each chunk gets its own heap allocation.
// Seeds (fuzz/corpus/http2) are the h2c client streams of
// samples/http2.pcap behind the two seed bytes.
#include <cstdint>
#include <vector>

#include "analyze/http2.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace provaudit;
  fuzz::InputReader in(data, size);
  AnomalyCounters anomalies;
  analyze::Http2RequestReader reader(anomalies);
  std::vector<analyze::HttpRequest> requests;
  fuzz::feedClientStream(
      in,
      [&](std::span<const std::uint8_t> chunk) {
        return reader.feed(chunk, requests) != analyze::Http2RequestReader::State::Error;
      },
      [&](std::size_t n) { reader.gap(n); });
  reader.finish();
  if (reader.hpack().tableSize() > reader.hpack().maxTableSize()) __builtin_trap();
  if (reader.hpack().maxTableSize() > analyze::HPACK_MAX_TABLE_SIZE) __builtin_trap();
  for (const auto& r : requests) {
    if (r.headers.size() > analyze::HTTP_MAX_HEADERS) __builtin_trap();
    if (r.method.empty() || r.uri.empty()) __builtin_trap();
  }
  return 0;
}
