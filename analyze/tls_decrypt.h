#pragma once
// Decrypts TLS records when the operator holds the keys: an NSS key log
// (TLS 1.0-1.3) or the provisioning server's RSA private key (TLS_RSA_* key
// exchange). A TlsDecryptSession follows both byte streams of one connection
// with its own record framing (it keeps going where TlsConnection stops:
// after TLS 1.3's ServerHello, after the handshake), derives the record keys,
// and hands out what decryption reveals: the client's application data and the
// handshake messages that travelled encrypted (TLS 1.3 certificates, a TLS 1.2
// renegotiation). All crypto is OpenSSL EVP; we only do the TLS framing.
// Never throws on packet data; every reason it gives up is a counted anomaly.
#include <array>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "analyze/keylog.h"
#include "analyze/tls_types.h"
#include "common/anomaly.h"
#include "common/byte_reader.h"
#include "common/c_handles.h"
#include "common/net_types.h"

namespace provaudit::analyze {

// Plaintext a flow may hold against it: its handshake messages (both sides)
// and the client's application data, less what the caller passed over as
// request bodies (TlsDecryptSession::passOver). The server's application data
// is not decrypted at all (only its records' sequence numbers are taken).
// Past it the session stops (tls_decrypt_flow_limit) and the flow is bypassed.
inline constexpr std::size_t DECRYPT_MAX_BYTES_PER_FLOW = 256 * 1024;
// Record bytes a flow may have decrypted in all, request bodies included: the
// bound on its work. Past it, as above.
inline constexpr std::size_t DECRYPT_MAX_WORK_BYTES_PER_FLOW = 64 * 1024 * 1024;
// Clear handshake bytes kept per side for the RFC 7627 session hash.
inline constexpr std::size_t DECRYPT_MAX_TRANSCRIPT = 512 * 1024;
// Records (both sides) a flow holds while it waits for a key that is not in
// the key log yet (DecryptionKeys::setAwaitLateKeys); past either limit the
// key is taken as never coming: the reason it was missing is counted
// (decrypt_no_key) and the held records go.
inline constexpr std::size_t DECRYPT_MAX_RECORDS_AWAITING_KEY = 64;
inline constexpr std::size_t DECRYPT_MAX_BYTES_AWAITING_KEY = 128 * 1024;
// TLS 1.3 early data (RFC 8446 §4.2.10) a flow skips without reading it:
// refused by the server (which skips it too, up to its max_early_data_size),
// or without its key in the key log. Skipping holds nothing, but each record
// is tried under the handshake key first; past the bound a record that does
// not open is a bad one (tls_decrypt_bad_record_mac), as for the server.
inline constexpr std::size_t DECRYPT_MAX_EARLY_DATA_SKIPPED = 1024 * 1024;
// Sessions whose master secret is kept for an abbreviated handshake to resume
// (ResumableSessions), each under its session ID and under each ticket issued
// for it (one entry each, ~160 bytes: 10.5 MiB at most). Past it the entry
// least recently stored or resumed goes, counted as decrypt_session_cache_evict;
// a connection that resumes it later stays encrypted
// (decrypt_resumed_session_unknown).
inline constexpr std::size_t DECRYPT_MAX_RESUMABLE_SESSIONS = 65536;

// Loads OpenSSL's legacy provider (RC4, and keeps "default") once; false when
// it is not installed: RC4 suites are then decrypt_unsupported_suite.
bool loadLegacyProvider();

// An RSA private key of a provisioning server, optionally bound to its address.
struct RsaServerKey {
  std::optional<Endpoint> server;  // nullopt: matched by the server certificate's public key
  EvpPkeyPtr key;
  std::string file;
};

// The master secrets of the TLS <= 1.2 sessions decrypted so far, by the
// session ID the server gave the session (RFC 5246 §7.4.1.3) and by the
// tickets it issued for it (RFC 5077 §3.3, kept by their SHA-256). An
// abbreviated handshake carries no key exchange to decrypt: a ServerHello
// that echoes the client's session ID, or a ticket the server accepts, resumes
// the session, and its keys come from that session's master secret (RFC 5246
// §7.4.1.2, RFC 5077 §3.1), as Wireshark keeps it. So with --rsa-key, an ATA
// that resumes every resync is decrypted when its full handshake was read
// earlier in the capture (in packet order). Bounded by
// DECRYPT_MAX_RESUMABLE_SESSIONS, the least recently used out first: an ATA
// that resumes its session at every resync keeps it however many other
// sessions a week of capture brings. Thread-safe: flows of several capture
// workers store and look up concurrently.
class ResumableSessions {
 public:
  using MasterSecret = std::array<std::uint8_t, 48>;  // RFC 5246 §8.1
  enum class By : std::uint8_t { SessionId, Ticket };

