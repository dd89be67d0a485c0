// Fuzz target: TLS record framing and handshake messages (analyze::TlsConnection)
// fed from both sides, then the JA3/JA4 fingerprints of what it parsed.
//
// Input: stream chunks (fuzz_util.h StreamChunk: control byte with side and
// gap bits, u16 length, bytes). Seeds come from the sample captures' TLS flows
// (fuzz/extract_corpus.py), one chunk per TCP segment in capture order.
#include <cstdint>

#include "analyze/tls_connection.h"
#include "analyze/tls_handshake.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace provaudit;
  using analyze::ParseState;
  fuzz::InputReader in(data, size);
  AnomalyCounters anomalies;
  analyze::TlsConnection tls(anomalies);
  fuzz::StreamChunk c;
  while (fuzz::nextStreamChunk(in, c)) {
    const Side side = c.server ? Side::Server : Side::Client;
    ParseState st = ParseState::NeedMore;
    if (c.gap) {
      st = tls.gap(side, c.length);
    } else {
      const fuzz::HeapChunk chunk(c.bytes);
      st = tls.feed(side, chunk.span());
    }
    if (st != ParseState::NeedMore) break;  // the flow analyzer stops feeding here too
  }
  const analyze::TlsSummary& s = tls.summary();
  if (s.client_hello) {
    (void)analyze::ja3String(*s.client_hello);
    (void)analyze::ja3Hash(*s.client_hello);
    (void)analyze::ja4(*s.client_hello);
  }
  std::size_t der_bytes = 0;
  if (s.client_certificates)
    for (const auto& der : *s.client_certificates) der_bytes += der.size();
  if (s.server_certificates)
    for (const auto& der : *s.server_certificates) der_bytes += der.size();
  if (der_bytes > size) __builtin_trap();  // certificates can only come from the input
  // Read only from decrypted TLS 1.3 records, which the stream above never
  // shows: the input as an EncryptedExtensions body (RFC 7250 certificate
  // types), and as a TLS 1.2 raw-public-key Certificate body.
  (void)analyze::parseEncryptedExtensions({data, size}, anomalies);
  if (const auto keys = analyze::parseRawPublicKeyCertificate({data, size}, anomalies); keys && !keys->empty()) {
    if (keys->front().size() > size) __builtin_trap();
  }
  (void)analyze::TlsConnection::looksLikeClientHello({data, size});
  (void)analyze::TlsConnection::looksLikeServerRecord({data, size});
  return 0;
}
