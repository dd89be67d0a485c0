#include "analyze/flow_analyzer.h"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "analyze/digest.h"
#include "analyze/http2.h"
#include "analyze/http_request.h"
#include "analyze/tls_connection.h"
#include "analyze/tls_decrypt.h"
#include "analyze/tls_handshake.h"
#include "analyze/tls_null_records.h"
#include "common/text.h"

namespace provaudit::analyze {
namespace {

// Tickets are opaque and up to 64 KiB: observations keep their SHA-256, enough
// to match the ticket a server issued with the one a client offers later.
std::string ticketSha256(const std::vector<std::uint8_t>& ticket) {
  if (ticket.empty()) return {};
  return digestHex(DigestAlgorithm::Sha256, ticket);
}

constexpr std::uint16_t EXT_POST_HANDSHAKE_AUTH = 49;  // RFC 8446 §4.2.6

bool offersPostHandshakeAuth(const ClientHello& ch) {
  return std::find(ch.extensions.begin(), ch.extensions.end(), EXT_POST_HANDSHAKE_AUTH) != ch.extensions.end();
}

// The requests of one client byte stream, plain or decrypted: HTTP/1.x, or
// HTTP/2 when the stream opens with its connection preface (RFC 9113 §3.4:
// with prior knowledge in clear, after ALPN h2 inside TLS).
class ClientRequests {
 public:
  using State = HttpRequestParser::State;
  explicit ClientRequests(AnomalyCounters& anomalies) : anomalies_(anomalies) {}

  State feed(std::span<const std::uint8_t> bytes, std::vector<HttpRequest>& out) {
    if (!h1_ && !h2_) {
      // Enough of the first bytes to tell the preface from a request line;
      // only a short start that may still be the preface is kept for later.
      if (first_.empty() && (bytes.size() >= PREFACE_PROBE || !Http2RequestReader::looksLikePreface(bytes))) {
        return start(bytes, out);
      }
      first_.insert(first_.end(), bytes.begin(), bytes.end());
      if (first_.size() < PREFACE_PROBE && Http2RequestReader::looksLikePreface(first_)) return State::NeedMore;
      const std::vector<std::uint8_t> first = std::move(first_);
      first_.clear();
      return start(first, out);
    }
    if (h2_) return h2_->feed(bytes, out) == Http2RequestReader::State::Error ? State::Error : State::NeedMore;
    const State st = h1_->feed(bytes, out);
    if (!h1_->switchedToHttp2()) return st;
    // Upgraded (Upgrade: h2c, answered 101): the preface's first line was
    // read as a request line; HTTP/2 from it on, its state fresh.
    constexpr std::string_view preface_line = HTTP2_PREFACE.substr(0, HTTP2_PREFACE.find('\n') + 1);
    std::vector<std::uint8_t> rest(preface_line.begin(), preface_line.end());
    rest.insert(rest.end(), bytes.end() - static_cast<std::ptrdiff_t>(h1_->unconsumed()), bytes.end());
    body_bytes_before_ = h1_->bodyBytes();
    h1_.reset();
    h2_ = std::make_unique<Http2RequestReader>(anomalies_);
    return h2_->feed(rest, out) == Http2RequestReader::State::Error ? State::Error : State::NeedMore;
  }
  // The stream's first bytes tell HTTP/2 (its preface) from HTTP/1.x.
  State start(std::span<const std::uint8_t> first, std::vector<HttpRequest>& out) {
    if (Http2RequestReader::looksLikePreface(first)) {
      h2_ = std::make_unique<Http2RequestReader>(anomalies_);
    } else {
      h1_ = std::make_unique<HttpRequestParser>(anomalies_);
    }
    return feed(first, out);
  }
  void gap(std::uint64_t missing) {
    if (h2_) h2_->gap(missing);
    if (h1_) h1_->gap(missing);
    if (!h1_ && !h2_ && missing != 0) {
      // Lost before the stream said what it is: read on as HTTP/1.x, which resynchronises.
      first_.clear();
      h1_ = std::make_unique<HttpRequestParser>(anomalies_);
      h1_->gap(missing);
    }
  }
  void finish(std::vector<HttpRequest>& out) {
    if (h2_) h2_->finish();
    if (h1_) h1_->finish(out);
  }
  // After an HTTP/1.x CONNECT: the bytes of the last feed() that are the tunnel's.
  [[nodiscard]] std::size_t unconsumed() const { return h1_ ? h1_->unconsumed() : 0; }
  // The request opened a tunnel over the whole connection: an HTTP/1.x
  // CONNECT. (An HTTP/2 CONNECT tunnels in one stream's DATA frames.)
  [[nodiscard]] bool opensTunnel(const HttpRequest& last) const { return h1_ && last.method == "CONNECT"; }
  // Only grows: the HTTP/1.x bodies before an upgrade stay counted.
  [[nodiscard]] std::uint64_t bodyBytes() const {
    return body_bytes_before_ + (h2_ ? h2_->bodyBytes() : h1_ ? h1_->bodyBytes() : 0);
  }
  [[nodiscard]] std::size_t heldBytes() const {
    return first_.capacity() + (h1_ ? h1_->heldBytes() : 0) + (h2_ ? h2_->heldBytes() : 0);
  }

