#pragma once
// TLS key derivation through OpenSSL's EVP_KDF: the TLS 1.0-1.2 PRF
// (RFC 2246 §5, RFC 5246 §5) and TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1).
// We build the labels (TLS framing); OpenSSL does the hashing.
#include <cstdint>
#include <span>
#include <string_view>

#include "common/byte_reader.h"

namespace provaudit::analyze {

// PRF digests: "MD5-SHA1" selects TLS 1.0/1.1's split P_MD5 xor P_SHA-1
// (RFC 2246 §5); "SHA256" / "SHA384" the TLS 1.2 PRF of the cipher suite.
inline constexpr const char* PRF_TLS10 = "MD5-SHA1";

// PRF(secret, label, seed) into `out` (its size is the length asked for).
// False when OpenSSL refuses (unknown digest): never on packet data alone.
bool tlsPrf(const char* digest, Bytes secret, std::string_view label, Bytes seed, std::span<std::uint8_t> out);

// RFC 8446 §7.1: HKDF-Expand-Label(Secret, Label, Context, Length), "tls13 " prefixed.
bool hkdfExpandLabel(const char* digest, Bytes secret, std::string_view label, Bytes context,
                     std::span<std::uint8_t> out);

}  // namespace provaudit::analyze
