// Fuzz target: link-layer and tunnel decapsulation, IPv4/IPv6 (extension
// headers) and IP fragment reassembly, through capture::Decoder.
//
// Input: u8 link-type selector (index into the link types Decoder supports),
// then frames, each "u16 header, bytes": the header's low 14 bits are the
// frame length, bit 15 marks the frame as cut by the snap length (orig_len
// larger than the captured bytes). One Decoder sees all frames, so fragments
// of one datagram can arrive in several frames.
#include <array>
#include <cstdint>

#include "capture/decoder.h"
#include "fuzz/fuzz_util.h"

namespace {
using namespace provaudit;
using namespace provaudit::capture;

constexpr std::array<int, 10> LINKTYPES{LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW_A,     LINKTYPE_RAW_B,
                                        LINKTYPE_RAW,  LINKTYPE_LOOP,     LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
                                        LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2};
constexpr std::size_t MAX_FRAMES = 64;
constexpr std::uint16_t FRAME_LEN_MASK = 0x3fff;
constexpr std::uint16_t FRAME_CUT_BIT = 0x8000;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::InputReader in(data, size);
  const int linktype = LINKTYPES[in.u8() % LINKTYPES.size()];
  AnomalyCounters anomalies;
  Decoder decoder(anomalies);
  for (std::size_t frame = 1; frame <= MAX_FRAMES && !in.empty(); ++frame) {
    const std::uint16_t header = in.u16();
    const fuzz::HeapChunk bytes(in.take(header & FRAME_LEN_MASK));
    RawPacket raw;
    raw.ref.frame = frame;
    raw.ref.ts_ns = static_cast<std::int64_t>(frame) * 1'000'000;
    raw.linktype = linktype;
    raw.data = bytes.span();
    raw.orig_len = static_cast<std::uint32_t>(bytes.size()) + ((header & FRAME_CUT_BIT) != 0 ? 1400U : 0U);
    DecodedPacket out;
    if (decoder.decode(raw, out)) {
      // Touch every payload byte: a span into freed or foreign memory shows up here.
      unsigned sum = 0;
      for (std::uint8_t b : out.payload) sum += b;
      if (out.payload.size() > 65535 + 40) __builtin_trap();  // larger than any IP datagram
      (void)sum;
    }
  }
  (void)decoder.pendingFragments();
  (void)anomalies.total();
  return 0;
}
