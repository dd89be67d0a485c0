// A flow analyzer fed as the flow table feeds it when packets are missing
// from the capture: the client's first segment (its ClientHello) lost, its
// later bytes held behind that hole until the flow ends, the server's bytes
// delivered meanwhile.
#include <catch2/catch.hpp>

#include <vector>

#include "one_flow.h"

using namespace provaudit;
using namespace provaudit::tlstest;

TEST_CASE_METHOD(OneFlow, "a lost ClientHello: the client's certificate after it is seen, whatever the server sent meanwhile") {
  // The server's handshake, its ChangeCipherSpec and Finished, then what it
  // sends over the connection: nothing, or a download larger than the bytes
  // a flow may show before it is known to be TLS (MIDSTREAM_WATCH_BYTES).
  const std::size_t download = GENERATE(std::size_t{0}, std::size_t{300} * 1024);
  CHECK(h->onData(info, Side::Server, serverFlight(), at) == StreamVerdict::Continue);
  CHECK(h->onData(info, Side::Server, cat({record(20, {0x01}), handshakeRecord(Buf(40, 0xef))}), at) ==
        StreamVerdict::Continue);
  for (std::size_t sent = 0; sent < download; sent += 16000) {
    REQUIRE(h->onData(info, Side::Server, record(23, Buf(16000, 0x5a)), at) == StreamVerdict::Continue);
  }
  CHECK(h->heldBytes() < analyze::MIDSTREAM_WATCH_BYTES + 4096);
  // At the end of the flow, the client's hole and what it held behind it.
  CHECK(h->onGap(info, Side::Client, 517, at) == StreamVerdict::Continue);
  h->onData(info, Side::Client, clientFlight(), at);
  h->onClose(info, CloseReason::Fin, at);
  REQUIRE(sink.tls.size() == 1);
  const analyze::TlsObservation& obs = sink.tls[0];
  CHECK(obs.client_cert == analyze::ClientCertState::Present);  // its (fake) DER is counted unparseable, not lost
  CHECK(obs.certificate_requested);
  CHECK(obs.server_hello_seen);
  CHECK(obs.version == 0x0303);
  CHECK(obs.gap);
  CHECK(obs.ja4.empty());
  CHECK(obs.sni.empty());
  CHECK(anomalies.get("tcp_gap_in_handshake") == 1);
}

TEST_CASE_METHOD(OneFlow, "a server speaking first with something else than a ServerHello is let go past the watch limit") {
  const Buf banner(16000, 'B');  // an SMTP or SSH server's talk, say
  StreamVerdict v = StreamVerdict::Continue;
  for (int i = 0; i < 8 && v == StreamVerdict::Continue; ++i) v = h->onData(info, Side::Server, banner, at);
  CHECK(v == StreamVerdict::Bypass);
  CHECK(sink.tls.empty());
}

TEST_CASE_METHOD(OneFlow, "a client whose first bytes were lost and whose next ones are no handshake is not taken for TLS") {
  CHECK(h->onGap(info, Side::Client, 300, at) == StreamVerdict::Continue);
  const Buf text = {'u', 's', 'e', 'r', ' ', 'x', '\r', '\n'};
  h->onData(info, Side::Client, text, at);
  // Application data alone is not enough either, without a ServerHello from the server.
  h->onData(info, Side::Client, record(23, Buf(100, 1)), at);
  h->onClose(info, CloseReason::Fin, at);
  CHECK(sink.tls.empty());
  CHECK(factory.tlsFlows() == 0);
}

TEST_CASE_METHOD(OneFlow, "server bytes held before the client speaks keep a bounded number of gaps") {
  // A ServerHello, then one byte and one lost byte after another, 100,000 times.
  CHECK(h->onData(info, Side::Server, serverFlight(), at) == StreamVerdict::Continue);
  const Buf one = {0x17};
  for (int i = 0; i < 100000; ++i) {
    REQUIRE(h->onGap(info, Side::Server, 1, at) == StreamVerdict::Continue);
    REQUIRE(h->onData(info, Side::Server, one, at) == StreamVerdict::Continue);
  }
  CHECK(h->heldBytes() < serverFlight().size() + analyze::SERVER_HELD_GAPS_MAX * 64);
  // The client's flight after its lost ClientHello is still read with the server's handshake.
  h->onGap(info, Side::Client, 517, at);
  h->onData(info, Side::Client, clientFlight(), at);
  h->onClose(info, CloseReason::Fin, at);
  REQUIRE(sink.tls.size() == 1);
  CHECK(sink.tls[0].client_cert == analyze::ClientCertState::Present);
  CHECK(sink.tls[0].certificate_requested);
}
