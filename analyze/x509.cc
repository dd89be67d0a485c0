// X.509 certificates through OpenSSL accessors only: OpenSSL does ASN.1, we
// copy out plain fields. Every string a certificate carries is untrusted: it is
// decoded to UTF-8 by OpenSSL and anything that still is not valid UTF-8 is
// kept visible as \xNN escapes, never dropped and never passed on raw.
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <ctime>
#include <map>
#include <mutex>
#include <span>
#include <optional>
#include <string>
#include <string_view>

#include "analyze/cert_info.h"
#include "analyze/digest.h"
#include "common/c_handles.h"
#include "common/net_types.h"
#include "common/text.h"

namespace provaudit::analyze {
namespace {

constexpr std::size_t IPV4_ADDRESS_BYTES = 4;
constexpr std::size_t IPV6_ADDRESS_BYTES = 16;

void appendHexByte(std::string& out, unsigned char c, const char* digits) {
  out.push_back(digits[c >> 4]);
  out.push_back(digits[c & 0x0f]);
}

void appendEscapedByte(std::string& out, unsigned char c) {
  out += "\\x";
  appendHexByte(out, c, "0123456789abcdef");
}

std::string_view asView(const unsigned char* data, int len) {
  if (data == nullptr || len <= 0) return {};
  return {reinterpret_cast<const char*>(data), static_cast<std::size_t>(len)};  // bytes -> chars
}

// Any ASN.1 string type (PrintableString, UTF8String, BMPString, T61String,
// IA5String, UniversalString...) as UTF-8. When OpenSSL cannot convert it
// (an invalid UTF8String, an odd-length BMPString), the raw bytes are kept with
// everything but printable ASCII hex-escaped.
std::string asn1StringText(const ASN1_STRING* value) {
  if (value == nullptr) return {};
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, value);
  const OpensslBufferPtr owned(utf8);  // OpenSSL allocated it for us
  if (len >= 0) return visibleUtf8(asView(utf8, len));
  ERR_clear_error();
  std::string out;
  for (const char ch : asView(ASN1_STRING_get0_data(value), ASN1_STRING_length(value))) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(ch);
    } else {
      appendEscapedByte(out, c);
    }
  }
  return out;
}

// Dotted OID text, e.g. "1.3.6.1.4.1.311.60.2.1.3".
std::string oidText(const ASN1_OBJECT* obj) {
  const int need = OBJ_obj2txt(nullptr, 0, obj, 1);
  if (need <= 0) return "?";
  std::string text(static_cast<std::size_t>(need) + 1, '\0');
  OBJ_obj2txt(text.data(), need + 1, obj, 1);
  text.resize(static_cast<std::size_t>(need));
  return text;
}

// OpenSSL short name ("CN", "ST", "serialNumber", "emailAddress"), else dotted OID.
std::string objectShortName(const ASN1_OBJECT* obj) {
  const int nid = OBJ_obj2nid(obj);
  if (nid != NID_undef) {
    if (const char* sn = OBJ_nid2sn(nid); sn != nullptr) return sn;
  }
  return oidText(obj);
}

std::vector<RdnAttr> nameAttributes(const X509_NAME* name) {
  std::vector<RdnAttr> attrs;
  if (name == nullptr) return attrs;
  const int count = X509_NAME_entry_count(name);
  attrs.reserve(static_cast<std::size_t>(std::max(count, 0)));  // every certificate holds two of these lists
  int previous_set = -1;
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    if (entry == nullptr) continue;
    const int set = X509_NAME_ENTRY_set(entry);  // the RDN it belongs to
    attrs.push_back(RdnAttr{objectShortName(X509_NAME_ENTRY_get_object(entry)),
                            asn1StringText(X509_NAME_ENTRY_get_data(entry)), !attrs.empty() && set == previous_set});
    previous_set = set;
  }
  return attrs;
}