 private:
  // Bytes of the preface that tell it from any request line.
  static constexpr std::size_t PREFACE_PROBE = 6;
  AnomalyCounters& anomalies_;
  std::vector<std::uint8_t> first_;  // < PREFACE_PROBE bytes while undecided
  std::unique_ptr<HttpRequestParser> h1_;
  std::unique_ptr<Http2RequestReader> h2_;
  std::uint64_t body_bytes_before_ = 0;  // read by the HTTP/1.x parser before the stream switched
};

}  // namespace

CertPtr CertCache::get(const std::vector<std::uint8_t>& der, AnomalyCounters& anomalies) {
  const std::string_view bytes(reinterpret_cast<const char*>(der.data()), der.size());
  std::lock_guard lock(mu_);
  if (auto it = certs_.find(bytes); it != certs_.end()) return it->second;
  auto parsed = parseCertificate(der.data(), der.size());
  if (!parsed) {
    anomalies.inc(PA_ANOMALY("x509_unparseable_certificate"));
    return nullptr;
  }
  auto ptr = std::make_shared<const CertInfo>(std::move(*parsed));
  // The key views the entry's own copy of the DER: it lives as long as the entry.
  const std::string_view key(reinterpret_cast<const char*>(ptr->der.data()), ptr->der.size());
  const std::size_t cost = key.size() + std::max(CERT_CACHE_ENTRY_OVERHEAD, parsedBytes(*ptr));
  while (!order_.empty() && bytes_ + cost > max_bytes_) {
    // The map entry goes first: its value holds the DER its key views.
    const auto [oldest, oldest_cost] = order_.front();
    bytes_ -= oldest_cost;
    certs_.erase(oldest);
    order_.pop_front();
    ++evictions_;
  }
  certs_.emplace(key, ptr);
  order_.emplace_back(key, cost);
  bytes_ += cost;
  return ptr;
}

std::size_t CertCache::size() const {
  std::lock_guard lock(mu_);
  return certs_.size();
}

std::size_t CertCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::uint64_t CertCache::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

void FlowAnalyzerFactory::setSourceName(std::uint32_t source, std::string name) {
  // A file name is bytes: one that is not UTF-8 would make every JSON document
  // naming it invalid. Shown as device text is (\xNN).
  source_names_[source] = visibleUtf8(name);
}

std::string FlowAnalyzerFactory::nameText(const std::vector<std::uint8_t>& der) {
  const std::string_view key(reinterpret_cast<const char*>(der.data()), der.size());
  if (auto it = name_texts_.find(key); it != name_texts_.end()) return it->second;
  std::string text = distinguishedNameText(der.data(), der.size());
  if (name_texts_.size() < NAME_TEXT_CACHE_MAX) name_texts_.emplace(key, text);
  return text;
}

ClientFingerprints FlowAnalyzerFactory::fingerprints(const ClientHello& ch) {
  std::string key = fingerprintKey(ch);
  if (auto it = fingerprints_.find(key); it != fingerprints_.end()) return it->second;
  ClientFingerprints f = clientFingerprints(ch);
  if (fingerprints_.size() < FINGERPRINT_CACHE_MAX) fingerprints_.emplace(std::move(key), f);
  return f;
}

std::string FlowAnalyzerFactory::sourceName(std::uint32_t source) const {
  auto it = source_names_.find(source);
  return it == source_names_.end() ? std::string() : it->second;
}

class FlowAnalyzer : public StreamHandler {
 public:
  explicit FlowAnalyzer(FlowAnalyzerFactory& f) : f_(f) {}
  ~FlowAnalyzer() override = default;

  StreamVerdict onData(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes,
                       const PacketRef& pkt) override {
    if (tunnel_answer_ && side == Side::Server) return afterTunnelAnswer(flow, bytes, pkt);
    switch (mode_) {
      case Mode::Detect:
        return detect(flow, side, bytes, pkt);
      case Mode::Tls:
        return feedTls(flow, side, bytes, pkt);
      case Mode::Http:
        return feedHttp(flow, side, bytes, pkt);
      case Mode::Done:
        return StreamVerdict::Bypass;
    }
    return StreamVerdict::Bypass;
  }

