#pragma once
// Anomalies are counted under stable snake_case names (truncated_vlan_header,
// tls_record_too_large, tcp_gap_in_handshake, ...). Names are registered once
// into a process-wide table and get a small id; each pipeline instance keeps
// its own counter vector indexed by id, so the hot path is one array add.
//
//   counters.inc(PA_ANOMALY("truncated_vlan_header"));
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace provaudit {

using AnomalyId = std::uint16_t;

// Thread-safe and idempotent: the same name always yields the same id.
AnomalyId registerAnomaly(std::string_view name);
std::string anomalyName(AnomalyId id);

class AnomalyCounters {
 public:
  void inc(AnomalyId id, std::uint64_t n = 1) {
    if (id >= counts_.size()) counts_.resize(static_cast<std::size_t>(id) + 1, 0);
    counts_[id] += n;
  }
  [[nodiscard]] std::uint64_t get(std::string_view name) const;
  [[nodiscard]] std::uint64_t total() const;
  void merge(const AnomalyCounters& other);
  // Adds what `now` counts beyond `before` (an earlier copy of the same counters).
  void mergeSince(const AnomalyCounters& now, const AnomalyCounters& before);
  // Visits every counter with a non-zero value, by name.
  void forEach(const std::function<void(const std::string&, std::uint64_t)>& fn) const;
  void clear() { counts_.clear(); }

 private:
  std::vector<std::uint64_t> counts_;
};

}  // namespace provaudit

#define PA_ANOMALY(name)                                                     \
  ([]() -> ::provaudit::AnomalyId {                                          \
    static const ::provaudit::AnomalyId pa_anomaly_id_ = ::provaudit::registerAnomaly(name); \
    return pa_anomaly_id_;                                                   \
  }())