  explicit ResumableSessions(std::size_t max_entries = DECRYPT_MAX_RESUMABLE_SESSIONS) : max_entries_(max_entries) {}
  // Keeps `master` under `id` (a session ID of 1-32 bytes, or a ticket's
  // SHA-256); an empty or longer id is not kept. Returns how many older
  // entries it evicted (0 or 1).
  std::uint64_t remember(By by, Bytes id, const MasterSecret& master);
  // The secret kept under `id`; found, it becomes the most recently used.
  [[nodiscard]] std::optional<MasterSecret> find(By by, Bytes id);
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::uint64_t evictions() const;

 private:
  // by, id length, id (RFC 5246 §7.4.1.2: SessionID<0..32>; SHA-256 is 32 too).
  using Key = std::array<std::uint8_t, 34>;
  static std::optional<Key> key(By by, Bytes id);

  struct Entry {
    MasterSecret master;
    std::list<Key>::iterator use;  // its place in uses_
  };
  // Moves `e` to the back of uses_ (mu_ held).
  void touch(Entry& e) { uses_.splice(uses_.end(), uses_, e.use); }

  const std::size_t max_entries_;
  mutable std::mutex mu_;
  std::map<Key, Entry> secrets_;
  std::list<Key> uses_;  // least recently stored or resumed first, each key once
  std::uint64_t evictions_ = 0;
};

// The keys the operator gave us; shared (read-only apart from the key log's
// own refresh and the sessions decrypted) by every flow analyzer of a run.
class DecryptionKeys {
 public:
  KeyLog& keylog() { return keylog_; }
  // "--keylog FILE"; throws std::runtime_error when it cannot be read.
  void addKeyLogFile(const std::string& path) { keylog_.addFile(path); }
  // "--rsa-key [IP:PORT=]FILE" (PEM); throws std::runtime_error on a bad spec,
  // an unreadable file or a key that is not RSA.
  void addRsaKeySpec(const std::string& spec);
  void addRsaKey(EvpPkeyPtr key, std::optional<Endpoint> server, std::string file = {});
  [[nodiscard]] const std::vector<RsaServerKey>& rsaKeys() const { return rsa_keys_; }
  // Live capture: a server writes its key log as it goes, and logs a key a
  // moment after the peer's first record under it went by (a TLS 1.2 client's
  // Finished follows its ClientKeyExchange at once). With this on, a session
  // whose key is not in a key log file yet holds its records and looks again
  // at each new one. Off for finished key logs (replay): a key missing is
  // missing at once.
  void setAwaitLateKeys(bool on) { await_late_keys_ = on; }
  [[nodiscard]] bool awaitsLateKeys() const { return await_late_keys_ && keylog_.hasFiles(); }
  // In live capture the flows of one client may be read by several workers:
  // a connection that resumes a session can be read a moment before the
  // worker reading the full handshake has kept its master secret (or the
  // ticket issued in it). Such a resumption waits for it as for a late key.
  [[nodiscard]] bool awaitsLateSessions() const { return await_late_keys_; }
  // Sessions decrypted so far, for the abbreviated handshakes that resume them.
  ResumableSessions& sessions() { return sessions_; }

