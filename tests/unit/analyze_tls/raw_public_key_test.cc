// RFC 7250 raw public keys: the client_certificate_type /
// server_certificate_type extensions (RFC 7250 §4.2; TLS <= 1.2 in the
// ServerHello, TLS 1.3 in EncryptedExtensions, RFC 8446 §4.3.1) and the
// Certificate message that carries one SubjectPublicKeyInfo instead of a
// list (RFC 7250 §3). Before, the key's DER was read as a certificate list
// (tls_certificate_malformed) or, in TLS 1.3, as a certificate
// (x509_unparseable_certificate).
#include <catch2/catch.hpp>

#include "analyze/tls_connection.h"
#include "analyze/tls_decrypt.h"
#include "analyze/tls_handshake.h"
#include "tls_builders.h"

using namespace provaudit::tlstest;
using provaudit::AnomalyCounters;
namespace analyze = provaudit::analyze;

namespace {

constexpr std::uint16_t CLIENT_CERTIFICATE_TYPE = 19;  // RFC 7250 §3
constexpr std::uint16_t SERVER_CERTIFICATE_TYPE = 20;
constexpr std::uint8_t X509 = 0;
constexpr std::uint8_t RAW_PUBLIC_KEY = 2;

// A P-256 SubjectPublicKeyInfo's first bytes (SEQUENCE, AlgorithmIdentifier
// id-ecPublicKey / prime256v1, BIT STRING), the point a stand-in. Read as a
// certificate list, its first three bytes (30 59 30) are a list length far
// past the message.
Buf spki() {
  Buf der = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
             0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
  der.resize(0x5b, 0x5a);  // SEQUENCE header + 0x59 bytes
  return der;
}

// A TLS 1.2 ServerHello whose extensions select `client_type` and `server_type`.
Buf serverHelloSelecting(std::uint8_t client_type, std::uint8_t server_type) {
  ServerHelloParts sh;
  sh.extensions = vec16(cat({extension(0xff01, vec8({})),                      // renegotiation_info
                             extension(CLIENT_CERTIFICATE_TYPE, {client_type}),  // one CertificateType
                             extension(SERVER_CERTIFICATE_TYPE, {server_type})}));
  return sh.message();
}

// The server's flight of a full TLS 1.2 handshake that asks for a certificate.
Buf serverFlight(std::uint8_t client_type, std::uint8_t server_type, const Buf& server_certificate) {
  return cat({handshakeRecord(serverHelloSelecting(client_type, server_type)),
              handshakeRecord(handshake(11, server_certificate)),
              handshakeRecord(handshake(13, certificateRequestBody12(fakeDer(0x44, 20)))),
              handshakeRecord(handshake(14, {}))});
}

}  // namespace

TEST_CASE("raw public key: the ClientHello's offered certificate types are kept in order") {
  ClientHelloParts p;
  p.extensions.push_back(extension(CLIENT_CERTIFICATE_TYPE, vec8({RAW_PUBLIC_KEY, X509})));  // types<1..2^8-1>
  p.extensions.push_back(extension(SERVER_CERTIFICATE_TYPE, vec8({X509})));
  AnomalyCounters anomalies;
  const analyze::ClientHello ch = analyze::parseClientHello(p.body(), anomalies);
  CHECK(ch.client_certificate_types == std::vector<std::uint8_t>{RAW_PUBLIC_KEY, X509});
  CHECK(ch.server_certificate_types == std::vector<std::uint8_t>{X509});
  CHECK(anomalies.total() == 0);
}

TEST_CASE("raw public key malformed: an empty certificate type list in the ClientHello") {
  ClientHelloParts p;
  p.extensions.push_back(extension(CLIENT_CERTIFICATE_TYPE, vec8({})));  // <1..2^8-1>: at least one
  AnomalyCounters anomalies;
  analyze::parseClientHello(p.body(), anomalies);
  CHECK(anomalies.get("tls_client_hello_malformed") == 1);
}

TEST_CASE("raw public key: the ServerHello selects one type per side, X.509 when it says nothing") {
  AnomalyCounters anomalies;
  const Buf selecting = serverHelloSelecting(RAW_PUBLIC_KEY, X509);
  const auto sh = analyze::parseServerHello(provaudit::Bytes(selecting).subspan(4), anomalies);
  CHECK(sh.client_certificate_type == RAW_PUBLIC_KEY);
  CHECK(sh.server_certificate_type == X509);
  const Buf plain = ServerHelloParts{}.message();
  const auto sh_default = analyze::parseServerHello(provaudit::Bytes(plain).subspan(4), anomalies);
  CHECK(sh_default.client_certificate_type == X509);
  CHECK(sh_default.server_certificate_type == X509);
  CHECK(anomalies.total() == 0);
}

TEST_CASE("raw public key malformed: a ServerHello certificate type that is a list, not one byte") {
  ServerHelloParts p;
  p.extensions = vec16(extension(CLIENT_CERTIFICATE_TYPE, vec8({RAW_PUBLIC_KEY})));  // the client's form
  AnomalyCounters anomalies;
  const auto sh = analyze::parseServerHello(p.body(), anomalies);
  CHECK(anomalies.get("tls_server_hello_malformed") == 1);
  CHECK(sh.client_certificate_type == X509);  // not taken
}

