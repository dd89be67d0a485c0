// Handshake message bodies, parsed in the shape of Envoy's tls_inspector:
// every vector is read through a length-prefixed sub-reader, and the first
// length that does not fit stops the parse with what was read so far.
#include "analyze/tls_handshake.h"

#include <algorithm>
#include <array>
#include <string>

namespace provaudit::analyze {
namespace {

// RFC 8446 §4.1.3: a HelloRetryRequest is a ServerHello whose random is
// SHA-256("HelloRetryRequest").
constexpr std::array<std::uint8_t, 32> HELLO_RETRY_REQUEST_RANDOM{
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

// RFC 5246 §7.4.1.2: SessionID <0..32>.
constexpr std::size_t TLS_MAX_SESSION_ID = 32;
// RFC 5246 Appendix E.2: the SSLv2 challenge is 16 to 32 bytes.
constexpr std::size_t SSLV2_MIN_CHALLENGE = 16;
constexpr std::size_t SSLV2_CIPHER_SPEC_SIZE = 3;

// Appends every 16-bit value of `list`; false when an odd byte is left over.
bool readU16List(ByteReader list, std::vector<std::uint16_t>& out) {
  std::uint16_t v = 0;
  while (list.readU16(v)) out.push_back(v);
  return list.empty();
}

void copyBytes(Bytes from, std::vector<std::uint8_t>& to) { to.assign(from.begin(), from.end()); }

// Reads `random` (32 bytes) into `out`.
bool readRandom(ByteReader& r, std::array<std::uint8_t, 32>& out) {
  Bytes bytes;
  if (!r.readBytes(out.size(), bytes)) return false;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return true;
}

// Reads a SessionID <0..32>; an over-long one is kept but reported.
bool readSessionId(ByteReader& r, std::vector<std::uint8_t>& out, bool& well_formed) {
  ByteReader sid;
  if (!r.readPrefixed8(sid)) return false;
  if (sid.remaining() > TLS_MAX_SESSION_ID) well_formed = false;
  copyBytes(sid.rest(), out);
  return true;
}

// Reads a vector <..> of 16-bit values whose length prefix is 8 or 16 bits
// and that fills the extension data exactly.
bool readExtensionU16List(ByteReader data, bool prefix8, std::vector<std::uint16_t>& out) {
  ByteReader list;
  const bool framed = prefix8 ? data.readPrefixed8(list) : data.readPrefixed16(list);
  return framed && data.empty() && readU16List(list, out);
}

// One ClientHello extension; false when its inner lengths do not add up.
bool parseClientExtension(std::uint16_t type, ByteReader data, ClientHello& ch) {
  ByteReader list;
  switch (type) {
    case TLS_EXT_SERVER_NAME: {
      // RFC 6066 §3: ServerName server_name_list<1..2^16-1>; {NameType; HostName<1..2^16-1>}.
      if (!data.readPrefixed16(list) || !data.empty()) return false;
      while (!list.empty()) {
        std::uint8_t name_type = 0;
        ByteReader name;
        if (!list.readU8(name_type) || !list.readPrefixed16(name)) return false;
        if (name_type == 0 && ch.sni.empty()) ch.sni = std::string(asText(name.rest()));  // 0 = host_name
      }
      return true;
    }
    case TLS_EXT_SUPPORTED_GROUPS:  // NamedGroup named_group_list<2..2^16-1>
      return readExtensionU16List(data, false, ch.supported_groups);
    case TLS_EXT_EC_POINT_FORMATS:  // ECPointFormat ec_point_format_list<1..2^8-1>
      if (!data.readPrefixed8(list) || !data.empty()) return false;
      copyBytes(list.rest(), ch.ec_point_formats);
      return true;
    case TLS_EXT_SIGNATURE_ALGORITHMS:  // SignatureScheme supported_signature_algorithms<2..2^16-2>
      return readExtensionU16List(data, false, ch.signature_algorithms);
    case TLS_EXT_ALPN: {
      // RFC 7301 §3.1: ProtocolName protocol_name_list<2..2^16-1>; opaque ProtocolName<1..2^8-1>.
      if (!data.readPrefixed16(list) || !data.empty()) return false;
      while (!list.empty()) {
        ByteReader name;
        if (!list.readPrefixed8(name)) return false;
        ch.alpn.emplace_back(asText(name.rest()));
      }
      return true;
    }
    case TLS_EXT_SESSION_TICKET:  // RFC 5077 §3.2: the whole extension data is the ticket
      ch.has_session_ticket_ext = true;
      copyBytes(data.rest(), ch.session_ticket);
      return true;
    case TLS_EXT_PRE_SHARED_KEY:  // contents (identities, binders) are not needed
      ch.has_pre_shared_key = true;
      return true;
    case TLS_EXT_SUPPORTED_VERSIONS:  // ProtocolVersion versions<2..254>
      return readExtensionU16List(data, true, ch.supported_versions);
    case TLS_EXT_RENEGOTIATION_INFO:  // RFC 5746 §3.2: opaque renegotiated_connection<0..255>
      ch.has_renegotiation_info = true;
      return data.readPrefixed8(list) && data.empty();
    case TLS_EXT_CLIENT_CERTIFICATE_TYPE:  // RFC 7250 §3: CertificateType client_certificate_types<1..2^8-1>
      if (!data.readPrefixed8(list) || !data.empty() || list.empty()) return false;
      copyBytes(list.rest(), ch.client_certificate_types);
      return true;
    case TLS_EXT_SERVER_CERTIFICATE_TYPE:  // RFC 7250 §3: CertificateType server_certificate_types<1..2^8-1>
      if (!data.readPrefixed8(list) || !data.empty() || list.empty()) return false;
      copyBytes(list.rest(), ch.server_certificate_types);
      return true;
    default:
      return true;
  }
}

// RFC 7250 §3: in a ServerHello (TLS <= 1.2) or EncryptedExtensions (TLS 1.3,
// RFC 8446 §4.3.1) the server answers one CertificateType, not a list.
// Extensions other than the two certificate types are left to the caller;
// false when one of the two is not exactly one byte.
bool readSelectedCertificateType(std::uint16_t type, ByteReader data, std::uint8_t& client_type,
                                 std::uint8_t& server_type) {
  if (type != TLS_EXT_CLIENT_CERTIFICATE_TYPE && type != TLS_EXT_SERVER_CERTIFICATE_TYPE) return true;
  std::uint8_t selected = 0;
  if (!data.readU8(selected) || !data.empty()) return false;
  (type == TLS_EXT_CLIENT_CERTIFICATE_TYPE ? client_type : server_type) = selected;
  return true;
}

// RFC 5246 §7.4.1.2: the optional Extension extensions<0..2^16-1> that closes
// a hello (SSLv3 / early TLS 1.0 clients send none). Records every type in
// order and hands each one's data to `on_extension`. An extension whose inner
// lengths are wrong is reported, but its outer length still frames the next
// one, so the walk goes on; false when the block itself does not fit.
template <typename OnExtension>
bool readExtensions(ByteReader& r, std::vector<std::uint16_t>& types, OnExtension on_extension) {
  if (r.empty()) return true;
  ByteReader extensions;
  if (!r.readPrefixed16(extensions) || !r.empty()) return false;
  bool well_formed = true;
  while (!extensions.empty()) {
    std::uint16_t type = 0;
    ByteReader data;
    if (!extensions.readU16(type) || !extensions.readPrefixed16(data)) return false;
    types.push_back(type);
    well_formed = on_extension(type, data) && well_formed;
  }
  return well_formed;
}

// Fills `ch` from a ClientHello body; false at the first length that does not fit.
bool parseClientHelloFields(ByteReader r, ClientHello& ch) {
  bool well_formed = true;
  ByteReader suites;
  ByteReader compression;
  if (!r.readU16(ch.legacy_version) || !readRandom(r, ch.random) ||
      !readSessionId(r, ch.session_id, well_formed) || !r.readPrefixed16(suites)) {
    return false;
  }
  well_formed = readU16List(suites, ch.cipher_suites) && well_formed;  // odd length: the last byte is dropped
  if (std::find(ch.cipher_suites.begin(), ch.cipher_suites.end(), TLS_EMPTY_RENEGOTIATION_INFO_SCSV) !=
      ch.cipher_suites.end()) {
    ch.has_renegotiation_info = true;
  }
  if (!r.readPrefixed8(compression)) return false;
  copyBytes(compression.rest(), ch.compression_methods);
  const bool extensions_ok = readExtensions(
      r, ch.extensions, [&ch](std::uint16_t type, ByteReader data) { return parseClientExtension(type, data, ch); });
  return extensions_ok && well_formed;
}

bool parseServerHelloFields(ByteReader r, ServerHello& sh) {
  bool well_formed = true;
  if (!r.readU16(sh.legacy_version)) return false;
  sh.selected_version = sh.legacy_version;
  if (!readRandom(r, sh.random)) return false;
  sh.hello_retry_request = sh.random == HELLO_RETRY_REQUEST_RANDOM;
  if (!readSessionId(r, sh.session_id, well_formed) || !r.readU16(sh.cipher_suite) ||
      !r.readU8(sh.compression_method)) {
    return false;
  }
  const bool extensions_ok = readExtensions(r, sh.extensions, [&sh](std::uint16_t type, ByteReader data) {
    if (type != TLS_EXT_SUPPORTED_VERSIONS) {
      return readSelectedCertificateType(type, data, sh.client_certificate_type, sh.server_certificate_type);
    }
    // RFC 8446 §4.2.1: in a ServerHello, one ProtocolVersion selected_version.
    std::uint16_t selected = 0;
    if (!data.readU16(selected) || !data.empty()) return false;
    sh.selected_version = selected;
    return true;
  });
  return extensions_ok && well_formed;
}

bool parseCertificateRequestAs(ByteReader r, bool with_signature_algorithms, CertificateRequest& out) {
  ByteReader types;
  ByteReader authorities;
  if (!r.readPrefixed8(types)) return false;
  copyBytes(types.rest(), out.certificate_types);
  if (with_signature_algorithms) {
    ByteReader algorithms;
    if (!r.readPrefixed16(algorithms)) return false;
    if (!readU16List(algorithms, out.signature_algorithms)) return false;
  }
  // DistinguishedName certificate_authorities<0..2^16-1>; opaque DistinguishedName<1..2^16-1>.
  if (!r.readPrefixed16(authorities)) return false;
  while (!authorities.empty()) {
    ByteReader name;
    if (!authorities.readPrefixed16(name)) return false;
    const Bytes der = name.rest();
    out.ca_names.emplace_back(der.begin(), der.end());
  }
  return r.empty();
}

}  // namespace

ClientHello parseClientHello(Bytes body, AnomalyCounters& anomalies) {
  ClientHello ch;
  if (!parseClientHelloFields(ByteReader(body), ch)) anomalies.inc(PA_ANOMALY("tls_client_hello_malformed"));
  return ch;
}

ClientHello parseSslv2ClientHello(Bytes message, AnomalyCounters& anomalies) {
  ClientHello ch;
  ch.sslv2_compat = true;
  ByteReader r(message);
  std::uint8_t msg_type = 0;
  std::uint16_t cipher_spec_length = 0;
  std::uint16_t session_id_length = 0;
  std::uint16_t challenge_length = 0;
  Bytes specs;
  Bytes session_id;
  Bytes challenge;
  // RFC 5246 Appendix E.2: msg_type(1) version(2) cipher_spec_length(2)
  // session_id_length(2) challenge_length(2), then the three vectors.
  bool well_formed = r.readU8(msg_type) && msg_type == 1 && r.readU16(ch.legacy_version) &&
                     r.readU16(cipher_spec_length) && r.readU16(session_id_length) && r.readU16(challenge_length) &&
                     r.readBytes(cipher_spec_length, specs);
  // V2CipherSpec is 3 bytes; those with a zero first byte are TLS suites.
  ByteReader spec_reader(specs);
  Bytes spec;
  while (spec_reader.readBytes(SSLV2_CIPHER_SPEC_SIZE, spec)) {
    if (spec[0] != 0) continue;
    const auto suite = static_cast<std::uint16_t>((spec[1] << 8) | spec[2]);
    ch.cipher_suites.push_back(suite);
    if (suite == TLS_EMPTY_RENEGOTIATION_INFO_SCSV) ch.has_renegotiation_info = true;
  }
  well_formed = well_formed && spec_reader.empty() && r.readBytes(session_id_length, session_id) &&
                r.readBytes(challenge_length, challenge) && r.empty() && challenge.size() >= SSLV2_MIN_CHALLENGE &&
                challenge.size() <= ch.random.size();
  copyBytes(session_id, ch.session_id);
  // The challenge becomes the TLS client random, right-aligned with leading zeros
  // (RFC 6101 Appendix E.1).
  if (challenge.size() <= ch.random.size()) {
    std::copy(challenge.begin(), challenge.end(), ch.random.end() - static_cast<std::ptrdiff_t>(challenge.size()));
  }
  if (!well_formed) anomalies.inc(PA_ANOMALY("tls_client_hello_malformed"));
  return ch;
}

ServerHello parseServerHello(Bytes body, AnomalyCounters& anomalies) {
  ServerHello sh;
  if (!parseServerHelloFields(ByteReader(body), sh)) anomalies.inc(PA_ANOMALY("tls_server_hello_malformed"));
  return sh;
}

std::optional<std::vector<Der>> parseCertificateList(Bytes body, AnomalyCounters& anomalies) {
  ByteReader r(body);
  ByteReader list;
  std::vector<Der> certificates;
  // ASN.1Cert certificate_list<0..2^24-1>; opaque ASN.1Cert<1..2^24-1>.
  bool well_formed = r.readPrefixed24(list) && r.empty();
  while (well_formed && !list.empty()) {
    ByteReader der;
    if (!list.readPrefixed24(der) || der.empty()) {
      well_formed = false;
      break;
    }
    const Bytes bytes = der.rest();
    certificates.emplace_back(bytes.begin(), bytes.end());
  }
  if (well_formed) return certificates;
  anomalies.inc(PA_ANOMALY("tls_certificate_malformed"));
  if (certificates.empty()) return std::nullopt;
  return certificates;
}

std::optional<std::vector<Der>> parseRawPublicKeyCertificate(Bytes body, AnomalyCounters& anomalies) {
  ByteReader r(body);
  ByteReader key;
  // RFC 7250 §3: opaque ASN.1_subjectPublicKeyInfo<1..2^24-1>, the whole body.
  // The DER inside is the key's, read (or not) by whoever takes it further.
  if (!r.readPrefixed24(key) || !r.empty()) {
    anomalies.inc(PA_ANOMALY("tls_certificate_malformed"));
    return std::nullopt;
  }
  std::vector<Der> keys;
  if (key.empty()) return keys;
  const Bytes bytes = key.rest();
  keys.emplace_back(bytes.begin(), bytes.end());
  return keys;
}

EncryptedExtensions parseEncryptedExtensions(Bytes body, AnomalyCounters& anomalies) {
  EncryptedExtensions ee;
  ByteReader r(body);
  // Unlike a hello's, this block is not optional: an empty body is malformed.
  bool well_formed = !r.empty();
  well_formed = well_formed && readExtensions(r, ee.extensions, [&ee](std::uint16_t type, ByteReader data) {
    return readSelectedCertificateType(type, data, ee.client_certificate_type, ee.server_certificate_type);
  });
  if (!well_formed) anomalies.inc(PA_ANOMALY("tls_encrypted_extensions_malformed"));
  return ee;
}

NewSessionTicket parseNewSessionTicket(Bytes body, AnomalyCounters& anomalies) {
  NewSessionTicket nst;
  ByteReader r(body);
  ByteReader ticket;
  const bool framed = r.readU32(nst.lifetime_hint) && r.readPrefixed16(ticket);
  if (framed) copyBytes(ticket.rest(), nst.ticket);
  if (!framed || !r.empty()) anomalies.inc(PA_ANOMALY("tls_new_session_ticket_malformed"));
  return nst;
}

CertificateRequest parseCertificateRequest(Bytes body, std::optional<std::uint16_t> negotiated_version,
                                           AnomalyCounters& anomalies) {
  CertificateRequest request;
  if (negotiated_version) {
    // RFC 5246 §7.4.4: supported_signature_algorithms exists from TLS 1.2 on.
    if (!parseCertificateRequestAs(ByteReader(body), *negotiated_version >= TLS_VERSION_1_2, request)) {
      anomalies.inc(PA_ANOMALY("tls_certificate_request_malformed"));
    }
    return request;
  }
  if (parseCertificateRequestAs(ByteReader(body), true, request)) return request;
  CertificateRequest legacy;
  if (parseCertificateRequestAs(ByteReader(body), false, legacy)) return legacy;
  anomalies.inc(PA_ANOMALY("tls_certificate_request_malformed"));
  return request;
}

}  // namespace provaudit::analyze
