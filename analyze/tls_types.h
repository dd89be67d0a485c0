#pragma once
// Plain structs for what the TLS handshake parser extracts. Owning copies: the
// parser's input bytes are views that die after each call.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace provaudit::analyze {

using Der = std::vector<std::uint8_t>;

// RFC 7250 §3, IANA "TLS Certificate Types": what a side's Certificate
// message carries. X.509 unless the client_certificate_type /
// server_certificate_type extensions negotiated another (RFC 7250 §4.2).
inline constexpr std::uint8_t TLS_CERT_TYPE_X509 = 0;
inline constexpr std::uint8_t TLS_CERT_TYPE_RAW_PUBLIC_KEY = 2;

// RFC 5246 §6.2.1 ContentType, RFC 6520 §2 heartbeat.
enum class ContentType : std::uint8_t {
  ChangeCipherSpec = 20,
  Alert = 21,
  Handshake = 22,
  ApplicationData = 23,
  Heartbeat = 24,
};

constexpr bool isContentType(std::uint8_t type) {
  return type >= static_cast<std::uint8_t>(ContentType::ChangeCipherSpec) &&
         type <= static_cast<std::uint8_t>(ContentType::Heartbeat);
}

struct ClientHello {
  std::uint16_t record_version = 0;              // version in the record header
  std::uint16_t legacy_version = 0;              // client_version field
  std::vector<std::uint16_t> supported_versions; // RFC 8446 §4.2.1, in order (GREASE kept)
  std::array<std::uint8_t, 32> random{};
  std::vector<std::uint8_t> session_id;
  std::vector<std::uint16_t> cipher_suites;      // in order (GREASE kept; fingerprints drop them)
  std::vector<std::uint8_t> compression_methods;
  std::vector<std::uint16_t> extensions;         // extension types in order
  std::string sni;                               // first host_name of server_name
  std::vector<std::string> alpn;
  std::vector<std::uint16_t> supported_groups;
  std::vector<std::uint8_t> ec_point_formats;
  std::vector<std::uint16_t> signature_algorithms;
  bool has_session_ticket_ext = false;
  std::vector<std::uint8_t> session_ticket;      // non-empty when resuming with a ticket
  bool has_renegotiation_info = false;           // RFC 5746 extension or SCSV 0x00ff
  bool has_pre_shared_key = false;               // TLS 1.3 resumption attempt
  std::vector<std::uint8_t> client_certificate_types;  // RFC 7250 §4.1 offer, in order (empty = not offered)
  std::vector<std::uint8_t> server_certificate_types;
  bool sslv2_compat = false;                     // SSLv2-compatible CLIENT-HELLO (RFC 5246 Appendix E.2)
};

struct ServerHello {
  std::uint16_t legacy_version = 0;
  std::uint16_t selected_version = 0;            // supported_versions if present, else legacy_version
  std::array<std::uint8_t, 32> random{};
  std::vector<std::uint8_t> session_id;
  std::uint16_t cipher_suite = 0;
  std::uint8_t compression_method = 0;
  std::vector<std::uint16_t> extensions;
  bool hello_retry_request = false;              // RFC 8446 §4.1.3 special random
  // RFC 7250 §4.2: the type each side's Certificate carries, as a TLS <= 1.2
  // ServerHello selects it (TLS 1.3 selects it in EncryptedExtensions).
  std::uint8_t client_certificate_type = TLS_CERT_TYPE_X509;
  std::uint8_t server_certificate_type = TLS_CERT_TYPE_X509;
};

// RFC 8446 §4.3.1: the extensions a TLS 1.3 server sends encrypted right
// after its ServerHello.
struct EncryptedExtensions {
  std::vector<std::uint16_t> extensions;
  std::uint8_t client_certificate_type = TLS_CERT_TYPE_X509;  // RFC 7250 §4.2, as in ServerHello
  std::uint8_t server_certificate_type = TLS_CERT_TYPE_X509;
};

struct CertificateRequest {
  std::vector<std::uint8_t> certificate_types;
  std::vector<std::uint16_t> signature_algorithms;
  std::vector<Der> ca_names;                     // DER-encoded DistinguishedNames (may be empty)
};

struct TlsAlert {
  std::uint8_t level = 0;
  std::uint8_t description = 0;
  bool encrypted = false;                        // seen after ChangeCipherSpec: contents unreadable
};

}  // namespace provaudit::analyze