 private:
  KeyLog keylog_;
  ResumableSessions sessions_;
  std::vector<RsaServerKey> rsa_keys_;
  bool await_late_keys_ = false;
};

// What the decrypted handshake messages showed.
struct DecryptedHandshake {
  bool certificate_requested = false;                   // a decrypted CertificateRequest
  std::vector<Der> requested_ca_names;
  std::optional<std::vector<Der>> client_certificates;  // a decrypted client Certificate (empty = empty list)
  std::optional<std::vector<Der>> server_certificates;
  // RFC 7250: that side's Certificate carried a raw public key (its one
  // element is a SubjectPublicKeyInfo, no X.509 certificate).
  bool client_raw_public_key = false;
  bool server_raw_public_key = false;
  bool renegotiated = false;       // they belong to a renegotiation (RFC 5246 §7.4.1.1)
  bool handshake_complete = false; // the client's Finished of an encrypted handshake was decrypted
  // RFC 8446 §4.6.2 post-handshake authentication: the client's Certificate
  // (client_certificates) came after its handshake, under the application
  // traffic keys. The client sends one only in answer to a CertificateRequest
  // of the server's, so certificate_requested is set with it (the server's
  // own records after its handshake are not decrypted).
  bool post_handshake_auth = false;
};

class TlsDecryptSession {
 public:
  enum class State : std::uint8_t {
    Waiting,     // handshake in clear, no keys needed yet
    Decrypting,  // records of at least one side are being decrypted (or held until their key is logged)
    Off,         // cannot (or no longer) decrypt: the reason was counted
  };

  TlsDecryptSession(std::shared_ptr<DecryptionKeys> keys, AnomalyCounters& anomalies, const Endpoint& server);
  // A session that still waits for its key when it goes counts why it had none.
  ~TlsDecryptSession();
  TlsDecryptSession(const TlsDecryptSession&) = delete;
  TlsDecryptSession& operator=(const TlsDecryptSession&) = delete;

  // The next in-order bytes of `side`. Decrypted client application data is
  // appended to `client_data`.
  State feed(Side side, Bytes bytes, std::vector<std::uint8_t>& client_data);
  // Bytes lost on `side`: record framing and cipher state are gone, stop.
  State gap(Side side, std::uint64_t missing);
  // `n` bytes of the client data handed out were a request body, read past:
  // they no longer count against DECRYPT_MAX_BYTES_PER_FLOW.
  void passOver(std::uint64_t n);

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] const DecryptedHandshake& revealed() const { return revealed_; }
  [[nodiscard]] std::uint64_t plaintextBytes() const { return plaintext_bytes_; }
  [[nodiscard]] bool decryptedAnything() const { return plaintext_bytes_ > 0; }
  // What the session holds: its transcript, partial records and messages, and
  // the certificates it revealed.
  [[nodiscard]] std::size_t heldBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  State state_ = State::Waiting;
  DecryptedHandshake revealed_;
  std::uint64_t plaintext_bytes_ = 0;
  std::uint64_t budget_used_ = 0;     // against DECRYPT_MAX_BYTES_PER_FLOW, settled
  std::uint64_t client_unsettled_ = 0;  // client data of the last feed(), until passOver() or the next feed()
  std::uint64_t work_bytes_ = 0;      // against DECRYPT_MAX_WORK_BYTES_PER_FLOW
  friend struct Impl;
};

// TLS 1.3 Certificate body (RFC 8446 §4.4.2): context, then entries of
// cert_data + extensions. Same contract as parseCertificateList.
std::optional<std::vector<Der>> parseTls13CertificateList(Bytes body, AnomalyCounters& anomalies);
// TLS 1.3 CertificateRequest body (RFC 8446 §4.3.2): the DistinguishedNames
// of its certificate_authorities extension (RFC 8446 §4.2.4), if any.
std::vector<Der> parseTls13CertificateRequestCas(Bytes body, AnomalyCounters& anomalies);

}  // namespace provaudit::analyze
