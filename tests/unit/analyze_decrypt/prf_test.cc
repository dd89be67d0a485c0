// Key derivation against published vectors and against OpenSSL's own TLS stack.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "analyze/keylog.h"
#include "analyze/tls_prf.h"

using provaudit::analyze::hkdfExpandLabel;
using provaudit::analyze::parseHex;
using provaudit::analyze::tlsPrf;

namespace {
std::vector<std::uint8_t> hex(const std::string& s) {
  std::string compact;
  for (char c : s) {
    if (c != ' ') compact.push_back(c);
  }
  return *parseHex(compact);
}
}  // namespace

// The TLS 1.2 PRF (SHA-256) vector posted to the IETF TLS WG list
// (https://mailarchive.ietf.org/arch/msg/tls/fzVCzk-z3FShgGJ6DOXqM1ydxms/),
// also used by Go's crypto/tls prf_test.go.
TEST_CASE("prf: TLS 1.2 PRF with SHA-256, IETF mailing-list vector", "[prf]") {
  const auto secret = hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
  const auto seed = hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
  const auto expected = hex(
      "e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a"
      "6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab"
      "4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01"
      "87 34 7b 66");
  std::vector<std::uint8_t> out(expected.size());
  REQUIRE(tlsPrf("SHA256", secret, "test label", seed, out));
  CHECK(out == expected);
}

// RFC 8448 §3 (Simple 1-RTT Handshake): the server handshake traffic secret
// and the write key / IV derived from it.
TEST_CASE("prf: HKDF-Expand-Label, RFC 8448 server handshake key and iv", "[prf]") {
  const auto secret = hex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38");
  std::vector<std::uint8_t> key(16);
  std::vector<std::uint8_t> iv(12);
  REQUIRE(hkdfExpandLabel("SHA256", secret, "key", {}, key));
  REQUIRE(hkdfExpandLabel("SHA256", secret, "iv", {}, iv));
  CHECK(key == hex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"));
  CHECK(iv == hex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"));
}

TEST_CASE("prf: an unknown digest is refused, not a crash", "[prf]") {
  std::vector<std::uint8_t> out(16);
  const std::vector<std::uint8_t> secret(16, 1);
  CHECK_FALSE(tlsPrf("NO-SUCH-DIGEST", secret, "x", secret, out));
  CHECK_FALSE(hkdfExpandLabel("NO-SUCH-DIGEST", secret, "key", {}, out));
}