  StreamVerdict onGap(const FlowInfo& flow, Side side, std::uint64_t missing, const PacketRef& pkt) override {
    switch (mode_) {
      case Mode::Tls: {
        if (!tls_done_ && tls_->gap(side, missing) != ParseState::NeedMore) tls_done_ = true;
        if (dec_) dec_->gap(side, missing);
        if (null_ && side == Side::Client) null_->gap();
        return afterTls(flow, pkt);
      }
      case Mode::Http:
        if (side == Side::Client) http_->gap(missing);
        return StreamVerdict::Continue;
      case Mode::Detect:
        if (flow.syn_seen && side == Side::Server) {
          holdServerGap(missing);  // held server bytes keep their gaps, for the TLS parser to see them
        } else if (flow.syn_seen && client_bytes_ == 0 && prefix_[static_cast<int>(Side::Client)].empty()) {
          // The client's first bytes were lost (a segment missing from the
          // capture): what follows may still be the rest of a handshake.
          client_lost_ += missing;
        }
        prefix_[static_cast<int>(side)].clear();
        return StreamVerdict::Continue;
      case Mode::Done:
        return StreamVerdict::Bypass;
    }
    return StreamVerdict::Bypass;
  }

  std::size_t heldBytes() const override {
    std::size_t n = prefix_[0].capacity() + prefix_[1].capacity() + server_held_.capacity() +
                    server_held_gaps_.capacity() * sizeof(server_held_gaps_[0]) + tunnel_answer_head_.capacity();
    if (tls_) n += tls_->heldBytes();
    if (dec_) n += dec_->heldBytes();
    if (null_) n += null_->heldBytes();
    for (const auto* http : {&http_, &tls_http_}) {
      if (*http) n += (*http)->heldBytes();
    }
    return n;
  }

  void onClose(const FlowInfo& flow, CloseReason /*why*/, const PacketRef& pkt) override {
    if (mode_ == Mode::Tls) finishTls(flow, pkt);
    if (mode_ == Mode::Http) {
      // A request whose headers arrived but whose body was cut short still counts.
      std::vector<HttpRequest> done;
      http_->finish(done);
      emitHttp(flow, done, pkt, false);
    }
    mode_ = Mode::Done;
  }

 private:
  enum class Mode : std::uint8_t { Detect, Tls, Http, Done };

  StreamVerdict detect(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes, const PacketRef& pkt) {
    if (side == Side::Server && flow.syn_seen) {
      // The sides are known and the server spoke first in capture order (a SPAN
      // port merges both directions, so its reply can overtake the ClientHello):
      // hold its bytes until the client shows what the flow is.
      if (server_held_.size() + bytes.size() > MIDSTREAM_WATCH_BYTES) {
        // A server that answered with a ServerHello is in a TLS handshake
        // whose client's bytes wait behind a hole (its ClientHello packet
        // lost): keep its handshake, count the rest (a download) as a gap,
        // and wait for the client. Anything else is not for us.
        if (!TlsConnection::startsWithServerHello(heldServerStart())) {
          mode_ = Mode::Done;
          return StreamVerdict::Bypass;
        }
        holdServerGap(bytes.size());
        return StreamVerdict::Continue;
      }
      if (server_held_gaps_.size() >= SERVER_HELD_GAPS_MAX) {
        holdServerGap(bytes.size());  // a stream holed this often: what follows is counted, not kept
        return StreamVerdict::Continue;
      }
      server_held_.insert(server_held_.end(), bytes.begin(), bytes.end());
      return StreamVerdict::Continue;
    }
    auto& prefix = prefix_[static_cast<int>(side)];
    std::span<const std::uint8_t> probe = bytes;
    if (!prefix.empty()) {
      prefix.insert(prefix.end(), bytes.begin(), bytes.end());
      probe = prefix;
    }
    if (probe.size() < 6) {  // too few bytes to tell: keep them and wait
      if (prefix.empty()) prefix.assign(bytes.begin(), bytes.end());
      return StreamVerdict::Continue;
    }
    if (side == Side::Client && client_bytes_ == 0 && client_lost_ != 0 &&
        TlsConnection::looksLikeHandshakeAfterLostHello(probe, heldServerStart())) {
      // The ClientHello was lost, the rest of the handshake is here (its
      // client certificate above all): read it as TLS from the gap on.
      const std::vector<std::uint8_t> held(probe.begin(), probe.end());
      prefix.clear();
      return startTls(flow, held, pkt);
    }
    if (side == Side::Client) client_bytes_ += bytes.size();
    const bool client_hello = TlsConnection::looksLikeClientHello(probe);
    const bool request = !client_hello && (HttpRequestParser::looksLikeRequest(probe) ||
                                           Http2RequestReader::looksLikePreface(probe));
    if (client_hello || request) {
      std::vector<std::uint8_t> held(probe.begin(), probe.end());
      prefix_[0].clear();
      prefix_[1].clear();
      StreamVerdict verdict = StreamVerdict::Continue;
      FlowInfo corrected = flow;
      if (side == Side::Server) {
        // Only the client sends a ClientHello or a request line: the sides were
        // guessed (no SYN seen) and the guess was wrong.
        if (flow.syn_seen) {
          f_.anomalies_.inc(PA_ANOMALY("client_hello_from_server_side"));
          mode_ = Mode::Done;
          return StreamVerdict::Bypass;
        }
        // The flow table swaps on our verdict; until then, use a corrected copy.
        verdict = StreamVerdict::SwapSides;
        std::swap(corrected.client, corrected.server);
        std::swap(corrected.client_mac, corrected.server_mac);
      }
      if (client_hello) {
        const StreamVerdict v = startTls(corrected, held, pkt);
        return v == StreamVerdict::Continue ? verdict : v;
      }
      server_held_.clear();
      server_held_gaps_.clear();
      mode_ = Mode::Http;
      ++f_.http_flows_;
      http_ = std::make_unique<ClientRequests>(f_.anomalies_);
      const StreamVerdict v = feedHttp(corrected, Side::Client, held, pkt);
      return v == StreamVerdict::Continue ? verdict : v;
    }
    if (!flow.syn_seen) {
      const auto sender = TlsConnection::midHandshakeSender(probe);
      if (sender != TlsConnection::MidHandshakeSender::None) return startMidHandshake(flow, side, sender, probe, pkt);
    }
    // Unrecognised: mid-stream data of a flow picked up late, or another protocol.
    prefix.clear();
    unknown_bytes_[static_cast<int>(side)] += bytes.size();
    if (unknown_bytes_[0] + unknown_bytes_[1] > MIDSTREAM_WATCH_BYTES) {
      mode_ = Mode::Done;
      return StreamVerdict::Bypass;
    }
    return StreamVerdict::Continue;
  }

