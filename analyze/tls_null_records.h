#pragma once
// A TLS 1.0-1.2 suite with NULL encryption (TLS_ECDHE_RSA_WITH_NULL_SHA and
// the like) authenticates records but does not encrypt them: after the
// ChangeCipherSpec a record's fragment is its content followed by the MAC
// (RFC 5246 §6.2.3.1). A device that negotiates one sends its requests
// readable by anyone on the path, and tshark shows them without keys; so do
// we. NullRecordReader follows the client's record stream from its first
// byte and hands out the content of its application data records. The MAC
// cannot be checked without the keys, and is not.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace provaudit::analyze {

// The MAC length of a TLS 1.0-1.2 suite with NULL encryption, 0 for any
// other suite (encrypted, TLS 1.3, unknown).
std::size_t nullEncryptionMacLength(std::uint16_t suite);
// Whether a ClientHello offering `suites` might negotiate one.
bool offersNullEncryption(std::span<const std::uint16_t> suites);

// Plaintext a flow may yield this way; past it the reader stops.
inline constexpr std::size_t NULL_RECORDS_MAX_BYTES = 256 * 1024;

class NullRecordReader {
 public:
  // The client's next in-order bytes. `suite`: the negotiated suite, once the
  // ServerHello was read (0 before). Appends the content of application data
  // records sent after the client's ChangeCipherSpec to `plain`. False once
  // nothing more can be read: the suite encrypts, the framing is not TLS's,
  // or the limit was reached.
  bool feed(std::span<const std::uint8_t> bytes, std::uint16_t suite, std::vector<std::uint8_t>& plain);
  // Bytes lost in the client's stream: the framing is gone.
  void gap() { stopped_ = true; }
  [[nodiscard]] bool stopped() const { return stopped_; }
  [[nodiscard]] std::size_t heldBytes() const { return record_.capacity(); }

 private:
  std::vector<std::uint8_t> record_;  // the record being assembled (at most one)
  std::size_t plain_bytes_ = 0;
  bool after_ccs_ = false;
  bool stopped_ = false;
};

}  // namespace provaudit::analyze
