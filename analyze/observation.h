#pragma once
// Observations: what one connection showed, in owning plain structs. They are
// the evidence the audit derives devices from, and what the store keeps as
// sightings (every handshake and request, with time, 5-tuple, frame and file).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analyze/cert_info.h"
#include "common/net_types.h"

namespace provaudit::analyze {

using CertPtr = std::shared_ptr<const CertInfo>;

struct ObservedFlow {
  PacketRef ref;                      // the packet that carried the deciding bytes
  std::string source;                 // capture file or interface name
  Endpoint client;
  Endpoint server;
  std::optional<MacAddr> client_mac;  // Ethernet source of the client's frames (innermost header)
  std::optional<MacAddr> server_mac;
  std::uint16_t vlan = 0;
};

// How the client answered (or could not be seen answering) a certificate request.
enum class ClientCertState : std::uint8_t {
  NotSent,  // no Certificate message from the client (not asked, resumed, hidden, or lost)
  Empty,    // RFC 5246 §7.4.6: an empty certificate_list means "no certificate"
  Present,  // a non-empty chain
  // RFC 7250: a raw public key (a SubjectPublicKeyInfo) instead of a chain: a
  // credential, but no certificate, so no claims say which unit holds it.
  RawPublicKey,
};

struct TlsObservation {
  ObservedFlow flow;
  std::string sni;
  std::uint16_t client_max_version = 0;  // highest version the client offered
  std::uint16_t version = 0;             // negotiated (0 = no ServerHello seen)
  std::uint16_t cipher_suite = 0;
  std::vector<std::uint16_t> offered_versions;
  bool certificate_requested = false;
  std::vector<std::string> requested_ca_names;  // DistinguishedNames the server advertised, as text
  ClientCertState client_cert = ClientCertState::NotSent;
  std::vector<CertPtr> client_chain;     // as sent, leaf first
  std::string client_raw_key_sha256;     // hex SHA-256 of the client's raw public key (its SPKI DER), RawPublicKey only
  std::vector<CertPtr> server_chain;
  bool no_certificate_alert = false;     // SSLv3 no_certificate
  bool resumed = false;
  bool tls13 = false;
  bool renegotiation = false;
  bool gap = false;                      // bytes missing in the handshake
  bool complete = false;                 // both sides finished the (visible) handshake
  bool server_hello_seen = false;
  bool decrypted = false;                // evidence came from decrypted records
  std::string session_id;                // hex, client's offered id (resumption linking)
  std::string server_session_id;         // hex, the server's id
  bool ticket_offered = false;           // client presented a session ticket
  std::string ticket_sha256;             // hex SHA-256 of the ticket the ClientHello offered, "" if none
  std::string issued_ticket_sha256;      // hex SHA-256 of the server's clear NewSessionTicket, "" if none
  std::string ja3;                       // JA3 MD5
  std::string ja3_string;
  std::string ja4;
  std::uint64_t client_cert_frame = 0;   // frame of the client Certificate, if any
  PacketRef first;                       // the ClientHello's packet
};

struct HttpObservation {
  ObservedFlow flow;
  bool over_tls = false;                 // seen inside decrypted TLS
  std::string method;
  std::string uri;
  std::string host;
  std::string user_agent;
  std::string body;                      // up to the parser's limit
  std::uint64_t stream_offset = 0;
};

// A proxy's CONNECT (RFC 9110 §9.3.6): the request opens a tunnel, whose
// bytes (TLS, most often) are read as a connection of their own; it names a
// host:port, not a profile.
inline bool isTunnelRequest(const HttpObservation& h) { return h.method == "CONNECT"; }

class ObservationSink {
 public:
  virtual ~ObservationSink() = default;
  virtual void onTls(TlsObservation&& obs) = 0;
  virtual void onHttp(HttpObservation&& obs) = 0;
};

// Stable 64-bit identity of an observation, from what was on the wire (time,
// endpoints, kind, stream offset), so replaying the same packets twice, from
// the same file or another, never doubles a sighting.
std::string observationKey(const TlsObservation& obs);
std::string observationKey(const HttpObservation& obs);

// Releases what the audit never reads from a sighting it holds as evidence
// (the store keeps every field): the JA3 string (its MD5 stays), the versions
// the client offered and, unless the handshake resumed, the session id and
// ticket the client offered (a resumed handshake is linked by them, a full one
// by the server's). 100 to 400 bytes a handshake, for every one the evidence
// holds (a sensor at --max-sightings holds 150,000).
void trimForAudit(TlsObservation& obs);

// How much of a handshake was read, for two sightings of the same one (the
// same first packet and endpoints): a capture cut short, or read without the
// key log a later replay has, against the whole or decrypted one. Higher is
// more: decrypted, the client's certificate answer seen, the certificate
// request seen, complete, the ServerHello seen, no gap.
struct HandshakeReadDepth {
  bool decrypted = false, client_answer = false, certificate_requested = false, complete = false,
       server_hello_seen = false, gap = false;
  [[nodiscard]] int rank() const {
    return (decrypted ? 32 : 0) | (client_answer ? 16 : 0) | (certificate_requested ? 8 : 0) | (complete ? 4 : 0) |
           (server_hello_seen ? 2 : 0) | (gap ? 0 : 1);
  }
};
HandshakeReadDepth readDepth(const TlsObservation& obs);
// The bytes of an observation's texts: of a handshake's, those trimForAudit
// keeps (what the audit's evidence holds; trimmedTextBytes what it drops);
// of a request's, all of them. For estimates of what holding one costs.
std::size_t keptTextBytes(const TlsObservation& obs);
std::size_t trimmedTextBytes(const TlsObservation& obs);
std::size_t textBytes(const HttpObservation& obs);

std::string versionName(std::uint16_t version);  // "TLS 1.2", "SSL 3.0", ...

}  // namespace provaudit::analyze
