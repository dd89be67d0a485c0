// X.509 certificates through OpenSSL only: OpenSSL does ASN.1 (its template
// decoder, its string conversions), we copy out plain fields. Every string a
// certificate carries is untrusted: it is decoded to UTF-8 by OpenSSL and
// anything that still is not valid UTF-8 is kept visible as \xNN escapes,
// never dropped and never passed on raw.
#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
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

// The value as UTF-8 when ASN1_STRING_to_UTF8 converts it, else nullopt.
std::optional<std::string> utf8Text(const ASN1_STRING* value) {
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, value);
  const OpensslBufferPtr owned(utf8);  // OpenSSL allocated it for us
  if (len >= 0) return visibleUtf8(asView(utf8, len));
  ERR_clear_error();
  return std::nullopt;
}

// Any ASN.1 string type (PrintableString, UTF8String, BMPString, T61String,
// IA5String, UniversalString...) as UTF-8. When OpenSSL cannot convert it
// (an invalid UTF8String, an odd-length BMPString), the raw bytes are kept with
// everything but printable ASCII hex-escaped.
std::string asn1StringText(const ASN1_STRING* value) {
  if (value == nullptr) return {};
  if (auto text = utf8Text(value)) return std::move(*text);
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

// A certificate as RFC 5280 §4.1 lays it out, decoded by OpenSSL's template
// decoder into these structures rather than into an X509 (d2i_X509): the
// same ASN.1, field for field (X509_CINF's template, x_x509.c and x_name.c in
// OpenSSL 3.0), without what an X509 builds that nothing here reads. An
// X509_NAME also builds its canonical form (every value converted to UTF-8,
// lowercased, re-encoded: half of d2i_X509's time on a device certificate),
// and the X509_PUBKEY tries to decode the key through the provider store;
// the decode takes 5.5 us of a device certificate where d2i_X509 took 13,
// the whole parse 9.7 us where it took 16.8 (bench/RESULTS.md, session 27). What d2i_X509 refuses, parseCertificate refuses too: names
// are decoded with the same entry template (an OID and an ASN1_PRINTABLE), a
// value the canonical form could not convert fails the certificate as it
// fails d2i_X509 (readName), and a name is held to X509_NAME_MAX.
struct CertAttribute {
  ASN1_OBJECT* type;
  ASN1_STRING* value;
};
ASN1_SEQUENCE(CertAttribute) = {
    ASN1_SIMPLE(CertAttribute, type, ASN1_OBJECT),
    ASN1_SIMPLE(CertAttribute, value, ASN1_PRINTABLE),
} static_ASN1_SEQUENCE_END(CertAttribute)

// RelativeDistinguishedName ::= SET OF AttributeTypeAndValue; Name ::= SEQUENCE OF RDN.
ASN1_ITEM_TEMPLATE(CertRdn) = ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SET_OF, 0, CertRdn, CertAttribute)
static_ASN1_ITEM_TEMPLATE_END(CertRdn)
ASN1_ITEM_TEMPLATE(CertName) = ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, CertName, CertRdn)
static_ASN1_ITEM_TEMPLATE_END(CertName)

