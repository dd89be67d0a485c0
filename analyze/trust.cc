#include "analyze/trust.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "analyze/cert_info.h"

namespace provaudit::analyze {
namespace {

struct X509StackDeleter {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_pop_free(s, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

X509Ptr decode(const CertInfo& c) {
  const unsigned char* p = c.der.data();
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(c.der.size())));
}

// The first certificate found out of its validity window, the verification
// carried on past it (verifyCallback).
struct OutOfWindow {
  int error = X509_V_OK;
  int depth = -1;
  std::string subject;
};

int verifyCallback(int ok, X509_STORE_CTX* ctx) {
  if (ok == 1) return 1;
  const int err = X509_STORE_CTX_get_error(ctx);
  if (err != X509_V_ERR_CERT_HAS_EXPIRED && err != X509_V_ERR_CERT_NOT_YET_VALID) return 0;
  auto* seen = static_cast<OutOfWindow*>(X509_STORE_CTX_get_app_data(ctx));
  if (seen != nullptr && seen->error == X509_V_OK) {
    seen->error = err;
    seen->depth = X509_STORE_CTX_get_error_depth(ctx);
    if (X509* cert = X509_STORE_CTX_get_current_cert(ctx)) {
      // Written as every certificate subject is (CertInfo::subject_text).
      unsigned char* der = nullptr;
      const int len = i2d_X509_NAME(X509_get_subject_name(cert), &der);
      if (len > 0) seen->subject = distinguishedNameText(der, static_cast<std::size_t>(len));
      OPENSSL_free(der);
    }
  }
  return 1;  // the signatures and issuers are still to be judged
}

}  // namespace

TrustStore::TrustStore(const std::vector<std::string>& pem_files) : store_(X509_STORE_new()) {
  if (!store_) throw std::runtime_error("cannot allocate a certificate store");
  for (const auto& file : pem_files) {
    BioPtr bio(BIO_new_file(file.c_str(), "r"));
    if (!bio) throw std::runtime_error(file + ": cannot open CA bundle");
    count_ += add(bio.get(), file);
  }
}

TrustStore::TrustStore(const PemText& pem) : store_(X509_STORE_new()) {
  if (!store_) throw std::runtime_error("cannot allocate a certificate store");
  BioPtr bio(BIO_new_mem_buf(pem.text.data(), static_cast<int>(pem.text.size())));
  if (!bio) throw std::runtime_error(pem.what + ": cannot read CA bundle");
  count_ = add(bio.get(), pem.what);
}

std::size_t TrustStore::add(BIO* bio, const std::string& what) {
  std::size_t added = 0;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    if (!cert) break;
    if (X509_STORE_add_cert(store_.get(), cert.get()) != 1) {
      // A duplicate certificate is harmless; anything else is not.
      const unsigned long err = ERR_peek_last_error();
      if (ERR_GET_REASON(err) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
        throw std::runtime_error(what + ": cannot add certificate to the trust store");
      }
    }
    ++added;
  }
  ERR_clear_error();  // the loop ends on PEM_R_NO_START_LINE at end of file
  if (added == 0) throw std::runtime_error(what + ": no PEM certificate found");
  return added;
}

std::string TrustStore::readBundles(const std::vector<std::string>& pem_files) {
  std::string out;
  for (const auto& file : pem_files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error(file + ": cannot open CA bundle");
    out.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return out;
}

ChainResult TrustStore::verify(const std::vector<CertPtr>& chain, std::int64_t at_s) const {
  if (chain.empty() || !chain.front()) return {"untrusted", "no certificate"};
  X509Ptr leaf = decode(*chain.front());
  if (!leaf) return {"untrusted", "certificate does not decode"};
  X509StackPtr untrusted(sk_X509_new_null());
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (!chain[i]) continue;
    X509Ptr c = decode(*chain[i]);
    if (c && sk_X509_push(untrusted.get(), c.get()) > 0) c.release();  // the stack owns it now
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), leaf.get(), untrusted.get()) != 1) {
    return {"untrusted", "cannot set up verification"};
  }
  // Verify as of the handshake's packet time, not now; without one, the
  // chain's signatures and issuers only (its validity is not judged).
  if (at_s > 0) {
    X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(at_s));
  } else {
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  }
  OutOfWindow window;
  X509_STORE_CTX_set_app_data(ctx.get(), &window);
  X509_STORE_CTX_set_verify_cb(ctx.get(), verifyCallback);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  if (ok != 1) return {"untrusted", X509_verify_cert_error_string(err), ""};
  if (window.error == X509_V_OK) return {"trusted", "", ""};
  // The chain itself is sound; only a validity window fails at that time.
  std::string text = X509_verify_cert_error_string(window.error);
  if (window.depth == 0) return {"expired", text, ""};
  text = "issuing CA " + window.subject + " (depth " + std::to_string(window.depth) + "): " + text;
  return {"expired", text, window.error == X509_V_ERR_CERT_HAS_EXPIRED ? "cert-expired" : "cert-not-yet-valid"};
}

}  // namespace provaudit::analyze
