#pragma once
// What provaudit keeps of one X.509 certificate. Filled by x509.cc from
// OpenSSL's ASN.1 decoder (OpenSSL does ASN.1; we never parse DER ourselves).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace provaudit::analyze {

// One attribute of a distinguished name, in certificate order.
struct RdnAttr {
  std::string key;    // OpenSSL short name: "CN","OU","O","L","ST","C","serialNumber","emailAddress", else dotted OID
  std::string value;  // UTF-8 as decoded by OpenSSL from any ASN.1 string type; invalid bytes kept escaped \xNN
  bool joined = false;  // in the same RDN as the attribute before it (a multi-valued RDN: "OU=a+L=b")
};

struct CertInfo {
  std::vector<std::uint8_t> der;           // the exact bytes sent
  std::string sha256;                      // lowercase hex of SHA-256(der)
  std::vector<RdnAttr> subject;
  std::vector<RdnAttr> issuer;
  std::string subject_text;                // RFC 2253-like one-line form, "CN=..,OU=..,L=..,ST=.."
  std::string issuer_text;
  std::string serial_number;               // hex, uppercase, no separators
  std::int64_t not_before = 0;             // seconds since epoch, UTC
  std::int64_t not_after = 0;
  // Whether each was read (0 is a date like any other: 1970-01-01T00:00:00Z).
  bool not_before_known = false, not_after_known = false;
  std::string key_type;                    // "RSA","EC","DSA","Ed25519","Ed448", else OpenSSL name
  int key_bits = 0;
  std::string signature;                   // OpenSSL long name, e.g. "sha256WithRSAEncryption"
  std::string signature_digest;            // "md5","sha1","sha256",... or "" when not applicable
  bool is_ca = false;                      // basicConstraints CA:TRUE
  std::vector<std::string> san_dns;        // subjectAltName DNS names
  std::vector<std::string> san_other;      // other SAN entries as text ("IP:..","email:..","URI:..")

  // First value of an attribute by short name, or nullopt.
  [[nodiscard]] std::optional<std::string> subjectGet(const std::string& key) const;
  [[nodiscard]] std::optional<std::string> issuerGet(const std::string& key) const;
};

// What a parsed certificate holds besides its DER: its fields' heap bytes (a
// certificate listing 3,000 DNS names holds twice its DER in them).
std::size_t parsedBytes(const CertInfo& c);
// What it holds in all: the DER, the fields, and, at least, what a
// certificate with a few fields costs beyond its DER (CERT_ENTRY_MIN).
inline constexpr std::size_t CERT_ENTRY_MIN = 1024;
inline std::size_t certFootprint(const CertInfo& c) {
  const std::size_t parsed = parsedBytes(c);
  return c.der.size() + (parsed > CERT_ENTRY_MIN ? parsed : CERT_ENTRY_MIN);
}

// Parses one DER certificate. Returns nullopt (never throws) when OpenSSL
// cannot decode it or the encoding does not span exactly `der`.
std::optional<CertInfo> parseCertificate(const std::uint8_t* der, std::size_t len);

}  // namespace provaudit::analyze

namespace provaudit::analyze {
// A DER DistinguishedName (as in CertificateRequest certificate_authorities)
// rendered like CertInfo::subject_text; "" when it does not decode.
std::string distinguishedNameText(const std::uint8_t* der, std::size_t len);
// Renders parsed attributes as "KEY=value,KEY=value" with RFC 4514 escaping.
std::string rdnText(const std::vector<RdnAttr>& attrs);
}  // namespace provaudit::analyze
