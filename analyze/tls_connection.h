#pragma once
// Follows one TLS connection's handshake from both sides' byte streams and
// keeps what it saw in a TlsSummary. Streaming: feed() takes whatever bytes
// arrived (records may span calls, handshake messages may span records, one
// record may hold several messages) and never throws on packet data.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "analyze/tls_types.h"
#include "common/anomaly.h"
#include "common/net_types.h"

namespace provaudit::analyze {

// Named limits: a handshake message or buffered record larger than these is an
// anomaly (tls_record_too_large / tls_handshake_too_large) and stops the parse.
inline constexpr std::size_t TLS_MAX_RECORD = 16384 + 2048;        // RFC 5246 §6.2.3 ciphertext bound
inline constexpr std::size_t TLS_MAX_HANDSHAKE_MESSAGE = 256 * 1024; // certificate chains of real devices are < 16 KiB
// After the handshake, keep walking record headers this far to catch a
// renegotiation (Apache per-directory SSLVerifyClient renegotiates right after
// the first request), then give up on the flow.
inline constexpr std::size_t TLS_RENEGOTIATION_WATCH_BYTES = 64 * 1024;

enum class ParseState : std::uint8_t {
  NeedMore,  // keep feeding
  Done,      // nothing more to learn from this connection: bypass it
  Error,     // not TLS after all, or broken beyond recovery (an anomaly was counted)
};

struct TlsSummary {
  std::optional<ClientHello> client_hello;
  std::optional<ServerHello> server_hello;
  std::optional<CertificateRequest> certificate_request;
  std::optional<std::vector<Der>> server_certificates;  // set when the server sent Certificate
  std::optional<std::vector<Der>> client_certificates;  // set when the client sent Certificate; empty vector = empty list
  // RFC 7250: the side's Certificate carried a raw public key (its one
  // element is a SubjectPublicKeyInfo, no X.509 certificate).
  bool server_raw_public_key = false;
  bool client_raw_public_key = false;
  std::vector<std::uint8_t> new_session_ticket;      // ticket of a clear NewSessionTicket (RFC 5077 §3.3); empty = none
  bool no_certificate_alert = false;  // SSLv3 no_certificate(41) warning from the client
  bool client_ccs = false;            // ChangeCipherSpec seen from the client
  bool server_ccs = false;
  bool resumed = false;               // abbreviated handshake (echoed session id, or server CCS with no Certificate)
  bool tls13 = false;                 // ServerHello selected TLS 1.3 (handshake encrypted after it)
  bool renegotiation = false;         // a handshake record after both sides' ChangeCipherSpec and Finished
  bool client_gap = false;            // bytes missing from the client's handshake stream
  bool server_gap = false;
  bool handshake_complete = false;    // both sides sent ChangeCipherSpec (TLS <= 1.2) or TLS 1.3 was selected
  std::vector<TlsAlert> alerts;       // alerts in clear (both sides)
  std::uint64_t client_bytes = 0;     // handshake-phase bytes consumed per side
  std::uint64_t server_bytes = 0;
};

// JA3 string and MD5 per the salesforce/ja3 definition, GREASE (RFC 8701) removed.
std::string ja3String(const ClientHello& ch);
std::string ja3Hash(const ClientHello& ch);
// JA4 (TLS client, the BSD-licensed part only), e.g. "t13d1516h2_8daaf6152771_e5627efa2ab1".
std::string ja4(const ClientHello& ch, bool quic = false);

// The three of a TLS (not QUIC) ClientHello at once (the JA3 string built once).
struct ClientFingerprints {
  std::string ja3, ja3_string, ja4;
};
ClientFingerprints clientFingerprints(const ClientHello& ch);
// Every field the three depend on, packed: two ClientHellos with equal keys
// have equal fingerprints (a fleet's devices send the same ClientHello; the
// key is a copy where the fingerprints are decimal and hex text and three
// digests).
std::string fingerprintKey(const ClientHello& ch);

class TlsConnection {
 public:
  explicit TlsConnection(AnomalyCounters& anomalies) : anomalies_(anomalies) {}

  ParseState feed(Side side, std::span<const std::uint8_t> bytes);
  // `missing` bytes were lost on `side`; the parser resynchronises when it can
  // (or stops) and marks the summary's gap flag. A gap that ends where a
  // record begins (a lost segment usually does: stacks write whole records)
  // is read on from there: a client's Certificate in the segment after a lost
  // one is still seen. A stream that starts with a gap (its first segment
  // lost) is read the same way.
  ParseState gap(Side side, std::uint64_t missing);
  // The connection was picked up in the middle of its handshake (no SYN, its
  // first bytes a handshake record: midHandshakeSender()): `side`'s stream
  // starts after bytes that were never captured. Read as after a gap (the
  // side's gap flag set, reading on from the next record header), without
  // counting tcp_gap_in_handshake: no byte the reassembly followed was lost.
  void startAfterUncaptured(Side side);

  [[nodiscard]] const TlsSummary& summary() const { return summary_; }
  // What the connection holds: both sides' partial records and handshake
  // messages, and the bodies of the messages read into the summary.
  [[nodiscard]] std::size_t heldBytes() const;

