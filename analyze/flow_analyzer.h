#pragma once
// The analyzer attached to each TCP flow: detects by content whether the flow
// carries TLS or HTTP (any port), drives the matching parser, and turns what it
// finds into observations. Implements the reassembly seam of common/stream.h.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analyze/observation.h"
#include "analyze/tls_connection.h"
#include "common/anomaly.h"
#include "common/stream.h"

namespace provaudit::analyze {

class DecryptionKeys;

// Bytes of unrecognised (mid-stream) data a flow may deliver, per side, while we
// still look for a request line or ClientHello at a delivery boundary; past it
// the flow is bypassed.
inline constexpr std::size_t MIDSTREAM_WATCH_BYTES = 64 * 1024;
// A proxy's answer to CONNECT (status line and headers) before its tunnel's
// bytes: a few hundred bytes; past this the flow is let go.
inline constexpr std::size_t TUNNEL_ANSWER_MAX = 16 * 1024;
// Gaps kept in the server bytes held before the client's first ones (a
// handshake has a few); past them the server's bytes are counted, not held.
inline constexpr std::size_t SERVER_HELD_GAPS_MAX = 64;
// CertificateRequest CA names whose text a factory keeps (FlowAnalyzerFactory::nameText).
inline constexpr std::size_t NAME_TEXT_CACHE_MAX = 4096;
// Distinct ClientHellos whose fingerprints a factory keeps (fingerprints()).
inline constexpr std::size_t FINGERPRINT_CACHE_MAX = 4096;
// Requests of one connection (plain, or inside decrypted TLS) reported as
// sightings. Past it the flow is still read: a request is reported only when
// its User-Agent differs from the last one reported (a device that changed
// firmware on a kept-alive connection), at most HTTP_MAX_AGENT_CHANGES_PAST_LIMIT
// times; the others are counted (http_flow_request_limit).
inline constexpr std::size_t HTTP_MAX_REQUESTS_PER_FLOW = 256;
inline constexpr std::size_t HTTP_MAX_AGENT_CHANGES_PAST_LIMIT = 16;
// Bytes kept per side while the first bytes are too few to tell the protocol.
inline constexpr std::size_t DETECT_PREFIX_BYTES = 16;

// Hashes bytes held as a string or string_view (a DER, for instance) without
// copying them into a key: unordered containers look up by string_view.
struct BytesHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// What the certificate cache may hold: the DER of its entries plus
// CERT_CACHE_ENTRY_OVERHEAD each (the parsed fields, the map node), or their
// parsed fields' bytes when more (a certificate with thousands of names). A
// flood of distinct certificates (or a very large fleet) evicts the oldest.
inline constexpr std::size_t CERT_CACHE_MAX_BYTES = 64 * 1024 * 1024;
inline constexpr std::size_t CERT_CACHE_ENTRY_OVERHEAD = 1024;

// One parsed certificate per distinct DER, shared by every observation that
// carries it. Thread-safe. Keyed by a view of the entry's own CertInfo::der
// (the DER is held once, not again as the key: 30 MB on the 1 GB corpus).
// Bounded by `max_bytes`: past it the oldest entries go, first in first out,
// and are counted (stats cert_cache_evictions). Observations keep their own
// references, so an evicted certificate seen again is only parsed again.
class CertCache {
 public:
  explicit CertCache(std::size_t max_bytes = CERT_CACHE_MAX_BYTES) : max_bytes_(max_bytes) {}
  CertPtr get(const std::vector<std::uint8_t>& der, AnomalyCounters& anomalies);
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::size_t bytes() const;           // as counted against max_bytes
  [[nodiscard]] std::uint64_t evictions() const;

 private:
  const std::size_t max_bytes_;
  mutable std::mutex mu_;
  std::unordered_map<std::string_view, CertPtr, BytesHash, std::equal_to<>> certs_;
  std::deque<std::pair<std::string_view, std::size_t>> order_;  // keys and their cost, oldest first
  std::size_t bytes_ = 0;
  std::uint64_t evictions_ = 0;
};

class FlowAnalyzerFactory : public StreamHandlerFactory {
 public:
  FlowAnalyzerFactory(ObservationSink& sink, AnomalyCounters& anomalies, CertCache& certs)
      : sink_(sink), anomalies_(anomalies), certs_(certs) {}
  std::unique_ptr<StreamHandler> create(const FlowInfo& flow) override;
  // Name of the capture source each PacketRef::source index refers to.
  void setSourceName(std::uint32_t source, std::string name);
  [[nodiscard]] std::string sourceName(std::uint32_t source) const;
  // Keys for decrypting TLS (--keylog, --rsa-key), shared by every factory of
  // a run; null (the default) keeps TLS flows to their clear handshake.
  void setDecryption(std::shared_ptr<DecryptionKeys> keys) { decryption_ = std::move(keys); }

  [[nodiscard]] std::uint64_t tlsFlows() const { return tls_flows_; }
  [[nodiscard]] std::uint64_t httpFlows() const { return http_flows_; }

 private:
  friend class FlowAnalyzer;
  // The text of a DistinguishedName a server lists in CertificateRequest
  // (distinguishedNameText), kept by its DER: a provisioning server sends the
  // same list in every handshake, and parsing it each time was 6 % of reading
  // the 1 GB corpus. At most NAME_TEXT_CACHE_MAX names are kept (a hostile
  // server may send new ones every time); beyond, they are parsed each time.
  std::string nameText(const std::vector<std::uint8_t>& der);
  // JA3 and JA4 of a ClientHello, kept by fingerprintKey(): a fleet's devices
  // send a few distinct ClientHellos between them, and computing the three
  // for every handshake was a third of emitting its observation (1 GB
  // corpus). At most FINGERPRINT_CACHE_MAX are kept; beyond, computed each time.
  ClientFingerprints fingerprints(const ClientHello& ch);
  ObservationSink& sink_;
  AnomalyCounters& anomalies_;
  CertCache& certs_;
  std::unordered_map<std::string, std::string, BytesHash, std::equal_to<>> name_texts_;  // one thread's: the factory's
  std::unordered_map<std::string, ClientFingerprints, BytesHash, std::equal_to<>> fingerprints_;  // the same
  std::map<std::uint32_t, std::string> source_names_;
  std::shared_ptr<DecryptionKeys> decryption_;
  std::uint64_t tls_flows_ = 0;
  std::uint64_t http_flows_ = 0;
};

}  // namespace provaudit::analyze
