#pragma once
// Byte builders for hand-made TLS records. Each helper writes one wire
// construct (RFC 8446 §3.4 vectors, RFC 5246 §6.2.1 records, §7.4 handshake
// headers) so the tests can state every field and break exactly one length.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "analyze/tls_connection.h"
#include "common/anomaly.h"

namespace provaudit::tlstest {

using Buf = std::vector<std::uint8_t>;

inline Buf cat(std::initializer_list<Buf> parts) {
  Buf out;
  for (const Buf& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
inline Buf u16(std::size_t v) { return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}; }
inline Buf u24(std::size_t v) {
  return {static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
inline Buf u32(std::size_t v) { return cat({u16(v >> 16), u16(v & 0xffff)}); }
inline Buf text(const std::string& s) { return Buf(s.begin(), s.end()); }
// Vectors with an 8/16/24-bit length prefix.
inline Buf vec8(const Buf& body) { return cat({{static_cast<std::uint8_t>(body.size())}, body}); }
inline Buf vec16(const Buf& body) { return cat({u16(body.size()), body}); }
inline Buf vec24(const Buf& body) { return cat({u24(body.size()), body}); }
inline Buf u16s(std::initializer_list<std::uint16_t> values) {
  Buf out;
  for (const std::uint16_t v : values) {
    const Buf b = u16(v);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

// Record: content type, version, 16-bit length, payload.
inline Buf record(std::uint8_t type, const Buf& payload, std::uint16_t version = 0x0303) {
  return cat({{type}, u16(version), vec16(payload)});
}
inline Buf handshakeRecord(const Buf& payload, std::uint16_t version = 0x0303) { return record(22, payload, version); }
// Handshake message: type, 24-bit length, body.
inline Buf handshake(std::uint8_t type, const Buf& body) { return cat({{type}, vec24(body)}); }
inline Buf extension(std::uint16_t type, const Buf& data) { return cat({u16(type), vec16(data)}); }

inline const Buf CCS = record(20, {0x01});

// A ClientHello as separate fields, so a test can replace exactly one.
struct ClientHelloParts {
  Buf version{0x03, 0x03};                                    // legacy_version: TLS 1.2
  Buf random = Buf(32, 0x11);                                 // random
  Buf session_id = vec8(Buf(32, 0xaa));                       // session_id<0..32>
  Buf cipher_suites = vec16(u16s({0x0a0a, 0xc02f, 0x002f, 0x00ff}));  // GREASE, ECDHE-RSA-AES128-GCM, AES128-SHA, SCSV
  Buf compression = vec8({0x00});                             // compression_methods: null
  std::vector<Buf> extensions{
      extension(0x0000, vec16(cat({{0x00}, vec16(text("prov.example"))}))),  // server_name: host_name
      extension(0x000a, vec16(u16s({0x001d, 0x0017}))),                      // supported_groups: x25519, P-256
      extension(0x000b, vec8({0x00})),                                       // ec_point_formats: uncompressed
      extension(0x000d, vec16(u16s({0x0403, 0x0804}))),                      // signature_algorithms
      extension(0x0010, vec16(cat({vec8(text("http/1.1"))}))),               // ALPN
      extension(0x0023, {}),                                                 // session_ticket: empty
      extension(0x002b, vec8(u16s({0x0303, 0x0302}))),                      // supported_versions
  };
  Buf extensions_block() const {
    Buf all;
    for (const Buf& e : extensions) all.insert(all.end(), e.begin(), e.end());
    return vec16(all);
  }
  std::optional<Buf> extensions_override;  // replaces the whole extensions block when set
  Buf body() const {
    return cat({version, random, session_id, cipher_suites, compression, extensions_override.value_or(extensions_block())});
  }
  Buf message() const { return handshake(1, body()); }
  Buf record() const { return handshakeRecord(message(), 0x0301); }
};

struct ServerHelloParts {
  Buf version{0x03, 0x03};                // legacy_version
  Buf random = Buf(32, 0x22);             // random
  Buf session_id = vec8(Buf(32, 0xbb));   // session_id: a new session
  Buf cipher_suite = u16(0xc02f);         // cipher_suite
  Buf compression{0x00};                  // compression_method
  Buf extensions = vec16(extension(0xff01, vec8({})));  // renegotiation_info, empty
  Buf body() const { return cat({version, random, session_id, cipher_suite, compression, extensions}); }
  Buf message() const { return handshake(2, body()); }
};

// Certificate message body in the TLS <= 1.2 form.
inline Buf certificateBody(std::initializer_list<Buf> ders) {
  Buf list;
  for (const Buf& d : ders) {
    const Buf one = vec24(d);
    list.insert(list.end(), one.begin(), one.end());
  }
  return vec24(list);
}

// A stand-in "DER" blob: the record layer does not decode certificates.
inline Buf fakeDer(std::uint8_t fill, std::size_t n = 40) {
  Buf d(n, fill);
  d[0] = 0x30;
  return d;
}

inline Buf certificateRequestBody12(const Buf& ca_name) {
  return cat({vec8({0x01, 0x40}),                  // certificate_types: rsa_sign, ecdsa_sign
              vec16(u16s({0x0403, 0x0401})),       // supported_signature_algorithms
              vec16(vec16(ca_name))});             // certificate_authorities: one DistinguishedName
}

struct Feeder {
  AnomalyCounters anomalies;
  analyze::TlsConnection tls{anomalies};
  analyze::ParseState last = analyze::ParseState::NeedMore;
  analyze::ParseState client(const Buf& b) { return last = tls.feed(Side::Client, b); }
  analyze::ParseState server(const Buf& b) { return last = tls.feed(Side::Server, b); }
  const analyze::TlsSummary& summary() const { return tls.summary(); }
};

}  // namespace provaudit::tlstest
