// Fuzz target: the per-flow analyzer (analyze::FlowAnalyzer through its
// factory): protocol detection by content, TLS and HTTP parsing, certificate
// extraction and observation building, as the reassembly seam drives it.
//
// Input: stream chunks (fuzz_util.h StreamChunk), the same format as the TLS
// target, so the TLS seeds serve here too. Bypass ends the flow as it would in
// FlowTable.
#include <cstdint>

#include "analyze/flow_analyzer.h"
#include "fuzz/fuzz_util.h"

namespace {
using namespace provaudit;

struct CountingSink : analyze::ObservationSink {
  std::size_t tls = 0;
  std::size_t http = 0;
  void onTls(analyze::TlsObservation&& obs) override {
    ++tls;
    (void)analyze::observationKey(obs);
    for (const auto& cert : obs.client_chain)
      if (!cert) __builtin_trap();
  }
  void onHttp(analyze::HttpObservation&& obs) override {
    ++http;
    (void)analyze::observationKey(obs);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::InputReader in(data, size);
  CountingSink sink;
  AnomalyCounters anomalies;
  analyze::CertCache certs;
  analyze::FlowAnalyzerFactory factory(sink, anomalies, certs);
  FlowInfo info;
  const std::uint8_t client_ip[4] = {10, 77, 0, 11};
  const std::uint8_t server_ip[4] = {10, 77, 0, 2};
  info.client = {IpAddr::v4(client_ip), 40000};
  info.server = {IpAddr::v4(server_ip), 443};
  info.client_mac = MacAddr{{0x00, 0x0e, 0x08, 0xab, 0xcd, 0xef}};
  info.syn_seen = true;
  auto handler = factory.create(info);
  if (!handler) return 0;
  PacketRef ref{1'000'000'000, 1, 0};
  fuzz::StreamChunk c;
  bool bypassed = false;
  while (!bypassed && fuzz::nextStreamChunk(in, c)) {
    ++ref.frame;
    ref.ts_ns += 1'000'000;
    const Side side = c.server ? Side::Server : Side::Client;
    StreamVerdict v = StreamVerdict::Continue;
    if (c.gap) {
      if (c.length == 0) continue;  // FlowTable never reports an empty gap
      v = handler->onGap(info, side, c.length, ref);
    } else {
      if (c.bytes.empty()) continue;  // nor empty data
      const fuzz::HeapChunk chunk(c.bytes);
      v = handler->onData(info, side, chunk.span(), ref);
    }
    if (v == StreamVerdict::Bypass) bypassed = true;
    if (v == StreamVerdict::SwapSides) std::swap(info.client, info.server);
  }
  handler->onClose(info, bypassed ? CloseReason::Limit : CloseReason::Fin, ref);
  return 0;
}
