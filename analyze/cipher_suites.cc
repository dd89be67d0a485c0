// Names of the cipher suites provaudit reports, and which of them are weak.
// IANA TLS Cipher Suites registry (and the pre-standard suites old stacks
// still offer). Every suite without real encryption or with a broken one is
// here, named, so that none is missed: NULL encryption (RFC 9150's TLS 1.3
// integrity-only suites included), RC4, RC2, DES, 3DES and EXPORT. Of the
// others, the ones seen on provisioning traffic (legacy SPA firmware, LSYS-PG
// Table 1-2, and modern stacks) are named, and so are the whole AES-CCM
// (RFC 6655, RFC 7251, RFC 8446) and Camellia (RFC 5932, RFC 6367) families
// that embedded stacks offer; the rest print as hex. The names
// are the registry's, as tshark prints them (tests/unit/analyze_tls checks).
#include <algorithm>
#include <cstdio>
#include <string>

#include "analyze/audit.h"

namespace provaudit::analyze {
namespace {

struct SuiteName {
  std::uint16_t id;
  const char* name;
  bool weak;  // NULL, RC4, RC2, DES/3DES or EXPORT encryption
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
    {0x000b, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA", true},
    {0x000c, "TLS_DH_DSS_WITH_DES_CBC_SHA", true},
    {0x000d, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA", true},
    {0x000e, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA", true},
    {0x000f, "TLS_DH_RSA_WITH_DES_CBC_SHA", true},
    {0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA", true},
    {0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA", true},
    {0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA", true},
    {0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", true},
    {0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA", true},
    {0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA", true},
    {0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", true},
    {0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5", true},
    {0x0018, "TLS_DH_anon_WITH_RC4_128_MD5", true},
    {0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA", true},
    {0x001a, "TLS_DH_anon_WITH_DES_CBC_SHA", true},
    {0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA", true},
    {0x001c, "SSL_FORTEZZA_KEA_WITH_NULL_SHA", true},
    {0x001e, "TLS_KRB5_WITH_DES_CBC_SHA", true},
    {0x001f, "TLS_KRB5_WITH_3DES_EDE_CBC_SHA", true},
    {0x0020, "TLS_KRB5_WITH_RC4_128_SHA", true},
    {0x0022, "TLS_KRB5_WITH_DES_CBC_MD5", true},
    {0x0023, "TLS_KRB5_WITH_3DES_EDE_CBC_MD5", true},
    {0x0024, "TLS_KRB5_WITH_RC4_128_MD5", true},
    {0x0026, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA", true},
    {0x0027, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA", true},
    {0x0028, "TLS_KRB5_EXPORT_WITH_RC4_40_SHA", true},
    {0x0029, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5", true},
    {0x002a, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5", true},
    {0x002b, "TLS_KRB5_EXPORT_WITH_RC4_40_MD5", true},
    {0x002c, "TLS_PSK_WITH_NULL_SHA", true},
    {0x002d, "TLS_DHE_PSK_WITH_NULL_SHA", true},
    {0x002e, "TLS_RSA_PSK_WITH_NULL_SHA", true},
    {0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", false},
    {0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", false},
    {0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", false},
    {0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", false},
    {0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", false},
    {0x003b, "TLS_RSA_WITH_NULL_SHA256", true},
    {0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", false},
    {0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", false},
    {0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", false},
    {0x0042, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA", false},
    {0x0043, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA", false},
    {0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", false},
    {0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", false},
    {0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA", false},
    {0x0060, "TLS_RSA_EXPORT1024_WITH_RC4_56_MD5", true},
    {0x0061, "TLS_RSA_EXPORT1024_WITH_RC2_CBC_56_MD5", true},
    {0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA", true},
    {0x0063, "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA", true},
    {0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA", true},
    {0x0065, "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA", true},
    {0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA", true},
    {0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", false},
    {0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", false},
    {0x0082, "TLS_GOSTR341094_WITH_NULL_GOSTR3411", true},
    {0x0083, "TLS_GOSTR341001_WITH_NULL_GOSTR3411", true},
    {0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", false},
    {0x0085, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA", false},
    {0x0086, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA", false},
    {0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", false},
    {0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", false},
    {0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA", false},
    {0x008a, "TLS_PSK_WITH_RC4_128_SHA", true},
    {0x008b, "TLS_PSK_WITH_3DES_EDE_CBC_SHA", true},
    {0x008e, "TLS_DHE_PSK_WITH_RC4_128_SHA", true},
    {0x008f, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA", true},
    {0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA", true},
    {0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA", true},
    {0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", false},
    {0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", false},
    {0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", false},
    {0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", false},
    {0x00b0, "TLS_PSK_WITH_NULL_SHA256", true},
    {0x00b1, "TLS_PSK_WITH_NULL_SHA384", true},
    {0x00b4, "TLS_DHE_PSK_WITH_NULL_SHA256", true},
    {0x00b5, "TLS_DHE_PSK_WITH_NULL_SHA384", true},
    {0x00b8, "TLS_RSA_PSK_WITH_NULL_SHA256", true},
    {0x00b9, "TLS_RSA_PSK_WITH_NULL_SHA384", true},
    {0x00ba, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0x00bb, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0x00bc, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0x00bd, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0x00be, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0x00bf, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0x00c0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256", false},
    {0x00c1, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA256", false},
    {0x00c2, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA256", false},
    {0x00c3, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256", false},
    {0x00c4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256", false},
    {0x00c5, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256", false},
    {0x1301, "TLS_AES_128_GCM_SHA256", false},
    {0x1302, "TLS_AES_256_GCM_SHA384", false},
    {0x1303, "TLS_CHACHA20_POLY1305_SHA256", false},
    {0x1304, "TLS_AES_128_CCM_SHA256", false},
    {0x1305, "TLS_AES_128_CCM_8_SHA256", false},
    {0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA", true},
    {0xc002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA", true},
    {0xc003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA", true},
    {0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA", true},
    {0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", true},
    {0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", true},
    {0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false},
    {0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false},
    {0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA", true},
    {0xc00c, "TLS_ECDH_RSA_WITH_RC4_128_SHA", true},
    {0xc00d, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA", true},
    {0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA", true},
    {0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", true},
    {0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", true},
    {0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false},
    {0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false},
    {0xc015, "TLS_ECDH_anon_WITH_NULL_SHA", true},
    {0xc016, "TLS_ECDH_anon_WITH_RC4_128_SHA", true},
    {0xc017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA", true},
    {0xc01a, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA", true},
    {0xc01b, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA", true},
    {0xc01c, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA", true},
    {0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", false},
    {0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", false},
    {0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", false},
    {0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", false},
    {0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false},
    {0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false},
    {0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false},
    {0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false},
    {0xc033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA", true},
    {0xc034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA", true},
    {0xc039, "TLS_ECDHE_PSK_WITH_NULL_SHA", true},
    {0xc03a, "TLS_ECDHE_PSK_WITH_NULL_SHA256", true},
    {0xc03b, "TLS_ECDHE_PSK_WITH_NULL_SHA384", true},
    {0xc072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0xc073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384", false},
    {0xc074, "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0xc075, "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_CBC_SHA384", false},
    {0xc076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0xc077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384", false},
    {0xc078, "TLS_ECDH_RSA_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0xc079, "TLS_ECDH_RSA_WITH_CAMELLIA_256_CBC_SHA384", false},
    {0xc07a, "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc07b, "TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc07c, "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc07d, "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc07e, "TLS_DH_RSA_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc07f, "TLS_DH_RSA_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc080, "TLS_DHE_DSS_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc081, "TLS_DHE_DSS_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc082, "TLS_DH_DSS_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc083, "TLS_DH_DSS_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc084, "TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc085, "TLS_DH_anon_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc086, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc087, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc088, "TLS_ECDH_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc089, "TLS_ECDH_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc08a, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc08b, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc08c, "TLS_ECDH_RSA_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc08d, "TLS_ECDH_RSA_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc08e, "TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc08f, "TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc090, "TLS_DHE_PSK_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc091, "TLS_DHE_PSK_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc092, "TLS_RSA_PSK_WITH_CAMELLIA_128_GCM_SHA256", false},
    {0xc093, "TLS_RSA_PSK_WITH_CAMELLIA_256_GCM_SHA384", false},
    {0xc094, "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0xc095, "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384", false},
    {0xc096, "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0xc097, "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", false},
    {0xc098, "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0xc099, "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384", false},
    {0xc09a, "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256", false},
    {0xc09b, "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384", false},
    {0xc09c, "TLS_RSA_WITH_AES_128_CCM", false},
    {0xc09d, "TLS_RSA_WITH_AES_256_CCM", false},
    {0xc09e, "TLS_DHE_RSA_WITH_AES_128_CCM", false},
    {0xc09f, "TLS_DHE_RSA_WITH_AES_256_CCM", false},
    {0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8", false},
    {0xc0a1, "TLS_RSA_WITH_AES_256_CCM_8", false},
    {0xc0a2, "TLS_DHE_RSA_WITH_AES_128_CCM_8", false},
    {0xc0a3, "TLS_DHE_RSA_WITH_AES_256_CCM_8", false},
    {0xc0a4, "TLS_PSK_WITH_AES_128_CCM", false},
    {0xc0a5, "TLS_PSK_WITH_AES_256_CCM", false},
    {0xc0a6, "TLS_DHE_PSK_WITH_AES_128_CCM", false},
    {0xc0a7, "TLS_DHE_PSK_WITH_AES_256_CCM", false},
    {0xc0a8, "TLS_PSK_WITH_AES_128_CCM_8", false},
    {0xc0a9, "TLS_PSK_WITH_AES_256_CCM_8", false},
    {0xc0aa, "TLS_PSK_DHE_WITH_AES_128_CCM_8", false},
    {0xc0ab, "TLS_PSK_DHE_WITH_AES_256_CCM_8", false},
    {0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", false},
    {0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", false},
    {0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", false},
    {0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", false},
    {0xc0b4, "TLS_SHA256_SHA256", true},
    {0xc0b5, "TLS_SHA384_SHA384", true},
    {0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false},
    {0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false},
    {0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false},
    {0xd003, "TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256", false},
    {0xd005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256", false},
    {0xfefe, "SSL_RSA_FIPS_WITH_DES_CBC_SHA", true},
    {0xfeff, "SSL_RSA_FIPS_WITH_3DES_EDE_CBC_SHA", true},
    {0xffe0, "SSL_RSA_FIPS_WITH_3DES_EDE_CBC_SHA", true},
    {0xffe1, "SSL_RSA_FIPS_WITH_DES_CBC_SHA", true},
};

constexpr bool sortedById() {
  for (std::size_t i = 1; i < std::size(SUITES); ++i) {
    if (SUITES[i - 1].id >= SUITES[i].id) return false;
  }
  return true;
}
static_assert(sortedById(), "SUITES must be sorted by id, without repeats");

const SuiteName* find(std::uint16_t id) {
  const auto* it = std::lower_bound(std::begin(SUITES), std::end(SUITES), id,
                                    [](const SuiteName& s, std::uint16_t v) { return s.id < v; });
  return it != std::end(SUITES) && it->id == id ? it : nullptr;
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
