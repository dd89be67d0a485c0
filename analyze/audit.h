#pragma once
// The audit: a pure function from observations to devices, servers and
// findings. Devices are derived afresh from all the evidence every time, so
// the same evidence always gives the same answer (and replaying a file twice
// changes nothing). Identity rules: ../shared/design.md "Device identity".
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analyze/observation.h"
#include "analyze/rules.h"
#include "analyze/trust.h"

namespace provaudit::analyze {

// A MAC seen with more client addresses than this (per family) is a router's
// and identifies nothing. One IPv4 plus link-local and global IPv6 is normal
// for one phone; anything beyond is several hosts behind one MAC.
inline constexpr std::size_t HOST_MAC_MAX_IPV4 = 1;
inline constexpr std::size_t HOST_MAC_MAX_IPV6 = 2;
// A product's fleet must have at least this many devices before a device whose
// TLS fingerprint differs from the fleet's majority is flagged.
inline constexpr std::size_t FINGERPRINT_FLEET_MIN = 3;
// A cert-clone finding names at most this many other holders ("and N more").
inline constexpr std::size_t CLONE_DETAIL_MAX_NAMES = 10;
// A device's lists of what it sent (addresses, User-Agents, URLs, SNIs, JA3
// and JA4 fingerprints, $CCERT values) keep their first this many distinct
// values; the others are counted (DeviceRecord::omitted). A real phone has a
// few of each; one that sends thousands of 15 KiB User-Agents would make a
// report document of hundreds of megabytes, and its encoding several times that.
inline constexpr std::size_t DEVICE_LIST_MAX = 64;
// A device's handshake history keeps its first and its last this many
// handshakes; those between are counted (DeviceRecord::handshakes_omitted).
// Every one of them is a sighting, which the device page lists a page at a
// time; a phone that fetches its profile every five minutes makes 8,640
// handshakes a month, and a history of them all was 4 MB of the device's
// page and of its record in every audit.
inline constexpr std::size_t HANDSHAKE_HISTORY_ENDS = 50;
// From this many devices on, an audit builds them on two threads, each
// taking BUILD_CHUNK_DEVICES at a time.
inline constexpr std::size_t PARALLEL_BUILD_MIN_DEVICES = 2048;
inline constexpr std::size_t BUILD_CHUNK_DEVICES = 128;

struct Finding {
  std::string code;
  std::string severity;
  std::string detail;

  bool operator==(const Finding&) const = default;
};

// Where claims were read: one text of one observation (a certificate subject,
// a User-Agent, a URL, a POST body) and the rules that read it.
struct ClaimSource {
  std::string origin;    // certificate, user-agent, url, post-body, wire, oui
  std::string evidence;  // the text it was read from (subject, UA, URL, ...)
  std::string rule;      // rule id that extracted it
  PacketRef ref;
  std::string source;    // the capture's name
};

// One claim about a device and where it came from. The claims one text gave
// (a User-Agent's vendor, model, firmware and serial) share their ClaimSource:
// each device's audit copies its evidence's claims, and a copy then costs the
// value, not the User-Agent or POST body four times over.
struct ClaimRecord {
  std::string field;     // vendor, model, firmware, serial, mac, ccert
  std::string value;
  std::shared_ptr<const ClaimSource> from;  // never null