TEST_CASE("raw public key, TLS 1.2: the client's key is read as one SubjectPublicKeyInfo, nothing malformed") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(serverFlight(RAW_PUBLIC_KEY, X509, certificateBody({fakeDer(0x33)})));
  f.client(cat({handshakeRecord(handshake(11, vec24(spki()))),  // opaque ASN.1_subjectPublicKeyInfo<1..2^24-1>
                handshakeRecord(handshake(16, vec16(Buf(65, 0x04)))), CCS}));
  f.server(CCS);
  const auto& s = f.summary();
  REQUIRE(s.client_certificates);
  REQUIRE(s.client_certificates->size() == 1);
  CHECK(s.client_certificates->front() == spki());
  CHECK(s.client_raw_public_key);
  CHECK_FALSE(s.server_raw_public_key);
  REQUIRE(s.server_certificates);
  CHECK(s.server_certificates->size() == 1);
  CHECK(s.handshake_complete);
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("raw public key, TLS 1.2: the server's key, the client's X.509 chain read as before") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(serverFlight(X509, RAW_PUBLIC_KEY, vec24(spki())));
  f.client(handshakeRecord(handshake(11, certificateBody({fakeDer(0x55), fakeDer(0x66)}))));
  const auto& s = f.summary();
  REQUIRE(s.server_certificates);
  REQUIRE(s.server_certificates->size() == 1);
  CHECK(s.server_certificates->front() == spki());
  CHECK(s.server_raw_public_key);
  REQUIRE(s.client_certificates);
  CHECK(s.client_certificates->size() == 2);
  CHECK_FALSE(s.client_raw_public_key);
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("raw public key, TLS 1.2: without the negotiation the same bytes are a malformed list") {
  // What the type extension changes: the SubjectPublicKeyInfo's first bytes
  // are no certificate list.
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(serverFlight(X509, X509, certificateBody({fakeDer(0x33)})));
  f.client(handshakeRecord(handshake(11, vec24(spki()))));
  CHECK(f.anomalies.get("tls_certificate_malformed") == 1);
  CHECK_FALSE(f.summary().client_raw_public_key);
}

TEST_CASE("raw public key: a zero-length key is no key, read as an empty Certificate") {
  AnomalyCounters anomalies;
  const auto keys = analyze::parseRawPublicKeyCertificate(vec24({}), anomalies);
  REQUIRE(keys);
  CHECK(keys->empty());
  CHECK(anomalies.total() == 0);
}

TEST_CASE("raw public key malformed: key length past the message") {
  AnomalyCounters anomalies;
  Buf body = vec24(spki());
  body.pop_back();  // the length says one byte more than there is
  CHECK_FALSE(analyze::parseRawPublicKeyCertificate(body, anomalies));
  CHECK(anomalies.get("tls_certificate_malformed") == 1);
}

TEST_CASE("raw public key malformed: bytes after the key") {
  AnomalyCounters anomalies;
  const Buf body = cat({vec24(spki()), {0x00}});  // the key is the whole body
  CHECK_FALSE(analyze::parseRawPublicKeyCertificate(body, anomalies));
  CHECK(anomalies.get("tls_certificate_malformed") == 1);
}

TEST_CASE("raw public key, TLS 1.3: EncryptedExtensions select the types") {
  AnomalyCounters anomalies;
  const Buf body = vec16(cat({extension(CLIENT_CERTIFICATE_TYPE, {RAW_PUBLIC_KEY}),
                              extension(SERVER_CERTIFICATE_TYPE, {X509}),
                              extension(0x0010, vec16(vec8(text("http/1.1"))))}));  // ALPN, not read
  const analyze::EncryptedExtensions ee = analyze::parseEncryptedExtensions(body, anomalies);
  CHECK(ee.client_certificate_type == RAW_PUBLIC_KEY);
  CHECK(ee.server_certificate_type == X509);
  CHECK(ee.extensions == std::vector<std::uint16_t>{CLIENT_CERTIFICATE_TYPE, SERVER_CERTIFICATE_TYPE, 0x0010});
  CHECK(anomalies.total() == 0);
  const auto none = analyze::parseEncryptedExtensions(vec16({}), anomalies);  // extensions<0..2^16-1>: empty is fine
  CHECK(none.client_certificate_type == X509);
  CHECK(anomalies.total() == 0);
}

TEST_CASE("raw public key malformed: EncryptedExtensions with no extensions block") {
  AnomalyCounters anomalies;
  analyze::parseEncryptedExtensions(Buf{}, anomalies);
  CHECK(anomalies.get("tls_encrypted_extensions_malformed") == 1);
}

TEST_CASE("raw public key malformed: EncryptedExtensions certificate type of two bytes, the other one kept") {
  AnomalyCounters anomalies;
  const Buf body = vec16(cat({extension(SERVER_CERTIFICATE_TYPE, {RAW_PUBLIC_KEY}),
                              extension(CLIENT_CERTIFICATE_TYPE, {RAW_PUBLIC_KEY, X509})}));
  const auto ee = analyze::parseEncryptedExtensions(body, anomalies);
  CHECK(anomalies.get("tls_encrypted_extensions_malformed") == 1);
  CHECK(ee.server_certificate_type == RAW_PUBLIC_KEY);
  CHECK(ee.client_certificate_type == X509);
}

TEST_CASE("raw public key, TLS 1.3: the key in its CertificateEntry is the list's one element") {
  AnomalyCounters anomalies;
  // certificate_request_context<0..2^8-1>, CertificateEntry certificate_list<0..2^24-1>:
  // cert_data (the SubjectPublicKeyInfo), extensions<0..2^16-1>.
  const Buf body = cat({vec8({}), vec24(cat({vec24(spki()), vec16({})}))});
  const auto keys = analyze::parseTls13CertificateList(body, anomalies);
  REQUIRE(keys);
  REQUIRE(keys->size() == 1);
  CHECK(keys->front() == spki());
  CHECK(anomalies.total() == 0);
}
