// Byte-level tests of the record layer and the handshake message parsers.
#include <catch2/catch.hpp>

#include "analyze/tls_connection.h"
#include "tls_builders.h"

using namespace provaudit::tlstest;
using provaudit::analyze::ParseState;

namespace {

// The server's first flight of a full TLS 1.2 handshake asking for a client
// certificate: ServerHello, Certificate, CertificateRequest, ServerHelloDone.
Buf serverFlight(const Buf& certificate_request_body) {
  return cat({ServerHelloParts{}.message(), handshake(11, certificateBody({fakeDer(0x51), fakeDer(0x52)})),
              handshake(13, certificate_request_body), handshake(14, {})});
}

const Buf CA_NAME = {0x30, 0x0b, 0x31, 0x09, 0x30, 0x07, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x00};

}  // namespace

TEST_CASE("tls: ClientHello fields and extensions") {
  Feeder f;
  CHECK(f.client(ClientHelloParts{}.record()) == ParseState::NeedMore);
  REQUIRE(f.summary().client_hello);
  const auto& ch = *f.summary().client_hello;
  CHECK(ch.record_version == 0x0301);
  CHECK(ch.legacy_version == 0x0303);
  CHECK(ch.random[0] == 0x11);
  CHECK(ch.session_id == Buf(32, 0xaa));
  CHECK(ch.cipher_suites == std::vector<std::uint16_t>{0x0a0a, 0xc02f, 0x002f, 0x00ff});
  CHECK(ch.compression_methods == Buf{0x00});
  CHECK(ch.extensions == std::vector<std::uint16_t>{0x0000, 0x000a, 0x000b, 0x000d, 0x0010, 0x0023, 0x002b});
  CHECK(ch.sni == "prov.example");
  CHECK(ch.supported_groups == std::vector<std::uint16_t>{0x001d, 0x0017});
  CHECK(ch.ec_point_formats == Buf{0x00});
  CHECK(ch.signature_algorithms == std::vector<std::uint16_t>{0x0403, 0x0804});
  CHECK(ch.alpn == std::vector<std::string>{"http/1.1"});
  CHECK(ch.has_session_ticket_ext);
  CHECK(ch.session_ticket.empty());
  CHECK(ch.supported_versions == std::vector<std::uint16_t>{0x0303, 0x0302});
  CHECK(ch.has_renegotiation_info);  // from the SCSV 0x00ff
  CHECK_FALSE(ch.has_pre_shared_key);
  CHECK_FALSE(ch.sslv2_compat);
  CHECK(f.anomalies.total() == 0);
  CHECK(f.summary().client_bytes == ClientHelloParts{}.record().size());
}

