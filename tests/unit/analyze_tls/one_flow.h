#pragma once
// One flow's analyzer fed as the flow table feeds it (its sides known from
// the SYN), what it observed, and the TLS 1.2 flights of a handshake whose
// server asks for a client certificate: for tests of whole flows.
#include <memory>
#include <vector>

#include "analyze/flow_analyzer.h"
#include "tls_builders.h"

namespace provaudit::tlstest {

struct Observations : analyze::ObservationSink {
  std::vector<analyze::TlsObservation> tls;
  std::vector<analyze::HttpObservation> http;
  void onTls(analyze::TlsObservation&& obs) override { tls.push_back(std::move(obs)); }
  void onHttp(analyze::HttpObservation&& obs) override { http.push_back(std::move(obs)); }
};

inline const Buf CA_NAME = {0x30, 0x0b, 0x31, 0x09, 0x30, 0x07, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x00};

// The server's first flight asking for a client certificate, in one record.
inline Buf serverFlight() {
  return handshakeRecord(cat({ServerHelloParts{}.message(), handshake(11, certificateBody({fakeDer(0x51)})),
                              handshake(13, certificateRequestBody12(CA_NAME)), handshake(14, {})}));
}

// The client's second flight: Certificate, ClientKeyExchange, CertificateVerify; CCS; encrypted Finished.
inline Buf clientFlight() {
  return cat({handshakeRecord(cat({handshake(11, certificateBody({fakeDer(0xc1)})), handshake(16, vec16(Buf(64, 1))),
                                   handshake(15, Buf(8, 2))})),
              record(20, {0x01}), handshakeRecord(Buf(40, 0xee))});
}

struct OneFlow {
  Observations sink;
  AnomalyCounters anomalies;
  analyze::CertCache certs;
  analyze::FlowAnalyzerFactory factory{sink, anomalies, certs};
  FlowInfo info = [] {
    FlowInfo i;
    i.syn_seen = true;
    return i;
  }();
  const PacketRef at{1'000'000'000, 1, 0};
  std::unique_ptr<StreamHandler> h = factory.create(info);
};

}  // namespace provaudit::tlstest
