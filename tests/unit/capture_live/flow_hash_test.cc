// Symmetric flow hash (capture/flow_hash.h): both directions of a connection go
// to the same worker, and flows spread evenly over workers.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "capture/flow_hash.h"

using namespace provaudit;
using namespace provaudit::capture;

namespace {

IpAddr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  const std::uint8_t bytes[4] = {a, b, c, d};
  return IpAddr::v4(bytes);
}

IpAddr v6(std::uint16_t last) {
  std::uint8_t bytes[16] = {0x20, 0x01, 0x0d, 0xb8};
  bytes[14] = static_cast<std::uint8_t>(last >> 8);
  bytes[15] = static_cast<std::uint8_t>(last);
  return IpAddr::v6(bytes);
}

}  // namespace

TEST_CASE("flow hash: both directions of an IPv4 connection hash the same") {
  const IpAddr phone = v4(10, 77, 0, 11), server = v4(10, 77, 0, 2);
  CHECK(symmetricFlowHash(phone, 40001, server, 443) == symmetricFlowHash(server, 443, phone, 40001));
  CHECK(canonicalFlowKey(phone, 40001, server, 443) == canonicalFlowKey(server, 443, phone, 40001));
}

TEST_CASE("flow hash: both directions of an IPv6 connection hash the same") {
  CHECK(symmetricFlowHash(v6(0x21), 50000, v6(0x2), 8443) == symmetricFlowHash(v6(0x2), 8443, v6(0x21), 50000));
}

TEST_CASE("flow hash: same address on both ends (loopback) is ordered by port") {
  const IpAddr lo = v4(127, 0, 0, 1);
  CHECK(symmetricFlowHash(lo, 1000, lo, 2000) == symmetricFlowHash(lo, 2000, lo, 1000));
  const auto k = canonicalFlowKey(lo, 2000, lo, 1000);
  CHECK(k.port_lo == 1000);
  CHECK(k.port_hi == 2000);
}

TEST_CASE("flow hash: different connections differ") {
  const IpAddr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
  CHECK(symmetricFlowHash(a, 1000, b, 443) != symmetricFlowHash(a, 1001, b, 443));
  CHECK(symmetricFlowHash(a, 1000, b, 443) != symmetricFlowHash(a, 1000, v4(10, 0, 0, 3), 443));
  // Swapping ports but not addresses is another connection.
  CHECK(symmetricFlowHash(a, 443, b, 1000) != symmetricFlowHash(a, 1000, b, 443));
}

TEST_CASE("flow hash: flows spread evenly over workers, replies land with their requests") {
  std::mt19937 rng(12345);
  const IpAddr server = v4(10, 77, 0, 2);
  for (std::size_t workers : {1u, 2u, 3u, 4u, 7u, 16u}) {
    std::vector<std::size_t> load(workers, 0);
    constexpr int FLOWS = 20000;
    for (int i = 0; i < FLOWS; ++i) {
      // Many phones, one provisioning server: the realistic skew.
      const IpAddr phone = v4(10, static_cast<std::uint8_t>(rng() % 4), static_cast<std::uint8_t>(rng()),
                              static_cast<std::uint8_t>(rng()));
      const auto port = static_cast<std::uint16_t>(32768 + rng() % 28000);
      const std::size_t w = workerForHash(symmetricFlowHash(phone, port, server, 443), workers);
      REQUIRE(w < workers);
      REQUIRE(w == workerForHash(symmetricFlowHash(server, 443, phone, port), workers));
      ++load[w];
    }
    const double expected = static_cast<double>(FLOWS) / static_cast<double>(workers);
    for (std::size_t w = 0; w < workers; ++w) {
      INFO("workers " << workers << ", worker " << w << " got " << load[w]);
      CHECK(static_cast<double>(load[w]) > expected * 0.9);
      CHECK(static_cast<double>(load[w]) < expected * 1.1);
    }
  }
}

TEST_CASE("flow hash: one client's ports alone spread over workers") {
  // A single device opening many connections to one server still uses every worker.
  const IpAddr phone = v4(10, 77, 0, 11), server = v4(10, 77, 0, 2);
  std::vector<std::size_t> load(4, 0);
  for (std::uint16_t port = 40000; port < 44000; ++port) ++load[workerForHash(symmetricFlowHash(phone, port, server, 443), 4)];
  for (std::size_t n : load) CHECK(n > 800);
}