TEST_CASE("tls: ClientHello without extensions (SSLv3 style)") {
  ClientHelloParts p;
  p.extensions_override = Buf{};
  Feeder f;
  f.client(p.record());
  REQUIRE(f.summary().client_hello);
  CHECK(f.summary().client_hello->extensions.empty());
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: full TLS 1.2 handshake with a client certificate") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  // Four server messages in one record.
  CHECK(f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME)))) == ParseState::NeedMore);
  // Client flight: Certificate, ClientKeyExchange, CertificateVerify in one record, then CCS.
  f.client(handshakeRecord(cat({handshake(11, certificateBody({fakeDer(0xc1)})), handshake(16, vec16(Buf(64, 1))),
                                handshake(15, Buf(8, 2))})));
  f.client(CCS);
  f.client(handshakeRecord(Buf(40, 0xee)));  // encrypted Finished
  CHECK_FALSE(f.summary().handshake_complete);
  f.server(CCS);
  CHECK(f.server(handshakeRecord(Buf(40, 0xef))) == ParseState::NeedMore);
  const auto& s = f.summary();
  CHECK(s.handshake_complete);
  CHECK(s.client_ccs);
  CHECK(s.server_ccs);
  CHECK_FALSE(s.resumed);
  CHECK_FALSE(s.tls13);
  REQUIRE(s.server_hello);
  CHECK(s.server_hello->selected_version == 0x0303);
  CHECK(s.server_hello->cipher_suite == 0xc02f);
  CHECK(s.server_hello->extensions == std::vector<std::uint16_t>{0xff01});
  REQUIRE(s.server_certificates);
  CHECK(*s.server_certificates == std::vector<provaudit::analyze::Der>{fakeDer(0x51), fakeDer(0x52)});
  REQUIRE(s.client_certificates);
  CHECK(*s.client_certificates == std::vector<provaudit::analyze::Der>{fakeDer(0xc1)});
  REQUIRE(s.certificate_request);
  CHECK(s.certificate_request->certificate_types == Buf{0x01, 0x40});
  CHECK(s.certificate_request->signature_algorithms == std::vector<std::uint16_t>{0x0403, 0x0401});
  REQUIRE(s.certificate_request->ca_names.size() == 1);
  CHECK(s.certificate_request->ca_names[0] == CA_NAME);
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: a handshake message split across three records") {
  const Buf message = ClientHelloParts{}.message();
  Feeder f;
  f.client(handshakeRecord(Buf(message.begin(), message.begin() + 3), 0x0301));    // not even the 4-byte header
  f.client(handshakeRecord(Buf(message.begin() + 3, message.begin() + 50), 0x0301));
  CHECK_FALSE(f.summary().client_hello);
  f.client(handshakeRecord(Buf(message.begin() + 50, message.end()), 0x0301));
  REQUIRE(f.summary().client_hello);
  CHECK(f.summary().client_hello->sni == "prov.example");
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: one byte at a time gives the same summary") {
  const Buf client1 = ClientHelloParts{}.record();
  const Buf server1 = handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME)));
  const Buf client2 = cat({handshakeRecord(handshake(11, certificateBody({}))), CCS, handshakeRecord(Buf(40, 0xee))});
  const Buf server2 = cat({CCS, handshakeRecord(Buf(40, 0xef))});
  Feeder whole;
  whole.client(client1);
  whole.server(server1);
  whole.client(client2);
  whole.server(server2);
  Feeder bytewise;
  for (const auto& [side, bytes] : std::vector<std::pair<provaudit::Side, Buf>>{
           {provaudit::Side::Client, client1},
           {provaudit::Side::Server, server1},
           {provaudit::Side::Client, client2},
           {provaudit::Side::Server, server2}}) {
    for (const std::uint8_t b : bytes) bytewise.tls.feed(side, Buf{b});
  }
  const auto& a = whole.summary();
  const auto& b = bytewise.summary();
  REQUIRE(b.client_hello);
  CHECK(b.client_hello->sni == a.client_hello->sni);
  CHECK(b.client_hello->cipher_suites == a.client_hello->cipher_suites);
  CHECK(b.server_certificates == a.server_certificates);
  CHECK(b.client_certificates == a.client_certificates);
  CHECK(b.certificate_request->ca_names == a.certificate_request->ca_names);
  CHECK(b.handshake_complete);
  CHECK(b.client_bytes == a.client_bytes);
  CHECK(b.server_bytes == a.server_bytes);
  CHECK(bytewise.anomalies.total() == 0);
}

TEST_CASE("tls: empty client Certificate means no certificate (RFC 5246 7.4.6)") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME))));
  f.client(handshakeRecord(handshake(11, certificateBody({}))));  // certificate_list length 0
  REQUIRE(f.summary().client_certificates);
  CHECK(f.summary().client_certificates->empty());
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: SSLv3 no_certificate warning from the client") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME))));
  f.client(record(21, {0x01, 0x29}, 0x0300));  // alert: level warning(1), no_certificate(41)
  CHECK(f.summary().no_certificate_alert);
  REQUIRE(f.summary().alerts.size() == 1);
  CHECK(f.summary().alerts[0].level == 1);
  CHECK(f.summary().alerts[0].description == 41);
  CHECK_FALSE(f.summary().alerts[0].encrypted);
  CHECK_FALSE(f.summary().client_certificates);
}

TEST_CASE("tls: a no_certificate alert from the server does not count") {
  Feeder f;
  f.server(record(21, {0x01, 0x29}));
  CHECK_FALSE(f.summary().no_certificate_alert);
  CHECK(f.summary().alerts.size() == 1);
}

TEST_CASE("tls: alerts after ChangeCipherSpec are kept as encrypted") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.client(CCS);
  f.client(record(21, Buf(26, 0x77)));  // encrypted alert: contents unreadable
  REQUIRE(f.summary().alerts.size() == 1);
  CHECK(f.summary().alerts[0].encrypted);
}

