// Names of the cipher suites provaudit reports, and which of them are weak.
// IANA TLS Cipher Suites registry; only suites seen on provisioning traffic
// (legacy SPA firmware, LSYS-PG Table 1-2, and modern stacks) are named.
#include <cstdio>
#include <string>

#include "analyze/audit.h"

namespace provaudit::analyze {
namespace {

struct SuiteName {
  std::uint16_t id;
  const char* name;
  bool weak;  // RC4, DES/3DES, EXPORT or NULL encryption
};

constexpr SuiteName SUITES[] = {
    {0x0000, "TLS_NULL_WITH_NULL_NULL", true},
    {0x0001, "TLS_RSA_WITH_NULL_MD5", true},
    {0x0002, "TLS_RSA_WITH_NULL_SHA", true},
    {0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5", true},
    {0x0004, "TLS_RSA_WITH_RC4_128_MD5", true},
    {0x0005, "TLS_RSA_WITH_RC4_128_SHA", true},
    {0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", true},
    {0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", true},
    {0x0009, "TLS_RSA_WITH_DES_CBC_SHA", true},
    {0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", true},
    {0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA", true},
    {0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", true},
    {0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", true},
    {0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", true},
    {0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", false},
    {0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", false},
    {0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", false},
    {0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", false},
    {0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", false},
    {0x003b, "TLS_RSA_WITH_NULL_SHA256", true},
    {0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", false},
    {0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", false},
    {0x0060, "TLS_RSA_EXPORT1024_WITH_RC4_56_MD5", true},
    {0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA", true},
    {0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA", true},
    {0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", false},
    {0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", false},
    {0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", false},
    {0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", false},
    {0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", false},
    {0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", false},
    {0x1301, "TLS_AES_128_GCM_SHA256", false},
    {0x1302, "TLS_AES_256_GCM_SHA384", false},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256", false},
    {0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", true},
    {0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false},
    {0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false},
    {0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", true},
    {0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", true},
    {0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false},
    {0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false},
    {0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", false},
    {0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", false},
    {0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", false},
    {0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", false},
    {0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false},
    {0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false},
    {0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false},
    {0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false},
    {0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false},
    {0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false},
    {0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false},
};

const SuiteName* find(std::uint16_t id) {
  for (const auto& s : SUITES) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

}  // namespace

std::string cipherSuiteName(std::uint16_t id) {
  if (const SuiteName* s = find(id)) return s->name;
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%04x", id);
  return buf;
}

bool isWeakCipher(std::uint16_t id) {
  const SuiteName* s = find(id);
  return s != nullptr && s->weak;
}

}  // namespace provaudit::analyze
