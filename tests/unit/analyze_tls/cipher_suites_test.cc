// Cipher suite names and the weak-cipher verdict, against tshark's own table
// of the IANA registry (`tshark -G values`): a weak suite provaudit did not
// know would go unreported.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <regex>
#include <string>

#include "analyze/audit.h"

namespace pa = provaudit::analyze;

namespace {

// tshark's names of the TLS cipher suites, by id.
std::map<std::uint16_t, std::string> tsharkSuites() {
  std::map<std::uint16_t, std::string> out;
  FILE* p = ::popen("tshark -G values 2>/dev/null", "r");
  REQUIRE(p != nullptr);
  char line[512];
  const std::string prefix = "V\ttls.handshake.ciphersuite\t";
  while (std::fgets(line, sizeof line, p) != nullptr) {
    std::string s(line);
    if (s.rfind(prefix, 0) != 0) continue;
    s.erase(0, prefix.size());
    const auto tab = s.find('\t');
    if (tab == std::string::npos) continue;
    std::string name = s.substr(tab + 1);
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
    out[static_cast<std::uint16_t>(std::stoul(s.substr(0, tab)))] = name;
  }
  ::pclose(p);
  return out;
}

}  // namespace

TEST_CASE("cipher suites: every suite tshark names with NULL, RC4, RC2, DES, 3DES or EXPORT is weak, and named alike") {
  const auto suites = tsharkSuites();
  REQUIRE(suites.size() > 300);  // tshark is installed (test.sh) and knows the registry
  const std::regex weak_name("NULL|RC4|RC2|_DES|3DES|EXPORT");
  int weak = 0;
  for (const auto& [id, name] : suites) {
    INFO(name);
    if (std::regex_search(name, weak_name)) {
      ++weak;
      CHECK(pa::isWeakCipher(id));
      CHECK(pa::cipherSuiteName(id) == name);
    }
    // Whatever we name, we name as the registry does.
    if (pa::cipherSuiteName(id).rfind("0x", 0) != 0) CHECK(pa::cipherSuiteName(id) == name);
  }
  CHECK(weak > 80);
  // TLS 1.3's integrity-only suites (RFC 9150) encrypt nothing either.
  CHECK(pa::isWeakCipher(0xc0b4));
  CHECK(pa::isWeakCipher(0xc0b5));
  // Strong suites, named or not, are not weak.
  for (std::uint16_t id : {0x002f, 0x003d, 0x009c, 0x1301, 0x1302, 0x1303, 0xc02f, 0xcca8, 0x0007}) {
    INFO(id);
    CHECK_FALSE(pa::isWeakCipher(id));
  }
  CHECK(pa::cipherSuiteName(0x1301) == "TLS_AES_128_GCM_SHA256");
  CHECK(pa::cipherSuiteName(0xfafa) == "0xfafa");  // GREASE and the unknown print as hex
}

TEST_CASE("cipher suites: the AES-CCM and Camellia families are named, not printed in hex") {
  // ccm.pcap: its server's suites showed as 0x1304, 0xc09c, 0xc0a1, 0x00c0...
  const auto suites = tsharkSuites();
  REQUIRE(suites.size() > 300);
  const std::regex family("CCM|CAMELLIA");
  const std::regex other("SM4|ECCPWD|ECJPAKE");  // other ciphers that also run in CCM mode
  int named = 0;
  for (const auto& [id, name] : suites) {
    if (!std::regex_search(name, family) || std::regex_search(name, other)) continue;
    INFO(name);
    CHECK(pa::cipherSuiteName(id) == name);
    CHECK_FALSE(pa::isWeakCipher(id));
    ++named;
  }
  CHECK(named > 80);
}

TEST_CASE("cipher suites: the pre-shared-key suites are named as tshark names them; NULL, RC4 and 3DES are weak") {
  // psk12.pcap: TLS_PSK_WITH_AES_128_GCM_SHA256 and its kin printed as
  // 0x00a8, 0xccac, 0x00b3, 0x00ad.
  const auto suites = tsharkSuites();
  REQUIRE(suites.size() > 300);
  const std::regex weak_name("NULL|RC4|3DES");
  int named = 0;
  for (const auto& [id, name] : suites) {
    // The Salsa20 suites are a draft's, never registered.
    if (name.find("PSK") == std::string::npos || name.find("SALSA20") != std::string::npos) continue;
    INFO(name);
    CHECK(pa::cipherSuiteName(id) == name);
    CHECK(pa::isWeakCipher(id) == std::regex_search(name, weak_name));
    ++named;
  }
  CHECK(named > 80);
  CHECK(pa::cipherSuiteName(0x00a8) == "TLS_PSK_WITH_AES_128_GCM_SHA256");
  CHECK(pa::isWeakCipher(0x00b0));  // TLS_PSK_WITH_NULL_SHA256
}