TEST_CASE("tls: CertificateRequest in the TLS 1.0 form (no signature algorithms)") {
  ServerHelloParts sh;
  sh.version = {0x03, 0x01};
  const Buf request = cat({vec8({0x01}), vec16(vec16(CA_NAME))});  // certificate_types, certificate_authorities
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(cat({sh.message(), handshake(13, request)})));
  REQUIRE(f.summary().certificate_request);
  CHECK(f.summary().certificate_request->certificate_types == Buf{0x01});
  CHECK(f.summary().certificate_request->signature_algorithms.empty());
  CHECK(f.summary().certificate_request->ca_names.size() == 1);
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: CertificateRequest without a ServerHello tries both forms") {
  Feeder f;
  f.server(handshakeRecord(handshake(13, cat({vec8({0x01}), vec16({})}))));  // TLS 1.0 form, no CAs
  REQUIRE(f.summary().certificate_request);
  CHECK(f.summary().certificate_request->certificate_types == Buf{0x01});
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: SSLv2-compatible ClientHello (RFC 5246 Appendix E.2)") {
  const Buf challenge(16, 0x5c);
  const Buf body = cat({{0x01},                     // msg_type: CLIENT-HELLO
                        {0x03, 0x01},               // version: TLS 1.0
                        u16(9),                     // cipher_spec_length: three specs
                        u16(0),                     // session_id_length
                        u16(challenge.size()),      // challenge_length
                        {0x00, 0x00, 0x2f},         // TLS_RSA_WITH_AES_128_CBC_SHA
                        {0x01, 0x00, 0x80},         // SSL2_RC4_128_WITH_MD5: not a TLS suite
                        {0x00, 0x00, 0xff},         // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
                        challenge});
  const Buf v2 = cat({u16(0x8000 | body.size()), body});  // 2-byte header, high bit set
  CHECK(provaudit::analyze::TlsConnection::looksLikeClientHello(v2));
  Feeder f;
  f.client(v2);
  REQUIRE(f.summary().client_hello);
  const auto& ch = *f.summary().client_hello;
  CHECK(ch.sslv2_compat);
  CHECK(ch.legacy_version == 0x0301);
  CHECK(ch.cipher_suites == std::vector<std::uint16_t>{0x002f, 0x00ff});
  CHECK(ch.has_renegotiation_info);
  CHECK(ch.random[15] == 0x00);  // challenge right-aligned, zero-padded
  CHECK(ch.random[16] == 0x5c);
  CHECK(ch.random[31] == 0x5c);
  CHECK(f.anomalies.total() == 0);
  // The rest of the client's stream is ordinary TLS records.
  f.server(handshakeRecord(ServerHelloParts{}.message()));
  CHECK(f.client(handshakeRecord(handshake(16, vec16(Buf(8, 1))))) == ParseState::NeedMore);
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: TLS 1.3 ServerHello with supported_versions ends the parse") {
  ClientHelloParts ch;
  ch.extensions.push_back(extension(0x002b, vec8(u16s({0x0304, 0x0303}))));
  ServerHelloParts sh;
  sh.session_id = vec8(Buf(32, 0xaa));  // echo of the client's legacy_session_id: middlebox compatibility only
  sh.cipher_suite = u16(0x1301);
  sh.extensions = vec16(cat({extension(0x002b, u16(0x0304)), extension(0x0033, Buf(36, 0x01))}));
  Feeder f;
  f.client(ch.record());
  CHECK(f.server(handshakeRecord(sh.message())) == ParseState::Done);
  const auto& s = f.summary();
  CHECK(s.tls13);
  CHECK(s.handshake_complete);
  CHECK_FALSE(s.resumed);
  CHECK(s.server_hello->legacy_version == 0x0303);
  CHECK(s.server_hello->selected_version == 0x0304);
  CHECK_FALSE(s.server_hello->hello_retry_request);
}

