#include "analyze/digest.h"

#include <openssl/evp.h>

#include <array>

#include "common/c_handles.h"
#include "common/text.h"

namespace provaudit::analyze {
namespace {

constexpr int DIGEST_OK = 1;

// Fetched at first use and kept for the process; thread-safe (an EVP_MD is
// immutable once fetched). When the fetch fails (a provider without MD5),
// the implicit form is tried, so the caller sees the same refusal as before.
const EVP_MD* algorithmFor(DigestAlgorithm a) {
  static const EvpMdPtr md5(EVP_MD_fetch(nullptr, "MD5", nullptr));
  static const EvpMdPtr sha256(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  switch (a) {
    case DigestAlgorithm::Md5:
      return md5 ? md5.get() : EVP_md5();
    case DigestAlgorithm::Sha256:
      return sha256 ? sha256.get() : EVP_sha256();
  }
  return nullptr;
}

}  // namespace

std::string digestHex(DigestAlgorithm algorithm, std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> out{};
  unsigned int out_len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &out_len, algorithmFor(algorithm), nullptr) != DIGEST_OK) return {};
  return hexLower(std::span<const std::uint8_t>(out.data(), out_len));
}

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> digest{};  // SHA-256's size: EVP_Digest writes no more
  unsigned int out_len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &out_len, algorithmFor(DigestAlgorithm::Sha256), nullptr) !=
      DIGEST_OK) {
    digest.fill(0);
  }
  return digest;
}

}  // namespace provaudit::analyze
