// One named test per length field that can lie. Each one breaks exactly one
// length, checks the named anomaly and that what came before it was kept.
#include <catch2/catch.hpp>

#include "analyze/tls_connection.h"
#include "tls_builders.h"

using namespace provaudit::tlstest;
using provaudit::analyze::ParseState;

namespace {

// Feeds a ClientHello built from `p` and returns the feeder.
struct HelloCase {
  Feeder f;
  explicit HelloCase(const ClientHelloParts& p) { f.client(p.record()); }
  const provaudit::analyze::ClientHello& hello() const { return *f.summary().client_hello; }
  std::uint64_t malformed() const { return f.anomalies.get("tls_client_hello_malformed"); }
};

// A TLS 1.2 ServerHello, then a CertificateRequest with `body`.
void feedCertificateRequest(Feeder& f, const Buf& body) {
  f.server(cat({handshakeRecord(ServerHelloParts{}.message()), handshakeRecord(handshake(13, body))}));
}

Buf serverCertificate(const Buf& body) {
  return cat({handshakeRecord(ServerHelloParts{}.message()), handshakeRecord(handshake(11, body))});
}

}  // namespace

// --- record layer ---------------------------------------------------------

TEST_CASE("malformed: record length above TLS_MAX_RECORD") {
  Feeder f;
  // type handshake, version TLS 1.2, length 0xffff (> 2^14 + 2048)
  CHECK(f.client(Buf{0x16, 0x03, 0x03, 0xff, 0xff}) == ParseState::Error);
  CHECK(f.anomalies.get("tls_record_too_large") == 1);
  CHECK(f.client(Buf(10, 0)) == ParseState::Error);  // stays in error
}

TEST_CASE("malformed: SSLv2 record length above TLS_MAX_RECORD") {
  Feeder f;
  CHECK(f.client(Buf{0xff, 0xff, 0x01, 0x03, 0x01}) == ParseState::Error);  // 15-bit length 0x7fff
  CHECK(f.anomalies.get("tls_record_too_large") == 1);
}

TEST_CASE("malformed: handshake message claiming 16 MB") {
  Feeder f;
  // record of 4 bytes holding a handshake header: Certificate, length 0xffffff
  CHECK(f.server(record(22, {0x0b, 0xff, 0xff, 0xff})) == ParseState::Error);
  CHECK(f.anomalies.get("tls_handshake_too_large") == 1);
}

TEST_CASE("malformed: garbage record header after a good record") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  CHECK(f.client(text("GET / HTTP/1.1\r\n")) == ParseState::Error);
  CHECK(f.anomalies.get("tls_record_malformed") == 1);
  CHECK(f.summary().client_hello);  // what came before is kept
}

TEST_CASE("malformed: record version outside SSL 3.0 to TLS 1.3") {
  Feeder f;
  CHECK(f.server(record(22, {0x0e, 0x00, 0x00, 0x00}, 0x0203)) == ParseState::Error);
  CHECK(f.anomalies.get("tls_record_malformed") == 1);
}

TEST_CASE("malformed: handshake message longer than its record waits for more") {
  const Buf message = ClientHelloParts{}.message();
  Feeder f;
  CHECK(f.client(handshakeRecord(Buf(message.begin(), message.end() - 10))) == ParseState::NeedMore);
  CHECK_FALSE(f.summary().client_hello);
  f.client(CCS);  // the message never completes
  CHECK(f.anomalies.get("tls_handshake_truncated") == 1);
}

TEST_CASE("malformed: ChangeCipherSpec with a wrong body") {
  Feeder f;
  f.client(record(20, {0x01, 0x01}));
  CHECK(f.anomalies.get("tls_change_cipher_spec_malformed") == 1);
  CHECK(f.summary().client_ccs);
}

TEST_CASE("malformed: alert record with an odd length") {
  Feeder f;
  f.server(record(21, {0x02, 0x28, 0x01}));
  CHECK(f.anomalies.get("tls_alert_malformed") == 1);
  CHECK(f.summary().alerts.size() == 1);
}

TEST_CASE("malformed: too many alerts are counted, not stored") {
  Feeder f;
  f.server(record(21, Buf(200, 0x01)));  // 100 warning alerts
  CHECK(f.summary().alerts.size() == 64);
  CHECK(f.anomalies.get("tls_too_many_alerts") == 36);
}

// --- ClientHello ------------------------------------------------------------

TEST_CASE("malformed: ClientHello session_id length beyond the message") {
  ClientHelloParts p;
  p.session_id = {0xff};  // claims 255 bytes
  p.cipher_suites = {};
  p.compression = {};
  p.extensions_override = Buf{};
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().legacy_version == 0x0303);  // read before the fault
  CHECK(c.hello().random[0] == 0x11);
  CHECK(c.hello().cipher_suites.empty());
}

