#pragma once
// Certificates built in the test with OpenSSL (no files, no network): keys
// from EVP_PKEY_Q_keygen, names and extensions through the X509 APIs. Shared by
// the analyze_x509 tests and the analyze_tls in-memory TLS transcripts.
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/c_handles.h"

namespace provaudit::testcerts {

inline EvpPkeyPtr ecKey() { return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }
inline EvpPkeyPtr rsaKey(std::size_t bits) { return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)); }

// One attribute: `field` is an OpenSSL short/long name or a dotted OID;
// `type` is MBSTRING_UTF8 (OpenSSL picks the ASN.1 type) or an explicit
// V_ASN1_* string type whose raw `bytes` are stored as given.
struct NameEntry {
  NameEntry(std::string field_name, std::string value, int string_type = MBSTRING_UTF8, int rdn_set = 0)
      : field(std::move(field_name)), bytes(std::move(value)), type(string_type), set(rdn_set) {}
  std::string field;
  std::string bytes;
  int type;
  int set;  // X509_NAME_add_entry's: 0 a new RDN, -1 joined to the RDN before it (multi-valued)
};

struct CertSpec {
  std::vector<NameEntry> subject{};
  std::uint64_t serial = 1;
  std::time_t not_before = 1700000000;  // 2023-11-14T22:13:20Z
  std::time_t not_after = 2000000000;   // 2033-05-18T03:33:20Z
  bool ca = false;
  std::string san{};                    // e.g. "DNS:prov.example,IP:192.0.2.7"; empty = none
  const EVP_MD* digest = nullptr;       // nullptr = SHA-256
  bool pss = false;                     // RSASSA-PSS over `digest` (an RSA signing key)
};

inline void require(bool ok, const char* what) {
  if (ok) return;
  const char* reason = ERR_reason_error_string(ERR_get_error());
  throw std::runtime_error(std::string(what) + ": " + (reason != nullptr ? reason : "?"));
}

inline void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  const X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  require(ext != nullptr, "X509V3_EXT_conf_nid");
  require(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");  // copies the extension
}

// Signed by `issuer_key` under `issuer`'s subject, or self-signed when issuer is null.
inline X509Ptr makeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer = nullptr, EVP_PKEY* issuer_key = nullptr) {
  X509Ptr cert(X509_new());
  require(cert != nullptr, "X509_new");
  require(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  require(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), spec.serial) == 1, "serial");
  require(ASN1_TIME_set(X509_getm_notBefore(cert.get()), spec.not_before) != nullptr, "notBefore");
  require(ASN1_TIME_set(X509_getm_notAfter(cert.get()), spec.not_after) != nullptr, "notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());  // owned by cert
  for (const NameEntry& e : spec.subject) {
    require(X509_NAME_add_entry_by_txt(name, e.field.c_str(), e.type,
                                       reinterpret_cast<const unsigned char*>(e.bytes.data()),  // chars -> bytes
                                       static_cast<int>(e.bytes.size()), -1, e.set) == 1,
            "X509_NAME_add_entry_by_txt");
  }
  require(X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name) == 1, "issuer");
  require(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  if (spec.ca) addExtension(cert.get(), issuer != nullptr ? issuer : cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  if (!spec.san.empty()) addExtension(cert.get(), issuer != nullptr ? issuer : cert.get(), NID_subject_alt_name, spec.san);
  const EVP_MD* md = spec.digest != nullptr ? spec.digest : EVP_sha256();
  EVP_PKEY* signer = issuer_key != nullptr ? issuer_key : key;
  if (spec.pss) {
    const EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    require(ctx != nullptr && EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, signer) == 1, "EVP_DigestSignInit");
    require(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1, "PSS padding");
    require(X509_sign_ctx(cert.get(), ctx.get()) > 0, "X509_sign_ctx");
    return cert;
  }
  require(X509_sign(cert.get(), signer, md) > 0, "X509_sign");
  return cert;
}

inline std::vector<std::uint8_t> der(X509* cert) {
  const int len = i2d_X509(cert, nullptr);
  require(len > 0, "i2d_X509");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  require(i2d_X509(cert, &p) == len, "i2d_X509");
  return out;
}

// DER of a certificate's subject name (as a CertificateRequest lists its CAs).
inline std::vector<std::uint8_t> subjectDer(X509* cert) {
  const X509_NAME* name = X509_get_subject_name(cert);
  const int len = i2d_X509_NAME(name, nullptr);
  require(len > 0, "i2d_X509_NAME");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  require(i2d_X509_NAME(name, &p) == len, "i2d_X509_NAME");
  return out;
}

}  // namespace provaudit::testcerts
