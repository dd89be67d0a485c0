#include "app/pipeline.h"

#include <boost/json.hpp>
#include <stdexcept>

#include "store/json_codec.h"

namespace provaudit::app {
namespace json = boost::json;

std::shared_ptr<const analyze::RuleSet> loadRules(const std::string& dir) {
  const std::string where = dir.empty() ? analyze::RuleSet::defaultDir() : dir;
  auto [rules, errors] = analyze::RuleSet::load(where);
  if (!errors.empty() || !rules) {
    std::string msg = "rules in " + where + " do not load: ";
    for (std::size_t i = 0; i < errors.size(); ++i) msg += (i == 0 ? "" : "; ") + errors[i].str();
    throw std::runtime_error(msg);
  }
  return rules;
}

std::string nowIso() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
  return isoTime(ns.count());
}

Pipeline::Pipeline(const CommonOptions& opts, store::Database& db)
    : opts_(opts),
      db_(db),
      rules_(loadRules(opts.rules)),
      factory_(*this, anomalies_, certs_),
      last_flush_(std::chrono::steady_clock::now()) {
  if (!opts.ca.empty()) device_ca_ = std::make_unique<analyze::TrustStore>(opts.ca);
  if (!opts.server_ca.empty()) server_ca_ = std::make_unique<analyze::TrustStore>(opts.server_ca);
  if (!opts.events.empty()) {
    events_.open(opts.events, std::ios::app);
    if (!events_) throw std::runtime_error(opts.events + ": cannot open events file for writing");
  }
}

Pipeline::~Pipeline() = default;

void Pipeline::onTls(analyze::TlsObservation&& obs) {
  ++totals_.tls_handshakes;
  if (obs.client_cert == analyze::ClientCertState::Present) ++totals_.client_certs;
  pending_tls_.push_back(std::move(obs));
  if (pending_tls_.size() + pending_http_.size() >= STORE_BATCH ||
      std::chrono::steady_clock::now() - last_flush_ >= FLUSH_INTERVAL) {
    flush();
  }
}

void Pipeline::onHttp(analyze::HttpObservation&& obs) {
  ++totals_.http_requests;
  pending_http_.push_back(std::move(obs));
  if (pending_tls_.size() + pending_http_.size() >= STORE_BATCH ||
      std::chrono::steady_clock::now() - last_flush_ >= FLUSH_INTERVAL) {
    flush();
  }
}

void Pipeline::writeEvent(const std::string& line) {
  if (events_.is_open()) events_ << line << '\n';
}

void Pipeline::flush() {
  last_flush_ = std::chrono::steady_clock::now();
  if (pending_tls_.empty() && pending_http_.empty()) return;
  db_.begin();
  try {
    for (const auto& t : pending_tls_) {
      if (db_.addTls(t)) {
        ++totals_.new_sightings;
        if (events_.is_open()) {
          json::object e = store::tlsToJson(t);
          e["event"] = "tls_handshake";
          e["time"] = isoTime(t.first.ts_ns);
          writeEvent(json::serialize(e));
        }
      }
    }
    for (const auto& h : pending_http_) {
      if (db_.addHttp(h)) {
        ++totals_.new_sightings;
        if (events_.is_open()) {
          json::object e = store::httpToJson(h);
          e["event"] = "http_request";
          e["time"] = isoTime(h.flow.ref.ts_ns);
          writeEvent(json::serialize(e));
        }
      }
    }
    db_.commit();
  } catch (...) {
    db_.rollback();
    throw;
  }
  if (events_.is_open()) events_.flush();
  pending_tls_.clear();
  pending_http_.clear();
}

analyze::AuditResult Pipeline::audit() {
  flush();
  std::vector<analyze::TlsObservation> tls;
  std::vector<analyze::HttpObservation> http;
  db_.loadObservations(tls, http, certs_, anomalies_);
  analyze::AuditResult result = analyze::runAudit({&tls, &http}, *rules_, device_ca_.get(), server_ca_.get());
  db_.begin();
  try {
    db_.replaceAudit(result);
    db_.commit();
  } catch (...) {
    db_.rollback();
    throw;
  }
  if (events_.is_open()) {
    for (const auto& d : result.devices) {
      for (const auto& f : d.findings) {
        json::object e{{"event", "finding"}, {"device", d.id}, {"code", f.code}, {"severity", f.severity},
                       {"detail", f.detail}, {"time", isoTime(d.last_seen)}};
        writeEvent(json::serialize(e));
      }
    }
    events_.flush();
  }
  return result;
}

}  // namespace provaudit::app