// RFC 4514 §2.4 escaping of one attribute value: the specials get a backslash,
// control characters become a backslash and two hex digits.
void appendRfc4514Value(std::string& out, std::string_view value) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    const auto u = static_cast<unsigned char>(c);
    const bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' ||
                         (i == 0 && (c == '#' || c == ' ')) || (i + 1 == value.size() && c == ' ');
    if (u < 0x20 || u == 0x7f) {
      out.push_back('\\');
      appendHexByte(out, u, "0123456789ABCDEF");
    } else {
      if (special) out.push_back('\\');
      out.push_back(c);
    }
  }
}

// "KEY=value,KEY=value" in certificate order.
std::string nameText(const std::vector<RdnAttr>& attrs) {
  std::string out;
  for (const RdnAttr& a : attrs) {
    if (!out.empty()) out.push_back(a.joined ? '+' : ',');  // RFC 4514 §2.2: '+' within one RDN
    out += a.key;
    out.push_back('=');
    appendRfc4514Value(out, a.value);
  }
  return out;
}

std::optional<std::string> firstValue(const std::vector<RdnAttr>& attrs, const std::string& key) {
  for (const RdnAttr& a : attrs) {
    if (a.key == key) return a.value;
  }
  return std::nullopt;
}

// Serial number as uppercase hex of the integer's magnitude, "-" when negative.
std::string serialHex(const ASN1_INTEGER* serial) {
  if (serial == nullptr) return {};
  std::string out = ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? "-" : "";
  for (const char ch : asView(ASN1_STRING_get0_data(serial), ASN1_STRING_length(serial))) {
    appendHexByte(out, static_cast<unsigned char>(ch), "0123456789ABCDEF");
  }
  if (out.empty() || out == "-") out += "00";
  return out;
}