// SubjectPublicKeyInfo, the key left as its BIT STRING.
struct CertPublicKey {
  X509_ALGOR* algorithm;
  ASN1_BIT_STRING* key;
};
ASN1_SEQUENCE(CertPublicKey) = {
    ASN1_SIMPLE(CertPublicKey, algorithm, X509_ALGOR),
    ASN1_SIMPLE(CertPublicKey, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CertPublicKey)

// A decoded Name: a stack (the RDNs) of stacks (their attributes) of CertAttribute.
using CertNameStack = OPENSSL_STACK;

struct CertTbs {
  ASN1_INTEGER* version;
  ASN1_INTEGER* serial;
  X509_ALGOR* signature;
  CertNameStack* issuer;
  X509_VAL* validity;
  CertNameStack* subject;
  CertPublicKey* key;
  ASN1_BIT_STRING* issuer_uid;
  ASN1_BIT_STRING* subject_uid;
  STACK_OF(X509_EXTENSION)* extensions;
};
ASN1_SEQUENCE(CertTbs) = {
    ASN1_EXP_OPT(CertTbs, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(CertTbs, serial, ASN1_INTEGER),
    ASN1_SIMPLE(CertTbs, signature, X509_ALGOR),
    ASN1_SIMPLE(CertTbs, issuer, CertName),
    ASN1_SIMPLE(CertTbs, validity, X509_VAL),
    ASN1_SIMPLE(CertTbs, subject, CertName),
    ASN1_SIMPLE(CertTbs, key, CertPublicKey),
    ASN1_IMP_OPT(CertTbs, issuer_uid, ASN1_BIT_STRING, 1),
    ASN1_IMP_OPT(CertTbs, subject_uid, ASN1_BIT_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(CertTbs, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(CertTbs)

struct CertFields {
  CertTbs* tbs;
  X509_ALGOR* signature_algorithm;
  ASN1_BIT_STRING* signature;
};
ASN1_SEQUENCE(CertFields) = {
    ASN1_SIMPLE(CertFields, tbs, CertTbs),
    ASN1_SIMPLE(CertFields, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(CertFields, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CertFields)

using CertFieldsPtr = Asn1ItemPtr<CertFields, &CertFields_it>;

// The string types an X509_NAME's canonical form converts to UTF-8 (OpenSSL
// 3.0 x_name.c, ASN1_MASK_CANON); a value of another type is copied as it is.
constexpr unsigned long NAME_CANONICAL_TYPES = B_ASN1_UTF8STRING | B_ASN1_BMPSTRING | B_ASN1_UNIVERSALSTRING |
                                               B_ASN1_PRINTABLESTRING | B_ASN1_T61STRING | B_ASN1_IA5STRING |
                                               B_ASN1_VISIBLESTRING;
// The longest name an X509_NAME decodes (x_name.c X509_NAME_MAX).
constexpr int NAME_MAX_BYTES = 1024 * 1024;

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

// A certificate's name (CertName), as nameAttributes reads an X509_NAME's.
// nullopt where d2i_X509 fails: a value its canonical form cannot convert to
// UTF-8 (an invalid UTF8String, an odd-length BMPString).
std::optional<std::vector<RdnAttr>> readName(const CertNameStack* name) {
  std::vector<RdnAttr> attrs;
  if (name == nullptr) return attrs;
  const int rdns = OPENSSL_sk_num(name);
  for (int set = 0; set < rdns; ++set) {
    const auto* rdn = static_cast<const OPENSSL_STACK*>(OPENSSL_sk_value(name, set));
    const int count = OPENSSL_sk_num(rdn);
    for (int i = 0; i < count; ++i) {
      const auto* entry = static_cast<const CertAttribute*>(OPENSSL_sk_value(rdn, i));
      RdnAttr attr{objectShortName(entry->type), {}, i > 0};
      if ((ASN1_tag2bit(ASN1_STRING_type(entry->value)) & NAME_CANONICAL_TYPES) != 0) {
        auto text = utf8Text(entry->value);
        if (!text) return std::nullopt;
        attr.value = std::move(*text);
      } else {
        attr.value = asn1StringText(entry->value);
      }
      attrs.push_back(std::move(attr));
    }
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

// The key's type and size from the SubjectPublicKeyInfo, named and measured
// as EVP_PKEY_get0_type_name and EVP_PKEY_get_bits would, without decoding
// the key (in OpenSSL 3.0 that goes through a new OSSL_DECODER context and
// the provider store's locks: openssl/openssl#17950, #19119).
void readPublicKey(const CertPublicKey& spki, CertInfo& info) {
  const ASN1_OBJECT* algorithm = nullptr;  // these are owned by the certificate
  const X509_ALGOR* params = spki.algorithm;
  X509_ALGOR_get0(&algorithm, nullptr, nullptr, params);
  if (algorithm == nullptr) return;
  const unsigned char* key = ASN1_STRING_get0_data(spki.key);
  const int key_len = ASN1_STRING_length(spki.key);
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

// The certificate's signatureAlgorithm (the outer one, as X509_get_signature_nid reads it).
void readSignature(const X509_ALGOR* algorithm, CertInfo& info) {
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, algorithm);
  const int sig_nid = OBJ_obj2nid(obj);
  if (const char* ln = OBJ_nid2ln(sig_nid); sig_nid != NID_undef && ln != nullptr) {
    info.signature = ln;
  } else {
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
    int ptype = V_ASN1_UNDEF;
    const void* pval = nullptr;
    X509_ALGOR_get0(nullptr, &ptype, &pval, algorithm);
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

// (X509V3_get_d2i on the extensions is what X509_get_ext_d2i does on an X509.)
void readSubjectAltNames(const STACK_OF(X509_EXTENSION)* extensions, CertInfo& info) {
  const GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509V3_get_d2i(extensions, NID_subject_alt_name, nullptr, nullptr)));
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

// basicConstraints with cA TRUE: what EXFLAG_CA (X509_get_extension_flags)
// says. An extension that does not decode, or comes twice, is no CA, as there.
bool isCa(const STACK_OF(X509_EXTENSION)* extensions) {
  int critical = 0;
  BASIC_CONSTRAINTS* bc =
      static_cast<BASIC_CONSTRAINTS*>(X509V3_get_d2i(extensions, NID_basic_constraints, &critical, nullptr));
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
  const CertFieldsPtr cert(reinterpret_cast<CertFields*>(
      ASN1_item_d2i(nullptr, &end, static_cast<long>(len), CertFields_it())));
  // The encoding must span exactly `len` bytes: a truncated certificate fails
  // to decode, one followed by trailing bytes stops short of the end.
  if (!cert || end != der + len) {
    ERR_clear_error();
    return std::nullopt;
  }
  const CertTbs& tbs = *cert->tbs;
  const auto nameTooLong = [&](const CertNameStack* name) {
    return len > static_cast<std::size_t>(NAME_MAX_BYTES) &&
           ASN1_item_i2d(reinterpret_cast<const ASN1_VALUE*>(name), nullptr, CertName_it()) > NAME_MAX_BYTES;
  };
  auto subject = readName(tbs.subject);
  auto issuer = readName(tbs.issuer);
  if (!subject || !issuer || nameTooLong(tbs.subject) || nameTooLong(tbs.issuer)) {
    ERR_clear_error();
    return std::nullopt;
  }
  CertInfo info;
  info.der.assign(der, der + len);
  info.sha256 = digestHex(DigestAlgorithm::Sha256, std::span(der, len));
  info.subject = std::move(*subject);
  info.issuer = std::move(*issuer);
  info.subject_text = nameText(info.subject);
  info.issuer_text = nameText(info.issuer);
  info.serial_number = serialHex(tbs.serial);
  if (const auto t = epochSeconds(tbs.validity->notBefore)) {
    info.not_before = *t;
    info.not_before_known = true;
  }
  if (const auto t = epochSeconds(tbs.validity->notAfter)) {
    info.not_after = *t;
    info.not_after_known = true;
  }
  readPublicKey(*tbs.key, info);
  readSignature(cert->signature_algorithm, info);
  info.is_ca = isCa(tbs.extensions);
  readSubjectAltNames(tbs.extensions, info);
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
