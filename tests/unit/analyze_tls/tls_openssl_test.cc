// The parser against a real TLS stack: OpenSSL client and server talk through
// memory BIOs inside the test, every byte that crosses is recorded in order,
// and the transcript is fed to TlsConnection. Hermetic: certificates are made
// in the test (test_certs.h), nothing touches the network or the disk.
#include <openssl/ssl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "../../support/memory_tls.h"
#include "../analyze_x509/test_certs.h"
#include "analyze/cert_info.h"
#include "analyze/tls_connection.h"

using provaudit::Side;
using provaudit::analyze::ParseState;
using provaudit::analyze::TlsConnection;
using provaudit::analyze::TlsSummary;
namespace tc = provaudit::testcerts;

namespace {

using Buf = std::vector<std::uint8_t>;
using provaudit::testtls::acceptAnyCertificate;
using provaudit::testtls::Chunk;

// A CA, a server certificate and a device certificate, made once.
struct Pki {
  provaudit::EvpPkeyPtr ca_key = tc::ecKey();
  provaudit::X509Ptr ca = tc::makeCert({.subject = {{"CN", "Sipura CA Client Root"}}, .ca = true}, ca_key.get());
  provaudit::EvpPkeyPtr server_key = tc::ecKey();
  provaudit::X509Ptr server = tc::makeCert({.subject = {{"CN", "prov.example"}}, .serial = 2, .san = "DNS:prov.example"},
                                           server_key.get(), ca.get(), ca_key.get());
  provaudit::EvpPkeyPtr device_key = tc::ecKey();
  provaudit::X509Ptr device =
      tc::makeCert({.subject = {{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000e08abcdef"}}, .serial = 3},
                   device_key.get(), ca.get(), ca_key.get());
};

const Pki& pki() {
  static const Pki instance;
  return instance;
}

struct ServerOptions {
  bool request_cert = true;
  int max_version = 0;  // 0 = the library's highest
  bool tickets = true;
};

provaudit::SslCtxPtr serverContext(const ServerOptions& opt) {
  provaudit::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  tc::require(ctx != nullptr, "SSL_CTX_new");
  tc::require(SSL_CTX_use_certificate(ctx.get(), pki().server.get()) == 1, "use_certificate");
  tc::require(SSL_CTX_use_PrivateKey(ctx.get(), pki().server_key.get()) == 1, "use_PrivateKey");
  if (opt.request_cert) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, acceptAnyCertificate);
    tc::require(SSL_CTX_add_client_CA(ctx.get(), pki().ca.get()) == 1, "add_client_CA");  // copies the name
  }
  if (opt.max_version != 0) tc::require(SSL_CTX_set_max_proto_version(ctx.get(), opt.max_version) == 1, "max");
  if (!opt.tickets) SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  static constexpr unsigned char SESSION_CONTEXT[] = "provaudit-test";
  tc::require(SSL_CTX_set_session_id_context(ctx.get(), SESSION_CONTEXT, sizeof SESSION_CONTEXT - 1) == 1, "sid ctx");
  return ctx;
}

provaudit::SslCtxPtr clientContext(bool with_cert) {
  provaudit::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  tc::require(ctx != nullptr, "SSL_CTX_new");
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (with_cert) {
    tc::require(SSL_CTX_use_certificate(ctx.get(), pki().device.get()) == 1, "use_certificate");
    tc::require(SSL_CTX_use_PrivateKey(ctx.get(), pki().device_key.get()) == 1, "use_PrivateKey");
  }
  return ctx;
}

// The shared conversation (tests/support/memory_tls.h) plus what these tests
// do with it: SNI, resumption, one request and response.
class MemoryPair : public provaudit::testtls::MemoryTls {
 public:
  MemoryPair(SSL_CTX* client_ctx, SSL_CTX* server_ctx, SSL_SESSION* resume = nullptr)
      : MemoryTls(client_ctx, server_ctx) {
    tc::require(SSL_set_tlsext_host_name(client(), "prov.example") == 1, "SNI");
    if (resume != nullptr) tc::require(SSL_set_session(client(), resume) == 1, "SSL_set_session");
  }

  void exchange() {
    write(client(), "GET /spa000e08abcdef.cfg HTTP/1.1\r\n\r\n");
    read(server());
    write(server(), "HTTP/1.1 200 OK\r\n\r\n<flat-profile/>");
    read(client());  // also takes in TLS 1.3 NewSessionTickets
  }

