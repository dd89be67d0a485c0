#include <catch2/catch.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/dsa.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <string>
#include <vector>

#include "analyze/cert_info.h"
#include "common/net_types.h"
#include "test_certs.h"

using provaudit::analyze::CertInfo;
using provaudit::analyze::parseCertificate;
namespace tc = provaudit::testcerts;

namespace {

CertInfo parse(const std::vector<std::uint8_t>& der) {
  auto info = parseCertificate(der.data(), der.size());
  REQUIRE(info.has_value());
  return *info;
}

// A Sipura/Linksys-style device certificate (SPA-ATA-PG: OU product, L serial,
// S = stateOrProvinceName MAC) under a small CA.
struct DeviceChain {
  provaudit::EvpPkeyPtr ca_key = tc::ecKey();
  provaudit::X509Ptr ca = tc::makeCert({.subject = {{"O", "Sipura Technology Inc"}, {"CN", "Sipura CA Client Root"}},
                                        .serial = 7,
                                        .ca = true},
                                       ca_key.get());
  provaudit::EvpPkeyPtr key = tc::ecKey();
  provaudit::X509Ptr device =
      tc::makeCert({.subject = {{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000e08abcdef"}},
                    .serial = 0x00A1B2C3D4E5F6ULL,
                    .not_before = 1136073600,  // 2006-01-01T00:00:00Z
                    .not_after = 2082758400,   // 2036-01-01T00:00:00Z
                    .san = "DNS:spa962.example,IP:192.0.2.7,email:ops@example.com,URI:https://prov.example/x"},
                   key.get(), ca.get(), ca_key.get());
};

}  // namespace

TEST_CASE("x509: device certificate subject, issuer and validity") {
  DeviceChain chain;
  const std::vector<std::uint8_t> der = tc::der(chain.device.get());
  const CertInfo info = parse(der);
  CHECK(info.der == der);
  REQUIRE(info.subject.size() == 3);
  CHECK(info.subject[0].key == "OU");
  CHECK(info.subject[1].key == "L");
  CHECK(info.subject[2].key == "ST");  // the design's "S" is OpenSSL's short name ST
  CHECK(info.subjectGet("OU") == "SPA-962");
  CHECK(info.subjectGet("L") == "88012BA01234");
  CHECK(info.subjectGet("ST") == "000e08abcdef");
  CHECK_FALSE(info.subjectGet("CN").has_value());
  CHECK(info.subject_text == "OU=SPA-962,L=88012BA01234,ST=000e08abcdef");
  CHECK(info.issuer_text == "O=Sipura Technology Inc,CN=Sipura CA Client Root");
  CHECK(info.issuerGet("CN") == "Sipura CA Client Root");
  CHECK(info.serial_number == "A1B2C3D4E5F6");
  CHECK(info.not_before == 1136073600);
  CHECK(info.not_after == 2082758400);
  CHECK(info.key_type == "EC");
  CHECK(info.key_bits == 256);
  CHECK(info.signature == "ecdsa-with-SHA256");
  CHECK(info.signature_digest == "sha256");
  CHECK_FALSE(info.is_ca);
  CHECK(info.san_dns == std::vector<std::string>{"spa962.example"});
  CHECK(info.san_other ==
        std::vector<std::string>{"IP:192.0.2.7", "email:ops@example.com", "URI:https://prov.example/x"});
  CHECK(info.sha256.size() == 64);
  CHECK(info.sha256.find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("x509: self-signed CA certificate") {
  DeviceChain chain;
  const CertInfo info = parse(tc::der(chain.ca.get()));
  CHECK(info.is_ca);
  CHECK(info.serial_number == "07");
  CHECK(info.subject_text == info.issuer_text);
}

TEST_CASE("x509: the same DER always has the same SHA-256") {
  DeviceChain chain;
  const std::vector<std::uint8_t> der = tc::der(chain.device.get());
  CHECK(parse(der).sha256 == parse(der).sha256);
  CHECK(parse(der).sha256 != parse(tc::der(chain.ca.get())).sha256);
}

TEST_CASE("x509: generic Cisco certificate with RSA-1024 and SHA-1") {
  const provaudit::EvpPkeyPtr key = tc::rsaKey(1024);
  const provaudit::X509Ptr cert = tc::makeCert(
      {.subject = {{"OU", "cisco.com"}, {"L", "ciscogeneric"}, {"ST", "ciscogeneric"}}, .digest = EVP_sha1()},
      key.get());
  const CertInfo info = parse(tc::der(cert.get()));
  CHECK(info.subject_text == "OU=cisco.com,L=ciscogeneric,ST=ciscogeneric");
  CHECK(info.key_type == "RSA");
  CHECK(info.key_bits == 1024);
  CHECK(info.signature == "sha1WithRSAEncryption");
  CHECK(info.signature_digest == "sha1");
  CHECK_FALSE(info.is_ca);
  CHECK(info.san_dns.empty());
  CHECK(info.san_other.empty());
}

TEST_CASE("x509: serialNumber, emailAddress and unknown OIDs keep their names") {
  const provaudit::EvpPkeyPtr key = tc::ecKey();
  const provaudit::X509Ptr cert = tc::makeCert({.subject = {{"CN", "SEP001122334455"},
                                                            {"serialNumber", "FCH1234ABCD"},
                                                            {"emailAddress", "phone@example.com"},
                                                            {"1.3.6.1.4.1.99999.1", "custom"}}},
                                               key.get());
  const CertInfo info = parse(tc::der(cert.get()));
  REQUIRE(info.subject.size() == 4);
  CHECK(info.subject[1].key == "serialNumber");
  CHECK(info.subjectGet("serialNumber") == "FCH1234ABCD");
  CHECK(info.subject[2].key == "emailAddress");
  CHECK(info.subject[3].key == "1.3.6.1.4.1.99999.1");
  CHECK(info.subject[3].value == "custom");
}

TEST_CASE("x509: BMPString and T61String values come out as UTF-8") {
  const provaudit::EvpPkeyPtr key = tc::ecKey();
  // BMPString is UCS-2 big-endian: "Gr\u00fc\u00df" (Grüß).
  const std::string bmp{'\0', 'G', '\0', 'r', '\0', '\xfc', '\0', '\xdf'};
  // T61String is read as Latin-1 by OpenSSL: "M\xfcller" (Müller).
  const std::string t61{"M\xfcller"};
  const provaudit::X509Ptr cert = tc::makeCert(
      {.subject = {{"CN", bmp, V_ASN1_BMPSTRING}, {"O", t61, V_ASN1_T61STRING}, {"OU", "ia5", V_ASN1_IA5STRING}}},
      key.get());
  const CertInfo info = parse(tc::der(cert.get()));
  CHECK(info.subjectGet("CN") == "Gr\xc3\xbc\xc3\x9f");
  CHECK(info.subjectGet("O") == "M\xc3\xbcller");
  CHECK(info.subjectGet("OU") == "ia5");
}

// OpenSSL refuses to decode a name holding an invalid UTF8String (d2i
// canonicalises names), so undecodable bytes reach us only in string types
// ASN1_STRING_to_UTF8 cannot convert (a BIT STRING is allowed in a name).
TEST_CASE("x509: unconvertible bytes are kept as \\xNN, control characters stay visible in the text form") {
  const provaudit::EvpPkeyPtr key = tc::ecKey();
  const provaudit::X509Ptr cert = tc::makeCert({.subject = {{"CN", "bad\xff\xfe", V_ASN1_BIT_STRING},
                                                            {"OU", std::string("a\x01" "b\nc", 5), V_ASN1_UTF8STRING},
                                                            {"O", "Acme, Inc. \\ <x>", V_ASN1_UTF8STRING}}},
                                               key.get());
  const CertInfo info = parse(tc::der(cert.get()));
  CHECK(info.subjectGet("CN") == "bad\\xff\\xfe");
  CHECK(info.subjectGet("OU") == std::string("a\x01" "b\nc", 5));  // valid UTF-8: stored as is
  CHECK(info.subjectGet("O") == "Acme, Inc. \\ <x>");
  // RFC 4514 §2.4: specials escaped with '\', control characters as \XX.
  CHECK(info.subject_text == "CN=bad\\\\xff\\\\xfe,OU=a\\01b\\0Ac,O=Acme\\, Inc. \\\\ \\<x\\>");
}

// parseCertificate decodes with templates of its own (x509.cc), not with
// d2i_X509: what d2i_X509 refuses it must refuse. A name's values are held to
// what an X509_NAME's canonical form can convert (an invalid UTF8String fails
// the certificate there, as the comment above says); other malformations are
// compared with d2i_X509 itself. Each case patches one valid certificate's DER.
TEST_CASE("x509: a certificate d2i_X509 refuses is refused, one it reads is read") {
  const provaudit::EvpPkeyPtr key = tc::ecKey();
  const provaudit::X509Ptr cert =
      tc::makeCert({.subject = {{"CN", "QQ", V_ASN1_UTF8STRING}, {"OU", "RRRR", V_ASN1_BMPSTRING},
                                {"O", std::string("\0\0\0S\0\0\0S", 8), V_ASN1_UNIVERSALSTRING}, {"L", "TT", V_ASN1_PRINTABLESTRING}}},
                   key.get());
  const std::vector<std::uint8_t> good = tc::der(cert.get());
  // The first (subject's, then issuer's: self-signed) occurrence of `from` replaced by `to`.
  const auto patched = [&](std::vector<std::uint8_t> from, std::vector<std::uint8_t> to) {
    std::vector<std::uint8_t> der = good;
    const auto at = std::search(der.begin(), der.end(), from.begin(), from.end());
    REQUIRE(at != der.end());
    std::copy(to.begin(), to.end(), at);
    return der;
  };
  const auto d2iReads = [](const std::vector<std::uint8_t>& der) {
    const unsigned char* p = der.data();
    const provaudit::X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    ERR_clear_error();
    return x != nullptr && p == der.data() + der.size();
  };
  struct Case {
    const char* what;
    std::vector<std::uint8_t> der;
  };
  const std::vector<Case> cases = {
      {"valid", good},
      {"UTF8String with an invalid sequence", patched({0x0c, 0x02, 'Q', 'Q'}, {0x0c, 0x02, 0xc3, 0x28})},
      {"UTF8String with a lone continuation byte", patched({0x0c, 0x02, 'Q', 'Q'}, {0x0c, 0x02, 'Q', 0x80})},
      {"BMPString with a lone surrogate", patched({0x1e, 0x04, 'R', 'R', 'R', 'R'}, {0x1e, 0x04, 0xd8, 0x00, 'R', 'R'})},
      {"UniversalString past U+10FFFF", patched({0x1c, 0x08, 0, 0, 0, 'S'}, {0x1c, 0x08, 0x00, 0x11, 0x00, 0x00})},
      {"PrintableString with a character outside its set", patched({0x13, 0x02, 'T', 'T'}, {0x13, 0x02, '@', 0xff})},
      {"a name value of type INTEGER", patched({0x13, 0x02, 'T', 'T'}, {0x02, 0x02, 'T', 'T'})},
      {"a name value of type BOOLEAN", patched({0x13, 0x02, 'T', 'T'}, {0x01, 0x02, 'T', 'T'})},
      {"a name value of type OCTET STRING", patched({0x13, 0x02, 'T', 'T'}, {0x04, 0x02, 'T', 'T'})},
      {"version 6", patched({0xa0, 0x03, 0x02, 0x01, 0x02}, {0xa0, 0x03, 0x02, 0x01, 0x05})},
      {"version 1 written out", patched({0xa0, 0x03, 0x02, 0x01, 0x02}, {0xa0, 0x03, 0x02, 0x01, 0x00})},
  };
  std::size_t refused = 0;
  for (const Case& c : cases) {
    INFO(c.what);
    const bool read = parseCertificate(c.der.data(), c.der.size()).has_value();
    CHECK(read == d2iReads(c.der));
    refused += read ? 0 : 1;
  }
  CHECK(d2iReads(good));
  CHECK(refused >= 2);  // the invalid UTF8Strings at least
}

TEST_CASE("x509: truncated DER is refused") {
  DeviceChain chain;
  std::vector<std::uint8_t> der = tc::der(chain.device.get());
  der.resize(der.size() - 1);
  CHECK_FALSE(parseCertificate(der.data(), der.size()).has_value());
  der.resize(10);
  CHECK_FALSE(parseCertificate(der.data(), der.size()).has_value());
}

TEST_CASE("x509: DER followed by trailing bytes is refused") {
  DeviceChain chain;
  std::vector<std::uint8_t> der = tc::der(chain.device.get());
  der.push_back(0x00);
  CHECK_FALSE(parseCertificate(der.data(), der.size()).has_value());
}

TEST_CASE("x509: empty, null and garbage input is refused") {
  const std::vector<std::uint8_t> garbage{0x30, 0x82, 0xff, 0xff, 0x01, 0x02};
  CHECK_FALSE(parseCertificate(garbage.data(), garbage.size()).has_value());
  CHECK_FALSE(parseCertificate(nullptr, 0).has_value());
  CHECK_FALSE(parseCertificate(garbage.data(), 0).has_value());
}

// The key's type and size come from the SubjectPublicKeyInfo without decoding
// the key (x509.cc, readPublicKey: OpenSSL 3.0's key decoding took 8 times the
// rest of the parse): they must be what OpenSSL's decoded key says, for every
// kind a device or server certificate carries.
TEST_CASE("x509: the key's type and size read from the SubjectPublicKeyInfo match OpenSSL's decoded key") {
  struct KeyCase {
    const char* what;
    provaudit::EvpPkeyPtr key;
    const char* type;
  };
  std::vector<KeyCase> cases;
  cases.push_back({"RSA 1024", tc::rsaKey(1024), "RSA"});
  cases.push_back({"RSA 2048", tc::rsaKey(2048), "RSA"});
  cases.push_back({"RSA 3071 (odd size)", tc::rsaKey(3071), "RSA"});
  {
    // RSA-PSS has no EVP_PKEY_Q_keygen shortcut.
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA-PSS", nullptr);
    EVP_PKEY* pss = nullptr;
    REQUIRE(ctx != nullptr);
    CHECK(EVP_PKEY_keygen_init(ctx) == 1);
    CHECK(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) == 1);
    CHECK(EVP_PKEY_generate(ctx, &pss) == 1);
    EVP_PKEY_CTX_free(ctx);
    cases.push_back({"RSA-PSS 2048", provaudit::EvpPkeyPtr(pss), "RSA-PSS"});
  }
  {
    // DSA: its size is p's, in the algorithm's parameters rather than the key.
    EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "DSA", nullptr);
    EVP_PKEY* params = nullptr;
    EVP_PKEY* dsa = nullptr;
    REQUIRE(pctx != nullptr);
    CHECK(EVP_PKEY_paramgen_init(pctx) == 1);
    CHECK(EVP_PKEY_CTX_set_dsa_paramgen_bits(pctx, 1024) == 1);
    CHECK(EVP_PKEY_paramgen(pctx, &params) == 1);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_CTX* kctx = EVP_PKEY_CTX_new_from_pkey(nullptr, params, nullptr);
    REQUIRE(kctx != nullptr);
    CHECK(EVP_PKEY_keygen_init(kctx) == 1);
    CHECK(EVP_PKEY_generate(kctx, &dsa) == 1);
    EVP_PKEY_CTX_free(kctx);
    EVP_PKEY_free(params);
    cases.push_back({"DSA 1024", provaudit::EvpPkeyPtr(dsa), "DSA"});
  }
  for (const char* curve : {"P-256", "P-384", "P-521", "secp256k1", "brainpoolP384r1"}) {
    cases.push_back({curve, provaudit::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)), "EC"});
  }
  cases.push_back({"Ed25519", provaudit::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")), "Ed25519"});
  cases.push_back({"Ed448", provaudit::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448")), "Ed448"});
  const provaudit::EvpPkeyPtr signer = tc::ecKey();
  const provaudit::X509Ptr ca = tc::makeCert({.subject = {{"CN", "Key Test CA"}}, .ca = true}, signer.get());
  for (const auto& c : cases) {
    INFO(c.what);
    REQUIRE(c.key != nullptr);
    // Signed by the EC CA: X25519-style keys cannot sign, and the leaf's own key is what is read.
    const provaudit::X509Ptr leaf = tc::makeCert({.subject = {{"CN", c.what}}}, c.key.get(), ca.get(), signer.get());
    const CertInfo info = parse(tc::der(leaf.get()));
    CHECK(info.key_type == c.type);
    CHECK(info.key_bits == EVP_PKEY_get_bits(c.key.get()));
  }
  // An X25519 key (key agreement only) in a certificate: named, sized.
  const provaudit::EvpPkeyPtr x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  const provaudit::X509Ptr leaf = tc::makeCert({.subject = {{"CN", "x25519"}}}, x25519.get(), ca.get(), signer.get());
  const CertInfo info = parse(tc::der(leaf.get()));
  CHECK(info.key_type == "X25519");
  CHECK(info.key_bits == EVP_PKEY_get_bits(x25519.get()));
}

TEST_CASE("x509: is_ca says what OpenSSL's extension flags say, for every shape of basicConstraints") {
  const provaudit::EvpPkeyPtr key = tc::ecKey();
  // A self-signed certificate with these basicConstraints extensions (none, one, or two).
  const auto certWith = [&](const std::vector<std::string>& values) {
    provaudit::X509Ptr cert = tc::makeCert({.subject = {{"CN", "bc"}}}, key.get());
    for (const auto& v : values) tc::addExtension(cert.get(), cert.get(), NID_basic_constraints, v);
    REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
    return tc::der(cert.get());
  };
  const std::vector<std::vector<std::string>> shapes = {
      {}, {"critical,CA:TRUE"}, {"CA:TRUE"}, {"critical,CA:FALSE"}, {"CA:TRUE,pathlen:0"},
      {"CA:TRUE", "CA:TRUE"},  // duplicated: invalid, no CA
      {"CA:FALSE", "CA:TRUE"}};
  for (const auto& values : shapes) {
    const std::vector<std::uint8_t> der = certWith(values);
    // OpenSSL's own verdict, from a fresh decode in the default context.
    const unsigned char* p = der.data();
    provaudit::X509Ptr decoded(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    REQUIRE(decoded != nullptr);
    const bool openssl_ca = (X509_get_extension_flags(decoded.get()) & EXFLAG_CA) != 0;
    INFO("basicConstraints: " << values.size() << " extension(s), first " << (values.empty() ? "-" : values.front()));
    CHECK(parse(der).is_ca == openssl_ca);
  }
  // The shapes that matter, said outright.
  CHECK(parse(certWith({"CA:TRUE"})).is_ca);
  CHECK_FALSE(parse(certWith({})).is_ca);
  CHECK_FALSE(parse(certWith({"CA:FALSE"})).is_ca);
  CHECK_FALSE(parse(certWith({"CA:TRUE", "CA:TRUE"})).is_ca);
}

TEST_CASE("x509: a validity past 2262 (RFC 5280's 99991231235959Z) keeps its date") {
  const provaudit::EvpPkeyPtr key = tc::ecKey();
  const provaudit::X509Ptr cert =
      tc::makeCert({.subject = {{"CN", "forever"}}, .not_after = 253402300799}, key.get());  // 9999-12-31T23:59:59Z
  const CertInfo info = parse(tc::der(cert.get()));
  CHECK(info.not_after == 253402300799);
  // Nanoseconds since 1970 end in 2262: the date is written from its seconds.
  CHECK(provaudit::isoTimeSeconds(info.not_after) == "9999-12-31T23:59:59.000000Z");
  CHECK(provaudit::isoTimeSeconds(9488318400) == "2270-09-03T12:00:00.000000Z");
  CHECK(provaudit::isoTimeSeconds(info.not_before) == "2023-11-14T22:13:20.000000Z");
}

TEST_CASE("x509: an RSASSA-PSS signature names its hash, SHA-1 when its parameters leave it out") {
  const provaudit::EvpPkeyPtr key = tc::rsaKey(2048);
  const auto pss = [&](const EVP_MD* md) {
    return parse(tc::der(tc::makeCert({.subject = {{"CN", "pss"}}, .digest = md, .pss = true}, key.get()).get()));
  };
  const CertInfo sha1 = pss(EVP_sha1());  // RFC 4055's default hash: the parameters omit it
  CHECK(sha1.signature == "rsassaPss (sha1)");
  CHECK(sha1.signature_digest == "sha1");  // what cert-weak-signature reads
  const CertInfo sha256 = pss(EVP_sha256());
  CHECK(sha256.signature == "rsassaPss (sha256)");
  CHECK(sha256.signature_digest == "sha256");
}

TEST_CASE("x509: a validity ending at the epoch itself (1970-01-01T00:00:00Z) is a date, not 'unknown'") {
  const provaudit::EvpPkeyPtr key = tc::ecKey();
  const CertInfo info =
      parse(tc::der(tc::makeCert({.subject = {{"CN", "epoch"}}, .not_before = -315619200, .not_after = 0}, key.get()).get()));
  CHECK(info.not_after == 0);
  CHECK(info.not_after_known);
  CHECK(info.not_before == -315619200);  // 1960-01-01
  CHECK(info.not_before_known);
}

TEST_CASE("x509: a multi-valued RDN is written with '+', so that two different names never read the same") {
  const provaudit::EvpPkeyPtr key = tc::ecKey();
  const auto subjectOf = [&](std::vector<tc::NameEntry> subject) {
    return parse(tc::der(tc::makeCert({.subject = std::move(subject)}, key.get()).get())).subject_text;
  };
  // {OU=SPA-962 + L=88012BA01234}, {ST=000e08abcdef}: two RDNs, not three.
  CHECK(subjectOf({{"OU", "SPA-962"}, {"L", "88012BA01234", MBSTRING_UTF8, -1}, {"ST", "000e08abcdef"}}) ==
        "OU=SPA-962+L=88012BA01234,ST=000e08abcdef");
  CHECK(subjectOf({{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000e08abcdef"}}) ==
        "OU=SPA-962,L=88012BA01234,ST=000e08abcdef");
  // A '+' inside a value is escaped, as before.
  CHECK(subjectOf({{"OU", "a+b"}, {"CN", "dev1", MBSTRING_UTF8, -1}}) == "OU=a\\+b+CN=dev1");
}