  // A TLS flow from its client's first bytes read (`held`), then the server's
  // that came before them. When the client's first bytes were lost
  // (client_lost_), the parser starts after that gap.
  StreamVerdict startTls(const FlowInfo& flow, const std::vector<std::uint8_t>& held, const PacketRef& pkt) {
    beginTls(flow, pkt);
    if (client_lost_ != 0) {
      tls_->gap(Side::Client, client_lost_);
      if (dec_) dec_->gap(Side::Client, client_lost_);  // its keys are found by the lost ClientHello's random
    }
    StreamVerdict v = feedTls(flow, Side::Client, held, pkt);
    const std::vector<std::uint8_t> early = std::move(server_held_);
    const auto gaps = std::move(server_held_gaps_);
    server_held_.clear();
    server_held_gaps_.clear();
    std::size_t at = 0;
    for (std::size_t i = 0; i <= gaps.size() && v == StreamVerdict::Continue; ++i) {
      const std::size_t end = i < gaps.size() ? gaps[i].first : early.size();
      if (end > at) v = feedTls(flow, Side::Server, std::span(early).subspan(at, end - at), pkt);
      at = end;
      if (i < gaps.size() && v == StreamVerdict::Continue) v = onGap(flow, Side::Server, gaps[i].second, pkt);
    }
    return v;
  }

  // The parsers of a flow read as TLS from `pkt` on.
  void beginTls(const FlowInfo& flow, const PacketRef& pkt) {
    mode_ = Mode::Tls;
    ++f_.tls_flows_;
    tls_ = std::make_unique<TlsConnection>(f_.anomalies_);
    if (f_.decryption_) dec_ = std::make_unique<TlsDecryptSession>(f_.decryption_, f_.anomalies_, flow.server);
    // Until the ClientHello (or the ServerHello) shows no NULL suite; after a
    // lost first segment it walks the client's records from the next one.
    null_ = std::make_unique<NullRecordReader>();
    first_ = pkt;
  }

  // A flow picked up without its SYN whose bytes from `side` (`probe`) are
  // handshake records from the middle of a handshake (a sensor started, or a
  // rotated capture file begun, while it was under way): it is read as a TLS
  // handshake whose start was not captured, so that what is still to come
  // (the client's Certificate above all) is seen. Both sides start after a
  // gap, but for a server whose first bytes are its ServerHello.
  StreamVerdict startMidHandshake(const FlowInfo& flow, Side side, TlsConnection::MidHandshakeSender sender,
                                  std::span<const std::uint8_t> probe, const PacketRef& pkt) {
    using Sender = TlsConnection::MidHandshakeSender;
    const std::vector<std::uint8_t> held(probe.begin(), probe.end());
    const bool nothing_before = unknown_bytes_[static_cast<int>(side)] == 0;
    prefix_[0].clear();
    prefix_[1].clear();
    StreamVerdict verdict = StreamVerdict::Continue;
    FlowInfo corrected = flow;
    Side by = side;  // a Certificate (Sender::Either) keeps the guess from the ports
    if (sender != Sender::Either) by = sender == Sender::Client ? Side::Client : Side::Server;
    if (by != side) {
      // The messages say who sent them: the sides were guessed wrong. The
      // flow table swaps on our verdict; until then, use a corrected copy.
      verdict = StreamVerdict::SwapSides;
      std::swap(corrected.client, corrected.server);
      std::swap(corrected.client_mac, corrected.server_mac);
    }
    f_.anomalies_.inc(PA_ANOMALY("tls_handshake_start_not_captured"));
    beginTls(corrected, pkt);
    const bool server_hello_first = by == Side::Server && nothing_before && TlsConnection::startsWithServerHello(held);
    tls_->startAfterUncaptured(Side::Client);
    if (!server_hello_first) tls_->startAfterUncaptured(Side::Server);
    // Its keys are found by the ClientHello's random, which was not captured
    // (how many bytes went by before is unknown: any count stops it).
    if (dec_) dec_->gap(Side::Client, 1);
    const StreamVerdict v = feedTls(corrected, by, held, pkt);
    return v == StreamVerdict::Continue ? verdict : v;
  }