  [[nodiscard]] const std::string& origin() const { return from->origin; }
  [[nodiscard]] const std::string& evidence() const { return from->evidence; }
  [[nodiscard]] const std::string& rule() const { return from->rule; }
  [[nodiscard]] const PacketRef& ref() const { return from->ref; }
  [[nodiscard]] const std::string& source() const { return from->source; }
};

struct CertVerdict {
  CertPtr cert;                    // the leaf
  std::vector<CertPtr> chain_sent;  // as sent, leaf first
  std::string chain = "unchecked";  // trusted | untrusted | expired | unchecked
  std::string chain_error;          // OpenSSL's reason when not trusted; what was out of date when expired
  std::string issuer_window;        // a CA out of its validity window: "cert-expired" | "cert-not-yet-valid" | ""
  std::optional<std::string> product;
  std::optional<std::string> serial;
  std::optional<MacAddr> mac;
  bool generic = false;
  std::int64_t checked_at_ns = 0;   // packet time the chain was verified at
};

struct HandshakeSummary {            // one row of a device's TLS history
  std::int64_t ts_ns = 0;
  std::string source;
  std::uint64_t frame = 0;
  Endpoint client, server;
  // Negotiated, as numbers (named when encoded: versionName, cipherSuiteName;
  // 0 and 0 when no ServerHello was seen, named ""): a device's history
  // holds one summary per handshake.
  std::uint16_t version = 0;
  std::uint16_t cipher_suite = 0;
  std::string sni;
  std::string outcome;               // individualized | generic | none | unknown
  std::string reason;
  std::string cert_sha256;
  std::string ja3, ja4;               // empty when the ClientHello was not seen
  bool decrypted = false;
  bool gap = false;                  // bytes of it were missing (packets lost, a snap length)
  // A resumed handshake linked by session id to the full handshake it resumes.
  std::int64_t resumes_ts_ns = 0;
  std::uint64_t resumes_frame = 0;
  std::string resumes_source;
};

struct DeviceRecord {
  std::string id;
  std::optional<MacAddr> mac;        // host MAC on the wire, else the MAC its claims agree on
  bool mac_from_wire = false;
  std::vector<std::string> ips;
  std::string identity = "unknown";
  std::string identity_reason;
  std::optional<std::string> vendor, model, firmware, serial;
  std::optional<CertVerdict> cert;
  std::vector<std::string> user_agents;
  std::vector<std::string> urls;
  std::vector<std::string> tls_versions;
  std::vector<std::string> ja3;
  std::vector<std::string> ja4;
  std::vector<std::string> sni;
  std::vector<std::string> ccert;    // $CCERT values claimed
  std::vector<Finding> findings;
  std::vector<ClaimRecord> claims;
  std::vector<HandshakeSummary> handshakes;  // the first and last HANDSHAKE_HISTORY_ENDS, in time order
  std::uint64_t handshakes_omitted = 0;      // those between them
  std::int64_t first_seen = 0, last_seen = 0;
  std::uint64_t sessions = 0;        // TLS handshakes + HTTP requests
  std::uint64_t http_requests = 0;
  bool evidence_decrypted = false;   // the deciding evidence came from decrypted records
  // The sightings it was built from: store: device_sightings, keyed by the
  // time so that the device page reads its first ones in order.
  struct Sighting {
    std::string key;        // observationKey (store: sightings.key)
    std::int64_t ts_ns = 0;  // sightings.ts_ns
  };
  std::vector<Sighting> sightings;
  std::vector<std::string> servers;    // ServerRecord ids this device talked to
  // Per list ("user_agents", "urls", ...): distinct values past its first
  // DEVICE_LIST_MAX, counted, not kept. Empty for every ordinary device.
  std::map<std::string, std::uint64_t> omitted;
  // This very record, findings included, was the device in the audit before
  // (AuditMemo): a store that wrote that one need not encode it again.
  bool unchanged = false;
};

struct ServerRecord {
  std::string id;                    // "ip:port"
  Endpoint endpoint;
  std::vector<std::string> sni;
  bool tls = false;
  bool requests_client_cert = false;
  // False when every handshake seen hid the answer (TLS 1.3 encrypts
  // CertificateRequest): then the report says null, not false.
  bool cert_request_visible = false;
  bool renegotiation_seen = false;   // a request may hide in an encrypted renegotiation
  std::vector<std::string> requested_ca_names;
  std::vector<std::string> tls_versions;
  std::vector<std::string> cipher_suites;
  std::optional<CertVerdict> cert;
  std::vector<Finding> findings;
  std::int64_t first_seen = 0, last_seen = 0;
  std::uint64_t sessions = 0;
  std::uint64_t clients = 0;
  // "sni", "requested_ca_names": distinct values past the first DEVICE_LIST_MAX, counted.
  std::map<std::string, std::uint64_t> omitted;
};

struct AuditResult {
  std::vector<DeviceRecord> devices;   // sorted by id
  std::vector<ServerRecord> servers;   // sorted by id
};

// What the rules read from one observation. It depends on the observation and
// the rule set only, so a caller that audits the same evidence again and again
// may compute it once per observation (claimsOf) and pass it in AuditInput.
struct ObservationClaims {
  std::vector<ClaimRecord> claims;
  CertClaims cert;  // TLS with a client certificate only
};
ObservationClaims claimsOf(const TlsObservation& t, const RuleSet& rules);
ObservationClaims claimsOf(const HttpObservation& h, const RuleSet& rules);

struct AuditInput {
  const std::vector<TlsObservation>* tls = nullptr;
  const std::vector<HttpObservation>* http = nullptr;
  // Optional: claimsOf each observation under the audit's rule set, in the same
  // order (at least as many as there are observations); computed when null.
  const std::vector<ObservationClaims>* tls_claims = nullptr;
  const std::vector<ObservationClaims>* http_claims = nullptr;
};

AuditResult runAudit(const AuditInput& input, const RuleSet& rules, const TrustStore* device_ca,
                     const TrustStore* server_ca);

// What an audit leaves to the next one over the same evidence, grown: the
// caller's observation vectors only appended to (so an observation keeps its
// index), their claims, the rule set and the device trust store unchanged.
// Building a device is a pure function of its evidence (which observations,
// in which order, which full handshakes its resumed ones continue, whether
// its frames' MAC is a host MAC): a device whose evidence is the same as in
// the last result is taken over from it, only its cross-device findings
// (cert-clone, fingerprint-mismatch) are judged again. A live sensor's audit
// every second then builds the devices that changed, not the whole fleet.
struct AuditMemo {
  AuditResult result;  // the last audit's; its devices move into the next
  // Per device of `result`, what it was built from (two words per observation).
  std::vector<std::vector<std::uint64_t>> evidence;
  const RuleSet* rules = nullptr;
  const TrustStore* device_ca = nullptr;
  std::size_t tls = 0, http = 0;  // observations the last audit read
  bool valid = false;

  // The next audit builds every device afresh (the evidence was replaced, or
  // the rules changed); `result` stays until then.
  void clear() {
    evidence.clear();
    valid = false;
  }
};

// As above, taking over the unchanged devices of memo.result; the result
// replaces memo.result, and is returned from there (valid until the next audit
// with this memo). On an exception the memo is cleared.
const AuditResult& runAudit(const AuditInput& input, const RuleSet& rules, const TrustStore* device_ca,
                            const TrustStore* server_ca, AuditMemo& memo);

std::string cipherSuiteName(std::uint16_t id);
bool isWeakCipher(std::uint16_t id);

}  // namespace provaudit::analyze
