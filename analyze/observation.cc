#include "analyze/observation.h"

#include <cstdio>

#include "common/text.h"

namespace provaudit::analyze {
namespace {

// FNV-1a, 64 bit: a stable content key, not a security boundary.
class KeyHasher {
 public:
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      h_ ^= p[i];
      h_ *= 0x100000001b3ULL;
    }
  }
  template <typename T>
  void addValue(const T& v) {
    add(&v, sizeof v);
  }
  void addEndpoint(const Endpoint& e) {
    addValue(e.ip.family);
    add(e.ip.b.data(), e.ip.b.size());
    addValue(e.port);
  }
  [[nodiscard]] std::string hex() const {
    std::string out;
    appendHexLower(out, h_, 16);
    return out;
  }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace

std::string observationKey(const TlsObservation& obs) {
  KeyHasher k;
  k.add("tls", 3);
  k.addValue(obs.first.ts_ns);
  k.addEndpoint(obs.flow.client);
  k.addEndpoint(obs.flow.server);
  return k.hex();
}

std::string observationKey(const HttpObservation& obs) {
  KeyHasher k;
  k.add("http", 4);
  k.addValue(obs.flow.ref.ts_ns);
  k.addValue(obs.stream_offset);
  k.addEndpoint(obs.flow.client);
  k.addEndpoint(obs.flow.server);
  return k.hex();
}

HandshakeReadDepth readDepth(const TlsObservation& obs) {
  return {obs.decrypted,
          obs.client_cert != ClientCertState::NotSent || obs.no_certificate_alert,
          obs.certificate_requested,
          obs.complete,
          obs.server_hello_seen,
          obs.gap};
}

void trimForAudit(TlsObservation& obs) {
  std::string().swap(obs.ja3_string);
  std::vector<std::uint16_t>().swap(obs.offered_versions);
  if (!obs.resumed) {
    std::string().swap(obs.session_id);
    std::string().swap(obs.ticket_sha256);
  }
}

std::size_t keptTextBytes(const TlsObservation& obs) {
  std::size_t n = obs.flow.source.size() + obs.sni.size() + obs.ja3.size() + obs.ja4.size() +
                  obs.server_session_id.size() + obs.issued_ticket_sha256.size() + obs.client_raw_key_sha256.size();
  if (obs.resumed) n += obs.session_id.size() + obs.ticket_sha256.size();
  for (const auto& name : obs.requested_ca_names) n += name.size();
  return n;
}

std::size_t trimmedTextBytes(const TlsObservation& obs) {
  std::size_t n = obs.ja3_string.size() + obs.offered_versions.size() * sizeof(std::uint16_t);
  if (!obs.resumed) n += obs.session_id.size() + obs.ticket_sha256.size();
  return n;
}

std::size_t textBytes(const HttpObservation& obs) {
  return obs.flow.source.size() + obs.method.size() + obs.uri.size() + obs.host.size() + obs.user_agent.size() +
         obs.body.size();
}

std::string versionName(std::uint16_t version) {
  switch (version) {
    case 0x0002: return "SSL 2.0";
    case 0x0300: return "SSL 3.0";
    case 0x0301: return "TLS 1.0";
    case 0x0302: return "TLS 1.1";
    case 0x0303: return "TLS 1.2";
    case 0x0304: return "TLS 1.3";
    default: break;
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%04x", version);
  return buf;
}

}  // namespace provaudit::analyze