  // `n` server bytes not held (lost, or past what is held), after those held.
  void holdServerGap(std::uint64_t n) {
    if (server_held_gaps_.empty() || server_held_gaps_.back().first != server_held_.size()) {
      server_held_gaps_.push_back({server_held_.size(), 0});
    }
    server_held_gaps_.back().second += n;
  }

  // The server's held bytes up to their first gap.
  std::span<const std::uint8_t> heldServerStart() const {
    const std::size_t n = server_held_gaps_.empty() ? server_held_.size() : server_held_gaps_.front().first;
    return std::span(server_held_).first(n);
  }

  // After a SwapSides verdict the flow table relabels sides from the next call
  // on; the FlowInfo we get is already corrected, so only the detecting call
  // needs care (handled in detect()).
  StreamVerdict feedTls(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes, const PacketRef& pkt) {
    last_ = pkt;
    if (!tls_done_) {
      const bool had_client_certs = tls_->summary().client_certificates.has_value();
      const ParseState st = tls_->feed(side, bytes);
      if (!had_client_certs && tls_->summary().client_certificates.has_value()) cert_pkt_ = pkt;
      if (st == ParseState::Error && !tls_->summary().client_hello) {
        mode_ = Mode::Done;
        return StreamVerdict::Bypass;
      }
      if (st != ParseState::NeedMore) tls_done_ = true;
    }
    if (null_) readNullRecords(flow, side, bytes, pkt);
    // The decryptor reads the same bytes with its own record framing, past
    // where the handshake parser stops.
    if (dec_ && dec_->state() != TlsDecryptSession::State::Off) {
      std::vector<std::uint8_t> client_data;
      const bool had_client_certs = dec_->revealed().client_certificates.has_value();
      dec_->feed(side, bytes, client_data);
      if (!had_client_certs && dec_->revealed().client_certificates.has_value()) cert_pkt_ = pkt;
      if (!client_data.empty()) feedDecryptedHttp(flow, client_data, pkt);
      // Request bodies were read past, as in clear: only the handshake and
      // the requests' heads count against the session's budget.
      if (tls_http_) {
        dec_->passOver(tls_http_->bodyBytes() - body_passed_over_);
        body_passed_over_ = tls_http_->bodyBytes();
      }
    }
    return afterTls(flow, pkt);
  }

  // A suite with NULL encryption (tls_null_records.h): the client's requests
  // are read as they travel, keys or not. The reader follows a flow whose
  // ClientHello offers such a suite, until the ServerHello picks another.
  void readNullRecords(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes, const PacketRef& pkt) {
    const TlsSummary& s = tls_->summary();
    if (s.client_hello && !offersNullEncryption(s.client_hello->cipher_suites)) {
      null_.reset();
      return;
    }
    const std::uint16_t suite = s.server_hello ? s.server_hello->cipher_suite : 0;
    if (s.server_hello && nullEncryptionMacLength(suite) == 0) {
      null_.reset();
      return;
    }
    // Negotiated: nothing to decrypt, whatever keys the run has.
    if (s.server_hello) dec_.reset();
    if (side != Side::Client) return;
    std::vector<std::uint8_t> plain;
    null_->feed(bytes, suite, plain);
    if (!plain.empty()) feedDecryptedHttp(flow, plain, pkt);
  }

  // While the handshake parser reads, keep going. Once it is done, a flow that
  // decrypts, or whose NULL-encryption records are read, is followed on (HTTP
  // inside TLS); its handshake observation waits for what an encrypted
  // handshake (TLS 1.3, a renegotiation) reveals.
  StreamVerdict afterTls(const FlowInfo& flow, const PacketRef& pkt) {
    if (!tls_done_) return StreamVerdict::Continue;
    if (null_ && !null_->stopped() && !tls_http_done_) {
      if (!emitted_) emitTls(flow, pkt);
      return StreamVerdict::Continue;
    }
    if (!dec_ || dec_->state() != TlsDecryptSession::State::Decrypting) return finishTls(flow, pkt);
    const TlsSummary& s = tls_->summary();
    const DecryptedHandshake& r = dec_->revealed();
    const bool encrypted_handshake_pending = (s.tls13 || s.renegotiation) && !r.handshake_complete;
    // RFC 8446 §4.6.2: a TLS 1.3 client that offered post_handshake_auth and
    // sent no certificate in its handshake may be asked for one at any time
    // after it (a server guarding one location asks when that request comes):
    // its observation waits for that Certificate, or for the connection (or
    // its decryption) to end.
    const bool post_handshake_auth_pending = s.tls13 && s.client_hello && offersPostHandshakeAuth(*s.client_hello) &&
                                             !r.client_certificates.has_value();
    if (!emitted_ && !encrypted_handshake_pending && !post_handshake_auth_pending) emitTls(flow, pkt);
    return StreamVerdict::Continue;
  }

