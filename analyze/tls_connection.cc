// TLS record layer (RFC 5246 §6.2, RFC 8446 §5.1) for both directions of one
// connection. Records are walked header by header; payloads are kept only while
// they are clear text we parse (handshake, alert, ChangeCipherSpec before the
// side's ChangeCipherSpec), everything else is skipped without buffering.
// Handshake messages are reassembled across records (RFC 5246 §6.2.1) and
// handed to the body parsers of tls_handshake.cc.
#include "analyze/tls_connection.h"

#include <algorithm>
#include <utility>

#include "analyze/tls_handshake.h"
#include "common/byte_reader.h"

namespace provaudit::analyze {
namespace {

constexpr std::size_t TLS_RECORD_HEADER = 5;   // type(1) version(2) length(2)
constexpr std::size_t SSLV2_RECORD_HEADER = 2;  // RFC 5246 Appendix E.2: 2-byte length, high bit set
constexpr std::size_t TLS_HANDSHAKE_HEADER = 4; // msg_type(1) length(3)
constexpr std::size_t SSLV2_MIN_CLIENT_HELLO = 9;  // msg_type + version + three 2-byte lengths
// Alerts kept per connection; more (a peer spraying alerts) are counted, not stored.
constexpr std::size_t TLS_MAX_ALERTS = 64;
constexpr std::uint8_t ALERT_LEVEL_WARNING = 1;
constexpr std::uint8_t ALERT_NO_CERTIFICATE = 41;  // SSL 3.0 (RFC 6101 §5.4.2)
constexpr std::uint8_t CHANGE_CIPHER_SPEC_VALUE = 1;
constexpr std::uint8_t TLS_MAJOR_VERSION = 3;
constexpr std::uint8_t TLS_MAX_MINOR_VERSION = 4;

// SSL 3.0 (3,0) to TLS 1.3's legacy record version (3,3); (3,4) tolerated.
bool isRecordVersion(std::uint8_t major, std::uint8_t minor) {
  return major == TLS_MAJOR_VERSION && minor <= TLS_MAX_MINOR_VERSION;
}

std::size_t u16At(std::span<const std::uint8_t> b, std::size_t at) {
  return (static_cast<std::size_t>(b[at]) << 8) | b[at + 1];
}

// A handshake message `side` sends in clear, by its type.
bool sentInClearBy(Side side, std::uint8_t type) {
  switch (static_cast<HandshakeType>(type)) {
    case HandshakeType::ClientHello:
    case HandshakeType::CertificateVerify:
    case HandshakeType::ClientKeyExchange:
      return side == Side::Client;
    case HandshakeType::HelloRequest:
    case HandshakeType::ServerHello:
    case HandshakeType::NewSessionTicket:
    case HandshakeType::ServerKeyExchange:
    case HandshakeType::CertificateRequest:
    case HandshakeType::ServerHelloDone:
      return side == Side::Server;
    case HandshakeType::Certificate:
      return true;
    default:
      return false;
  }
}

// A TLS record header (not SSLv2) that could begin a record of a stream.
bool isRecordHeader(std::span<const std::uint8_t> b) {
  if (b.size() < TLS_RECORD_HEADER || !isContentType(b[0]) || !isRecordVersion(b[1], b[2])) return false;
  const std::size_t length = u16At(b, 3);
  return length != 0 && length <= TLS_MAX_RECORD;
}

}  // namespace

ParseState TlsConnection::feed(Side side, std::span<const std::uint8_t> bytes) {
  Direction& d = direction(side);
  while (!bytes.empty() && !d.stopped && state() == ParseState::NeedMore) {
    bytes = bytes.subspan(consume(side, d, bytes));
  }
  return state();
}

// One step: completes (part of) a record header or takes (part of) a payload.
// Always consumes at least one byte.
std::size_t TlsConnection::consume(Side side, Direction& d, std::span<const std::uint8_t> bytes) {
  if (d.in_payload) {
    const std::size_t n = std::min(d.payload_left, bytes.size());
    if (d.keep_payload && d.record.empty() && n == d.payload_left) {
      // The whole payload is here (most records): read where it lies.
      const std::span<const std::uint8_t> whole = bytes.first(n);
      advancePayload(side, d, n, false, &whole);
      return n;
    }
    if (d.keep_payload) d.record.insert(d.record.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    advancePayload(side, d, n);
    return n;
  }
  if (!d.first_byte_seen) {
    d.first_byte_seen = true;
    // RFC 5246 Appendix E.2: a client may open with an SSLv2-compatible
    // CLIENT-HELLO, whose 2-byte record header has the high bit set (a TLS
    // content type never does).
    if (side == Side::Client && (bytes[0] & 0x80) != 0) {
      d.sslv2_record = true;
      d.header_need = SSLV2_RECORD_HEADER;
    }
  }
  const bool during_handshake = !summary_.handshake_complete;
  const std::size_t n = std::min(d.header_need - d.header_len, bytes.size());
  std::copy_n(bytes.begin(), n, d.header.begin() + static_cast<std::ptrdiff_t>(d.header_len));
  d.header_len += n;
  if (d.header_len == d.header_need) startRecord(side, d);
  account(side, d, n, during_handshake);
  return n;
}

void TlsConnection::startRecord(Side side, Direction& d) {
  const std::span<const std::uint8_t> h(d.header.data(), d.header_len);
  d.header_len = 0;
  std::size_t length = 0;
  if (d.sslv2_record) {
    length = u16At(h, 0) & 0x7fff;
    d.content_type = static_cast<std::uint8_t>(ContentType::Handshake);
    d.record_version = 0;  // the SSLv2 header carries no version
  } else {
    d.content_type = h[0];
    d.record_version = static_cast<std::uint16_t>(u16At(h, 1));
    length = u16At(h, 3);
    if (d.resync && !resyncAt(d, h)) return;
    // The caller only builds a connection on something that looked like TLS;
    // an impossible header later means the stream is not (or no longer) TLS.
    if (!isContentType(h[0]) || !isRecordVersion(h[1], h[2])) {
      fail(PA_ANOMALY("tls_record_malformed"));
      return;
    }
  }
  // RFC 5246 §6.2.3: no record (even ciphertext) exceeds 2^14 + 2048 bytes.
  if (length > TLS_MAX_RECORD) {
    fail(PA_ANOMALY("tls_record_too_large"));
    return;
  }
  if (d.first_record_version == 0) d.first_record_version = d.record_version;
  d.in_payload = true;
  d.payload_left = length;
  d.record.clear();
  d.record_damaged = false;
  const auto type = static_cast<ContentType>(d.content_type);
  d.keep_payload = !d.encrypted && (type == ContentType::Handshake || type == ContentType::Alert ||
                                    type == ContentType::ChangeCipherSpec);
  if (!d.keep_payload) onOpaqueRecord(d);
  if (d.payload_left == 0) finishRecord(side, d);
}

void TlsConnection::advancePayload(Side side, Direction& d, std::size_t n, bool missing,
                                   const std::span<const std::uint8_t>* whole) {
  const bool during_handshake =
      !summary_.handshake_complete && d.content_type != static_cast<std::uint8_t>(ContentType::ApplicationData);
  d.payload_left -= n;
  if (d.payload_left == 0) finishRecord(side, d, whole);
  // Bytes lost in a gap were never consumed, but they did go by on the wire.
  if (!(missing && during_handshake)) account(side, d, n, during_handshake);
}

void TlsConnection::finishRecord(Side side, Direction& d, const std::span<const std::uint8_t>* whole) {
  d.in_payload = false;
  const bool sslv2 = d.sslv2_record;
  d.sslv2_record = false;
  d.header_need = TLS_RECORD_HEADER;
  if (!d.keep_payload) return;
  const std::span<const std::uint8_t> payload = whole != nullptr ? *whole : std::span<const std::uint8_t>(d.record);
  if (sslv2) {
    if (d.record_damaged) {
      d.handshake_lost = true;
    } else if (!summary_.client_hello) {
      summary_.client_hello = parseSslv2ClientHello(payload, anomalies_);
    }
  } else {
    switch (static_cast<ContentType>(d.content_type)) {
      case ContentType::Handshake:
        if (d.record_damaged) {
          // A gap cut this record: message boundaries are lost on this side.
          d.handshake_lost = true;
          d.handshake.clear();
        } else {
          onHandshakeBytes(side, d, payload);
        }
        break;
      case ContentType::Alert:
        if (!d.record_damaged) onAlert(side, payload);
        break;
      case ContentType::ChangeCipherSpec:
        if (!d.record_damaged && (payload.size() != 1 || payload[0] != CHANGE_CIPHER_SPEC_VALUE)) {
          anomalies_.inc(PA_ANOMALY("tls_change_cipher_spec_malformed"));
        }
        onChangeCipherSpec(side, d);  // the header alone says what it is
        break;
      default:
        break;
    }
  }
  d.record.clear();
}

// Records whose payload is not read: application data, heartbeats, and every
// record of a side after its ChangeCipherSpec. The header alone tells enough.
void TlsConnection::onOpaqueRecord(Direction& d) {
  switch (static_cast<ContentType>(d.content_type)) {
    case ContentType::Alert:
      addAlert(TlsAlert{0, 0, true});
      break;
    case ContentType::Handshake:
      // The first encrypted handshake record of a side is its Finished. A later
      // one, once the handshake is over (data may have flowed or not yet), is
      // a HelloRequest or a new ClientHello, or the answer to one. Both sides
      // handshaking again is a renegotiation, whose certificates travel
      // encrypted (Apache per-directory SSLVerifyClient does this); one side
      // alone was refused (a no_renegotiation alert: OpenSSL 3 refuses a
      // client's by default), and nothing was asked.
      if (!d.finished_seen) {
        d.finished_seen = true;
      } else if (summary_.handshake_complete) {
        d.handshakes_again = true;
        if (client_.handshakes_again && server_.handshakes_again) {
          summary_.renegotiation = true;
          done_ = true;
        }
      }
      break;
    default:
      break;
  }
}

bool TlsConnection::resyncAt(Direction& d, std::span<const std::uint8_t> header) {
  d.resync = false;
  if (!isRecordHeader(header)) {
    // The lost bytes did not end where a record begins: nothing more can be
    // read on this side.
    d.stopped = true;
    return false;
  }
  d.handshake.clear();
  d.handshake_lost = false;
  // Handshake messages are not interleaved with other records (RFC 5246
  // §6.2.1): only a handshake record may continue a message cut by the gap.
  d.message_check = header[0] == static_cast<std::uint8_t>(ContentType::Handshake);
  return true;
}

void TlsConnection::onHandshakeBytes(Side side, Direction& d, std::span<const std::uint8_t> bytes) {
  if (std::exchange(d.message_check, false) && d.handshake.empty()) {
    // The first handshake record after a gap may continue a message that
    // began in the lost bytes: read it only if it begins like a message
    // this side sends, of a possible length; otherwise walk records only.
    const bool plausible = bytes.size() >= TLS_HANDSHAKE_HEADER && sentInClearBy(side, bytes[0]) &&
                           ((std::size_t{bytes[1]} << 16) | u16At(bytes, 2)) <= TLS_MAX_HANDSHAKE_MESSAGE;
    if (!plausible) d.handshake_lost = true;
  }
  if (d.handshake_lost) return;
  // With nothing pending from earlier records, the messages are read where
  // they lie, and only the start of an unfinished one is kept.
  const bool in_place = d.handshake.empty();
  if (!in_place) d.handshake.insert(d.handshake.end(), bytes.begin(), bytes.end());
  const std::span<const std::uint8_t> data = in_place ? bytes : std::span<const std::uint8_t>(d.handshake);
  ByteReader pending(data);
  while (!error_ && !done_) {
    ByteReader message(pending.rest());
    std::uint8_t type = 0;
    std::uint32_t length = 0;
    if (!message.readU8(type) || !message.readU24(length)) break;
    if (length > TLS_MAX_HANDSHAKE_MESSAGE) {
      fail(PA_ANOMALY("tls_handshake_too_large"));
      return;
    }
    Bytes body;
    if (!message.readBytes(length, body)) break;  // the rest comes in a later record
    onHandshakeMessage(side, type, body);
    pending.skip(TLS_HANDSHAKE_HEADER + length);
  }
  if (error_) return;
  if (in_place) {
    d.handshake.assign(data.begin() + static_cast<std::ptrdiff_t>(pending.offset()), data.end());
  } else {
    d.handshake.erase(d.handshake.begin(), d.handshake.begin() + static_cast<std::ptrdiff_t>(pending.offset()));
  }
}

std::size_t TlsConnection::heldBytes() const {
  std::size_t n = parsed_bytes_ + summary_.alerts.capacity() * sizeof(TlsAlert);
  for (const Direction* d : {&client_, &server_}) n += d->record.capacity() + d->handshake.capacity();
  return n;
}

void TlsConnection::onHandshakeMessage(Side side, std::uint8_t type, std::span<const std::uint8_t> body) {
  parsed_bytes_ += body.size();
  const auto expect = [&](Side from) {
    if (side == from) return true;
    anomalies_.inc(PA_ANOMALY("tls_handshake_wrong_direction"));
    return false;
  };
  switch (static_cast<HandshakeType>(type)) {
    case HandshakeType::ClientHello:
      // A second ClientHello (after a HelloRetryRequest) is ignored: the
      // fingerprints describe the client's opening offer.
      if (expect(Side::Client) && !summary_.client_hello) {
        summary_.client_hello = parseClientHello(body, anomalies_);
        summary_.client_hello->record_version = client_.first_record_version;
      }
      break;
    case HandshakeType::ServerHello: {
      if (!expect(Side::Server)) break;
      summary_.server_hello = parseServerHello(body, anomalies_);
      const ServerHello& sh = *summary_.server_hello;
      if (isTls13(sh.selected_version)) {
        summary_.tls13 = true;
        // RFC 8446 §4.1.4: after a HelloRetryRequest the client sends a new
        // ClientHello in clear; keep reading.
        if (sh.hello_retry_request) break;
        // RFC 8446 §2.2: the server accepted a PSK offered by the client.
        const bool psk_selected = std::find(sh.extensions.begin(), sh.extensions.end(), TLS_EXT_PRE_SHARED_KEY) !=
                                  sh.extensions.end();
        if (psk_selected && summary_.client_hello && summary_.client_hello->has_pre_shared_key) {
          summary_.resumed = true;
        }
        // Everything after the ServerHello is encrypted (RFC 8446 §2).
        summary_.handshake_complete = true;
        done_ = true;
      } else if (!sh.session_id.empty() && summary_.client_hello && sh.session_id == summary_.client_hello->session_id) {
        // RFC 5246 §7.4.1.3: echoing the client's session id resumes that session.
        // (In TLS 1.3 the echo is middlebox compatibility only, hence the else.)
        summary_.resumed = true;
      }
      break;
    }
    case HandshakeType::Certificate: {
      if (side == Side::Server) server_full_handshake_ = true;
      std::optional<std::vector<Der>>& target =
          side == Side::Client ? summary_.client_certificates : summary_.server_certificates;
      if (target) break;  // one Certificate per side in a clear handshake
      // RFC 7250 §4.2: the ServerHello said what this side's Certificate
      // carries; a raw public key is one SubjectPublicKeyInfo, not a list.
      // (Without the ServerHello, X.509 is the only guess.)
      const std::uint8_t cert_type = !summary_.server_hello    ? TLS_CERT_TYPE_X509
                                     : side == Side::Client ? summary_.server_hello->client_certificate_type
                                                            : summary_.server_hello->server_certificate_type;
      const bool raw = cert_type == TLS_CERT_TYPE_RAW_PUBLIC_KEY;
      target = raw ? parseRawPublicKeyCertificate(body, anomalies_) : parseCertificateList(body, anomalies_);
      (side == Side::Client ? summary_.client_raw_public_key : summary_.server_raw_public_key) = raw;
      break;
    }
    case HandshakeType::CertificateRequest:
      server_full_handshake_ = true;
      if (expect(Side::Server) && !summary_.certificate_request) {
        std::optional<std::uint16_t> version;
        if (summary_.server_hello) version = summary_.server_hello->selected_version;
        summary_.certificate_request = parseCertificateRequest(body, version, anomalies_);
      }
      break;
    case HandshakeType::ServerHelloDone:
    case HandshakeType::ServerKeyExchange:
      server_full_handshake_ = true;
      expect(Side::Server);
      break;
    case HandshakeType::NewSessionTicket:
      // RFC 5077 §3.3: the ticket a later ClientHello offers to resume this session.
      if (expect(Side::Server)) summary_.new_session_ticket = parseNewSessionTicket(body, anomalies_).ticket;
      break;
    case HandshakeType::HelloRequest:
      expect(Side::Server);
      break;
    case HandshakeType::ClientKeyExchange:
      if (expect(Side::Client)) client_key_exchange_ = true;
      break;
    case HandshakeType::CertificateVerify:
      expect(Side::Client);
      break;
    default:
      break;
  }
}

void TlsConnection::onAlert(Side side, std::span<const std::uint8_t> payload) {
  ByteReader r(payload);
  TlsAlert alert;
  while (r.remaining() >= 2 && r.readU8(alert.level) && r.readU8(alert.description)) {
    // SSL 3.0 (RFC 6101 §5.4.2): a client without a certificate answers a
    // CertificateRequest with a no_certificate warning instead of a message.
    if (side == Side::Client && alert.level == ALERT_LEVEL_WARNING && alert.description == ALERT_NO_CERTIFICATE) {
      summary_.no_certificate_alert = true;
    }
    addAlert(alert);
  }
  if (!r.empty()) anomalies_.inc(PA_ANOMALY("tls_alert_malformed"));
}

void TlsConnection::addAlert(const TlsAlert& alert) {
  if (summary_.alerts.size() < TLS_MAX_ALERTS) {
    summary_.alerts.push_back(alert);
  } else {
    anomalies_.inc(PA_ANOMALY("tls_too_many_alerts"));
  }
}

// RFC 8446 §5 and Appendix D.4: a TLS 1.3 peer may send a ChangeCipherSpec
// for middlebox compatibility before the ServerHello that ends the clear part
// (a client's early one, or around a HelloRetryRequest). It switches nothing.
bool TlsConnection::isCompatibilityCcs() const {
  // A ClientKeyExchange in clear is TLS 1.2 or older, whatever the client
  // offered: so is a ChangeCipherSpec after it, even when the ServerHello
  // that said so went missing.
  if (client_key_exchange_) return false;
  const auto& ch = summary_.client_hello;
  const bool offers_tls13 = ch && std::any_of(ch->supported_versions.begin(), ch->supported_versions.end(), isTls13);
  const auto& sh = summary_.server_hello;
  return offers_tls13 && (!sh || sh->hello_retry_request);
}

void TlsConnection::onChangeCipherSpec(Side side, Direction& d) {
  if (isCompatibilityCcs()) return;
  d.encrypted = true;
  if (!d.handshake.empty()) {
    anomalies_.inc(PA_ANOMALY("tls_handshake_truncated"));  // a message never completed
    d.handshake.clear();
  }
  if (side == Side::Client) {
    summary_.client_ccs = true;
  } else {
    summary_.server_ccs = true;
    // RFC 5246 §7.3: in an abbreviated handshake the server goes straight from
    // ServerHello to ChangeCipherSpec, without a Certificate.
    // Not when bytes went missing before it: they may have held the Certificate.
    if (summary_.server_hello && !server_full_handshake_ && !d.handshake_lost && !summary_.server_gap) {
      summary_.resumed = true;
    }
  }
  if (summary_.client_ccs && summary_.server_ccs) summary_.handshake_complete = true;
}

void TlsConnection::account(Side side, Direction& d, std::size_t n, bool during_handshake) {
  if (during_handshake) {
    (side == Side::Client ? summary_.client_bytes : summary_.server_bytes) += n;
    return;
  }
  d.watched += n;
  if (d.watched < TLS_RENEGOTIATION_WATCH_BYTES) return;
  d.stopped = true;
  // A renegotiating server sends its HelloRequest right after the first
  // request; once it has sent this much without one, nothing more will come.
  if (side == Side::Server) done_ = true;
}

void TlsConnection::fail(AnomalyId anomaly) {
  anomalies_.inc(anomaly);
  error_ = true;
}

ParseState TlsConnection::state() const {
  if (error_) return ParseState::Error;
  if (done_ || (client_.stopped && server_.stopped)) return ParseState::Done;
  return ParseState::NeedMore;
}

ParseState TlsConnection::gap(Side side, std::uint64_t missing) {
  Direction& d = direction(side);
  if (missing == 0 || d.stopped || state() != ParseState::NeedMore) return state();
  const bool during_handshake = !summary_.handshake_complete;
  if (during_handshake) {
    (side == Side::Client ? summary_.client_gap : summary_.server_gap) = true;
    anomalies_.inc(PA_ANOMALY("tcp_gap_in_handshake"));
  }
  // A gap inside the current record's payload keeps the record framing: skip
  // the missing bytes and drop what the record held.
  if (d.in_payload && missing <= d.payload_left) {
    if (d.keep_payload) d.record_damaged = true;
    advancePayload(side, d, static_cast<std::size_t>(missing), true);
    return state();
  }
  // Otherwise the lost bytes reach past the record (or the stream starts
  // with them): the next record header is where they end if the sender's
  // segment ended with a record, which resyncAt() checks on the next bytes
  // (a message they cut is lost; Wireshark reads on the same way).
  resyncAfterLoss(d);
  return state();
}

void TlsConnection::startAfterUncaptured(Side side) {
  Direction& d = direction(side);
  if (d.stopped || state() != ParseState::NeedMore) return;
  (side == Side::Client ? summary_.client_gap : summary_.server_gap) = true;
  resyncAfterLoss(d);
}

void TlsConnection::resyncAfterLoss(Direction& d) {
  if (d.in_payload) {
    if (d.keep_payload && d.content_type == static_cast<std::uint8_t>(ContentType::Handshake)) d.handshake_lost = true;
    d.in_payload = false;
    d.payload_left = 0;
  }
  d.record.clear();
  d.sslv2_record = false;
  d.header_len = 0;
  d.header_need = TLS_RECORD_HEADER;
  d.first_byte_seen = true;
  d.resync = true;
}

bool TlsConnection::looksLikeClientHello(std::span<const std::uint8_t> b) {
  if (b.size() < 3) return false;
  if (b[0] == static_cast<std::uint8_t>(ContentType::Handshake)) {
    if (!isRecordVersion(b[1], b[2])) return false;
    if (b.size() >= TLS_RECORD_HEADER) {
      const std::size_t length = u16At(b, 3);
      if (length == 0 || length > TLS_MAX_RECORD) return false;
    }
    return b.size() <= TLS_RECORD_HEADER || b[5] == static_cast<std::uint8_t>(HandshakeType::ClientHello);
  }
  // RFC 5246 Appendix E.2: length with the high bit, msg_type 1, version 3.x.
  if ((b[0] & 0x80) == 0 || b.size() < 4) return false;
  const std::size_t length = u16At(b, 0) & 0x7fff;
  return length >= SSLV2_MIN_CLIENT_HELLO && length <= TLS_MAX_RECORD &&
         b[2] == static_cast<std::uint8_t>(HandshakeType::ClientHello) && b[3] == TLS_MAJOR_VERSION;
}

bool TlsConnection::startsWithServerHello(std::span<const std::uint8_t> b) {
  return isRecordHeader(b) && b.size() > TLS_RECORD_HEADER && b[0] == static_cast<std::uint8_t>(ContentType::Handshake) &&
         b[TLS_RECORD_HEADER] == static_cast<std::uint8_t>(HandshakeType::ServerHello);
}

bool TlsConnection::looksLikeHandshakeAfterLostHello(std::span<const std::uint8_t> client,
                                                      std::span<const std::uint8_t> server_first) {
  if (startsWithServerHello(server_first)) return true;
  if (!isRecordHeader(client) || client.size() <= TLS_RECORD_HEADER) return false;
  const std::uint8_t first = client[TLS_RECORD_HEADER];
  switch (static_cast<ContentType>(client[0])) {
    case ContentType::Handshake:
      return first == static_cast<std::uint8_t>(HandshakeType::Certificate) ||
             first == static_cast<std::uint8_t>(HandshakeType::ClientKeyExchange);
    case ContentType::ChangeCipherSpec:
      return u16At(client, 3) == 1 && first == CHANGE_CIPHER_SPEC_VALUE;
    default:
      return false;
  }
}

TlsConnection::MidHandshakeSender TlsConnection::midHandshakeSender(std::span<const std::uint8_t> b) {
  // Records walked at most (a Certificate record, then the one that tells
  // who sent it): the check stays a few byte reads for any flow.
  constexpr int RECORDS_WALKED = 4;
  constexpr std::uint8_t MIN_MINOR_VERSION = 1;                 // TLS 1.0 (0x0301)
  constexpr std::size_t SERVER_HELLO_MIN = 2 + 32 + 1 + 2 + 1;  // version, random, session_id<0>, suite, compression
  constexpr std::size_t CERTIFICATE_LIST_LENGTH = 3;
  bool certificate_seen = false;  // a whole Certificate message, which both sides send
  for (int i = 0; i < RECORDS_WALKED && b.size() >= TLS_RECORD_HEADER + TLS_HANDSHAKE_HEADER; ++i) {
    if (b[0] != static_cast<std::uint8_t>(ContentType::Handshake) || b[1] != TLS_MAJOR_VERSION ||
        b[2] < MIN_MINOR_VERSION || b[2] > TLS_MAX_MINOR_VERSION) {
      break;
    }
    const std::size_t record_length = u16At(b, 3);
    if (record_length < TLS_HANDSHAKE_HEADER || record_length > TLS_MAX_RECORD) break;
    std::span<const std::uint8_t> payload = b.subspan(TLS_RECORD_HEADER);
    std::size_t left = record_length;  // bytes of this record's payload from `payload` on
    // The record's messages, as far as the bytes given show them.
    while (left >= TLS_HANDSHAKE_HEADER && payload.size() >= TLS_HANDSHAKE_HEADER) {
      const auto type = static_cast<HandshakeType>(payload[0]);
      const std::size_t length = (std::size_t{payload[1]} << 16) | u16At(payload, 2);
      // Only a certificate message (a chain, a list of CA names) spans records.
      const bool spans = TLS_HANDSHAKE_HEADER + length > left;
      const bool fits = !spans && length <= TLS_MAX_HANDSHAKE_MESSAGE;
      switch (type) {
        case HandshakeType::ClientKeyExchange:
        case HandshakeType::CertificateVerify:
          return fits ? MidHandshakeSender::Client : MidHandshakeSender::None;
        case HandshakeType::ServerHello:
          return fits && length >= SERVER_HELLO_MIN ? MidHandshakeSender::Server : MidHandshakeSender::None;
        case HandshakeType::ServerHelloDone:
          return length == 0 ? MidHandshakeSender::Server : MidHandshakeSender::None;
        case HandshakeType::ServerKeyExchange:
        case HandshakeType::NewSessionTicket:
          return fits ? MidHandshakeSender::Server : MidHandshakeSender::None;
        case HandshakeType::CertificateRequest:
          return length <= TLS_MAX_HANDSHAKE_MESSAGE ? MidHandshakeSender::Server : MidHandshakeSender::None;
        case HandshakeType::Certificate: {
          // RFC 5246 §7.4.2: the body is the certificate_list's 3-byte length and the list.
          const bool list_fits =
              length >= CERTIFICATE_LIST_LENGTH &&
              (payload.size() < TLS_HANDSHAKE_HEADER + CERTIFICATE_LIST_LENGTH ||
               ((std::size_t{payload[4]} << 16) | u16At(payload, 5)) + CERTIFICATE_LIST_LENGTH == length);
          if (length > TLS_MAX_HANDSHAKE_MESSAGE || !list_fits) return MidHandshakeSender::None;
          if (spans) return MidHandshakeSender::Either;
          certificate_seen = true;
          left -= TLS_HANDSHAKE_HEADER + length;
          payload = payload.subspan(std::min(payload.size(), TLS_HANDSHAKE_HEADER + length));
          continue;
        }
        default:
          // After a whole Certificate: something else than this check knows.
          return certificate_seen ? MidHandshakeSender::Either : MidHandshakeSender::None;
      }
    }
    // A message header cut by its record is no handshake's.
    if (left != 0 && left < TLS_HANDSHAKE_HEADER) return MidHandshakeSender::None;
    if (b.size() < TLS_RECORD_HEADER + record_length) break;  // the next record is not in these bytes
    b = b.subspan(TLS_RECORD_HEADER + record_length);
  }
  return certificate_seen ? MidHandshakeSender::Either : MidHandshakeSender::None;
}

bool TlsConnection::looksLikeServerRecord(std::span<const std::uint8_t> b) {
  if (b.size() < 3) return false;
  const std::uint8_t type = b[0];
  if (type != static_cast<std::uint8_t>(ContentType::Handshake) && type != static_cast<std::uint8_t>(ContentType::Alert) &&
      type != static_cast<std::uint8_t>(ContentType::ChangeCipherSpec)) {
    return false;
  }
  if (!isRecordVersion(b[1], b[2])) return false;
  if (b.size() >= TLS_RECORD_HEADER) {
    const std::size_t length = u16At(b, 3);
    if (length == 0 || length > TLS_MAX_RECORD) return false;
  }
  if (type != static_cast<std::uint8_t>(ContentType::Handshake) || b.size() <= TLS_RECORD_HEADER) return true;
  switch (static_cast<HandshakeType>(b[5])) {
    case HandshakeType::HelloRequest:
    case HandshakeType::ServerHello:
    case HandshakeType::NewSessionTicket:
    case HandshakeType::Certificate:
    case HandshakeType::ServerKeyExchange:
    case HandshakeType::CertificateRequest:
    case HandshakeType::ServerHelloDone:
      return true;
    default:
      return false;
  }
}

}  // namespace provaudit::analyze
