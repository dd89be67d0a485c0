#include "common/anomaly.h"

#include <mutex>
#include <string>
#include <unordered_map>

namespace provaudit {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::string> names;
  std::unordered_map<std::string, AnomalyId> ids;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

AnomalyId registerAnomaly(std::string_view name) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.ids.find(std::string(name));
  if (it != r.ids.end()) return it->second;
  const auto id = static_cast<AnomalyId>(r.names.size());
  r.names.emplace_back(name);
  r.ids.emplace(std::string(name), id);
  return id;
}

std::string anomalyName(AnomalyId id) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  return id < r.names.size() ? r.names[id] : std::string("unknown_anomaly");
}

std::uint64_t AnomalyCounters::get(std::string_view name) const {
  const AnomalyId id = registerAnomaly(name);
  return id < counts_.size() ? counts_[id] : 0;
}

std::uint64_t AnomalyCounters::total() const {
  std::uint64_t t = 0;
  for (auto c : counts_) t += c;
  return t;
}

void AnomalyCounters::merge(const AnomalyCounters& other) {
  if (other.counts_.size() > counts_.size()) counts_.resize(other.counts_.size(), 0);
  for (std::size_t i = 0; i < other.counts_.size(); ++i) counts_[i] += other.counts_[i];
}

void AnomalyCounters::mergeSince(const AnomalyCounters& now, const AnomalyCounters& before) {
  if (now.counts_.size() > counts_.size()) counts_.resize(now.counts_.size(), 0);
  for (std::size_t i = 0; i < now.counts_.size(); ++i) {
    const std::uint64_t was = i < before.counts_.size() ? before.counts_[i] : 0;
    if (now.counts_[i] > was) counts_[i] += now.counts_[i] - was;
  }
}

void AnomalyCounters::forEach(const std::function<void(const std::string&, std::uint64_t)>& fn) const {
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] != 0) fn(anomalyName(static_cast<AnomalyId>(i)), counts_[i]);
  }
}

}  // namespace provaudit