  // True when the first bytes of a stream look like a TLS (or SSLv2-compatible)
  // ClientHello: content detection works on any port.
  static bool looksLikeClientHello(std::span<const std::uint8_t> first_bytes);
  // True when they look like a TLS record from a server (handshake/alert/CCS
  // header with a plausible version), for flows picked up without the SYN.
  static bool looksLikeServerRecord(std::span<const std::uint8_t> first_bytes);
  // True when the first bytes after a client's lost first segment look like
  // the rest of its handshake (a record of Certificate or ClientKeyExchange,
  // or its ChangeCipherSpec), or `server_first` (the server's first bytes)
  // starts with a ServerHello.
  static bool looksLikeHandshakeAfterLostHello(std::span<const std::uint8_t> client_bytes,
                                               std::span<const std::uint8_t> server_first);
  // True when a server's first bytes are a handshake record beginning with a ServerHello.
  static bool startsWithServerHello(std::span<const std::uint8_t> server_first);

  // Who sent a stream whose first bytes (those of a flow picked up without its
  // SYN) are handshake records from the middle of a handshake, as far as
  // they tell: record type 22, version 3.1-3.4, a possible length, its first
  // message one sent in clear after the ClientHello (ServerHello, Certificate,
  // ServerKeyExchange, CertificateRequest, ServerHelloDone, CertificateVerify,
  // ClientKeyExchange, NewSessionTicket) whose length fits the record's (only
  // a Certificate or CertificateRequest spans records). A Certificate, which
  // both sides send, is told by the messages after it in the bytes given.
  enum class MidHandshakeSender : std::uint8_t { None, Client, Server, Either };
  static MidHandshakeSender midHandshakeSender(std::span<const std::uint8_t> first_bytes);

 private:
  // Where one direction's byte stream stands: record framing, the clear-text
  // bytes of the current record and of the handshake message being assembled.
  struct Direction {
    std::array<std::uint8_t, 5> header{};  // record header being assembled
    std::size_t header_len = 0;
    std::size_t header_need = 5;           // 2 for an SSLv2-compatible first record
    bool sslv2_record = false;
    bool in_payload = false;
    std::uint8_t content_type = 0;
    std::uint16_t record_version = 0;
    std::size_t payload_left = 0;
    bool keep_payload = false;             // payload parsed (clear text) rather than skipped
    bool record_damaged = false;           // a gap fell inside the kept payload
    std::vector<std::uint8_t> record;      // <= TLS_MAX_RECORD
    std::vector<std::uint8_t> handshake;   // partial handshake message(s), <= 4 + TLS_MAX_HANDSHAKE_MESSAGE + a record
    std::uint16_t first_record_version = 0;
    bool first_byte_seen = false;
    bool encrypted = false;                // this side sent ChangeCipherSpec: its records are opaque
    bool finished_seen = false;            // first encrypted handshake record (Finished) went by
    bool handshakes_again = false;         // ... and another after it: this side renegotiates, or answers one
    bool handshake_lost = false;           // a gap cut a handshake message: walk records only
    bool resync = false;                   // a gap ended between records: the next header must look right
    bool message_check = false;            // ... and its payload begin like a message (resyncAt)
    bool stopped = false;                  // nothing more will be read from this side
    std::uint64_t watched = 0;             // bytes walked after the handshake completed
  };

  Direction& direction(Side side) { return side == Side::Client ? client_ : server_; }
  std::size_t consume(Side side, Direction& d, std::span<const std::uint8_t> bytes);
  void startRecord(Side side, Direction& d);
  // After a gap: whether the record header just read is one (else this side
  // stops), and whether its payload begins a handshake message we can read.
  bool resyncAt(Direction& d, std::span<const std::uint8_t> header);
  // Bytes were lost on `d` past its current record (or before its first):
  // drop the record's state; the next header is checked by resyncAt().
  static void resyncAfterLoss(Direction& d);
  // `whole`: the record's payload where it lies (consume() saw all of it at
  // once); otherwise it was collected in d.record.
  void finishRecord(Side side, Direction& d, const std::span<const std::uint8_t>* whole = nullptr);
  void advancePayload(Side side, Direction& d, std::size_t n, bool missing = false,
                      const std::span<const std::uint8_t>* whole = nullptr);
  void onHandshakeBytes(Side side, Direction& d, std::span<const std::uint8_t> bytes);
  void onHandshakeMessage(Side side, std::uint8_t type, std::span<const std::uint8_t> body);
  void onAlert(Side side, std::span<const std::uint8_t> payload);
  void onChangeCipherSpec(Side side, Direction& d);
  [[nodiscard]] bool isCompatibilityCcs() const;
  void onOpaqueRecord(Direction& d);
  void addAlert(const TlsAlert& alert);
  void account(Side side, Direction& d, std::size_t n, bool during_handshake);
  void fail(AnomalyId anomaly);
  [[nodiscard]] ParseState state() const;

  AnomalyCounters& anomalies_;
  TlsSummary summary_;
  Direction client_;
  Direction server_;
  bool server_full_handshake_ = false;   // Certificate/ServerKeyExchange/CertificateRequest/ServerHelloDone seen
  bool client_key_exchange_ = false;     // the client's ClientKeyExchange went by in clear (TLS <= 1.2)
  bool done_ = false;                    // nothing more to learn (TLS 1.3, renegotiation, watch over)
  bool error_ = false;
  std::size_t parsed_bytes_ = 0;         // handshake message bodies read (what the summary keeps is less)
};

}  // namespace provaudit::analyze
