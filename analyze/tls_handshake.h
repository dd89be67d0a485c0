#pragma once
// Parsers for single TLS handshake message bodies (the 4-byte handshake header
// already removed by the record layer in tls_connection.cc). They take a
// non-owning view, return owning plain structs and never read past the view:
// every length goes through ByteReader's bounded sub-readers. A malformed
// length counts the message's named anomaly and the fields read so far are kept.
#include <cstdint>
#include <optional>
#include <vector>

#include "analyze/tls_types.h"
#include "common/anomaly.h"
#include "common/byte_reader.h"

namespace provaudit::analyze {

// TLS handshake message types (RFC 5246 §7.4, RFC 8446 §4).
enum class HandshakeType : std::uint8_t {
  HelloRequest = 0,
  ClientHello = 1,
  ServerHello = 2,
  NewSessionTicket = 4,
  EncryptedExtensions = 8,
  Certificate = 11,
  ServerKeyExchange = 12,
  CertificateRequest = 13,
  ServerHelloDone = 14,
  CertificateVerify = 15,
  ClientKeyExchange = 16,
  Finished = 20,
};

// Protocol versions as they appear on the wire.
inline constexpr std::uint16_t TLS_VERSION_SSL3 = 0x0300;
inline constexpr std::uint16_t TLS_VERSION_1_2 = 0x0303;
inline constexpr std::uint16_t TLS_VERSION_1_3 = 0x0304;

// Extension types this parser reads (IANA TLS ExtensionType registry).
inline constexpr std::uint16_t TLS_EXT_SERVER_NAME = 0;             // RFC 6066 §3
inline constexpr std::uint16_t TLS_EXT_SUPPORTED_GROUPS = 10;       // RFC 8422 §5.1.1
inline constexpr std::uint16_t TLS_EXT_EC_POINT_FORMATS = 11;       // RFC 8422 §5.1.2
inline constexpr std::uint16_t TLS_EXT_SIGNATURE_ALGORITHMS = 13;   // RFC 5246 §7.4.1.4.1
inline constexpr std::uint16_t TLS_EXT_ALPN = 16;                   // RFC 7301 §3.1
inline constexpr std::uint16_t TLS_EXT_CLIENT_CERTIFICATE_TYPE = 19; // RFC 7250 §3
inline constexpr std::uint16_t TLS_EXT_SERVER_CERTIFICATE_TYPE = 20; // RFC 7250 §3
inline constexpr std::uint16_t TLS_EXT_SESSION_TICKET = 35;         // RFC 5077 §3.2
inline constexpr std::uint16_t TLS_EXT_PRE_SHARED_KEY = 41;         // RFC 8446 §4.2.11
inline constexpr std::uint16_t TLS_EXT_SUPPORTED_VERSIONS = 43;     // RFC 8446 §4.2.1
inline constexpr std::uint16_t TLS_EXT_RENEGOTIATION_INFO = 0xff01; // RFC 5746 §3.2
// RFC 5746 §3.3: the signalling cipher suite that stands for renegotiation_info.
inline constexpr std::uint16_t TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

// RFC 8701 §2: GREASE values are 0x0A0A, 0x1A1A, ... 0xFAFA.
inline bool isGrease(std::uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// RFC 8446 §4.1.3: 0x0304 and the draft versions 0x7fNN negotiate TLS 1.3.
inline bool isTls13(std::uint16_t version) { return version == TLS_VERSION_1_3 || (version >> 8) == 0x7f; }

// ClientHello body (RFC 5246 §7.4.1.2, RFC 8446 §4.1.2). record_version is left
// for the caller, which knows the record header.
ClientHello parseClientHello(Bytes body, AnomalyCounters& anomalies);

// SSLv2-compatible CLIENT-HELLO (RFC 5246 Appendix E.2): `message` is the
// record body after the 2-byte length header, starting at msg_type.
ClientHello parseSslv2ClientHello(Bytes message, AnomalyCounters& anomalies);

// ServerHello body, HelloRetryRequest included (RFC 8446 §4.1.3, §4.1.4).
ServerHello parseServerHello(Bytes body, AnomalyCounters& anomalies);

// Certificate body in the TLS <= 1.2 form (RFC 5246 §7.4.2): a 3-byte-prefixed
// list of 3-byte-prefixed DER certificates. An empty, well-formed list yields an
// empty vector (RFC 5246 §7.4.6: the client has no certificate). A malformed
// list yields the certificates read before the fault, or nullopt when none was
// read: a broken message must never look like "no certificate".
std::optional<std::vector<Der>> parseCertificateList(Bytes body, AnomalyCounters& anomalies);

// Certificate body in the TLS <= 1.2 form when RawPublicKey was negotiated
// for its sender (RFC 7250 §3): one 3-byte-prefixed SubjectPublicKeyInfo, no
// list. Same contract as parseCertificateList: the key as the one element, an
// empty vector for a zero length (a client with no key for the type, read as
// RFC 5246 §7.4.6's empty list), nullopt (tls_certificate_malformed) when the
// length does not frame the body.
std::optional<std::vector<Der>> parseRawPublicKeyCertificate(Bytes body, AnomalyCounters& anomalies);

// EncryptedExtensions body (RFC 8446 §4.3.1): Extension extensions<0..2^16-1>.
// A malformed one counts tls_encrypted_extensions_malformed and keeps what
// was read before the fault.
EncryptedExtensions parseEncryptedExtensions(Bytes body, AnomalyCounters& anomalies);

// NewSessionTicket body in the TLS <= 1.2 form (RFC 5077 §3.3), sent in clear
// right before the server's ChangeCipherSpec.
struct NewSessionTicket {
  std::uint32_t lifetime_hint = 0;    // seconds; 0 = not specified
  std::vector<std::uint8_t> ticket;   // opaque to everyone but the server; empty = no ticket after all
};

// uint32 ticket_lifetime_hint; opaque ticket<0..2^16-1>. A length that does
// not fill the body exactly counts tls_new_session_ticket_malformed; a ticket
// whose length runs past the body is not kept.
NewSessionTicket parseNewSessionTicket(Bytes body, AnomalyCounters& anomalies);

// CertificateRequest body (RFC 5246 §7.4.4; TLS 1.0/1.1 in RFC 4346 §7.4.4
// has no supported_signature_algorithms). `negotiated_version` is the
// ServerHello's selected version, or nullopt when the ServerHello was not seen:
// then both forms are tried and the one that spans the body exactly wins.
CertificateRequest parseCertificateRequest(Bytes body, std::optional<std::uint16_t> negotiated_version,
                                           AnomalyCounters& anomalies);

}  // namespace provaudit::analyze