TEST_CASE("tls: TLS 1.3 HelloRetryRequest keeps parsing until the real ServerHello") {
  const Buf hrr_random{0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
                       0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
  ServerHelloParts hrr;
  hrr.random = hrr_random;
  hrr.extensions = vec16(extension(0x002b, u16(0x0304)));
  ServerHelloParts sh;
  sh.extensions = vec16(extension(0x002b, u16(0x0304)));
  ClientHelloParts ch;
  ch.extensions[6] = extension(0x002b, vec8(u16s({0x0304, 0x0303})));  // supported_versions offers TLS 1.3
  Feeder f;
  f.client(ch.record());
  CHECK(f.server(handshakeRecord(hrr.message())) == ParseState::NeedMore);
  CHECK(f.summary().server_hello->hello_retry_request);
  CHECK_FALSE(f.summary().handshake_complete);
  f.server(CCS);  // RFC 8446 Appendix D.4 compatibility CCS: switches nothing
  f.client(cat({CCS, ch.record()}));
  CHECK_FALSE(f.summary().server_ccs);
  CHECK_FALSE(f.summary().client_ccs);
  CHECK(f.server(handshakeRecord(sh.message())) == ParseState::Done);
  CHECK_FALSE(f.summary().server_hello->hello_retry_request);
  CHECK(f.summary().handshake_complete);
}

TEST_CASE("tls: TLS 1.3 PSK resumption") {
  ClientHelloParts ch;
  ch.extensions.push_back(extension(0x002b, vec8(u16s({0x0304}))));
  ch.extensions.push_back(extension(0x0029, Buf(20, 0x01)));  // pre_shared_key, last (RFC 8446 §4.2.11)
  ServerHelloParts sh;
  sh.extensions = vec16(cat({extension(0x002b, u16(0x0304)), extension(0x0029, u16(0))}));  // selected_identity 0
  Feeder f;
  f.client(ch.record());
  f.server(handshakeRecord(sh.message()));
  CHECK(f.summary().client_hello->has_pre_shared_key);
  CHECK(f.summary().tls13);
  CHECK(f.summary().resumed);
}

TEST_CASE("tls: resumption by session id") {
  ServerHelloParts sh;
  sh.session_id = vec8(Buf(32, 0xaa));  // the client's session id echoed
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(cat({handshakeRecord(sh.message()), CCS, handshakeRecord(Buf(40, 0xef))}));
  CHECK(f.summary().resumed);
  f.client(cat({CCS, handshakeRecord(Buf(40, 0xee))}));
  CHECK(f.summary().handshake_complete);
  CHECK_FALSE(f.summary().server_certificates);
}

TEST_CASE("tls: resumption by ticket: server CCS without a Certificate") {
  ServerHelloParts sh;
  sh.session_id = vec8({});  // RFC 5077 §3.4: the server may send an empty session id
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(sh.message()));
  CHECK_FALSE(f.summary().resumed);
  f.server(cat({handshakeRecord(handshake(4, cat({u32(7200), vec16(Buf(10, 3))}))), CCS}));  // NewSessionTicket, CCS
  CHECK(f.summary().resumed);
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: NewSessionTicket of a full handshake keeps the ticket (RFC 5077 3.3)") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME))));
  f.client(cat({handshakeRecord(handshake(16, vec16(Buf(64, 1)))), CCS, handshakeRecord(Buf(40, 0xee))}));
  const Buf ticket = cat({Buf(16, 0x7a), Buf(150, 0x7b)});  // key_name(16), then state the client cannot read
  const Buf nst = cat({u32(300),        // ticket_lifetime_hint: 300 s
                       vec16(ticket)});  // ticket<0..2^16-1>
  // NewSessionTicket and ChangeCipherSpec in one segment, as OpenSSL sends them.
  f.server(cat({handshakeRecord(handshake(4, nst)), CCS, handshakeRecord(Buf(40, 0xef))}));
  const auto& s = f.summary();
  CHECK(s.new_session_ticket == ticket);
  CHECK(s.handshake_complete);
  CHECK_FALSE(s.resumed);
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: NewSessionTicket with an empty ticket is no ticket") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  // RFC 5077 §3.3: a server that changed its mind sends a zero-length ticket.
  f.server(cat({handshakeRecord(ServerHelloParts{}.message()), handshakeRecord(handshake(4, cat({u32(0), vec16({})})))}));
  CHECK(f.summary().new_session_ticket.empty());
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: a NewSessionTicket from the client is not a ticket") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.client(handshakeRecord(handshake(4, cat({u32(300), vec16(Buf(8, 0x7a))}))));
  CHECK(f.summary().new_session_ticket.empty());
  CHECK(f.anomalies.get("tls_handshake_wrong_direction") == 1);
}

namespace {

// A TLS 1.2 handshake the server asked a certificate in and the client sent
// none, both sides' ChangeCipherSpec and encrypted Finished gone by.
void emptyCertificateHandshake(Feeder& f) {
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME))));
  f.client(cat({handshakeRecord(handshake(11, certificateBody({}))), CCS, handshakeRecord(Buf(40, 0xee))}));
  f.server(cat({CCS, handshakeRecord(Buf(40, 0xef))}));
}

}  // namespace