TEST_CASE("malformed: ClientHello session_id longer than 32 bytes") {
  ClientHelloParts p;
  p.session_id = vec8(Buf(33, 0xaa));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().session_id.size() == 33);
  CHECK(c.hello().sni == "prov.example");  // framing intact: the rest was read
}

TEST_CASE("malformed: ClientHello cipher_suites length odd") {
  ClientHelloParts p;
  p.cipher_suites = cat({u16(5), u16s({0xc02f, 0x002f}), {0x00}});  // 5 bytes: two suites and a stray byte
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().cipher_suites == std::vector<std::uint16_t>{0xc02f, 0x002f});
  CHECK(c.hello().sni == "prov.example");
}

TEST_CASE("malformed: ClientHello cipher_suites length too long") {
  ClientHelloParts p;
  p.cipher_suites = cat({u16(0x4000), u16s({0xc02f})});
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().session_id == Buf(32, 0xaa));
  CHECK(c.hello().cipher_suites.empty());
  CHECK(c.hello().extensions.empty());
}

TEST_CASE("malformed: ClientHello compression_methods length too long") {
  ClientHelloParts p;
  p.compression = {0xf0, 0x00};
  p.extensions_override = Buf{};
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().cipher_suites.size() == 4);
}

TEST_CASE("malformed: ClientHello extensions block length too long") {
  ClientHelloParts p;
  p.extensions_override = cat({u16(0x0100), extension(0x0000, {})});
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().cipher_suites.size() == 4);
  CHECK(c.hello().extensions.empty());
}

TEST_CASE("malformed: ClientHello extension data length beyond the block") {
  ClientHelloParts p;
  p.extensions_override = vec16(cat({extension(0x000b, vec8({0x00})), u16(0x0010), u16(0x0100), {0x00}}));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().extensions == std::vector<std::uint16_t>{0x000b});
  CHECK(c.hello().ec_point_formats == Buf{0x00});
}

TEST_CASE("malformed: ClientHello trailing bytes after the extensions") {
  ClientHelloParts p;
  p.extensions_override = cat({vec16(extension(0x000b, vec8({0x00}))), {0x00}});
  HelloCase c(p);
  CHECK(c.malformed() == 1);
}

TEST_CASE("malformed: server_name list length") {
  ClientHelloParts p;
  p.extensions[0] = extension(0x0000, cat({u16(0x0020), {0x00}, vec16(text("prov.example"))}));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().sni.empty());
  CHECK(c.hello().alpn == std::vector<std::string>{"http/1.1"});  // later extensions still read
  CHECK(c.hello().extensions.size() == 7);
}

TEST_CASE("malformed: server_name host_name length") {
  ClientHelloParts p;
  p.extensions[0] = extension(0x0000, vec16(cat({{0x00}, u16(0x0040), text("prov.example")})));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().sni.empty());
}

TEST_CASE("malformed: ALPN protocol name length") {
  ClientHelloParts p;
  p.extensions[4] = extension(0x0010, vec16(cat({vec8(text("h2")), {0x09}, text("http")})));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().alpn == std::vector<std::string>{"h2"});
}

TEST_CASE("malformed: ALPN list length") {
  ClientHelloParts p;
  p.extensions[4] = extension(0x0010, cat({u16(0x00ff), vec8(text("h2"))}));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().alpn.empty());
}

TEST_CASE("malformed: supported_versions list length odd") {
  ClientHelloParts p;
  p.extensions[6] = extension(0x002b, cat({{0x03}, u16(0x0304), {0x03}}));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().supported_versions == std::vector<std::uint16_t>{0x0304});
}

TEST_CASE("malformed: supported_versions list length too long") {
  ClientHelloParts p;
  p.extensions[6] = extension(0x002b, cat({{0x08}, u16(0x0304)}));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().supported_versions.empty());
}

TEST_CASE("malformed: supported_groups list length") {
  ClientHelloParts p;
  p.extensions[1] = extension(0x000a, cat({u16(3), u16s({0x001d}), {0x00}}));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().supported_groups == std::vector<std::uint16_t>{0x001d});
}

TEST_CASE("malformed: ec_point_formats list length") {
  ClientHelloParts p;
  p.extensions[2] = extension(0x000b, {0x05, 0x00});
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().ec_point_formats.empty());
}

TEST_CASE("malformed: signature_algorithms list length") {
  ClientHelloParts p;
  p.extensions[3] = extension(0x000d, cat({u16(6), u16s({0x0403})}));
  HelloCase c(p);
  CHECK(c.malformed() == 1);
  CHECK(c.hello().signature_algorithms.empty());
}