// Seconds since the epoch, or nullopt when the time cannot be read.
std::optional<std::int64_t> epochSeconds(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

// Certificates are decoded in a library context of their own that holds
// only OpenSSL's null provider. OpenSSL 3.0's d2i_X509 decodes the public
// key into an EVP_PKEY through a new OSSL_DECODER context, taking the
// provider store's locks thousands of times (openssl/openssl#17950, #19119):
// 96 us a certificate here, against 12 us without a provider to decode with.
// Only the key's type and size are wanted, and they are read from the
// SubjectPublicKeyInfo below. Nothing else of the parse needs a provider;
// chains are verified elsewhere, in the default context.
OSSL_LIB_CTX* parseContext() {
  static OSSL_LIB_CTX* const ctx = [] {
    OSSL_LIB_CTX* c = OSSL_LIB_CTX_new();
    // With a provider loaded explicitly, the default one is never loaded on demand.
    if (c != nullptr && OSSL_PROVIDER_load(c, "null") == nullptr) {
      OSSL_LIB_CTX_free(c);
      c = nullptr;
    }
    ERR_clear_error();
    return c;  // process lifetime; null: decode in the default context
  }();
  return ctx;
}

// The first INTEGER of a DER SEQUENCE (an RSAPublicKey's modulus, DSA
// parameters' p), its size in bits; 0 when the bytes are not that.
int firstIntegerBits(std::span<const std::uint8_t> der) {
  if (der.empty() || der.size() > static_cast<std::size_t>(LONG_MAX)) return 0;
  const unsigned char* p = der.data();
  ASN1_SEQUENCE_ANY* seq = d2i_ASN1_SEQUENCE_ANY(nullptr, &p, static_cast<long>(der.size()));
  int bits = 0;
  if (seq != nullptr && sk_ASN1_TYPE_num(seq) > 0) {
    const ASN1_TYPE* first = sk_ASN1_TYPE_value(seq, 0);
    if (first->type == V_ASN1_INTEGER) {
      BIGNUM* n = ASN1_INTEGER_to_BN(first->value.integer, nullptr);
      bits = n != nullptr ? BN_num_bits(n) : 0;
      BN_free(n);
    }
  }
  sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
  ERR_clear_error();
  return bits;
}

// The order of a named curve, in bits (what EVP_PKEY_get_bits gives for EC keys).
int curveBits(int nid) {
  static std::mutex mu;
  static std::map<int, int> known;
  std::lock_guard lock(mu);
  if (auto it = known.find(nid); it != known.end()) return it->second;
  EC_GROUP* group = EC_GROUP_new_by_curve_name(nid);
  const int bits = group != nullptr ? EC_GROUP_order_bits(group) : 0;
  EC_GROUP_free(group);
  ERR_clear_error();
  return known.emplace(nid, bits).first->second;
}

std::span<const std::uint8_t> parameterSequence(const X509_ALGOR* params) {
  if (params == nullptr) return {};
  int type = 0;
  const void* value = nullptr;
  X509_ALGOR_get0(nullptr, &type, &value, params);
  if (type != V_ASN1_SEQUENCE || value == nullptr) return {};
  const auto* seq = static_cast<const ASN1_STRING*>(value);
  return {ASN1_STRING_get0_data(seq), static_cast<std::size_t>(std::max(ASN1_STRING_length(seq), 0))};
}

// Key algorithms whose size the algorithm fixes, named and sized as EVP_PKEY does.
struct FixedSizeKey {
  int nid;
  const char* name;
  int bits;
};
constexpr FixedSizeKey FIXED_SIZE_KEYS[] = {
    {NID_ED25519, "Ed25519", 256}, {NID_ED448, "Ed448", 456}, {NID_X25519, "X25519", 253}, {NID_X448, "X448", 448}};

// The key's type and size from the SubjectPublicKeyInfo (see parseContext),
// named and measured as EVP_PKEY_get0_type_name and EVP_PKEY_get_bits would.
void readPublicKey(const X509* x, CertInfo& info) {
  ASN1_OBJECT* algorithm = nullptr;  // these are owned by the certificate
  const unsigned char* key = nullptr;
  int key_len = 0;
  X509_ALGOR* params = nullptr;
  if (X509_PUBKEY_get0_param(&algorithm, &key, &key_len, &params, X509_get_X509_PUBKEY(x)) != 1 ||
      algorithm == nullptr) {
    ERR_clear_error();
    return;
  }
  const std::span<const std::uint8_t> key_bytes(key, key != nullptr ? static_cast<std::size_t>(std::max(key_len, 0)) : 0);
  switch (OBJ_obj2nid(algorithm)) {
    case NID_rsaEncryption:
      info.key_type = "RSA";
      info.key_bits = firstIntegerBits(key_bytes);
      break;
    case NID_rsassaPss:
      info.key_type = "RSA-PSS";
      info.key_bits = firstIntegerBits(key_bytes);
      break;
    case NID_X9_62_id_ecPublicKey: {
      info.key_type = "EC";
      int type = 0;
      const void* value = nullptr;
      if (params != nullptr) X509_ALGOR_get0(nullptr, &type, &value, params);
      if (type == V_ASN1_OBJECT && value != nullptr) info.key_bits = curveBits(OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(value)));
      break;
    }
    case NID_dsa:
      info.key_type = "DSA";
      info.key_bits = firstIntegerBits(parameterSequence(params));
      break;
    default: {
      const int nid = OBJ_obj2nid(algorithm);
      const auto* fixed = std::find_if(std::begin(FIXED_SIZE_KEYS), std::end(FIXED_SIZE_KEYS),
                                       [&](const FixedSizeKey& k) { return k.nid == nid; });
      if (fixed != std::end(FIXED_SIZE_KEYS)) {
        info.key_type = fixed->name;
        info.key_bits = fixed->bits;
      } else {
        info.key_type = objectShortName(algorithm);
      }
      break;
    }
  }
}