  // A request, then a secure renegotiation started by the server.
  void requestThenRenegotiate() {
    write(client(), "GET /protected/profile.cfg HTTP/1.1\r\n\r\n");
    read(server());
    renegotiate();
  }

  provaudit::SslSessionPtr clientSession() const { return provaudit::SslSessionPtr(SSL_get1_session(client())); }
  bool clientResumed() const { return SSL_session_reused(client()) == 1; }
};

struct Replay {
  provaudit::AnomalyCounters anomalies;
  TlsConnection tls{anomalies};
  ParseState state = ParseState::NeedMore;
  // Where in the transcript the parser first stopped needing bytes.
  std::size_t stopped_at = 0;

  Replay(const std::vector<Chunk>& transcript, bool bytewise = false) {
    for (std::size_t i = 0; i < transcript.size(); ++i) {
      const Chunk& c = transcript[i];
      if (bytewise) {
        for (const std::uint8_t b : c.bytes) state = tls.feed(c.side, Buf{b});
      } else {
        state = tls.feed(c.side, c.bytes);
      }
      if (state != ParseState::NeedMore && stopped_at == 0) stopped_at = i + 1;
    }
  }
  const TlsSummary& summary() const { return tls.summary(); }
};

// A full handshake, then a second connection offering the first one's
// session (by id or ticket, as the server allows); both transcripts.
struct Resumption {
  std::vector<Chunk> first;
  std::vector<Chunk> second;