TEST_CASE("tls: renegotiation after application data") {
  Feeder f;
  emptyCertificateHandshake(f);
  REQUIRE(f.summary().handshake_complete);
  CHECK(f.client(record(23, Buf(100, 0x42))) == ParseState::NeedMore);  // GET /profile.cfg
  CHECK_FALSE(f.summary().renegotiation);
  // Encrypted HelloRequest from the server (Apache per-directory SSLVerifyClient),
  // answered by the client's encrypted ClientHello.
  CHECK(f.server(handshakeRecord(Buf(40, 0x99))) == ParseState::NeedMore);
  CHECK_FALSE(f.summary().renegotiation);
  CHECK(f.client(handshakeRecord(Buf(200, 0x98))) == ParseState::Done);
  CHECK(f.summary().renegotiation);
  CHECK(f.anomalies.total() == 0);
}

TEST_CASE("tls: renegotiation before any application data") {
  // The server asks at once (OpenSSL's s_server 'R' a second after the handshake).
  Feeder f;
  emptyCertificateHandshake(f);
  REQUIRE(f.summary().handshake_complete);
  CHECK(f.server(handshakeRecord(Buf(40, 0x99))) == ParseState::NeedMore);  // HelloRequest
  CHECK(f.client(handshakeRecord(Buf(200, 0x98))) == ParseState::Done);     // ClientHello
  CHECK(f.summary().renegotiation);
}

TEST_CASE("tls: a renegotiation the other side refuses (an alert answers it) is none") {
  for (const bool client_asks : {true, false}) {
    INFO(client_asks);
    Feeder f;
    emptyCertificateHandshake(f);
    f.client(record(23, Buf(100, 0x42)));
    // A ClientHello (or HelloRequest), then an encrypted no_renegotiation alert, then data on.
    if (client_asks) {
      f.client(handshakeRecord(Buf(200, 0x98)));
      f.server(record(21, Buf(26, 0x97)));
    } else {
      f.server(handshakeRecord(Buf(40, 0x99)));
      f.client(record(21, Buf(26, 0x97)));
    }
    CHECK(f.server(record(23, Buf(100, 0x43))) == ParseState::NeedMore);
    CHECK_FALSE(f.summary().renegotiation);
  }
}

TEST_CASE("tls: a Finished after False Start data is not a renegotiation") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME))));
  f.client(cat({CCS, handshakeRecord(Buf(40, 0xee)), record(23, Buf(100, 0x42))}));  // Finished, then data at once
  f.server(cat({CCS, handshakeRecord(Buf(40, 0xef)), record(23, Buf(100, 0x43))}));
  CHECK(f.summary().handshake_complete);
  CHECK_FALSE(f.summary().renegotiation);
  CHECK(f.last == ParseState::NeedMore);
}

TEST_CASE("tls: the renegotiation watch ends after TLS_RENEGOTIATION_WATCH_BYTES") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME))));
  f.client(cat({CCS, handshakeRecord(Buf(40, 0xee))}));
  f.server(cat({CCS, handshakeRecord(Buf(40, 0xef))}));
  const Buf data = record(23, Buf(16000, 0x43));
  ParseState state = ParseState::NeedMore;
  std::size_t sent = 0;
  while (state == ParseState::NeedMore && sent < 4 * provaudit::analyze::TLS_RENEGOTIATION_WATCH_BYTES) {
    state = f.server(data);
    sent += data.size();
  }
  CHECK(state == ParseState::Done);
  CHECK(sent >= provaudit::analyze::TLS_RENEGOTIATION_WATCH_BYTES);
  CHECK(sent < provaudit::analyze::TLS_RENEGOTIATION_WATCH_BYTES + data.size());
  CHECK_FALSE(f.summary().renegotiation);
}

TEST_CASE("tls: gap inside a handshake record keeps the record framing") {
  const Buf client_cert_record = handshakeRecord(handshake(11, certificateBody({fakeDer(0xc1)})));
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME))));
  f.client(Buf(client_cert_record.begin(), client_cert_record.begin() + 12));
  CHECK(f.tls.gap(provaudit::Side::Client, 20) == ParseState::NeedMore);
  f.client(Buf(client_cert_record.begin() + 32, client_cert_record.end()));
  CHECK(f.summary().client_gap);
  CHECK_FALSE(f.summary().server_gap);
  CHECK(f.anomalies.get("tcp_gap_in_handshake") == 1);
  CHECK_FALSE(f.summary().client_certificates);  // lost, never "empty"
  f.client(CCS);  // the next record is still found
  CHECK(f.summary().client_ccs);
}