  void feedDecryptedHttp(const FlowInfo& flow, std::span<const std::uint8_t> bytes, const PacketRef& pkt) {
    if (tls_http_done_) return;
    if (!tls_http_) tls_http_ = std::make_unique<ClientRequests>(f_.anomalies_);
    std::vector<HttpRequest> done;
    const auto st = tls_http_->feed(bytes, done);
    emitHttp(flow, done, pkt, true);
    if (st == ClientRequests::State::Error) tls_http_done_ = true;
  }

  StreamVerdict finishTls(const FlowInfo& flow, const PacketRef& pkt) {
    if (mode_ == Mode::Tls && tls_http_ && !tls_http_done_) {
      // A decrypted request whose headers arrived but whose body was cut short still counts.
      std::vector<HttpRequest> done;
      tls_http_->finish(done);
      emitHttp(flow, done, pkt, true);
      tls_http_done_ = true;
    }
    if (mode_ == Mode::Tls && !emitted_) emitTls(flow, pkt);
    mode_ = Mode::Done;
    return StreamVerdict::Bypass;
  }

  // RFC 5246 §7.4.6: an empty certificate_list means no certificate.
  // `raw_public_key`: the one element is an RFC 7250 SubjectPublicKeyInfo,
  // named by its digest; it is no X.509 certificate, so none is decoded.
  void fillClientCert(TlsObservation& obs, const std::vector<Der>& certs, bool raw_public_key) {
    obs.client_chain.clear();
    obs.client_raw_key_sha256.clear();
    if (certs.empty()) {
      obs.client_cert = ClientCertState::Empty;
      return;
    }
    if (raw_public_key) {
      obs.client_cert = ClientCertState::RawPublicKey;
      obs.client_raw_key_sha256 = digestHex(DigestAlgorithm::Sha256, certs.front());
      return;
    }
    obs.client_cert = ClientCertState::Present;
    for (const auto& der : certs) {
      if (auto c = f_.certs_.get(der, f_.anomalies_)) obs.client_chain.push_back(std::move(c));
    }
  }

  void emitTls(const FlowInfo& flow, const PacketRef& pkt) {
    emitted_ = true;
    const TlsSummary& s = tls_->summary();
    // A ClientHello whose bytes went missing (cut by the capture's snap
    // length, a segment lost) still shows a device that began a handshake:
    // it is reported, unknown for that gap, instead of not at all. (Its
    // first bytes were a ClientHello's, or the flow would not be read as TLS.)
    if (!s.client_hello && !s.client_gap) return;
    TlsObservation obs;
    fillFlow(obs.flow, flow, cert_pkt_ ? *cert_pkt_ : (last_ ? *last_ : pkt));
    obs.first = first_;
    if (s.client_hello) {
      const ClientHello& ch = *s.client_hello;
      obs.sni = visibleUtf8(ch.sni);
      obs.client_max_version = ch.legacy_version;
      for (auto v : ch.supported_versions) {
        if (isGrease(v)) continue;
        obs.offered_versions.push_back(v);
        if (v > obs.client_max_version) obs.client_max_version = v;
      }
      if (obs.offered_versions.empty()) obs.offered_versions.push_back(ch.legacy_version);
      obs.session_id = hexLower(ch.session_id);
      obs.ticket_offered = !ch.session_ticket.empty() || ch.has_pre_shared_key;
      obs.ticket_sha256 = ticketSha256(ch.session_ticket);
      ClientFingerprints fp = f_.fingerprints(ch);
      obs.ja3 = std::move(fp.ja3);
      obs.ja3_string = std::move(fp.ja3_string);
      obs.ja4 = std::move(fp.ja4);
    }
    obs.issued_ticket_sha256 = ticketSha256(s.new_session_ticket);
    if (s.server_hello) {
      obs.server_hello_seen = true;
      obs.version = s.server_hello->selected_version;
      obs.cipher_suite = s.server_hello->cipher_suite;
      obs.server_session_id = hexLower(s.server_hello->session_id);
    }
    if (s.certificate_request) {
      obs.certificate_requested = true;
      for (const auto& dn : s.certificate_request->ca_names) obs.requested_ca_names.push_back(f_.nameText(dn));
    }
    if (s.client_certificates) {
      fillClientCert(obs, *s.client_certificates, s.client_raw_public_key);
      if (cert_pkt_) obs.client_cert_frame = cert_pkt_->frame;
    }
    // A server's raw public key (RFC 7250) is no certificate: its chain stays empty.
    if (s.server_certificates && !s.server_raw_public_key) {
      for (const auto& der : *s.server_certificates) {
        if (auto c = f_.certs_.get(der, f_.anomalies_)) obs.server_chain.push_back(std::move(c));
      }
    }
    obs.no_certificate_alert = s.no_certificate_alert;
    obs.resumed = s.resumed;
    obs.tls13 = s.tls13;
    obs.renegotiation = s.renegotiation;
    obs.gap = s.client_gap || s.server_gap;
    obs.complete = s.handshake_complete;
    if (dec_) addDecrypted(obs, dec_->revealed());
    f_.sink_.onTls(std::move(obs));
  }