  explicit Resumption(const ServerOptions& opt) {
    const auto server_ctx = serverContext(opt);
    const auto client_ctx = clientContext(true);
    MemoryPair full(client_ctx.get(), server_ctx.get());
    full.handshake();
    full.exchange();
    const auto session = full.clientSession();
    tc::require(session != nullptr, "SSL_get1_session");
    MemoryPair resumed(client_ctx.get(), server_ctx.get(), session.get());
    resumed.handshake();
    resumed.exchange();
    tc::require(resumed.clientResumed(), "OpenSSL did not resume");
    first = full.transcript();
    second = resumed.transcript();
  }
};

}  // namespace

TEST_CASE("openssl: TLS 1.2 with a client certificate") {
  const auto server_ctx = serverContext({.max_version = TLS1_2_VERSION});
  const auto client_ctx = clientContext(true);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  pair.exchange();

  for (const bool bytewise : {false, true}) {
    INFO("bytewise " << bytewise);
    const Replay replay(pair.transcript(), bytewise);
    const TlsSummary& s = replay.summary();
    CHECK(replay.anomalies.total() == 0);
    CHECK(replay.state == ParseState::NeedMore);  // still watching for a renegotiation
    REQUIRE(s.client_hello);
    CHECK(s.client_hello->sni == "prov.example");
    CHECK(s.client_hello->legacy_version == 0x0303);
    REQUIRE(s.server_hello);
    CHECK(s.server_hello->selected_version == 0x0303);
    CHECK_FALSE(s.tls13);
    REQUIRE(s.server_certificates);
    CHECK(s.server_certificates->at(0) == tc::der(pki().server.get()));
    REQUIRE(s.certificate_request);
    REQUIRE(s.certificate_request->ca_names.size() == 1);
    CHECK(s.certificate_request->ca_names[0] == tc::subjectDer(pki().ca.get()));
    CHECK_FALSE(s.certificate_request->signature_algorithms.empty());
    REQUIRE(s.client_certificates);
    REQUIRE(s.client_certificates->size() == 1);
    CHECK(s.client_certificates->at(0) == tc::der(pki().device.get()));
    CHECK(s.client_ccs);
    CHECK(s.server_ccs);
    CHECK(s.handshake_complete);
    CHECK_FALSE(s.resumed);
    CHECK_FALSE(s.renegotiation);
    CHECK_FALSE(s.no_certificate_alert);
    CHECK(s.alerts.empty());

    const Buf& der = s.client_certificates->at(0);
    const auto cert = provaudit::analyze::parseCertificate(der.data(), der.size());
    REQUIRE(cert);
    CHECK(cert->subject_text == "OU=SPA-962,L=88012BA01234,ST=000e08abcdef");
  }
}

TEST_CASE("openssl: TLS 1.2, server asks, client has no certificate") {
  const auto server_ctx = serverContext({.max_version = TLS1_2_VERSION});
  const auto client_ctx = clientContext(false);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  pair.exchange();
  const Replay replay(pair.transcript());
  CHECK(replay.anomalies.total() == 0);
  CHECK(replay.summary().certificate_request);
  REQUIRE(replay.summary().client_certificates);
  CHECK(replay.summary().client_certificates->empty());
  CHECK(replay.summary().handshake_complete);
}

TEST_CASE("openssl: TLS 1.2, server does not ask") {
  const auto server_ctx = serverContext({.request_cert = false, .max_version = TLS1_2_VERSION});
  const auto client_ctx = clientContext(true);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  pair.exchange();
  const Replay replay(pair.transcript());
  CHECK_FALSE(replay.summary().certificate_request);
  CHECK_FALSE(replay.summary().client_certificates);
  CHECK(replay.summary().handshake_complete);
}

TEST_CASE("openssl: TLS 1.3 hides the client certificate and ends the parse") {
  const auto server_ctx = serverContext({});
  const auto client_ctx = clientContext(true);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  pair.exchange();
  const Replay replay(pair.transcript());
  const TlsSummary& s = replay.summary();
  CHECK(replay.anomalies.total() == 0);
  CHECK(replay.state == ParseState::Done);
  CHECK(replay.stopped_at == 2);  // ClientHello, then the server's first flight
  CHECK(s.tls13);
  CHECK(s.handshake_complete);
  CHECK(s.server_hello->selected_version == 0x0304);
  CHECK(s.client_hello->has_pre_shared_key == false);
  CHECK_FALSE(s.client_certificates);
  CHECK_FALSE(s.certificate_request);
  CHECK_FALSE(s.resumed);
  CHECK(provaudit::analyze::ja4(*s.client_hello).substr(0, 4) == "t13d");
}

TEST_CASE("openssl: TLS 1.2 resumption by session id") {
  const Resumption r({.max_version = TLS1_2_VERSION, .tickets = false});
  const Replay replay(r.second);
  const TlsSummary& s = replay.summary();
  CHECK(replay.anomalies.total() == 0);
  CHECK(s.resumed);
  CHECK_FALSE(s.client_hello->session_id.empty());
  CHECK(s.server_hello->session_id == s.client_hello->session_id);
  CHECK_FALSE(s.server_certificates);
  CHECK_FALSE(s.client_certificates);
  CHECK(s.handshake_complete);
  CHECK_FALSE(Replay(r.first).summary().resumed);
}

TEST_CASE("openssl: TLS 1.2 resumption by session ticket") {
  const Replay replay(Resumption({.max_version = TLS1_2_VERSION}).second);
  CHECK(replay.anomalies.total() == 0);
  CHECK(replay.summary().client_hello->has_session_ticket_ext);
  CHECK_FALSE(replay.summary().client_hello->session_ticket.empty());
  CHECK(replay.summary().resumed);
}

TEST_CASE("openssl: TLS 1.3 PSK resumption") {
  const Replay replay(Resumption({}).second);
  CHECK(replay.anomalies.total() == 0);
  CHECK(replay.summary().client_hello->has_pre_shared_key);
  CHECK(replay.summary().tls13);
  CHECK(replay.summary().resumed);
}

TEST_CASE("openssl: TLS 1.2 renegotiation after the first request") {
  const auto server_ctx = serverContext({.request_cert = false, .max_version = TLS1_2_VERSION});
  const auto client_ctx = clientContext(true);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  pair.requestThenRenegotiate();
  const Replay replay(pair.transcript());
  CHECK(replay.anomalies.total() == 0);
  CHECK(replay.summary().renegotiation);
  CHECK(replay.state == ParseState::Done);
  CHECK_FALSE(replay.summary().client_certificates);  // the renegotiated handshake is encrypted
  CHECK(replay.summary().handshake_complete);
}

TEST_CASE("openssl: TLS 1.2 renegotiation before any application data") {
  const auto server_ctx = serverContext({.request_cert = false, .max_version = TLS1_2_VERSION});
  const auto client_ctx = clientContext(true);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  pair.renegotiate();  // the server asks at once, before the client's request
  const Replay replay(pair.transcript());
  CHECK(replay.anomalies.total() == 0);
  CHECK(replay.summary().renegotiation);
  CHECK(replay.state == ParseState::Done);
  CHECK_FALSE(replay.summary().client_certificates);
}

TEST_CASE("openssl: a client's renegotiation that the server refuses is no renegotiation") {
  // OpenSSL 3 servers refuse a client's renegotiation unless told otherwise:
  // a no_renegotiation alert, and no handshake of theirs, so nothing was asked.
  const auto server_ctx = serverContext({.request_cert = false, .max_version = TLS1_2_VERSION});
  const auto client_ctx = clientContext(true);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  pair.exchange();
  const std::size_t before = pair.transcript().size();
  tc::require(SSL_renegotiate(pair.client()) == 1, "SSL_renegotiate");
  (void)SSL_do_handshake(pair.client());  // sends the encrypted ClientHello, waits
  ERR_clear_error();
  for (int round = 0; round < 3; ++round) {  // (each read moves what was written after it)
    pair.read(pair.server());  // answers with the alert
    pair.read(pair.client());
  }
  const Replay replay(pair.transcript());
  // The client asked, the server answered (its alert).
  const auto& t = pair.transcript();
  REQUIRE(t.size() > before + 1);
  CHECK(t[before].side == Side::Client);
  CHECK(std::any_of(t.begin() + static_cast<std::ptrdiff_t>(before), t.end(),
                    [](const Chunk& c) { return c.side == Side::Server; }));
  CHECK(replay.summary().handshake_complete);
  CHECK_FALSE(replay.summary().renegotiation);
  CHECK(replay.state == ParseState::NeedMore);  // still watching
}

TEST_CASE("openssl: a gap in the client's handshake bytes") {
  const auto server_ctx = serverContext({.max_version = TLS1_2_VERSION});
  const auto client_ctx = clientContext(true);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  // Drop the client's second flight (Certificate ... Finished) entirely.
  provaudit::AnomalyCounters anomalies;
  TlsConnection tls(anomalies);
  int client_chunks = 0;
  for (const Chunk& c : pair.transcript()) {
    if (c.side == Side::Client && ++client_chunks == 2) {
      tls.gap(Side::Client, c.bytes.size());
      continue;
    }
    tls.feed(c.side, c.bytes);
  }
  CHECK(tls.summary().client_gap);
  CHECK_FALSE(tls.summary().client_certificates);
  CHECK(anomalies.get("tcp_gap_in_handshake") == 1);
  CHECK(tls.summary().server_certificates);
}

TEST_CASE("openssl: random splits and single-byte corruptions of a real transcript") {
  const auto server_ctx = serverContext({.max_version = TLS1_2_VERSION});
  const auto client_ctx = clientContext(true);
  MemoryPair pair(client_ctx.get(), server_ctx.get());
  pair.handshake();
  pair.exchange();
  const Replay whole(pair.transcript());
  std::mt19937 rng(20261126);  // fixed seed: the test is reproducible

  for (int run = 0; run < 20; ++run) {
    std::vector<Chunk> split;
    for (const Chunk& c : pair.transcript()) {
      for (std::size_t at = 0; at < c.bytes.size();) {
        const std::size_t n = std::min<std::size_t>(1 + rng() % 700, c.bytes.size() - at);
        split.push_back({c.side, Buf(c.bytes.begin() + static_cast<std::ptrdiff_t>(at),
                                     c.bytes.begin() + static_cast<std::ptrdiff_t>(at + n))});
        at += n;
      }
    }
    const Replay replay(split);
    CHECK(replay.summary().client_certificates == whole.summary().client_certificates);
    CHECK(replay.summary().server_certificates == whole.summary().server_certificates);
    CHECK(replay.summary().handshake_complete);
    CHECK(replay.summary().client_bytes == whole.summary().client_bytes);
  }

  // Corrupt one byte at a time anywhere in the handshake: never a crash, an
  // over-read (run under PROVAUDIT_SANITIZE) or an endless loop.
  for (int run = 0; run < 300; ++run) {
    std::vector<Chunk> corrupted = pair.transcript();
    Chunk& victim = corrupted[rng() % std::min<std::size_t>(corrupted.size(), 4)];
    victim.bytes[rng() % victim.bytes.size()] = static_cast<std::uint8_t>(rng());
    const Replay replay(corrupted);
    CHECK(replay.summary().alerts.size() <= 64);
  }
}