TEST_CASE("tls: a gap that does not end where a record begins stops that side") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  CHECK(f.tls.gap(provaudit::Side::Server, 100) == ParseState::NeedMore);
  CHECK(f.summary().server_gap);
  f.server(Buf{0x01, 0x02, 0x03, 0x04, 0x05, 0x16, 0x03, 0x03, 0x00, 0x10});  // not a record header: nothing parsed
  CHECK(f.anomalies.get("tls_record_malformed") == 0);
  CHECK_FALSE(f.summary().server_hello);
  CHECK(f.tls.gap(provaudit::Side::Client, 5) == ParseState::NeedMore);
  CHECK(f.client(text("GET / HTTP/1.1\r\n")) == ParseState::Done);  // both sides stopped
  CHECK(f.anomalies.get("tcp_gap_in_handshake") == 2);
  CHECK(f.anomalies.get("tls_record_malformed") == 0);
}

TEST_CASE("tls: a gap that ends where a record begins is read on from there") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  // The record holding the ServerHello was lost; the next one holds the
  // server's Certificate, CertificateRequest and ServerHelloDone.
  CHECK(f.tls.gap(provaudit::Side::Server, 90) == ParseState::NeedMore);
  f.server(handshakeRecord(cat({handshake(11, certificateBody({fakeDer(0x51)})), handshake(13, certificateRequestBody12(CA_NAME)),
                                handshake(14, {})})));
  // The client's Certificate record went missing between two segments.
  const Buf cert_record = handshakeRecord(handshake(11, certificateBody({fakeDer(0xc1)})));
  f.client(Buf(cert_record.begin(), cert_record.begin() + 20));
  CHECK(f.tls.gap(provaudit::Side::Client, cert_record.size() - 20 + 10) == ParseState::NeedMore);  // and part of the next
  f.client(handshakeRecord(handshake(15, Buf(8, 2))));
  f.client(CCS);
  f.client(handshakeRecord(Buf(40, 0xee)));  // encrypted Finished
  f.server(CCS);
  const auto& s = f.summary();
  CHECK_FALSE(s.server_hello);
  REQUIRE(s.server_certificates);
  CHECK(s.server_certificates->size() == 1);
  REQUIRE(s.certificate_request);
  CHECK_FALSE(s.client_certificates);  // it was in the lost bytes
  CHECK(s.client_gap);
  CHECK(s.server_gap);
  CHECK(s.client_ccs);
  CHECK(s.handshake_complete);
  CHECK_FALSE(s.resumed);
  CHECK(f.anomalies.get("tcp_gap_in_handshake") == 2);
  CHECK(f.anomalies.total() == 2);
}

TEST_CASE("tls: a stream whose first segment was lost shows the client certificate after it") {
  ClientHelloParts offers13;
  offers13.extensions.back() = extension(0x002b, vec8(u16s({0x0304, 0x0303})));
  for (const bool hello_seen : {false, true}) {
    Feeder f;
    if (hello_seen) {
      f.client(offers13.record());  // offers TLS 1.3: the ServerHello lost, a CCS could be for compatibility
      CHECK(f.tls.gap(provaudit::Side::Server, 1200) == ParseState::NeedMore);
    } else {
      CHECK(f.tls.gap(provaudit::Side::Client, 300) == ParseState::NeedMore);
      f.server(handshakeRecord(serverFlight(certificateRequestBody12(CA_NAME))));
    }
    f.client(handshakeRecord(cat({handshake(11, certificateBody({fakeDer(0xc1), fakeDer(0xc2)})),
                                  handshake(16, vec16(Buf(64, 1))), handshake(15, Buf(8, 2))})));
    f.client(CCS);
    f.client(handshakeRecord(Buf(40, 0xee)));  // encrypted Finished: not read as a message
    const auto& s = f.summary();
    CHECK(s.client_hello.has_value() == hello_seen);
    CHECK(s.client_gap == !hello_seen);
    REQUIRE(s.client_certificates);
    CHECK(s.client_certificates->size() == 2);
    CHECK(s.client_ccs);
    CHECK(f.anomalies.get("tls_handshake_too_large") == 0);
    CHECK(f.anomalies.get("tcp_gap_in_handshake") == 1);
    CHECK(f.anomalies.total() == 1);
  }
}