  // What decrypted handshake records showed: a TLS 1.3 handshake's, or a
  // renegotiation's (which then stands for the connection's client certificate).
  // An encrypted handshake decrypted to the client's Finished showed all it
  // held: a CertificateRequest it did not carry was not sent, so the
  // observation is a decrypted one even when nothing was asked.
  void addDecrypted(TlsObservation& obs, const DecryptedHandshake& r) {
    if (r.handshake_complete) obs.decrypted = true;
    if (r.certificate_requested) {
      obs.decrypted = true;
      obs.certificate_requested = true;
      for (const auto& dn : r.requested_ca_names) obs.requested_ca_names.push_back(f_.nameText(dn));
    }
    if (r.client_certificates) {
      obs.decrypted = true;
      fillClientCert(obs, *r.client_certificates, r.client_raw_public_key);
      if (cert_pkt_) obs.client_cert_frame = cert_pkt_->frame;
    }
    if (r.server_certificates && !r.server_raw_public_key && obs.server_chain.empty()) {
      for (const auto& der : *r.server_certificates) {
        if (auto c = f_.certs_.get(der, f_.anomalies_)) obs.server_chain.push_back(std::move(c));
      }
    }
    if (obs.decrypted && r.handshake_complete) obs.complete = true;
  }

  StreamVerdict feedHttp(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes, const PacketRef& pkt) {
    if (side != Side::Client) return StreamVerdict::Continue;  // responses carry nothing we audit
    std::vector<HttpRequest> done;
    const auto st = http_->feed(bytes, done);
    const bool tunnel = !done.empty() && http_->opensTunnel(done.back());
    emitHttp(flow, done, pkt, false);
    if (tunnel) {
      // Through a proxy: what follows is the tunnel's, a connection of its own
      // (a device's TLS handshake with its provisioning server, most often),
      // told apart as any flow is, once the proxy's answer has gone by. Its
      // first bytes may have come with the CONNECT, before the answer.
      const std::span<const std::uint8_t> tunnel_start = bytes.last(http_->unconsumed());
      mode_ = Mode::Detect;
      http_.reset();
      tunnel_answer_ = true;
      return tunnel_start.empty() ? StreamVerdict::Continue : detect(flow, side, tunnel_start, pkt);
    }
    if (st == ClientRequests::State::Error) {
      mode_ = Mode::Done;
      return StreamVerdict::Bypass;
    }
    return StreamVerdict::Continue;
  }

  void emitHttp(const FlowInfo& flow, std::vector<HttpRequest>& done, const PacketRef& pkt, bool over_tls) {
    for (auto& req : done) {
      if (requests_ >= HTTP_MAX_REQUESTS_PER_FLOW &&
          (std::hash<std::string_view>{}(req.user_agent) == last_user_agent_hash_ ||
           requests_ >= HTTP_MAX_REQUESTS_PER_FLOW + HTTP_MAX_AGENT_CHANGES_PAST_LIMIT)) {
        f_.anomalies_.inc(PA_ANOMALY("http_flow_request_limit"));
        continue;
      }
      last_user_agent_hash_ = std::hash<std::string_view>{}(req.user_agent);
      HttpObservation obs;
      fillFlow(obs.flow, flow, pkt);
      obs.over_tls = over_tls;
      // Hostile bytes: keep valid UTF-8 as sent, make the rest visible as \xNN.
      obs.method = visibleUtf8(req.method);
      obs.uri = visibleUtf8(req.uri);
      obs.host = visibleUtf8(req.host);
      obs.user_agent = visibleUtf8(req.user_agent);
      obs.body = visibleUtf8(req.body);
      obs.stream_offset = req.stream_offset;
      f_.sink_.onHttp(std::move(obs));
      ++requests_;
    }
  }