TEST_CASE("malformed: truncated ClientHello body") {
  Feeder f;
  f.client(handshakeRecord(handshake(1, {0x03, 0x03, 0x01})));
  CHECK(f.anomalies.get("tls_client_hello_malformed") == 1);
  REQUIRE(f.summary().client_hello);
  CHECK(f.summary().client_hello->legacy_version == 0x0303);
}

TEST_CASE("malformed: SSLv2 ClientHello cipher_spec_length not a multiple of 3") {
  const Buf body = cat({{0x01, 0x03, 0x01}, u16(4), u16(0), u16(16), {0x00, 0x00, 0x2f, 0x00}, Buf(16, 0x5c)});
  Feeder f;
  f.client(cat({u16(0x8000 | body.size()), body}));
  CHECK(f.anomalies.get("tls_client_hello_malformed") == 1);
  REQUIRE(f.summary().client_hello);
  CHECK(f.summary().client_hello->cipher_suites == std::vector<std::uint16_t>{0x002f});
}

TEST_CASE("malformed: SSLv2 ClientHello challenge length beyond the record") {
  const Buf body = cat({{0x01, 0x03, 0x01}, u16(3), u16(0), u16(32), {0x00, 0x00, 0x2f}, Buf(16, 0x5c)});
  Feeder f;
  f.client(cat({u16(0x8000 | body.size()), body}));
  CHECK(f.anomalies.get("tls_client_hello_malformed") == 1);
  CHECK(f.summary().client_hello->cipher_suites == std::vector<std::uint16_t>{0x002f});
}

// --- ServerHello ------------------------------------------------------------

TEST_CASE("malformed: ServerHello session_id length") {
  ServerHelloParts sh;
  sh.session_id = {0x40};
  Feeder f;
  f.server(handshakeRecord(sh.message()));
  CHECK(f.anomalies.get("tls_server_hello_malformed") == 1);
  CHECK(f.summary().server_hello->legacy_version == 0x0303);
}

TEST_CASE("malformed: ServerHello supported_versions of the wrong size") {
  ServerHelloParts sh;
  sh.extensions = vec16(extension(0x002b, vec8(u16s({0x0304}))));  // a ClientHello-style list
  Feeder f;
  f.server(handshakeRecord(sh.message()));
  CHECK(f.anomalies.get("tls_server_hello_malformed") == 1);
  CHECK(f.summary().server_hello->selected_version == 0x0303);
  CHECK_FALSE(f.summary().tls13);
}

TEST_CASE("malformed: ServerHello extensions block length") {
  ServerHelloParts sh;
  sh.extensions = cat({u16(0x0040), extension(0xff01, vec8({}))});
  Feeder f;
  f.server(handshakeRecord(sh.message()));
  CHECK(f.anomalies.get("tls_server_hello_malformed") == 1);
  CHECK(f.summary().server_hello->cipher_suite == 0xc02f);
}

// --- Certificate --------------------------------------------------------------

TEST_CASE("malformed: certificate_list length too long") {
  Feeder f;
  f.server(serverCertificate(cat({u24(0x1000), vec24(fakeDer(0x51))})));
  CHECK(f.anomalies.get("tls_certificate_malformed") == 1);
  CHECK_FALSE(f.summary().server_certificates);  // nothing read: not an empty list
}

TEST_CASE("malformed: certificate_list length too short leaves trailing bytes") {
  Feeder f;
  f.server(serverCertificate(cat({u24(0), vec24(fakeDer(0x51))})));
  CHECK(f.anomalies.get("tls_certificate_malformed") == 1);
  CHECK_FALSE(f.summary().server_certificates);
}

TEST_CASE("malformed: single certificate length beyond the list") {
  const Buf list = cat({vec24(fakeDer(0x51)), u24(0x2000), fakeDer(0x52)});
  Feeder f;
  f.server(serverCertificate(vec24(list)));
  CHECK(f.anomalies.get("tls_certificate_malformed") == 1);
  REQUIRE(f.summary().server_certificates);  // the first certificate is kept
  CHECK(*f.summary().server_certificates == std::vector<provaudit::analyze::Der>{fakeDer(0x51)});
}

TEST_CASE("malformed: client certificate list length never reads as empty") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.client(handshakeRecord(handshake(11, {0x00, 0x00})));  // 2 bytes: no room for the 3-byte length
  CHECK(f.anomalies.get("tls_certificate_malformed") == 1);
  CHECK_FALSE(f.summary().client_certificates);
}

TEST_CASE("malformed: zero-length certificate in the list") {
  Feeder f;
  f.server(serverCertificate(vec24(u24(0))));
  CHECK(f.anomalies.get("tls_certificate_malformed") == 1);
}

// --- NewSessionTicket (RFC 5077 §3.3) -------------------------------------------

