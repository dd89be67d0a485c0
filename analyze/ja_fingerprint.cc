// JA3 (salesforce/ja3 README) and JA4 (FoxIO-LLC/ja4 technical_details/JA4.md,
// the BSD-3-licensed TLS client part only) fingerprints of a ClientHello.
// GREASE values (RFC 8701) are left out everywhere, as both definitions ask.
#include <algorithm>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyze/digest.h"
#include "analyze/tls_connection.h"
#include "analyze/tls_handshake.h"
#include "common/text.h"

namespace provaudit::analyze {
namespace {

constexpr std::size_t JA4_HASH_CHARS = 12;
constexpr std::size_t JA4_MAX_COUNT = 99;
constexpr const char* JA4_EMPTY_HASH = "000000000000";

template <typename T>
std::vector<T> withoutGrease(const std::vector<T>& values) {
  std::vector<T> out;
  out.reserve(values.size());
  std::copy_if(values.begin(), values.end(), std::back_inserter(out), [](T v) { return !isGrease(v); });
  return out;
}

// JA3 field: decimal values joined by '-'.
template <typename T>
std::string decimalList(const std::vector<T>& values) {
  std::string out;
  for (const T v : values) {
    if (!out.empty()) out.push_back('-');
    out += std::to_string(v);
  }
  return out;
}

// JA4 list: 4-digit lowercase hex joined by ','.
std::string hexList(const std::vector<std::uint16_t>& values) {
  std::string out;
  for (const std::uint16_t v : values) {
    if (!out.empty()) out.push_back(',');
    appendHexLower(out, v, 4);
  }
  return out;
}

std::string ja4Hash(const std::string& text) { return digestHex(DigestAlgorithm::Sha256, text).substr(0, JA4_HASH_CHARS); }

std::string ja4Count(std::size_t n) {
  const std::size_t capped = std::min(n, JA4_MAX_COUNT);
  return std::string(1, static_cast<char>('0' + capped / 10)) + static_cast<char>('0' + capped % 10);
}

std::string ja4Version(const ClientHello& ch) {
  // The highest non-GREASE supported_versions entry, else the legacy version;
  // the record-layer version is ignored.
  std::uint16_t version = ch.legacy_version;
  const std::vector<std::uint16_t> offered = withoutGrease(ch.supported_versions);
  if (!offered.empty()) version = *std::max_element(offered.begin(), offered.end());
  switch (version) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
  }
}

bool isAlnum(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// First and last character of the first ALPN value; "00" when there is none.
// A non-alphanumeric first or last byte switches to the first and last hex
// digit of the whole value (JA4.md "ALPN Extension Value").
std::string ja4Alpn(const ClientHello& ch) {
  if (ch.alpn.empty() || ch.alpn.front().empty()) return "00";
  const std::string& first = ch.alpn.front();
  const auto head = static_cast<unsigned char>(first.front());
  const auto tail = static_cast<unsigned char>(first.back());
  if (isAlnum(head) && isAlnum(tail)) return std::string{static_cast<char>(head), static_cast<char>(tail)};
  const std::string hex = hexLower(std::span(reinterpret_cast<const std::uint8_t*>(first.data()), first.size()));  // chars -> bytes
  return std::string{hex.front(), hex.back()};
}

}  // namespace

std::string ja3String(const ClientHello& ch) {
  return std::to_string(ch.legacy_version) + ',' + decimalList(withoutGrease(ch.cipher_suites)) + ',' +
         decimalList(withoutGrease(ch.extensions)) + ',' + decimalList(withoutGrease(ch.supported_groups)) + ',' +
         decimalList(ch.ec_point_formats);
}

std::string ja3Hash(const ClientHello& ch) { return digestHex(DigestAlgorithm::Md5, ja3String(ch)); }

ClientFingerprints clientFingerprints(const ClientHello& ch) {
  ClientFingerprints f;
  f.ja3_string = ja3String(ch);
  f.ja3 = digestHex(DigestAlgorithm::Md5, f.ja3_string);
  f.ja4 = ja4(ch);
  return f;
}

std::string fingerprintKey(const ClientHello& ch) {
  std::string key;
  const auto u16 = [&](std::size_t v) {  // lengths too: a list's end is never ambiguous
    key.push_back(static_cast<char>(v >> 8));
    key.push_back(static_cast<char>(v & 0xff));
  };
  const auto list16 = [&](const std::vector<std::uint16_t>& values) {
    u16(values.size());
    for (const std::uint16_t v : values) u16(v);
  };
  const auto bytes = [&](std::string_view values) {
    u16(values.size());
    key.append(values);
  };
  u16(ch.legacy_version);
  list16(ch.cipher_suites);
  list16(ch.extensions);
  list16(ch.supported_groups);
  list16(ch.signature_algorithms);
  list16(ch.supported_versions);
  bytes(std::string_view(reinterpret_cast<const char*>(ch.ec_point_formats.data()), ch.ec_point_formats.size()));
  // JA4 reads the first ALPN value only; whether there is one at all matters too.
  key.push_back(ch.alpn.empty() ? '\0' : '\1');
  if (!ch.alpn.empty()) bytes(ch.alpn.front());
  return key;
}

std::string ja4(const ClientHello& ch, bool quic) {
  std::vector<std::uint16_t> ciphers = withoutGrease(ch.cipher_suites);
  const std::vector<std::uint16_t> extensions = withoutGrease(ch.extensions);
  const bool has_sni = std::find(extensions.begin(), extensions.end(), TLS_EXT_SERVER_NAME) != extensions.end();

  std::string out = quic ? "q" : "t";
  out += ja4Version(ch);
  out += has_sni ? 'd' : 'i';
  out += ja4Count(ciphers.size());
  out += ja4Count(extensions.size());
  out += ja4Alpn(ch);

  // JA4_b: sorted cipher list.
  std::sort(ciphers.begin(), ciphers.end());
  out += '_';
  out += ciphers.empty() ? JA4_EMPTY_HASH : ja4Hash(hexList(ciphers));

  // JA4_c: sorted extensions without SNI and ALPN, then '_' and the signature
  // algorithms in wire order (no '_' when there are none).
  std::vector<std::uint16_t> sorted_extensions;
  std::copy_if(extensions.begin(), extensions.end(), std::back_inserter(sorted_extensions),
               [](std::uint16_t e) { return e != TLS_EXT_SERVER_NAME && e != TLS_EXT_ALPN; });
  std::sort(sorted_extensions.begin(), sorted_extensions.end());
  out += '_';
  if (sorted_extensions.empty()) {
    out += JA4_EMPTY_HASH;
  } else {
    std::string text = hexList(sorted_extensions);
    const std::vector<std::uint16_t> algorithms = withoutGrease(ch.signature_algorithms);
    if (!algorithms.empty()) text += '_' + hexList(algorithms);
    out += ja4Hash(text);
  }
  return out;
}

}  // namespace provaudit::analyze