  // The server's bytes after a CONNECT: the proxy's answer, then the tunnel's
  // first bytes, read as any flow's once the answer is over.
  StreamVerdict afterTunnelAnswer(const FlowInfo& flow, std::span<const std::uint8_t> bytes, const PacketRef& pkt) {
    std::vector<std::uint8_t> tunnel_start;
    switch (skipTunnelAnswer(bytes, tunnel_start)) {
      case TunnelAnswer::Pending:
        return StreamVerdict::Continue;
      case TunnelAnswer::TooLong:
        mode_ = Mode::Done;
        return StreamVerdict::Bypass;
      case TunnelAnswer::Over:
        break;
    }
    return tunnel_start.empty() ? StreamVerdict::Continue : onData(flow, Side::Server, tunnel_start, pkt);
  }

  enum class TunnelAnswer { Pending, Over, TooLong };
  // Drops the proxy's HTTP answer to CONNECT (status line and headers) from
  // the server's bytes; once it is over, what follows it is in `rest`.
  TunnelAnswer skipTunnelAnswer(std::span<const std::uint8_t> bytes, std::vector<std::uint8_t>& rest) {
    static constexpr std::string_view END = "\r\n\r\n";
    static constexpr std::size_t KEPT_MAX = TUNNEL_ANSWER_MAX + END.size();
    std::vector<std::uint8_t>& head = tunnel_answer_head_;
    const std::size_t before = head.size();
    const std::size_t searched = before >= END.size() ? before - END.size() + 1 : 0;
    const std::size_t take = std::min(bytes.size(), KEPT_MAX - before);
    if (before + take > head.capacity()) {  // grown as usual, never past the limit
      head.reserve(std::min(std::max(before + take, 2 * head.capacity()), KEPT_MAX));
    }
    head.insert(head.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    const std::size_t end = std::string_view(reinterpret_cast<const char*>(head.data()), head.size()).find(END, searched);
    if (end == std::string_view::npos) {
      if (head.size() < TUNNEL_ANSWER_MAX) return TunnelAnswer::Pending;
      f_.anomalies_.inc(PA_ANOMALY("http_tunnel_answer_too_large"));
      std::vector<std::uint8_t>().swap(head);
      tunnel_answer_ = false;
      return TunnelAnswer::TooLong;
    }
    rest.assign(bytes.begin() + static_cast<std::ptrdiff_t>(end + END.size() - before), bytes.end());
    std::vector<std::uint8_t>().swap(head);
    tunnel_answer_ = false;
    return TunnelAnswer::Over;
  }

  void fillFlow(ObservedFlow& out, const FlowInfo& flow, const PacketRef& pkt) const {
    out.ref = pkt;
    out.source = f_.sourceName(pkt.source);
    out.client = flow.client;
    out.server = flow.server;
    out.client_mac = flow.client_mac;
    out.server_mac = flow.server_mac;
    out.vlan = flow.vlan;
  }

  FlowAnalyzerFactory& f_;
  Mode mode_ = Mode::Detect;
  std::vector<std::uint8_t> prefix_[2];
  std::vector<std::uint8_t> server_held_;  // server bytes that overtook the client's first bytes
  std::vector<std::pair<std::size_t, std::uint64_t>> server_held_gaps_;  // (offset in server_held_, bytes lost)
  std::uint64_t client_bytes_ = 0;          // client bytes seen while detecting
  std::uint64_t client_lost_ = 0;           // client bytes lost before any was seen (SYN seen)
  std::uint64_t unknown_bytes_[2] = {0, 0};  // per side: bytes seen while detecting, not recognised
  std::unique_ptr<TlsConnection> tls_;
  std::unique_ptr<ClientRequests> http_;
  // After a CONNECT: the proxy's answer is still to be skipped on the server side.
  bool tunnel_answer_ = false;
  std::vector<std::uint8_t> tunnel_answer_head_;  // <= TUNNEL_ANSWER_MAX + 4
  std::unique_ptr<TlsDecryptSession> dec_;        // set when the run has keys
  std::unique_ptr<NullRecordReader> null_;        // while a NULL-encryption suite may be (or was) negotiated
  std::unique_ptr<ClientRequests> tls_http_;      // requests inside decrypted (or NULL-encryption) TLS
  bool tls_http_done_ = false;
  std::uint64_t body_passed_over_ = 0;            // of tls_http_'s body bytes, told to dec_
  bool tls_done_ = false;                         // the handshake parser has nothing more to learn
  std::optional<PacketRef> cert_pkt_;
  std::optional<PacketRef> last_;
  PacketRef first_;
  std::size_t requests_ = 0;       // reported (HTTP_MAX_REQUESTS_PER_FLOW)
  // Of the last request reported: a hash, not the agent (up to 16 KiB a flow
  // would hold for the length of the connection).
  std::size_t last_user_agent_hash_ = 0;
  bool emitted_ = false;
};

std::unique_ptr<StreamHandler> FlowAnalyzerFactory::create(const FlowInfo& /*flow*/) {
  return std::make_unique<FlowAnalyzer>(*this);
}

}  // namespace provaudit::analyze