namespace {

// A TLS 1.2 ServerHello, then a NewSessionTicket with `body`.
Buf newSessionTicket(const Buf& body) {
  return cat({handshakeRecord(ServerHelloParts{}.message()), handshakeRecord(handshake(4, body))});
}

}  // namespace

TEST_CASE("malformed: NewSessionTicket shorter than its lifetime hint") {
  Feeder f;
  f.server(newSessionTicket({0x00, 0x00, 0x01}));  // 3 of the 4 ticket_lifetime_hint bytes
  CHECK(f.anomalies.get("tls_new_session_ticket_malformed") == 1);
  CHECK(f.summary().new_session_ticket.empty());
  CHECK(f.summary().server_hello);  // the ServerHello before it is kept
}

TEST_CASE("malformed: NewSessionTicket without a ticket length") {
  Feeder f;
  f.server(newSessionTicket(cat({u32(300), {0x00}})));  // lifetime, then 1 of the 2 length bytes
  CHECK(f.anomalies.get("tls_new_session_ticket_malformed") == 1);
  CHECK(f.summary().new_session_ticket.empty());
}

TEST_CASE("malformed: NewSessionTicket ticket length beyond the message") {
  Feeder f;
  f.server(newSessionTicket(cat({u32(300), u16(0x0400), Buf(16, 0x7a)})));  // claims 1024, has 16
  CHECK(f.anomalies.get("tls_new_session_ticket_malformed") == 1);
  CHECK(f.summary().new_session_ticket.empty());  // a cut ticket never matches an offered one
}

TEST_CASE("malformed: NewSessionTicket trailing bytes after the ticket") {
  Feeder f;
  f.server(newSessionTicket(cat({u32(300), vec16(Buf(16, 0x7a)), {0x00, 0x00}})));
  CHECK(f.anomalies.get("tls_new_session_ticket_malformed") == 1);
  CHECK(f.summary().new_session_ticket == Buf(16, 0x7a));  // the framed ticket is kept
}

// --- CertificateRequest -------------------------------------------------------

TEST_CASE("malformed: CertificateRequest certificate_types length") {
  Feeder f;
  feedCertificateRequest(f, {0x09, 0x01});
  CHECK(f.anomalies.get("tls_certificate_request_malformed") == 1);
  CHECK(f.summary().certificate_request);
}

TEST_CASE("malformed: CertificateRequest signature_algorithms length odd") {
  const Buf body = cat({vec8({0x01}), u16(3), u16s({0x0403}), {0x04}, vec16({})});
  Feeder f;
  feedCertificateRequest(f, body);
  CHECK(f.anomalies.get("tls_certificate_request_malformed") == 1);
  CHECK(f.summary().certificate_request->certificate_types == Buf{0x01});
  CHECK(f.summary().certificate_request->signature_algorithms == std::vector<std::uint16_t>{0x0403});
}

TEST_CASE("malformed: CertificateRequest certificate_authorities length") {
  const Buf body = cat({vec8({0x01}), vec16(u16s({0x0403})), u16(0x0100), vec16(Buf(5, 0x30))});
  Feeder f;
  feedCertificateRequest(f, body);
  CHECK(f.anomalies.get("tls_certificate_request_malformed") == 1);
  CHECK(f.summary().certificate_request->signature_algorithms.size() == 1);
  CHECK(f.summary().certificate_request->ca_names.empty());
}

TEST_CASE("malformed: CertificateRequest DistinguishedName length") {
  const Buf body = cat({vec8({0x01}), vec16(u16s({0x0403})), vec16(cat({vec16(Buf(5, 0x30)), u16(0x0050), {0x30}}))});
  Feeder f;
  feedCertificateRequest(f, body);
  CHECK(f.anomalies.get("tls_certificate_request_malformed") == 1);
  CHECK(f.summary().certificate_request->ca_names.size() == 1);  // the first name is kept
}

// --- direction ----------------------------------------------------------------

TEST_CASE("malformed: a ServerHello from the client") {
  Feeder f;
  f.client(handshakeRecord(ServerHelloParts{}.message()));
  CHECK(f.anomalies.get("tls_handshake_wrong_direction") == 1);
  CHECK_FALSE(f.summary().server_hello);
}

TEST_CASE("malformed: random bytes never crash the parser") {
  // A crude in-test fuzz loop: mutate a valid transcript byte by byte.
  const Buf base = cat({ClientHelloParts{}.record()});
  for (std::size_t i = 0; i < base.size(); ++i) {
    for (const std::uint8_t v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      Buf mutated = base;
      mutated[i] = v;
      Feeder f;
      f.client(mutated);
      f.server(mutated);
    }
  }
  SUCCEED();
}
