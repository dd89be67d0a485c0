#include "analyze/tls_prf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <string>
#include <vector>

#include "common/c_handles.h"

namespace provaudit::analyze {
namespace {

// RFC 8446 §7.1: HkdfLabel.label is opaque<7..255>, context opaque<0..255>.
constexpr std::size_t HKDF_LABEL_MAX = 255;
constexpr std::string_view TLS13_LABEL_PREFIX = "tls13 ";

bool derive(const char* kdf_name, OSSL_PARAM* params, std::span<std::uint8_t> out) {
  EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, kdf_name, nullptr));
  if (!kdf) return false;
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return false;
  return EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) == 1;
}

// OSSL_PARAM takes non-const pointers for octet strings it only reads.
void* mutableData(const void* p) { return const_cast<void*>(p); }  // NOLINT(cppcoreguidelines-pro-type-const-cast)

}  // namespace

bool tlsPrf(const char* digest, Bytes secret, std::string_view label, Bytes seed, std::span<std::uint8_t> out) {
  // RFC 5246 §5: PRF(secret, label, seed) = P_<hash>(secret, label + seed).
  std::vector<std::uint8_t> label_seed(label.begin(), label.end());
  label_seed.insert(label_seed.end(), seed.begin(), seed.end());
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),  // NOLINT
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, mutableData(secret.data()), secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, label_seed.data(), label_seed.size()),
      OSSL_PARAM_construct_end(),
  };
  return derive(OSSL_KDF_NAME_TLS1_PRF, params, out);
}

bool hkdfExpandLabel(const char* digest, Bytes secret, std::string_view label, Bytes context,
                     std::span<std::uint8_t> out) {
  if (TLS13_LABEL_PREFIX.size() + label.size() > HKDF_LABEL_MAX || context.size() > HKDF_LABEL_MAX ||
      out.size() > 0xffff) {
    return false;
  }
  // struct { uint16 length; opaque label<7..255>; opaque context<0..255>; } HkdfLabel;
  std::vector<std::uint8_t> info;
  info.push_back(static_cast<std::uint8_t>(out.size() >> 8));
  info.push_back(static_cast<std::uint8_t>(out.size() & 0xff));
  info.push_back(static_cast<std::uint8_t>(TLS13_LABEL_PREFIX.size() + label.size()));
  info.insert(info.end(), TLS13_LABEL_PREFIX.begin(), TLS13_LABEL_PREFIX.end());
  info.insert(info.end(), label.begin(), label.end());
  info.push_back(static_cast<std::uint8_t>(context.size()));
  info.insert(info.end(), context.begin(), context.end());
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),  // NOLINT
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, mutableData(secret.data()), secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  return derive(OSSL_KDF_NAME_HKDF, params, out);
}

}  // namespace provaudit::analyze
