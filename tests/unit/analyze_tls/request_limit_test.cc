// One kept-alive connection with more requests than a flow reports
// (HTTP_MAX_REQUESTS_PER_FLOW): the rest are counted, and a User-Agent that
// changes past the limit (a device upgraded on the same connection) is
// still reported.
#include <catch2/catch.hpp>

#include <string>

#include "one_flow.h"

using namespace provaudit;
using namespace provaudit::tlstest;

namespace {

Buf request(std::size_t n, const std::string& agent) {
  const std::string s = "GET /cfg/" + std::to_string(n) + ".xml HTTP/1.1\r\nHost: prov.example.test\r\nUser-Agent: " +
                        agent + "\r\n\r\n";
  return Buf(s.begin(), s.end());
}

const std::string AGENT = "Linksys/SPA-962-6.1.5(a) (88012BA01234)";

}  // namespace

TEST_CASE("requests past a connection's limit are counted, not dropped unsaid") {
  // plain300.pcap: 300 requests on one connection; 256 were reported, the
  // other 44 went without a count (tshark shows 300).
  OneFlow f;
  constexpr std::size_t TOTAL = 300;
  for (std::size_t i = 0; i < TOTAL; ++i) {
    REQUIRE(f.h->onData(f.info, Side::Client, request(i, AGENT), f.at) == StreamVerdict::Continue);
  }
  f.h->onClose(f.info, CloseReason::Fin, f.at);
  CHECK(f.sink.http.size() == analyze::HTTP_MAX_REQUESTS_PER_FLOW);
  CHECK(f.anomalies.get("http_flow_request_limit") == TOTAL - analyze::HTTP_MAX_REQUESTS_PER_FLOW);
}

TEST_CASE("past a connection's request limit, a new User-Agent is still reported, a bounded number of times") {
  OneFlow f;
  std::size_t sent = 0;
  for (; sent < analyze::HTTP_MAX_REQUESTS_PER_FLOW + 10; ++sent) f.h->onData(f.info, Side::Client, request(sent, AGENT), f.at);
  const std::string upgraded = "Linksys/SPA-962-6.1.6 (88012BA01234)";
  f.h->onData(f.info, Side::Client, request(sent++, upgraded), f.at);
  f.h->onData(f.info, Side::Client, request(sent++, upgraded), f.at);  // the same again: counted
  REQUIRE(f.sink.http.size() == analyze::HTTP_MAX_REQUESTS_PER_FLOW + 1);
  CHECK(f.sink.http.back().user_agent == upgraded);
  CHECK(f.sink.http.back().uri == "/cfg/" + std::to_string(analyze::HTTP_MAX_REQUESTS_PER_FLOW + 10) + ".xml");
  CHECK(f.anomalies.get("http_flow_request_limit") == 11);
  // A hostile client alternating agents gets no more than the bound.
  for (std::size_t i = 0; i < 100; ++i) {
    f.h->onData(f.info, Side::Client, request(sent++, "agent-" + std::to_string(i)), f.at);
  }
  f.h->onClose(f.info, CloseReason::Fin, f.at);
  CHECK(f.sink.http.size() ==
        analyze::HTTP_MAX_REQUESTS_PER_FLOW + analyze::HTTP_MAX_AGENT_CHANGES_PAST_LIMIT);
  CHECK(f.anomalies.get("http_flow_request_limit") == 11 + 100 - (analyze::HTTP_MAX_AGENT_CHANGES_PAST_LIMIT - 1));
}