void readSignature(const X509* x, CertInfo& info) {
  const int sig_nid = X509_get_signature_nid(x);
  if (const char* ln = OBJ_nid2ln(sig_nid); sig_nid != NID_undef && ln != nullptr) {
    info.signature = ln;
  } else {
    const X509_ALGOR* algorithm = nullptr;
    X509_get0_signature(nullptr, &algorithm, x);
    const ASN1_OBJECT* obj = nullptr;
    if (algorithm != nullptr) X509_ALGOR_get0(&obj, nullptr, nullptr, algorithm);
    if (obj != nullptr) info.signature = oidText(obj);
  }
  int md_nid = NID_undef;
  int pkey_nid = NID_undef;
  if (OBJ_find_sigid_algs(sig_nid, &md_nid, &pkey_nid) == 1 && md_nid != NID_undef) {
    if (const char* md = OBJ_nid2ln(md_nid); md != nullptr) info.signature_digest = md;
  } else if (sig_nid == NID_rsassaPss) {
    // RSASSA-PSS names its hash in its parameters, SHA-1 when they leave it
    // out (RFC 4055 §3.1): a PSS signature over SHA-1 is as weak as
    // sha1WithRSAEncryption, and the name says which hash it is.
    const X509_ALGOR* algorithm = nullptr;
    X509_get0_signature(nullptr, &algorithm, x);
    int ptype = V_ASN1_UNDEF;
    const void* pval = nullptr;
    if (algorithm != nullptr) X509_ALGOR_get0(nullptr, &ptype, &pval, algorithm);
    md_nid = NID_sha1;
    if (ptype == V_ASN1_SEQUENCE && pval != nullptr) {
      const auto* seq = static_cast<const ASN1_STRING*>(pval);
      const unsigned char* p = ASN1_STRING_get0_data(seq);
      const RsaPssParamsPtr params(d2i_RSA_PSS_PARAMS(nullptr, &p, ASN1_STRING_length(seq)));
      if (!params) md_nid = NID_undef;  // parameters that do not decode: the hash is not known
      else if (params->hashAlgorithm != nullptr) {
        const ASN1_OBJECT* hash = nullptr;
        X509_ALGOR_get0(&hash, nullptr, nullptr, params->hashAlgorithm);
        md_nid = hash != nullptr ? OBJ_obj2nid(hash) : NID_undef;
      }
    }
    if (const char* md = md_nid != NID_undef ? OBJ_nid2ln(md_nid) : nullptr; md != nullptr) {
      info.signature_digest = md;
      info.signature += std::string(" (") + md + ")";
    }
  }
}

std::string ipText(const ASN1_OCTET_STRING* ip) {
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  const auto len = static_cast<std::size_t>(std::max(ASN1_STRING_length(ip), 0));
  if (len == IPV4_ADDRESS_BYTES) return IpAddr::v4(data).str();
  if (len == IPV6_ADDRESS_BYTES) return IpAddr::v6(data).str();
  std::string out;
  for (std::size_t i = 0; i < len; ++i) appendEscapedByte(out, data[i]);
  return out;
}

void readSubjectAltNames(const X509* x, CertInfo& info) {
  const GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    ERR_clear_error();
    return;
  }
  const int count = sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    void* value = GENERAL_NAME_get0_value(name, &type);  // owned by `names`
    if (value == nullptr) continue;
    switch (type) {
      case GEN_DNS:
        info.san_dns.push_back(asn1StringText(static_cast<const ASN1_STRING*>(value)));
        break;
      case GEN_EMAIL:
        info.san_other.push_back("email:" + asn1StringText(static_cast<const ASN1_STRING*>(value)));
        break;
      case GEN_URI:
        info.san_other.push_back("URI:" + asn1StringText(static_cast<const ASN1_STRING*>(value)));
        break;
      case GEN_IPADD:
        info.san_other.push_back("IP:" + ipText(static_cast<const ASN1_OCTET_STRING*>(value)));
        break;
      case GEN_DIRNAME:
        info.san_other.push_back("DirName:" + nameText(nameAttributes(static_cast<const X509_NAME*>(value))));
        break;
      case GEN_RID:
        info.san_other.push_back("RID:" + oidText(static_cast<const ASN1_OBJECT*>(value)));
        break;
      case GEN_OTHERNAME:
        info.san_other.push_back("othername:" + oidText(static_cast<const OTHERNAME*>(value)->type_id));
        break;
      default:
        info.san_other.emplace_back("other");
        break;
    }
  }
}