TEST_CASE("tls: a record after a gap that continues a cut message is walked, not read") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(ServerHelloParts{}.message()));
  // A Certificate message over two records; the first record is lost.
  const Buf message = handshake(11, certificateBody({fakeDer(0x51), fakeDer(0x52)}));
  const std::size_t half = message.size() / 2;
  const Buf first = handshakeRecord(Buf(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(half)));
  CHECK(f.tls.gap(provaudit::Side::Server, first.size()) == ParseState::NeedMore);
  f.server(handshakeRecord(Buf(message.begin() + static_cast<std::ptrdiff_t>(half), message.end())));
  f.client(CCS);
  CHECK(f.server(CCS) == ParseState::NeedMore);
  const auto& s = f.summary();
  CHECK_FALSE(s.server_certificates);
  CHECK(s.handshake_complete);
  CHECK(f.anomalies.get("tls_handshake_too_large") == 0);
  CHECK(f.anomalies.total() == 1);  // the gap
}

TEST_CASE("tls: a server flight lost between ServerHello and ChangeCipherSpec is not a resumption") {
  Feeder f;
  f.client(ClientHelloParts{}.record());
  f.server(handshakeRecord(ServerHelloParts{}.message()));
  CHECK(f.tls.gap(provaudit::Side::Server, 1500) == ParseState::NeedMore);  // Certificate ... ServerHelloDone
  f.client(CCS);
  f.server(CCS);
  CHECK(f.summary().handshake_complete);
  CHECK(f.summary().server_gap);
  CHECK_FALSE(f.summary().resumed);
}

TEST_CASE("tls: content detection") {
  using provaudit::analyze::TlsConnection;
  const Buf hello = ClientHelloParts{}.record();
  CHECK(TlsConnection::looksLikeClientHello(hello));
  CHECK(TlsConnection::looksLikeClientHello(Buf(hello.begin(), hello.begin() + 3)));
  CHECK_FALSE(TlsConnection::looksLikeClientHello(text("GET / HTTP/1.1\r\n")));
  CHECK_FALSE(TlsConnection::looksLikeClientHello(handshakeRecord(ServerHelloParts{}.message())));
  CHECK_FALSE(TlsConnection::looksLikeClientHello(Buf{0x16, 0x03}));
  CHECK(TlsConnection::looksLikeServerRecord(handshakeRecord(ServerHelloParts{}.message())));
  CHECK(TlsConnection::looksLikeServerRecord(record(21, {0x02, 0x28})));
  CHECK(TlsConnection::looksLikeServerRecord(CCS));
  CHECK_FALSE(TlsConnection::looksLikeServerRecord(hello));
  CHECK_FALSE(TlsConnection::looksLikeServerRecord(record(23, Buf(10, 0))));
  CHECK_FALSE(TlsConnection::looksLikeServerRecord(text("HTTP/1.1 200 OK\r\n")));
  // After a client's lost first segment: the rest of its handshake, or a ServerHello from the server.
  const Buf client_cert = handshakeRecord(handshake(11, certificateBody({fakeDer(0xc1)})));
  const Buf key_exchange = handshakeRecord(handshake(16, vec16(Buf(64, 1))));
  const Buf server_hello = handshakeRecord(ServerHelloParts{}.message());
  CHECK(TlsConnection::looksLikeHandshakeAfterLostHello(client_cert, {}));
  CHECK(TlsConnection::looksLikeHandshakeAfterLostHello(key_exchange, {}));
  CHECK(TlsConnection::looksLikeHandshakeAfterLostHello(CCS, {}));
  CHECK(TlsConnection::looksLikeHandshakeAfterLostHello(record(23, Buf(10, 0)), server_hello));
  CHECK_FALSE(TlsConnection::looksLikeHandshakeAfterLostHello(record(23, Buf(10, 0)), {}));
  CHECK_FALSE(TlsConnection::looksLikeHandshakeAfterLostHello(handshakeRecord(handshake(15, Buf(8, 2))), {}));
  CHECK_FALSE(TlsConnection::looksLikeHandshakeAfterLostHello(text("GET / HTTP/1.1\r\n"), text("SSH-2.0-OpenSSH_9.2")));
  CHECK_FALSE(TlsConnection::looksLikeHandshakeAfterLostHello(Buf{0x16, 0x03, 0x03, 0x00, 0x00, 0x0b}, {}));  // empty record
  CHECK_FALSE(TlsConnection::looksLikeHandshakeAfterLostHello(Buf{0x16, 0x03, 0x03, 0x48, 0x01, 0x0b}, {}));  // too long
  CHECK_FALSE(TlsConnection::looksLikeHandshakeAfterLostHello(hello, {}));  // a ClientHello is detected as one
  CHECK(TlsConnection::startsWithServerHello(server_hello));
  CHECK_FALSE(TlsConnection::startsWithServerHello(handshakeRecord(handshake(11, certificateBody({fakeDer(0x51)})))));
  CHECK_FALSE(TlsConnection::startsWithServerHello(Buf(server_hello.begin(), server_hello.begin() + 5)));
}

