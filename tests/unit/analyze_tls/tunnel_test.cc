// A device that reaches its provisioning server through an HTTP proxy: its
// CONNECT request in clear, the proxy's answer, then the tunnel's TLS
// handshake (with the client certificate), all on one TCP connection.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "one_flow.h"

using namespace provaudit;
using namespace provaudit::tlstest;

namespace {

Buf text(const std::string& s) { return Buf(s.begin(), s.end()); }

const std::string CONNECT =
    "CONNECT prov.example.test:443 HTTP/1.1\r\nHost: prov.example.test:443\r\n"
    "User-Agent: Cisco/SPA504G-7.6.2 (000E08AABBCC)(88012BA01234)\r\n\r\n";
const std::string ANSWER = "HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n";

struct Tunnel : OneFlow {
  void expectTunnelRead() {
    h->onClose(info, CloseReason::Fin, at);
    REQUIRE(sink.http.size() == 1);
    CHECK(sink.http[0].method == "CONNECT");
    CHECK(sink.http[0].user_agent == "Cisco/SPA504G-7.6.2 (000E08AABBCC)(88012BA01234)");
    CHECK(analyze::isTunnelRequest(sink.http[0]));
    REQUIRE(sink.tls.size() == 1);
    const analyze::TlsObservation& obs = sink.tls[0];
    CHECK(obs.client_cert == analyze::ClientCertState::Present);
    CHECK(obs.certificate_requested);
    CHECK(obs.server_hello_seen);
    CHECK_FALSE(obs.gap);
    CHECK(anomalies.get("tcp_gap_in_handshake") == 0);
  }
};

}  // namespace

TEST_CASE_METHOD(Tunnel, "through a proxy: the CONNECT is a request, the tunnel's handshake is read as TLS") {
  // The proxy's answer in pieces, cut anywhere (even inside its final CRLF CRLF).
  const std::size_t cut = GENERATE(std::size_t{1}, std::size_t{20}, ANSWER.size() - 3, ANSWER.size() - 1);
  CHECK(h->onData(info, Side::Client, text(CONNECT), at) == StreamVerdict::Continue);
  CHECK(h->onData(info, Side::Server, text(ANSWER.substr(0, cut)), at) == StreamVerdict::Continue);
  CHECK(h->onData(info, Side::Server, text(ANSWER.substr(cut)), at) == StreamVerdict::Continue);
  CHECK(h->onData(info, Side::Client, ClientHelloParts{}.record(), at) == StreamVerdict::Continue);
  h->onData(info, Side::Server, serverFlight(), at);
  h->onData(info, Side::Client, clientFlight(), at);
  expectTunnelRead();
}

TEST_CASE_METHOD(Tunnel, "through a proxy: the answer and the server's first flight in one segment") {
  CHECK(h->onData(info, Side::Client, text(CONNECT), at) == StreamVerdict::Continue);
  CHECK(h->onData(info, Side::Client, ClientHelloParts{}.record(), at) == StreamVerdict::Continue);  // sent at once
  h->onData(info, Side::Server, cat({text(ANSWER), serverFlight()}), at);
  h->onData(info, Side::Client, clientFlight(), at);
  expectTunnelRead();
}

TEST_CASE_METHOD(Tunnel, "through a proxy: the ClientHello sent with the CONNECT, before the answer") {
  // A client that does not wait for the proxy's answer: its first tunnel bytes
  // share the CONNECT's segment, whole or cut anywhere past the request's end.
  const Buf hello = ClientHelloParts{}.record();
  const std::size_t with =
      GENERATE_COPY(std::size_t{1}, std::size_t{5}, std::size_t{6}, hello.size() - 1, hello.size());
  CHECK(h->onData(info, Side::Client,
                  cat({text(CONNECT), Buf(hello.begin(), hello.begin() + static_cast<std::ptrdiff_t>(with))}),
                  at) == StreamVerdict::Continue);
  if (with < hello.size()) {
    CHECK(h->onData(info, Side::Client, Buf(hello.begin() + static_cast<std::ptrdiff_t>(with), hello.end()), at) ==
          StreamVerdict::Continue);
  }
  h->onData(info, Side::Server, cat({text(ANSWER), serverFlight()}), at);
  h->onData(info, Side::Client, clientFlight(), at);
  expectTunnelRead();
  CHECK(anomalies.total() == anomalies.get("x509_unparseable_certificate"));  // the tests' placeholder DER only
}

TEST_CASE_METHOD(Tunnel, "through a proxy: an answer that never ends lets the flow go, counted") {
  CHECK(h->onData(info, Side::Client, text(CONNECT), at) == StreamVerdict::Continue);
  StreamVerdict v = StreamVerdict::Continue;
  for (std::size_t sent = 0; v == StreamVerdict::Continue && sent < 4 * analyze::TUNNEL_ANSWER_MAX; sent += 1000) {
    v = h->onData(info, Side::Server, Buf(1000, 'x'), at);
  }
  CHECK(v == StreamVerdict::Bypass);
  CHECK(anomalies.get("http_tunnel_answer_too_large") == 1);
  CHECK(h->heldBytes() <= analyze::TUNNEL_ANSWER_MAX + 4096);
}