// basicConstraints with cA TRUE: what EXFLAG_CA says, read without
// X509_get_extension_flags, which decodes and caches every extension and
// takes the certificate's SHA-1 first (the SHA-1 fetch fails in
// parseContext's null provider and queues an error: 4 of a certificate's
// 30 us here). An extension that does not decode, or comes twice, is no CA,
// as there.
bool isCa(const X509* x) {
  int critical = 0;
  BASIC_CONSTRAINTS* bc =
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x, NID_basic_constraints, &critical, nullptr));
  const bool ca = bc != nullptr && bc->ca != 0;
  BASIC_CONSTRAINTS_free(bc);
  return ca;
}

}  // namespace

std::optional<std::string> CertInfo::subjectGet(const std::string& key) const { return firstValue(subject, key); }

std::size_t parsedBytes(const CertInfo& c) {
  // A string's heap bytes: its capacity once past the small-string buffer.
  const auto text = [](const std::string& s) { return sizeof(std::string) + (s.capacity() > 15 ? s.capacity() + 1 : 0); };
  std::size_t n = sizeof(CertInfo) + text(c.sha256) + text(c.subject_text) + text(c.issuer_text) +
                  text(c.serial_number) + text(c.key_type) + text(c.signature) + text(c.signature_digest);
  for (const auto* attrs : {&c.subject, &c.issuer}) {
    for (const RdnAttr& a : *attrs) n += text(a.key) + text(a.value);
  }
  for (const auto* list : {&c.san_dns, &c.san_other}) {
    for (const std::string& s : *list) n += text(s);
  }
  return n;
}

std::optional<std::string> CertInfo::issuerGet(const std::string& key) const { return firstValue(issuer, key); }

std::optional<CertInfo> parseCertificate(const std::uint8_t* der, std::size_t len) {
  if (der == nullptr || len == 0 || len > static_cast<std::size_t>(LONG_MAX)) return std::nullopt;
  const unsigned char* end = der;
  // Decoded into a certificate of parseContext(); a failed d2i frees it and nulls `raw`.
  X509* raw = X509_new_ex(parseContext(), nullptr);
  if (raw != nullptr && d2i_X509(&raw, &end, static_cast<long>(len)) == nullptr) raw = nullptr;
  X509Ptr x(raw);
  // The encoding must span exactly `len` bytes: a truncated certificate fails
  // to decode, one followed by trailing bytes stops short of the end.
  if (!x || end != der + len) {
    ERR_clear_error();
    return std::nullopt;
  }
  CertInfo info;
  info.der.assign(der, der + len);
  info.sha256 = digestHex(DigestAlgorithm::Sha256, std::span(der, len));
  const X509_NAME* subject = X509_get_subject_name(x.get());
  const X509_NAME* issuer = X509_get_issuer_name(x.get());
  info.subject = nameAttributes(subject);
  info.issuer = nameAttributes(issuer);
  info.subject_text = nameText(info.subject);
  info.issuer_text = nameText(info.issuer);
  info.serial_number = serialHex(X509_get0_serialNumber(x.get()));
  if (const auto t = epochSeconds(X509_get0_notBefore(x.get()))) {
    info.not_before = *t;
    info.not_before_known = true;
  }
  if (const auto t = epochSeconds(X509_get0_notAfter(x.get()))) {
    info.not_after = *t;
    info.not_after_known = true;
  }
  readPublicKey(x.get(), info);
  readSignature(x.get(), info);
  info.self_signed = subject != nullptr && issuer != nullptr && X509_NAME_cmp(subject, issuer) == 0;
  info.is_ca = isCa(x.get());
  readSubjectAltNames(x.get(), info);
  ERR_clear_error();
  return info;
}

std::string rdnText(const std::vector<RdnAttr>& attrs) { return nameText(attrs); }

std::string distinguishedNameText(const std::uint8_t* der, std::size_t len) {
  const unsigned char* p = der;
  X509NamePtr name(d2i_X509_NAME(nullptr, &p, static_cast<long>(len)));
  if (!name || p != der + len) return {};  // not exactly one DistinguishedName
  return nameText(nameAttributes(name.get()));
}

}  // namespace provaudit::analyze
