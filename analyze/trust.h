#pragma once
// Trusted CA bundles (--ca, --server-ca) and chain verification at packet time.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "analyze/observation.h"
#include "common/c_handles.h"

namespace provaudit::analyze {

struct ChainResult {
  std::string status;  // trusted | untrusted | expired
  std::string error;   // OpenSSL's verify error text when not trusted; what was out of date when expired
  // A CA of the chain (not the leaf) outside its validity window at that time,
  // the chain otherwise sound: "cert-expired" or "cert-not-yet-valid" ("" if none).
  std::string issuer_window{};
};

class TrustStore {
 public:
  // Loads PEM bundles (several certificates each). Throws std::runtime_error
  // with a one-line reason naming the file (a configuration error, not packet data).
  explicit TrustStore(const std::vector<std::string>& pem_files);
  // The same from PEM text (a bundle kept in the database); `what` names it in errors.
  struct PemText {
    PemText(std::string pem, std::string name) : text(std::move(pem)), what(std::move(name)) {}
    std::string text, what;
  };
  explicit TrustStore(const PemText& pem);
  // The files' PEM text as one bundle, for a TrustStore(PemText) later.
  static std::string readBundles(const std::vector<std::string>& pem_files);
  [[nodiscard]] std::size_t size() const { return count_; }
  // Verifies `chain` (leaf first, intermediates as the peer sent them) at the
  // packet time `at_s` (seconds since epoch), never at wall-clock time. A
  // certificate out of its validity window does not end the verification: a
  // chain that is also forged (a signature that fails, an issuer not in the
  // bundle) is untrusted, whatever expired on the way.
  [[nodiscard]] ChainResult verify(const std::vector<CertPtr>& chain, std::int64_t at_s) const;

 private:
  std::size_t add(bio_st* bio, const std::string& what);
  X509StorePtr store_;
  std::size_t count_ = 0;
};

}  // namespace provaudit::analyze
