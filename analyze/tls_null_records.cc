#include "analyze/tls_null_records.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace provaudit::analyze {
namespace {

constexpr std::size_t RECORD_HEADER = 5;
constexpr std::size_t RECORD_MAX = 16384 + 2048;  // RFC 5246 §6.2.3: TLSCiphertext.length
constexpr std::uint8_t CHANGE_CIPHER_SPEC = 20;
constexpr std::uint8_t APPLICATION_DATA = 23;

// IANA TLS Cipher Suites registry: the suites with NULL encryption, by their
// MAC (MD5 16, SHA-1 20, SHA-256 32, SHA-384 48, GOST R 34.11-94 32 bytes).
constexpr std::pair<std::uint16_t, std::uint8_t> NULL_SUITES[] = {
    {0x0001, 16}, {0x0002, 20}, {0x001c, 20}, {0x002c, 20}, {0x002d, 20}, {0x002e, 20}, {0x003b, 32},
    {0x0082, 32}, {0x0083, 32}, {0x00b0, 32}, {0x00b1, 48}, {0x00b4, 32}, {0x00b5, 48}, {0x00b8, 32},
    {0x00b9, 48}, {0xc001, 20}, {0xc006, 20}, {0xc00b, 20}, {0xc010, 20}, {0xc015, 20}, {0xc039, 20},
    {0xc03a, 32}, {0xc03b, 48},
};

}  // namespace

std::size_t nullEncryptionMacLength(std::uint16_t suite) {
  for (const auto& [id, mac] : NULL_SUITES) {
    if (id == suite) return mac;
  }
  return 0;
}

bool offersNullEncryption(std::span<const std::uint16_t> suites) {
  return std::any_of(suites.begin(), suites.end(), [](std::uint16_t s) { return nullEncryptionMacLength(s) != 0; });
}

bool NullRecordReader::feed(std::span<const std::uint8_t> bytes, std::uint16_t suite, std::vector<std::uint8_t>& plain) {
  while (!stopped_ && !bytes.empty()) {
    // The header first, then the rest of the record: at most one record is held.
    const std::size_t want = record_.size() < RECORD_HEADER
                                 ? RECORD_HEADER
                                 : RECORD_HEADER + ((std::size_t{record_[3]} << 8) | record_[4]);
    const std::size_t take = std::min(want - record_.size(), bytes.size());
    record_.insert(record_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
    if (record_.size() < want) break;
    if (want == RECORD_HEADER) {
      // A TLS record: a known content type, major version 3, a length it may have.
      const std::size_t length = (std::size_t{record_[3]} << 8) | record_[4];
      if (record_[0] < CHANGE_CIPHER_SPEC || record_[0] > APPLICATION_DATA + 1 || record_[1] != 3 ||
          length > RECORD_MAX) {
        stopped_ = true;
        break;
      }
      if (length > 0) continue;
    }
    const std::uint8_t type = record_[0];
    if (type == CHANGE_CIPHER_SPEC) {
      after_ccs_ = true;
    } else if (type == APPLICATION_DATA && after_ccs_) {
      const std::size_t mac = nullEncryptionMacLength(suite);
      if (mac == 0) {
        stopped_ = true;  // the suite encrypts (or the ServerHello was not seen)
        break;
      }
      const std::size_t length = record_.size() - RECORD_HEADER;
      if (length >= mac) {
        const std::size_t n = std::min(length - mac, NULL_RECORDS_MAX_BYTES - plain_bytes_);
        const auto from = record_.begin() + static_cast<std::ptrdiff_t>(RECORD_HEADER);
        plain.insert(plain.end(), from, from + static_cast<std::ptrdiff_t>(n));
        plain_bytes_ += n;
        if (plain_bytes_ >= NULL_RECORDS_MAX_BYTES) stopped_ = true;
      }
    }
    record_.clear();
  }
  return !stopped_;
}

}  // namespace provaudit::analyze
