// Fuzz target: the streaming HTTP/1.x request parser (analyze::HttpRequestParser).
//
// Input: u8 chunking seed, u8 gap seed, then the client's byte stream, fed
// in chunks and gaps as fuzz::feedClientStream cuts it. Each chunk gets its
// own heap allocation.
// Seeds (fuzz/corpus/http) are sample requests behind the two seed bytes.
#include <cstdint>
#include <vector>

#include "analyze/http_request.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace provaudit;
  fuzz::InputReader in(data, size);
  AnomalyCounters anomalies;
  analyze::HttpRequestParser parser(anomalies);
  std::vector<analyze::HttpRequest> requests;
  fuzz::feedClientStream(
      in,
      [&](std::span<const std::uint8_t> chunk) {
        return parser.feed(chunk, requests) != analyze::HttpRequestParser::State::Error;
      },
      [&](std::size_t n) { parser.gap(n); });
  parser.finish(requests);
  for (const auto& r : requests) {
    if (r.body.size() > analyze::HTTP_MAX_BODY_KEPT) __builtin_trap();
    if (r.headers.size() > analyze::HTTP_MAX_HEADERS) __builtin_trap();
  }
  return 0;
}
