// CertCache: one parsed certificate per DER, within a byte budget: a flood
// of distinct certificates evicts the oldest (counted) instead of growing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "analyze/flow_analyzer.h"
#include "test_certs.h"

namespace pa = provaudit::analyze;
namespace tc = provaudit::testcerts;
using provaudit::AnomalyCounters;

namespace {

std::vector<std::vector<std::uint8_t>> distinctCerts(std::size_t n) {
  const auto key = tc::ecKey();
  std::vector<std::vector<std::uint8_t>> out;
  for (std::size_t i = 0; i < n; ++i) {
    tc::CertSpec spec;
    spec.subject = {{"CN", "flood " + std::to_string(i)}};
    spec.serial = 1000 + i;
    out.push_back(tc::der(tc::makeCert(spec, key.get()).get()));
  }
  return out;
}

}  // namespace

TEST_CASE("certificate cache: a repeated certificate is parsed once") {
  pa::CertCache cache;
  AnomalyCounters anomalies;
  const auto ders = distinctCerts(2);
  const auto a = cache.get(ders[0], anomalies);
  REQUIRE(a != nullptr);
  CHECK(cache.get(ders[0], anomalies) == a);
  CHECK(cache.get(ders[1], anomalies) != a);
  CHECK(cache.size() == 2);
  CHECK(cache.evictions() == 0);
  CHECK(cache.bytes() == ders[0].size() + ders[1].size() + 2 * pa::CERT_CACHE_ENTRY_OVERHEAD);
}

TEST_CASE("certificate cache: a flood of distinct certificates stays within the budget, oldest out first") {
  const auto ders = distinctCerts(600);
  const std::size_t budget = 50 * (ders[0].size() + pa::CERT_CACHE_ENTRY_OVERHEAD);
  pa::CertCache cache(budget);
  AnomalyCounters anomalies;
  const auto first = cache.get(ders[0], anomalies);
  REQUIRE(first != nullptr);
  std::size_t most = 0;
  for (std::size_t i = 1; i < ders.size(); ++i) {
    REQUIRE(cache.get(ders[i], anomalies) != nullptr);
    CHECK(cache.bytes() <= budget);
    most = std::max(most, cache.size());
  }
  CHECK(most <= 50);
  CHECK(most >= 45);  // the certificates differ in length by a few bytes
  CHECK(cache.evictions() == ders.size() - cache.size());
  // The newest is still there; the first was evicted, and comes back parsed again, equal.
  const auto last = cache.get(ders.back(), anomalies);
  CHECK(cache.get(ders.back(), anomalies) == last);
  const std::uint64_t before = cache.evictions();
  const auto again = cache.get(ders[0], anomalies);
  REQUIRE(again != nullptr);
  CHECK(again != first);
  CHECK(again->sha256 == first->sha256);
  CHECK(cache.evictions() == before + 1);
  // What an observation holds outlives the eviction, whole.
  CHECK(first->der == ders[0]);
  CHECK(anomalies.total() == 0);
}
