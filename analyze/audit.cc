#include "analyze/audit.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <exception>
#include <iterator>
#include <map>
#include <set>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "common/thread_name.h"

namespace provaudit::analyze {
namespace {

constexpr const char* CLASS_INDIVIDUALIZED = "individualized";
constexpr const char* CLASS_GENERIC = "generic";
constexpr const char* CLASS_NONE = "none";
constexpr const char* CLASS_UNKNOWN = "unknown";

// One piece of evidence (a TLS handshake or an HTTP request) with what it claims.
struct Evidence {
  const TlsObservation* tls = nullptr;
  const HttpObservation* http = nullptr;
  const ObservationClaims* read = nullptr;  // what the rules read from it
  std::uint32_t key = 0;   // its device's key: Auditor::keys_[key]
  bool host_mac = false;  // its frames come from a host MAC (the device's key, then)
  const Evidence* resumes = nullptr;  // the full handshake a resumed one continues
  // Which observation: its index in the input's TLS or HTTP list, shifted
  // left, the low bit set for HTTP (AuditMemo's evidence words).
  std::uint64_t id = 0;

  [[nodiscard]] const ObservedFlow& flow() const { return tls != nullptr ? tls->flow : http->flow; }
  [[nodiscard]] std::int64_t ts() const { return tls != nullptr ? tls->first.ts_ns : http->flow.ref.ts_ns; }
};

// " and 7 more" below ten; above, only the order of magnitude (" and 1000+
// more"), so the text changes rarely as a group of clones grows.
std::string moreClause(std::size_t rest) {
  if (rest == 0) return {};
  if (rest < 10) return " and " + std::to_string(rest) + " more";
  std::size_t magnitude = 10;
  while (rest / magnitude >= 10) magnitude *= 10;
  return " and " + std::to_string(magnitude) + "+ more";
}

void pushUnique(std::vector<std::string>& v, const std::string& s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

// A list of distinct values kept whole (a device's servers: the store lists
// a server's devices from them), looked up in the list while it is short and
// in a set once it passes DEVICE_LIST_MAX (a scanner reaching thousands of
// servers made each lookup a search of them all).
class UniqueList {
 public:
  void add(std::vector<std::string>& list, const std::string& s) {
    if (s.empty()) return;
    if (list.size() < DEVICE_LIST_MAX) {
      pushUnique(list, s);
      return;
    }
    if (seen_.empty()) seen_.insert(list.begin(), list.end());
    if (seen_.insert(s).second) list.push_back(s);
  }

 private:
  std::unordered_set<std::string> seen_;
};

// One of a device's (or a server's) lists: its first DEVICE_LIST_MAX
// distinct values kept, the others counted by their hash (omitted). Each
// value is looked up among those kept only: never more than 64 compares.
class CappedList {
 public:
  void add(std::vector<std::string>& kept, const std::string& s) {
    if (s.empty() || std::find(kept.begin(), kept.end(), s) != kept.end()) return;
    if (kept.size() < DEVICE_LIST_MAX) kept.push_back(s);
    else more_.insert(std::hash<std::string>{}(s));
  }
  void noteIn(std::map<std::string, std::uint64_t>& omitted, const char* list) const {
    if (!more_.empty()) omitted[list] = more_.size();
  }

 private:
  std::unordered_set<std::size_t> more_;
};

void addClaims(std::vector<ClaimRecord>& out, const Claims& c, const std::string& origin, const std::string& evidence,
               const ObservedFlow& flow) {
  std::shared_ptr<const ClaimSource> from;  // made for the first claim, shared by the others
  auto add = [&](const char* field, std::string value) {
    if (value.empty()) return;
    if (!from) from = std::make_shared<const ClaimSource>(ClaimSource{origin, evidence, c.rule, flow.ref, flow.source});
    out.push_back({field, std::move(value), from});
  };
  add("vendor", c.vendor.value_or(""));
  add("model", c.model.value_or(""));
  add("firmware", c.firmware.value_or(""));
  add("serial", c.serial.value_or(""));
  if (c.mac) add("mac", c.mac->str());
  add("ccert", c.ccert.value_or(""));
}

std::optional<std::string> firstClaim(const std::vector<ClaimRecord>& claims, const std::string& field,
                                      std::initializer_list<const char*> origins) {
  for (const char* origin : origins) {
    for (const auto& c : claims) {
      if (c.field == field && c.origin() == origin) return c.value;
    }
  }
  return std::nullopt;
}

// As firstClaim, but of the origin's claims the latest in time: a device's
// firmware after an upgrade is what it says now, not what it said first.
std::optional<std::string> latestClaim(const std::vector<ClaimRecord>& claims, const std::string& field,
                                       std::initializer_list<const char*> origins) {
  for (const char* origin : origins) {
    const ClaimRecord* latest = nullptr;
    for (const auto& c : claims) {
      if (c.field != field || c.origin() != origin) continue;
      if (latest == nullptr || c.ref().ts_ns >= latest->ref().ts_ns) latest = &c;
    }
    if (latest != nullptr) return latest->value;
  }
  return std::nullopt;
}

std::vector<std::string> distinctClaims(const std::vector<ClaimRecord>& claims, const std::string& field,
                                        const std::string& origin) {
  std::vector<std::string> out;
  for (const auto& c : claims) {
    if (c.field == field && c.origin() == origin) pushUnique(out, c.value);
  }
  return out;
}

std::string joined(const std::set<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

struct Outcome {
  std::string identity;
  std::string reason;
  bool decisive = false;
};

// Class of one handshake (design.md "Identity class").
Outcome classify(const Evidence& ev) {
  const TlsObservation& t = *ev.tls;
  if (t.client_cert == ClientCertState::Present && !t.client_chain.empty()) {
    if (ev.read->cert.generic) return {CLASS_GENERIC, "generic-cert", true};
    return {CLASS_INDIVIDUALIZED, "client-cert", true};
  }
  if (t.client_cert == ClientCertState::Present) {
    // A certificate was sent but did not decode: something was there, but we cannot say what.
    return {CLASS_UNKNOWN, "unparseable-cert", false};
  }
  // RFC 7250: the device proved it holds a key, but a bare key names no one
  // (no subject, no issuer, no claims): which unit it is stays unknown, and a
  // certificate it showed before is not overridden.
  if (t.client_cert == ClientCertState::RawPublicKey) return {CLASS_UNKNOWN, "raw-public-key", false};
  if (t.client_cert == ClientCertState::Empty) return {CLASS_NONE, "empty-certificate", true};
  if (t.no_certificate_alert) return {CLASS_NONE, "no-certificate-alert", true};
  // A TLS 1.3 handshake or a renegotiation hides its CertificateRequest, but
  // not once decrypted (TlsObservation::decrypted): then it is read as a
  // handshake in clear is.
  if (t.tls13 && !t.decrypted) return {CLASS_UNKNOWN, "tls13", false};
  if (t.resumed) return {CLASS_UNKNOWN, "resumed", false};
  if (t.renegotiation && !t.decrypted) return {CLASS_UNKNOWN, "renegotiation", false};
  if (t.gap) return {CLASS_UNKNOWN, "handshake-gap", false};
  if (t.server_hello_seen && !t.certificate_requested && t.complete) return {CLASS_UNKNOWN, "not-requested", false};
  if (t.certificate_requested) return {CLASS_UNKNOWN, "handshake-incomplete", false};
  if (!t.server_hello_seen) return {CLASS_UNKNOWN, "handshake-incomplete", false};
  return {CLASS_UNKNOWN, "not-requested", false};
}

bool isLegacyVersion(std::uint16_t v) { return v != 0 && v < 0x0303; }

CertVerdict verdictFor(const std::vector<CertPtr>& chain, const CertClaims& claims, std::int64_t ts_ns,
                       const TrustStore* trust) {
  CertVerdict v;
  v.cert = chain.front();
  v.chain_sent = chain;
  v.product = claims.model;
  v.serial = claims.serial;
  v.mac = claims.mac;
  v.generic = claims.generic;
  v.checked_at_ns = ts_ns;
  if (trust != nullptr) {
    const ChainResult r = trust->verify(chain, ts_ns / 1000000000);
    v.chain = r.status;
    v.chain_error = r.error;
    v.issuer_window = r.issuer_window;
  }
  return v;
}

// Validity, strength and trust findings of one certificate, shared by devices and servers.
void certFindings(const CertVerdict& v, std::int64_t ts_ns, const RuleSet& rules, std::vector<Finding>& out) {
  const CertInfo& c = *v.cert;
  const std::int64_t at = ts_ns / 1000000000;
  if (v.chain == "untrusted") {
    out.push_back({"cert-untrusted", rules.severity("cert-untrusted"),
                   "chain of " + c.subject_text + " does not verify against the trusted CA bundle: " + v.chain_error});
  }
  const bool dated = packetTimeKnown(ts_ns);  // else no time to judge the validity window against
  if (dated && c.not_after_known && at > c.not_after) {
    out.push_back({"cert-expired", rules.severity("cert-expired"),
                   "certificate expired " + isoTimeSeconds(c.not_after) + ", presented " + isoTime(ts_ns)});
  } else if (dated && c.not_before_known && at < c.not_before) {
    out.push_back({"cert-not-yet-valid", rules.severity("cert-not-yet-valid"),
                   "certificate valid from " + isoTimeSeconds(c.not_before) + ", presented " + isoTime(ts_ns)});
  } else if (!v.issuer_window.empty()) {
    // The certificate is in its window, the CA that issued it is not: the
    // chain does not verify at that time either.
    out.push_back({v.issuer_window, rules.severity(v.issuer_window),
                   "chain of " + c.subject_text + ", " + v.chain_error + ", presented " + isoTime(ts_ns)});
  }
  const bool rsa_like = c.key_type == "RSA" || c.key_type == "DSA" || c.key_type == "RSA-PSS";
  if ((rsa_like && c.key_bits > 0 && c.key_bits < 2048) || (c.key_type == "EC" && c.key_bits > 0 && c.key_bits < 224)) {
    out.push_back({"cert-weak-key", rules.severity("cert-weak-key"),
                   c.key_type + " " + std::to_string(c.key_bits) + "-bit key"});
  }
  const std::string digest = lower(c.signature_digest);
  if (digest == "md5" || digest == "sha1" || digest == "md2" || digest == "md4") {
    out.push_back({"cert-weak-signature", rules.severity("cert-weak-signature"), "signed with " + c.signature});
  }
}

// Hashes of wire addresses, for lookups whose order does not matter.
struct MacHash {
  std::size_t operator()(const MacAddr& m) const noexcept {
    std::uint64_t v = 0;
    std::memcpy(&v, m.b.data(), m.b.size());
    return std::hash<std::uint64_t>{}(v);
  }
};
struct IpHash {
  std::size_t operator()(const IpAddr& a) const noexcept {
    const std::string_view bytes(reinterpret_cast<const char*>(a.b.data()), a.b.size());
    return std::hash<std::string_view>{}(bytes) ^ a.family;
  }
};

// Adds `v` to `list` unless it is there, keeping at most `limit` + 1 entries:
// enough to tell "at most limit distinct values" from "more".
template <typename T>
void addDistinctUpTo(std::vector<T>& list, const T& v, std::size_t limit) {
  if (list.size() > limit || std::find(list.begin(), list.end(), v) != list.end()) return;
  list.push_back(v);
}

// Findings that depend on other devices too (crossDeviceFindings), not on the
// device's own evidence alone.
bool isCrossDeviceFinding(const Finding& f) { return f.code == "cert-clone" || f.code == "fingerprint-mismatch"; }

// The cross-device findings of `findings`, in their order.
std::vector<Finding> crossDeviceFindingsOf(const std::vector<Finding>& findings) {
  std::vector<Finding> out;
  for (const auto& f : findings) {
    if (isCrossDeviceFinding(f)) out.push_back(f);
  }
  return out;
}

void sortFindings(std::vector<Finding>& f) {
  std::sort(f.begin(), f.end(), [](const Finding& a, const Finding& b) {
    return a.code != b.code ? a.code < b.code : a.detail < b.detail;
  });
}

class Auditor {
 public:
  Auditor(const RuleSet& rules, const TrustStore* device_ca, const TrustStore* server_ca)
      : rules_(rules), device_ca_(device_ca), server_ca_(server_ca) {}

  // With a memo (valid for this input, see AuditMemo), the devices whose
  // evidence did not change are taken over from memo->result.
  AuditResult run(const AuditInput& in, AuditMemo* memo = nullptr) {
    collect(in);
    assignDeviceKeys();
    AuditMemo* reuse = memo != nullptr && memoFits(*memo, in) ? memo : nullptr;
    if (memo != nullptr && reuse == nullptr) {
      std::vector<DeviceRecord>().swap(memo->result.devices);  // nothing to take over: gone before the new are made
      memo->clear();
    }
    AuditResult out;
    buildDevices(out, reuse, memo != nullptr);
    crossDeviceFindings(out);
    buildServers(out);
    for (auto& d : out.devices) sortFindings(d.findings);
    for (auto& s : out.servers) sortFindings(s.findings);
    markUnchanged(out);
    return out;
  }

  // Per device of the last run's result, what it was built from (when asked for).
  std::vector<std::vector<std::uint64_t>> takeEvidenceOf() { return std::move(evidence_of_); }

 private:
  // The claims of observation i: the caller's, or read here (own_claims_
  // keeps their addresses stable while evidence_ is sorted).
  template <typename Observation>
  const ObservationClaims* readClaims(const Observation& o, std::size_t i,
                                      const std::vector<ObservationClaims>* given) {
    if (given != nullptr && i < given->size()) return &(*given)[i];
    return &own_claims_.emplace_back(claimsOf(o, rules_));
  }

  void collect(const AuditInput& in) {
    if (in.tls != nullptr) {
      for (std::size_t i = 0; i < in.tls->size(); ++i) {
        Evidence ev;
        ev.tls = &(*in.tls)[i];
        ev.read = readClaims(*ev.tls, i, in.tls_claims);
        ev.id = static_cast<std::uint64_t>(i) << 1;
        evidence_.push_back(std::move(ev));
      }
    }
    if (in.http != nullptr) {
      for (std::size_t i = 0; i < in.http->size(); ++i) {
        Evidence ev;
        ev.http = &(*in.http)[i];
        ev.read = readClaims(*ev.http, i, in.http_claims);
        ev.id = static_cast<std::uint64_t>(i) << 1 | 1;
        evidence_.push_back(std::move(ev));
      }
    }
    std::stable_sort(evidence_.begin(), evidence_.end(), [](const Evidence& a, const Evidence& b) { return a.ts() < b.ts(); });
    linkResumptions();
  }

  // RFC 5246 §7.4.1.2: a client resumes by offering the session id the server
  // gave in an earlier full handshake; the server echoes it. RFC 5077 §3.1: or
  // by offering, in its session_ticket extension, the ticket the server issued
  // in that handshake's NewSessionTicket (its session id is then random, §3.4).
  // Link the two, so a device seen only resumed (say, after its address
  // changed) keeps its class.
  void linkResumptions() {
    using Index = std::map<std::pair<Endpoint, std::string>, const Evidence*>;
    Index by_session_id;
    Index by_ticket;
    const auto find = [](const Index& index, const Endpoint& server, const std::string& key) -> const Evidence* {
      if (key.empty()) return nullptr;
      auto it = index.find({server, key});
      return it == index.end() ? nullptr : it->second;
    };
    for (auto& ev : evidence_) {
      if (ev.tls == nullptr) continue;
      const TlsObservation& t = *ev.tls;
      if (t.resumed) {
        ev.resumes = find(by_session_id, t.flow.server, t.session_id);
        if (ev.resumes == nullptr) ev.resumes = find(by_ticket, t.flow.server, t.ticket_sha256);
        // RFC 5077 §3.3: a resumed session may get a fresh ticket for the same
        // session state; resuming with that one continues the same full handshake.
        if (ev.resumes != nullptr && !t.issued_ticket_sha256.empty()) {
          by_ticket[{t.flow.server, t.issued_ticket_sha256}] = ev.resumes;
        }
      } else if (!t.tls13) {
        if (!t.server_session_id.empty()) by_session_id[{t.flow.server, t.server_session_id}] = &ev;
        if (!t.issued_ticket_sha256.empty()) by_ticket[{t.flow.server, t.issued_ticket_sha256}] = &ev;
      }
    }
  }

  // design.md: a device is its host MAC when that MAC is seen with one IP;
  // a MAC behind which many IPs (or many claimed devices) appear is a router.
  // A MAC that its own evidence claims (a certificate, User-Agent or URL
  // naming the MAC on the wire) is a device's, whatever else it claims: its
  // other claims disagree, which is a finding (cert-mac-mismatch), not a
  // router; keyed by its IP instead, it lost its MAC and merged with the
  // next device given that address.
  void assignDeviceKeys() {
    // Only whether a MAC (or an IP's group) has more than a limit of distinct
    // addresses or claims matters: each list stops one past its limit, so a
    // router's MAC with thousands of clients costs no more than a phone's.
    struct MacUse {
      std::vector<IpAddr> v4, v6;
      std::vector<std::string> claimed_macs;
      bool claims_itself = false;
    };
    std::unordered_map<MacAddr, MacUse, MacHash> macs;
    for (const auto& ev : evidence_) {
      const ObservedFlow& f = ev.flow();
      if (!f.client_mac || f.client_mac->isZero() || f.client_mac->isMulticast()) continue;
      MacUse& u = macs[*f.client_mac];
      if (f.client.ip.family == 4) addDistinctUpTo(u.v4, f.client.ip, HOST_MAC_MAX_IPV4);
      else addDistinctUpTo(u.v6, f.client.ip, HOST_MAC_MAX_IPV6);
      bool any_mac = false;
      for (const auto& c : ev.read->claims) {
        if (c.field != "mac") continue;
        addDistinctUpTo(u.claimed_macs, c.value, 1);
        any_mac = true;
      }
      if (any_mac && !u.claims_itself) {
        const std::string wire = f.client_mac->str();
        for (const auto& c : ev.read->claims) {
          if (c.field == "mac" && c.value == wire) u.claims_itself = true;
        }
      }
    }
    // Each distinct key is numbered once (keys_): a host MAC's when its
    // first piece of evidence comes, an address group's once for the group.
    constexpr std::uint32_t UNNUMBERED = ~std::uint32_t{0};
    std::unordered_map<MacAddr, std::uint32_t, MacHash> host_keys;
    for (const auto& [mac, use] : macs) {
      if (use.v4.size() <= HOST_MAC_MAX_IPV4 && use.v6.size() <= HOST_MAC_MAX_IPV6 &&
          (use.claimed_macs.size() <= 1 || use.claims_itself)) {
        host_keys.emplace(mac, UNNUMBERED);
      }
    }
    std::unordered_map<std::string, std::uint32_t> numbers;
    const auto number = [&](std::string key) {
      const auto [it, added] = numbers.try_emplace(std::move(key), static_cast<std::uint32_t>(keys_.size()));
      if (added) keys_.push_back(it->first);
      return it->second;
    };
    // Evidence without a host MAC is grouped by client IP; the group is keyed
    // by the MAC its claims agree on, else the serial, else the IP. (Groups
    // are independent: their order does not matter.)
    std::unordered_map<IpAddr, std::vector<Evidence*>, IpHash> by_ip;
    for (auto& ev : evidence_) {
      const ObservedFlow& f = ev.flow();
      const auto host = f.client_mac ? host_keys.find(*f.client_mac) : host_keys.end();
      if (host != host_keys.end()) {
        if (host->second == UNNUMBERED) host->second = number("mac:" + f.client_mac->str());
        ev.key = host->second;
        ev.host_mac = true;
      } else {
        by_ip[f.client.ip].push_back(&ev);
      }
    }
    for (auto& [ip, group] : by_ip) {
      const Identifiers ids = identifiersOf(group);
      if (ids.macs.size() > 1 || (ids.macs.empty() && ids.serials.size() > 1)) {
        keyByConnection(ip, group, number);
        continue;
      }
      std::string key;
      if (ids.macs.size() == 1) key = "mac:" + ids.macs.front();
      else if (ids.serials.size() == 1) key = "serial:" + ids.serials.front();
      else key = "ip:" + ip.str();
      const std::uint32_t k = number(std::move(key));
      for (Evidence* ev : group) ev->key = k;
    }
  }

  // The MACs and serials some evidence claims, each list stopping one past one.
  struct Identifiers {
    std::vector<std::string> macs, serials;
  };
  static Identifiers identifiersOf(const std::vector<Evidence*>& evs) {
    Identifiers ids;
    for (const Evidence* ev : evs) {
      for (const auto& c : ev->read->claims) {
        if (c.field == "mac") addDistinctUpTo(ids.macs, c.value, 1);
        if (c.field == "serial") addDistinctUpTo(ids.serials, c.value, 1);
      }
    }
    return ids;
  }

  // One address whose evidence names several units (phones behind one NAT
  // address, a lease handed from one unit to another behind a router): each
  // connection is keyed by the MAC its own claims name, else by the serial
  // (the MAC another connection names with that serial, if one), else it
  // continues the connection it resumes; what names no unit, or several,
  // stays the address's. A connection is its endpoints: a decrypted request
  // belongs with the handshake of its connection.
  template <typename Number>
  void keyByConnection(const IpAddr& ip, const std::vector<Evidence*>& group, Number& number) {
    std::map<std::pair<Endpoint, Endpoint>, std::vector<Evidence*>> connections;
    for (Evidence* ev : group) connections[{ev->flow().client, ev->flow().server}].push_back(ev);
    std::map<std::string, std::vector<std::string>> mac_of_serial;
    for (const auto& [ends, evs] : connections) {
      const Identifiers ids = identifiersOf(evs);
      if (ids.macs.size() == 1 && ids.serials.size() == 1) {
        addDistinctUpTo(mac_of_serial[ids.serials.front()], ids.macs.front(), 1);
      }
    }
    constexpr std::uint32_t NOT_YET = ~std::uint32_t{0};
    for (Evidence* ev : group) ev->key = NOT_YET;
    // The address's own key is numbered only if something stays with it.
    auto address = [&, k = NOT_YET]() mutable { return k != NOT_YET ? k : (k = number("ip:" + ip.str())); };
    std::vector<const std::vector<Evidence*>*> unnamed;
    for (const auto& [ends, evs] : connections) {
      const Identifiers ids = identifiersOf(evs);
      std::uint32_t k = NOT_YET;
      if (ids.macs.size() == 1) {
        k = number("mac:" + ids.macs.front());
      } else if (ids.macs.empty() && ids.serials.size() == 1) {
        const auto it = mac_of_serial.find(ids.serials.front());
        k = it != mac_of_serial.end() && it->second.size() == 1 ? number("mac:" + it->second.front())
                                                               : number("serial:" + ids.serials.front());
      } else if (ids.macs.empty() && ids.serials.empty()) {
        unnamed.push_back(&evs);
        continue;
      } else {
        k = address();
      }
      for (Evidence* ev : evs) ev->key = k;
    }
    // After the named ones: a resumption takes the key of the handshake it
    // continues, when that one is this address's too.
    for (const std::vector<Evidence*>* evs : unnamed) {
      std::uint32_t k = NOT_YET;
      for (const Evidence* ev : *evs) {
        if (ev->resumes != nullptr && ev->resumes->flow().client.ip == ip && ev->resumes->key != NOT_YET) {
          k = ev->resumes->key;
        }
      }
      if (k == NOT_YET) k = address();
      for (Evidence* ev : *evs) ev->key = k;
    }
  }

  // The memo was left by an audit of a prefix of this input, under these rules.
  bool memoFits(const AuditMemo& memo, const AuditInput& in) const {
    return memo.valid && memo.rules == &rules_ && memo.device_ca == device_ca_ &&
           memo.evidence.size() == memo.result.devices.size() && memo.tls <= (in.tls ? in.tls->size() : 0) &&
           memo.http <= (in.http ? in.http->size() : 0);
  }

  // What a device is built from (AuditMemo): per observation, which one it is,
  // then which full handshake it resumes (0: none) and whether its frames'
  // MAC is a host MAC.
  static std::uint64_t linksOf(const Evidence& ev) {
    return (ev.resumes != nullptr ? ev.resumes->id + 1 : 0) << 1 | (ev.host_mac ? 1 : 0);
  }
  static std::vector<std::uint64_t> evidenceOf(const std::vector<const Evidence*>& evs) {
    std::vector<std::uint64_t> out;
    out.reserve(2 * evs.size());
    for (const Evidence* ev : evs) {
      out.push_back(ev->id);
      out.push_back(linksOf(*ev));
    }
    return out;
  }
  static bool builtFrom(const std::vector<std::uint64_t>& words, const std::vector<const Evidence*>& evs) {
    if (words.size() != 2 * evs.size()) return false;
    for (std::size_t i = 0; i < evs.size(); ++i) {
      if (words[2 * i] != evs[i]->id || words[2 * i + 1] != linksOf(*evs[i])) return false;
    }
    return true;
  }

  // Devices are independent of each other until crossDeviceFindings: a large
  // audit builds the second half of them on another thread. With `memo`, a
  // device built from the same evidence last time is taken over instead (its
  // cross-device findings set aside, to be judged again); with `keep_evidence`,
  // what each device is built from is kept for the next audit's memo.
  void buildDevices(AuditResult& out, AuditMemo* memo, bool keep_evidence) {
    // Each device's evidence (in time order), the devices in key order.
    std::vector<std::vector<const Evidence*>> groups(keys_.size());
    for (const auto& ev : evidence_) groups[ev.key].push_back(&ev);
    std::vector<std::uint32_t> order(keys_.size());
    for (std::uint32_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return keys_[a] < keys_[b]; });
    out.devices.resize(order.size());
    taken_over_.assign(order.size(), false);
    previous_cross_.assign(order.size(), {});
    if (keep_evidence) evidence_of_.resize(order.size());
    std::vector<std::size_t> todo;  // devices to build, in order
    todo.reserve(order.size());
    std::vector<DeviceRecord>* previous = memo != nullptr ? &memo->result.devices : nullptr;
    std::size_t p = 0;  // both lists are sorted by id
    for (std::size_t i = 0; i < order.size(); ++i) {
      const std::string& key = keys_[order[i]];
      const std::vector<const Evidence*>& evs = groups[order[i]];
      if (previous != nullptr) {
        while (p < previous->size() && (*previous)[p].id < key) ++p;
        if (p < previous->size() && (*previous)[p].id == key && builtFrom(memo->evidence[p], evs)) {
          DeviceRecord& d = out.devices[i] = std::move((*previous)[p]);
          previous_cross_[i] = crossDeviceFindingsOf(d.findings);
          std::erase_if(d.findings, isCrossDeviceFinding);
          taken_over_[i] = true;
          evidence_of_[i] = std::move(memo->evidence[p]);
          continue;
        }
      }
      if (keep_evidence) evidence_of_[i] = evidenceOf(evs);
      todo.push_back(i);
    }
    // The devices not taken over are built again (or are gone): their old
    // records go before the new ones are made.
    if (memo != nullptr) {
      std::vector<DeviceRecord>().swap(memo->result.devices);
      memo->clear();
    }
    // Devices are built in chunks, taken in turn by this thread and (in a
    // large audit) a helper until none is left: neither waits for the other
    // with work undone (the helper, allocating from a fresh malloc arena that
    // grows a page at a time, was the slower half of an even split).
    std::atomic<std::size_t> next{0};
    const auto build = [&] {
      for (;;) {
        const std::size_t from = next.fetch_add(BUILD_CHUNK_DEVICES);
        if (from >= todo.size()) return;
        const std::size_t to = std::min(todo.size(), from + BUILD_CHUNK_DEVICES);
        for (std::size_t k = from; k < to; ++k) {
          const std::size_t i = todo[k];
          out.devices[i] = buildDevice(keys_[order[i]], groups[order[i]]);
        }
      }
    };
    std::exception_ptr helper_error;
    std::thread helper;
    if (todo.size() >= PARALLEL_BUILD_MIN_DEVICES && std::thread::hardware_concurrency() > 1) {
      helper = std::thread([&] {
        try {
          build();
        } catch (...) {
          helper_error = std::current_exception();
          next = todo.size();  // the other thread stops after its chunk
        }
      });
      nameThread(helper, "pa-derive");
    }
    try {
      build();
    } catch (...) {
      next = todo.size();
      if (helper.joinable()) helper.join();
      throw;
    }
    if (helper.joinable()) helper.join();
    if (helper_error) std::rethrow_exception(helper_error);
    for (auto& d : out.devices) {
      if (d.cert && !d.cert->generic) cert_users_[d.cert->cert->sha256].push_back(&d);
    }
  }

  DeviceRecord buildDevice(const std::string& key, const std::vector<const Evidence*>& evs) {
    DeviceRecord d;
    d.id = key;
    d.first_seen = evs.front()->ts();
    d.last_seen = evs.front()->ts();
    std::optional<MacAddr> wire_mac;
    const Evidence* decisive = nullptr;
    Outcome decisive_outcome;
    const Evidence* latest_tls = nullptr;
    const Evidence* linked = nullptr;  // decisive full handshake that a resumed one of ours continues
    Outcome latest_outcome;
    std::set<std::string> legacy, weak;  // versions and cipher suites
    bool plaintext = false;
    std::string first_plain_url;
    // Every claim of the evidence, and one from the OUI: sized once (grown
    // one piece of evidence at a time and then by the OUI's claim, the list
    // doubled and kept half of it empty, a fifth of a device's memory).
    std::size_t claims = 1;
    for (const Evidence* ev : evs) claims += ev->read->claims.size();
    d.claims.reserve(claims);
    const auto tls_count = static_cast<std::size_t>(
        std::count_if(evs.begin(), evs.end(), [](const Evidence* ev) { return ev->tls != nullptr; }));
    d.handshakes.reserve(std::min(tls_count, 2 * HANDSHAKE_HISTORY_ENDS));
    // The history's last HANDSHAKE_HISTORY_ENDS once the first are taken: a
    // ring whose oldest entry is at `last_next` once it is full.
    std::vector<HandshakeSummary> last_ones;
    std::size_t last_next = 0;
    const auto keepHandshake = [&](HandshakeSummary&& hs) {
      if (d.handshakes.size() < HANDSHAKE_HISTORY_ENDS) {
        d.handshakes.push_back(std::move(hs));
      } else if (last_ones.size() < HANDSHAKE_HISTORY_ENDS) {
        last_ones.push_back(std::move(hs));
      } else {
        last_ones[last_next] = std::move(hs);
        last_next = (last_next + 1) % HANDSHAKE_HISTORY_ENDS;
        ++d.handshakes_omitted;
      }
    };
    CappedList ips, user_agents, urls, ja3, ja4, sni;
    UniqueList servers;
    for (const Evidence* ev : evs) {
      const ObservedFlow& f = ev->flow();
      d.first_seen = std::min(d.first_seen, ev->ts());
      d.last_seen = std::max(d.last_seen, ev->flow().ref.ts_ns);
      ips.add(d.ips, f.client.ip.str());
      if (ev->host_mac) wire_mac = f.client_mac;
      d.claims.insert(d.claims.end(), ev->read->claims.begin(), ev->read->claims.end());
      ++d.sessions;
      d.sightings.push_back({ev->tls != nullptr ? observationKey(*ev->tls) : observationKey(*ev->http), f.ref.ts_ns});
      servers.add(d.servers, f.server.str());
      if (ev->http != nullptr) {
        const HttpObservation& h = *ev->http;
        ++d.http_requests;
        user_agents.add(d.user_agents, h.user_agent);
        // A proxy's CONNECT names a host, not a profile, and exposes none: the
        // tunnel's own handshake is read as any other.
        if (isTunnelRequest(h)) continue;
        urls.add(d.urls, h.uri);
        if (!h.over_tls) {
          plaintext = true;
          if (first_plain_url.empty()) first_plain_url = h.method + " " + h.uri;
        }
        if (h.over_tls) d.evidence_decrypted = true;
        continue;
      }
      const TlsObservation& t = *ev->tls;
      const Outcome o = classify(*ev);
      HandshakeSummary hs;
      hs.ts_ns = t.first.ts_ns;
      hs.source = t.flow.source;
      hs.frame = t.client_cert_frame != 0 ? t.client_cert_frame : t.first.frame;
      hs.client = t.flow.client;
      hs.server = t.flow.server;
      hs.version = t.version;
      hs.cipher_suite = t.version != 0 ? t.cipher_suite : 0;
      hs.sni = t.sni;
      hs.outcome = o.identity;
      hs.reason = o.reason;
      hs.cert_sha256 = (o.decisive && !t.client_chain.empty()) ? t.client_chain.front()->sha256 : "";
      hs.ja3 = t.ja3;
      hs.ja4 = t.ja4;
      hs.decrypted = t.decrypted;
      hs.gap = t.gap;
      if (ev->resumes != nullptr) {
        hs.resumes_ts_ns = ev->resumes->ts();
        hs.resumes_frame = ev->resumes->tls->first.frame;
        hs.resumes_source = ev->resumes->tls->flow.source;
        if (decisive == nullptr && classify(*ev->resumes).decisive) linked = ev->resumes;
      }
      keepHandshake(std::move(hs));
      if (t.version != 0) pushUnique(d.tls_versions, versionName(t.version));
      ja3.add(d.ja3, t.ja3);
      ja4.add(d.ja4, t.ja4);
      sni.add(d.sni, t.sni);
      // Identity class comes from the latest decisive handshake; a resumed or
      // hidden one never downgrades a device that showed a certificate before.
      if (o.decisive) {
        decisive = ev;
        decisive_outcome = o;
      }
      latest_tls = ev;
      latest_outcome = o;
      if (isLegacyVersion(t.version)) legacy.insert(versionName(t.version));
      if (t.version != 0 && isWeakCipher(t.cipher_suite)) weak.insert(cipherSuiteName(t.cipher_suite));
    }
    // The last ones after the first, oldest first.
    std::rotate(last_ones.begin(), last_ones.begin() + static_cast<std::ptrdiff_t>(last_next), last_ones.end());
    std::move(last_ones.begin(), last_ones.end(), std::back_inserter(d.handshakes));

    if (decisive == nullptr && linked != nullptr) {
      // Only resumed sessions of our own, but they continue a full handshake
      // (of this or another address) that showed the certificate.
      decisive = linked;
      decisive_outcome = classify(*linked);
    }
    if (decisive != nullptr) {
      d.identity = decisive_outcome.identity;
      d.identity_reason = decisive_outcome.reason;
      d.evidence_decrypted = decisive->tls->decrypted;
    } else if (latest_tls != nullptr) {
      d.identity = CLASS_UNKNOWN;
      d.identity_reason = latest_outcome.reason;
    } else {
      d.identity = CLASS_UNKNOWN;
      d.identity_reason = "plaintext-only";
    }

    // Claims resolve by precedence: the certificate, then the User-Agent, then URL / POST body.
    d.vendor = firstClaim(d.claims, "vendor", {"certificate", "user-agent", "post-body", "url"});
    d.model = firstClaim(d.claims, "model", {"certificate", "user-agent", "post-body", "url"});
    d.firmware = latestClaim(d.claims, "firmware", {"user-agent", "post-body", "url"});
    d.serial = firstClaim(d.claims, "serial", {"certificate", "user-agent", "post-body", "url"});
    if (wire_mac) {
      d.mac = wire_mac;
      d.mac_from_wire = true;
    } else {
      std::set<std::string> macs;
      for (const auto& c : d.claims) {
        if (c.field == "mac") macs.insert(c.value);
      }
      if (macs.size() == 1) d.mac = MacAddr::parse(*macs.begin());
    }
    if (d.mac) {
      if (auto v = rules_.vendorForMac(*d.mac)) {
        auto from = std::make_shared<const ClaimSource>(ClaimSource{"oui", d.mac->str(), "oui", {}, ""});
        d.claims.push_back({"vendor", *v, std::move(from)});
        if (!d.vendor) d.vendor = v;
      }
    }
    CappedList ccert;
    for (const auto& c : d.claims) {
      if (c.field == "ccert") ccert.add(d.ccert, c.value);
    }
    for (const auto& [list, name] : {std::pair{&ips, "ips"}, {&user_agents, "user_agents"}, {&urls, "urls"},
                                     {&ja3, "ja3"}, {&ja4, "ja4"}, {&sni, "sni"}, {&ccert, "ccert"}}) {
      list->noteIn(d.omitted, name);
    }

    if (decisive != nullptr && decisive->tls->client_cert == ClientCertState::Present) {
      const TlsObservation& t = *decisive->tls;
      d.cert = verdictFor(t.client_chain, decisive->read->cert, t.first.ts_ns, device_ca_);
      certFindings(*d.cert, t.first.ts_ns, rules_, d.findings);
    }
    deviceFindings(d, decisive, latest_outcome, latest_tls != nullptr, plaintext, first_plain_url);
    if (!legacy.empty()) d.findings.push_back({"legacy-tls", rules_.severity("legacy-tls"), "negotiated " + joined(legacy)});
    if (!weak.empty()) d.findings.push_back({"weak-cipher", rules_.severity("weak-cipher"), "negotiated " + joined(weak)});
    return d;
  }

  void deviceFindings(DeviceRecord& d, const Evidence* decisive, const Outcome& latest, bool had_tls, bool plaintext,
                      const std::string& first_plain_url) {
    auto add = [&](const char* code, std::string detail) {
      d.findings.push_back({code, rules_.severity(code), std::move(detail)});
    };
    if (d.identity == CLASS_GENERIC) {
      std::string detail = "presents the generic certificate " + (d.cert ? d.cert->cert->subject_text : std::string());
      const auto ua_serials = distinctClaims(d.claims, "serial", "user-agent");
      if (!ua_serials.empty()) detail += "; serial from User-Agent: " + ua_serials.front();
      add("generic-cert", detail);
    }
    if (d.identity == CLASS_NONE) {
      add("no-client-cert", decisive != nullptr && decisive->tls->no_certificate_alert
                                ? "server requested a certificate; the device answered with a no_certificate alert"
                                : "server requested a certificate; the device sent an empty Certificate message");
    }
    if (plaintext) {
      add("plaintext-provisioning", "profile fetched over plain HTTP (" + first_plain_url + "): User-Agent and profile exposed");
    }
    if (decisive == nullptr && had_tls &&
        (latest.reason == "tls13" || latest.reason == "resumed" || latest.reason == "renegotiation")) {
      const char* why = latest.reason == "tls13"     ? "TLS 1.3 encrypts the client Certificate"
                        : latest.reason == "resumed" ? "only resumed sessions were seen; they carry no certificate"
                                                     : "the certificate was requested in an encrypted renegotiation";
      add("cert-hidden", latest.reason + ": " + why);
    }
    // MAC and serial cross-checks (design.md: claims that disagree become findings).
    if (d.cert && d.cert->mac) {
      const std::string cert_mac = d.cert->mac->str();
      if (d.mac_from_wire && d.mac && *d.mac != *d.cert->mac) {
        add("cert-mac-mismatch", "certificate names MAC " + cert_mac + ", the device's frames come from " + d.mac->str());
      }
      for (const char* origin : {"user-agent", "url", "post-body"}) {
        for (const auto& m : distinctClaims(d.claims, "mac", origin)) {
          if (m != cert_mac) add("cert-mac-mismatch", "certificate names MAC " + cert_mac + ", the " + origin + " names " + m);
        }
      }
    }
    claimMismatches(d, add);
    if (d.cert && d.cert->serial) {
      for (const auto& s : distinctClaims(d.claims, "serial", "user-agent")) {
        if (lower(s) != lower(*d.cert->serial)) {
          add("serial-mismatch", "certificate names serial " + *d.cert->serial + ", the User-Agent names " + s);
        }
      }
    }
    // $CCERT says whether the unit holds an individual certificate.
    for (const auto& v : d.ccert) {
      const std::string l = lower(v);
      const bool says_installed = l == "installed";
      const bool says_not = l == "not installed" || l == "notinstalled" || l == "not+installed";
      if ((says_installed && (d.identity == CLASS_GENERIC || d.identity == CLASS_NONE)) ||
          (says_not && d.identity == CLASS_INDIVIDUALIZED)) {
        add("ccert-mismatch", "$CCERT reports \"" + v + "\" but the wire shows class " + d.identity);
      }
    }
  }

  // claim-mismatch: claims that disagree with the wire or with each other
  // (design.md "Device identity"), beyond what cert-mac-mismatch compares: a
  // MAC named by a request (User-Agent, URL, POST body) of a device whose
  // certificate names none, against the frames' host MAC or, behind a router,
  // against the other requests; the vendor a certificate names against the
  // one its User-Agent names; and the vendor whose OUI the device's MAC is in
  // against the vendors its certificate and User-Agent name (domain.md §1.3:
  // "its OUI should belong to the vendor"; a cloned profile, a proxy, a
  // spoofed unit). Vendors are the rules' canonical names (Linksys and
  // Sipura units are Cisco's), so a family's units agree.
  template <typename Add>
  static void claimMismatches(const DeviceRecord& d, Add& add) {
    std::vector<std::pair<std::string, std::string>> named;  // MAC, origin
    if (!(d.cert && d.cert->mac)) {
      for (const char* origin : {"user-agent", "url", "post-body"}) {
        for (auto& m : distinctClaims(d.claims, "mac", origin)) named.emplace_back(std::move(m), origin);
      }
    }
    if (!named.empty()) {
      const bool wire = d.mac_from_wire && d.mac;
      const std::string against = wire ? d.mac->str() : named.front().first;
      const std::string whose = wire ? "the device's frames come from " : "the " + named.front().second + " names ";
      for (const auto& [m, origin] : named) {
        if (m != against) add("claim-mismatch", "the " + origin + " names MAC " + m + ", " + whose + against);
      }
    }
    const auto cert_vendors = distinctClaims(d.claims, "vendor", "certificate");
    const auto ua_vendors = distinctClaims(d.claims, "vendor", "user-agent");
    for (const auto& v : ua_vendors) {
      if (!cert_vendors.empty() && std::find(cert_vendors.begin(), cert_vendors.end(), v) == cert_vendors.end()) {
        add("claim-mismatch", "the certificate names vendor " + cert_vendors.front() + ", the User-Agent names " + v);
      }
    }
    if (!d.mac) return;
    for (const auto& oui : distinctClaims(d.claims, "vendor", "oui")) {
      const auto& vendors = !cert_vendors.empty() ? cert_vendors : ua_vendors;
      if (vendors.empty() || std::find(vendors.begin(), vendors.end(), oui) != vendors.end()) continue;
      add("claim-mismatch", std::string(!cert_vendors.empty() ? "the certificate" : "the User-Agent") + " names vendor " +
                                vendors.front() + ", the device's MAC " + d.mac->str() + " is in an OUI of " + oui);
    }
  }

  // A device taken over is unchanged when its cross-device findings are what
  // they were (the rest of it is built from the same evidence).
  void markUnchanged(AuditResult& out) {
    for (std::size_t i = 0; i < out.devices.size(); ++i) {
      DeviceRecord& d = out.devices[i];
      d.unchanged = taken_over_[i] && crossDeviceFindingsOf(d.findings) == previous_cross_[i];
    }
  }

  void crossDeviceFindings(AuditResult& out) {
    // cert-clone: one non-generic certificate presented by more than one device.
    // Each holder names the others, up to CLONE_DETAIL_MAX_NAMES of them, the
    // first seen first, and says how many more to an order of magnitude: a
    // certificate cloned onto thousands of units must neither make the findings
    // grow with the square of the fleet nor change every holder's finding (and
    // so rewrite every holder) each time one more clone shows up.
    for (const auto& [sha, users] : cert_users_) {
      if (users.size() < 2) continue;
      std::vector<DeviceRecord*> holders = users;
      std::sort(holders.begin(), holders.end(), [](const DeviceRecord* a, const DeviceRecord* b) {
        return std::tie(a->first_seen, a->id) < std::tie(b->first_seen, b->id);
      });
      for (auto* holder : holders) {
        std::string others;
        std::size_t named = 0;
        for (const auto* o : holders) {
          if (o == holder) continue;
          if (named == CLONE_DETAIL_MAX_NAMES) break;
          others += (others.empty() ? "" : ", ") + o->id;
          ++named;
        }
        others += moreClause(holders.size() - 1 - named);
        holder->findings.push_back({"cert-clone", rules_.severity("cert-clone"),
                                    "certificate " + std::string(sha.substr(0, 16)) + " also presented by " + others});
      }
    }
    // fingerprint-mismatch: a device whose JA4 differs from what the rules
    // expect for its product, or from the majority of that product's fleet.
    std::map<std::string, std::vector<DeviceRecord*>> fleets;
    for (auto& d : out.devices) {
      if (d.model && !d.ja4.empty()) fleets[lower(d.vendor.value_or("")) + "|" + lower(*d.model)].push_back(&d);
    }
    for (auto& [product, fleet] : fleets) {
      const auto expected = rules_.expectedFingerprints(fleet.front()->vendor.value_or(""), *fleet.front()->model);
      std::string majority;
      if (expected.empty() && fleet.size() >= FINGERPRINT_FLEET_MIN) {
        std::map<std::string, std::size_t> counts;
        for (auto* d : fleet) counts[d->ja4.back()]++;
        for (const auto& [fp, n] : counts) {
          if (n * 2 > fleet.size()) majority = fp;
        }
      }
      for (auto* d : fleet) {
        const std::string& fp = d->ja4.back();
        bool mismatch = false;
        std::string why;
        if (!expected.empty()) {
          mismatch = std::find(expected.begin(), expected.end(), fp) == expected.end() &&
                     std::find(expected.begin(), expected.end(), d->ja3.back()) == expected.end();
          why = "the rules' fingerprints for " + *d->model;
        } else if (!majority.empty() && fp != majority) {
          mismatch = true;
          why = "the fleet's majority " + majority;
        }
        if (mismatch) {
          d->findings.push_back({"fingerprint-mismatch", rules_.severity("fingerprint-mismatch"),
                                 "claims " + *d->model + " but its TLS fingerprint " + fp + " differs from " + why});
        }
      }
    }
  }

  void buildServers(AuditResult& out) {
    // One server's tally, found once per piece of evidence (a provisioning
    // server sees every device: the 1 GB corpus's few servers had 24k
    // clients each, counted by device key in a tree of copied strings).
    struct Tally {
      ServerRecord record;
      std::unordered_set<std::uint32_t> clients;  // device keys (their numbers)
      std::vector<std::uint16_t> versions, suites;   // named once each
      const TlsObservation* latest_cert = nullptr;
      // Full handshakes read whole, in which a CertificateRequest would have
      // been seen (what server-no-cert-request counts: not the server's
      // sightings, which count each decrypted HTTP request too).
      std::uint64_t full_handshakes = 0;
      std::set<std::string> weak;
      CappedList sni, ca_names;  // of every client: hostile ones may send thousands
    };
    std::map<Endpoint, Tally> servers;
    for (const auto& ev : evidence_) {
      const ObservedFlow& f = ev.flow();
      Tally& tally = servers[f.server];
      ServerRecord& s = tally.record;
      if (s.id.empty()) {
        s.endpoint = f.server;
        s.id = f.server.str();
        s.first_seen = ev.ts();
        s.last_seen = ev.ts();
      }
      s.first_seen = std::min(s.first_seen, ev.ts());
      s.last_seen = std::max(s.last_seen, ev.ts());
      ++s.sessions;
      tally.clients.insert(ev.key);
      if (ev.tls == nullptr) continue;
      const TlsObservation& t = *ev.tls;
      s.tls = true;
      tally.sni.add(s.sni, t.sni);
      // A client sends its Certificate only when asked: the request itself
      // may be in a packet the capture lost.
      if (t.certificate_requested || t.client_cert != ClientCertState::NotSent) s.requests_client_cert = true;
      // Decrypted, a TLS 1.3 handshake or a renegotiation shows whether it asked.
      if (t.server_hello_seen && (!t.tls13 || t.decrypted)) s.cert_request_visible = true;
      if (t.renegotiation && !t.decrypted) s.renegotiation_seen = true;
      for (const auto& n : t.requested_ca_names) tally.ca_names.add(s.requested_ca_names, n);
      if (t.version != 0) {
        // Named once, sorted, when the server's record is finished (below).
        if (std::find(tally.versions.begin(), tally.versions.end(), t.version) == tally.versions.end()) {
          tally.versions.push_back(t.version);
        }
        if (std::find(tally.suites.begin(), tally.suites.end(), t.cipher_suite) == tally.suites.end()) {
          tally.suites.push_back(t.cipher_suite);
          pushUnique(s.cipher_suites, cipherSuiteName(t.cipher_suite));
          if (isWeakCipher(t.cipher_suite)) tally.weak.insert(cipherSuiteName(t.cipher_suite));
        }
      }
      if (!t.server_chain.empty()) tally.latest_cert = &t;
      // Only a handshake read without a gap shows that no request was sent.
      if (t.server_hello_seen && !t.resumed && (!t.tls13 || t.decrypted) && t.complete && !t.gap) {
        ++tally.full_handshakes;
      }
    }
    for (auto& entry : servers) {
      // (no structured binding: a lambda below captures the record, which clang 14 refuses)
      Tally& tally = entry.second;
      ServerRecord& s = tally.record;
      s.clients = tally.clients.size();
      // Versions oldest first (SSL 3.0 ... TLS 1.3), not in the order their sessions came.
      std::sort(tally.versions.begin(), tally.versions.end());
      for (const auto v : tally.versions) s.tls_versions.push_back(versionName(v));
      tally.sni.noteIn(s.omitted, "sni");
      tally.ca_names.noteIn(s.omitted, "requested_ca_names");
      auto add = [&](const char* code, std::string detail) {
        s.findings.push_back({code, rules_.severity(code), std::move(detail)});
      };
      if (tally.latest_cert != nullptr) {
        const TlsObservation& t = *tally.latest_cert;
        s.cert = verdictFor(t.server_chain, CertClaims{}, t.first.ts_ns, server_ca_);
        certFindings(*s.cert, t.first.ts_ns, rules_, s.findings);
        // Servers are judged on trust and validity; key size and signature
        // findings are kept for device certificates, where they are the audit's subject.
        std::erase_if(s.findings, [](const Finding& f) {
          return f.code == "cert-weak-key" || f.code == "cert-weak-signature";
        });
      }
      if (s.tls && !s.requests_client_cert && !s.renegotiation_seen && tally.full_handshakes > 0) {
        add("server-no-cert-request", "never sent CertificateRequest in " + std::to_string(tally.full_handshakes) +
                                          (tally.full_handshakes == 1 ? " full handshake" : " full handshakes") +
                                          ": its clients' certificates cannot be observed");
      }
      std::set<std::string> legacy;
      for (const auto& v : s.tls_versions) {
        if (v == "SSL 2.0" || v == "SSL 3.0" || v == "TLS 1.0" || v == "TLS 1.1") legacy.insert(v);
      }
      if (!legacy.empty()) add("legacy-tls", "negotiated " + joined(legacy));
      if (!tally.weak.empty()) add("weak-cipher", "negotiated " + joined(tally.weak));
      if (!s.tls) add("plaintext-provisioning", "serves provisioning over plain HTTP");
      out.servers.push_back(std::move(s));
    }
  }

  const RuleSet& rules_;
  const TrustStore* device_ca_;
  const TrustStore* server_ca_;
  std::vector<Evidence> evidence_;
  std::deque<ObservationClaims> own_claims_;
  std::vector<std::string> keys_;  // the devices' keys, numbered (Evidence::key)
  // A non-generic certificate's holders, by its SHA-256 (a view of the
  // certificate's own text); each device once (it has one certificate).
  std::unordered_map<std::string_view, std::vector<DeviceRecord*>> cert_users_;
  // Per device of the result: taken over from the memo, with the cross-device
  // findings it had there; and what it is built from.
  std::vector<bool> taken_over_;
  std::vector<std::vector<Finding>> previous_cross_;
  std::vector<std::vector<std::uint64_t>> evidence_of_;
};

}  // namespace

ObservationClaims claimsOf(const TlsObservation& t, const RuleSet& rules) {
  ObservationClaims out;
  if (t.client_cert == ClientCertState::Present && !t.client_chain.empty()) {
    out.cert = rules.matchCertificate(*t.client_chain.front());
    addClaims(out.claims, out.cert, "certificate", t.client_chain.front()->subject_text, t.flow);
  }
  return out;
}

ObservationClaims claimsOf(const HttpObservation& h, const RuleSet& rules) {
  ObservationClaims out;
  if (!h.user_agent.empty()) addClaims(out.claims, rules.matchUserAgent(h.user_agent), "user-agent", h.user_agent, h.flow);
  if (!h.uri.empty() && !isTunnelRequest(h)) addClaims(out.claims, rules.matchUrl(h.uri), "url", h.uri, h.flow);
  if (!h.body.empty()) addClaims(out.claims, rules.matchPostBody(h.body), "post-body", h.body, h.flow);
  return out;
}

AuditResult runAudit(const AuditInput& input, const RuleSet& rules, const TrustStore* device_ca,
                     const TrustStore* server_ca) {
  Auditor a(rules, device_ca, server_ca);
  return a.run(input);
}

const AuditResult& runAudit(const AuditInput& input, const RuleSet& rules, const TrustStore* device_ca,
                            const TrustStore* server_ca, AuditMemo& memo) {
  try {
    Auditor a(rules, device_ca, server_ca);
    AuditResult out = a.run(input, &memo);
    memo.result = std::move(out);
    memo.evidence = a.takeEvidenceOf();
    memo.rules = &rules;
    memo.device_ca = device_ca;
    memo.tls = input.tls != nullptr ? input.tls->size() : 0;
    memo.http = input.http != nullptr ? input.http->size() : 0;
    memo.valid = true;
  } catch (...) {
    memo.clear();
    memo.result = {};
    throw;
  }
  return memo.result;
}

}  // namespace provaudit::analyze
