// Fuzz target: the streaming HTTP/1.x request parser (analyze::HttpRequestParser).
//
// Input: u8 chunking seed, u8 gap seed, then the client's byte stream. The
// stream is fed in chunks whose sizes come from a small PRNG seeded by the
// first byte; when the gap seed is odd, some chunks are reported as gaps
// (gap(n)) instead of being fed. Each chunk gets its own heap allocation.
// Seeds (fuzz/corpus/http) are sample requests behind the two seed bytes.
#include <cstdint>
#include <vector>

#include "analyze/http_request.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace provaudit;
  fuzz::InputReader in(data, size);
  std::uint32_t rng = 0x9e3779b9U ^ in.u8();
  const std::uint8_t gap_seed = in.u8();
  AnomalyCounters anomalies;
  analyze::HttpRequestParser parser(anomalies);
  std::vector<analyze::HttpRequest> requests;
  while (!in.empty()) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    // Mostly small chunks (split tokens, CRLFs), sometimes a whole segment.
    const std::size_t n = (rng & 0x100) != 0 ? 1 + (rng & 0x7) : 1 + (rng % 1460);
    const fuzz::HeapChunk chunk(in.take(n));
    if ((gap_seed & 1) != 0 && (rng >> 24) < (gap_seed >> 1)) {
      parser.gap(chunk.size());
      continue;
    }
    if (parser.feed(chunk.span(), requests) == analyze::HttpRequestParser::State::Error) break;
  }
  parser.finish(requests);
  for (const auto& r : requests) {
    if (r.body.size() > analyze::HTTP_MAX_BODY_KEPT) __builtin_trap();
    if (r.headers.size() > analyze::HTTP_MAX_HEADERS) __builtin_trap();
  }
  return 0;
}