TEST_CASE("tls: a handshake picked up in its middle, and who sent it") {
  using provaudit::analyze::TlsConnection;
  using Sender = TlsConnection::MidHandshakeSender;
  const Buf client_cert = handshakeRecord(handshake(11, certificateBody({fakeDer(0xc1)})));
  const Buf key_exchange = handshakeRecord(handshake(16, vec16(Buf(64, 1))));
  const Buf server_hello = handshakeRecord(ServerHelloParts{}.message());
  const Buf hello_done = handshakeRecord(handshake(14, {}));
  // The message type says who sent it; a Certificate, by what follows it.
  CHECK(TlsConnection::midHandshakeSender(server_hello) == Sender::Server);
  CHECK(TlsConnection::midHandshakeSender(hello_done) == Sender::Server);
  CHECK(TlsConnection::midHandshakeSender(key_exchange) == Sender::Client);
  CHECK(TlsConnection::midHandshakeSender(cat({client_cert, key_exchange})) == Sender::Client);
  CHECK(TlsConnection::midHandshakeSender(cat({client_cert, hello_done})) == Sender::Server);
  CHECK(TlsConnection::midHandshakeSender(client_cert) == Sender::Either);
  // A Certificate whose record is cut by the segment: its header still tells.
  CHECK(TlsConnection::midHandshakeSender(Buf(client_cert.begin(), client_cert.begin() + 12)) == Sender::Either);
  // Not from the middle of a handshake: what a flow picked up late mostly carries.
  CHECK(TlsConnection::midHandshakeSender(record(23, Buf(100, 0x5a))) == Sender::None);  // application data
  CHECK(TlsConnection::midHandshakeSender(CCS) == Sender::None);
  CHECK(TlsConnection::midHandshakeSender(ClientHelloParts{}.record()) == Sender::None);  // detected as a ClientHello
  CHECK(TlsConnection::midHandshakeSender(text("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n")) == Sender::None);
  CHECK(TlsConnection::midHandshakeSender(Buf(4096, 0x16)) == Sender::None);
  // Header-shaped bytes whose message does not fit its record.
  CHECK(TlsConnection::midHandshakeSender(handshakeRecord(handshake(11, certificateBody({fakeDer(0xc1)})), 0x0300)) ==
        Sender::None);  // SSL 3.0 is not looked for mid-stream
  CHECK(TlsConnection::midHandshakeSender(Buf{0x16, 0x03, 0x03, 0x00, 0x08, 0x10, 0x00, 0x01, 0x00, 1, 2, 3, 4}) ==
        Sender::None);  // a ClientKeyExchange of 256 bytes in a record of 8
  CHECK(TlsConnection::midHandshakeSender(Buf{0x16, 0x03, 0x03, 0x00, 0x08, 0x0e, 0x00, 0x00, 0x04, 1, 2, 3, 4}) ==
        Sender::None);  // a ServerHelloDone with a body
  CHECK(TlsConnection::midHandshakeSender(Buf{0x16, 0x03, 0x03, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x06, 0x00, 0x00, 0x09, 1,
                                              2, 3}) == Sender::None);  // a certificate_list longer than its message
  CHECK(TlsConnection::midHandshakeSender(Buf{0x16, 0x03, 0x03, 0x00, 0x06, 0x08, 0x00, 0x00, 0x02, 1, 2}) ==
        Sender::None);  // EncryptedExtensions is never in clear
}

TEST_CASE("tls: a connection picked up mid-handshake reads the client's Certificate, with the gap flag") {
  Feeder f;
  f.tls.startAfterUncaptured(provaudit::Side::Client);
  f.tls.startAfterUncaptured(provaudit::Side::Server);
  f.client(handshakeRecord(cat({handshake(11, certificateBody({fakeDer(0xc1)})), handshake(16, vec16(Buf(64, 1)))})));
  REQUIRE(f.summary().client_certificates.has_value());
  CHECK(f.summary().client_certificates->size() == 1);
  CHECK(f.summary().client_gap);
  CHECK(f.summary().server_gap);
  CHECK_FALSE(f.summary().client_hello.has_value());
  CHECK(f.anomalies.get("tcp_gap_in_handshake") == 0);  // nothing the reassembly followed was lost
}
