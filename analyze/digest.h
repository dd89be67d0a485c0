#pragma once
// Message digests through algorithms fetched once per process. OpenSSL 3
// looks the implementation behind EVP_sha256() and friends up again on every
// EVP_Digest call (an "implicit fetch": a lock and a search of the provider's
// algorithms); for the short inputs of JA3/JA4 strings and session tickets
// that costs more than the hashing (bench/RESULTS.md, session 5).
#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace provaudit::analyze {

enum class DigestAlgorithm { Md5, Sha256 };

// Lowercase hex digest of `data`; "" if OpenSSL refuses (it does not for
// these two in the default provider).
std::string digestHex(DigestAlgorithm algorithm, std::span<const std::uint8_t> data);
inline std::string digestHex(DigestAlgorithm algorithm, const std::string& text) {
  return digestHex(algorithm, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

// SHA-256 of `data`, raw (all zero if OpenSSL refuses, which it does not in
// the default provider).
std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data);

}  // namespace provaudit::analyze
