// Distinguished names outside certificates (CertificateRequest CA lists) and the
// one-line rendering shared with CertInfo.
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "analyze/cert_info.h"
#include "common/c_handles.h"

namespace provaudit::analyze {

std::string rdnText(const std::vector<RdnAttr>& attrs) {
  std::string out;
  for (const auto& a : attrs) {
    if (!out.empty()) out.push_back(',');
    out += a.key;
    out.push_back('=');
    for (std::size_t i = 0; i < a.value.size(); ++i) {
      const char c = a.value[i];
      // RFC 4514 §2.4: escape the specials, and a leading '#' or space / trailing space.
      const bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' ||
                           c == '=' || (i == 0 && (c == '#' || c == ' ')) || (i + 1 == a.value.size() && c == ' ');
      if (special) out.push_back('\\');
      out.push_back(c);
    }
  }
  return out;
}

std::string distinguishedNameText(const std::uint8_t* der, std::size_t len) {
  const unsigned char* p = der;
  X509NamePtr name(d2i_X509_NAME(nullptr, &p, static_cast<long>(len)));
  if (!name || p != der + len) return {};
  std::vector<RdnAttr> attrs;
  const int n = X509_NAME_entry_count(name.get());
  for (int i = 0; i < n; ++i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name.get(), i);
    const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(e);
    RdnAttr a;
    const int nid = OBJ_obj2nid(obj);
    if (nid != NID_undef) {
      a.key = OBJ_nid2sn(nid);
    } else {
      char buf[128];
      if (OBJ_obj2txt(buf, sizeof buf, obj, 1) > 0) a.key = buf;
    }
    unsigned char* utf8 = nullptr;
    const int ulen = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (ulen >= 0) {
      a.value.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(ulen));  // bytes -> chars
      OPENSSL_free(utf8);  // owned by us after ASN1_STRING_to_UTF8
    }
    attrs.push_back(std::move(a));
  }
  return rdnText(attrs);
}

}  // namespace provaudit::analyze
