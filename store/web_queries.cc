#include "store/web_queries.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>
#include <variant>

#include "analyze/evidence_admission.h"
#include "common/net_types.h"
#include "store/json_codec.h"
#include "store/report.h"
#include "store/report_html.h"
#include "store/schema.h"
#include "store/search_fold.h"
#include "store/sqlite_util.h"

namespace provaudit::store {
namespace json = boost::json;

// ---------------------------------------------------------------------------
// Finding catalogue: design.md "Findings catalogue" plus the two consistency
// findings the audit adds (fingerprint-mismatch, ccert-mismatch, claim-mismatch).

const std::vector<FindingInfo>& findingCatalogue() {
  static const std::vector<FindingInfo> catalogue = {
      {"generic-cert", "Generic client certificate",
       "The device authenticates with a certificate shared by many units (e.g. OU=cisco.com, L=ciscogeneric). "
       "Any unit holding that certificate can fetch this profile: it proves the product family, not the device.",
       "Reprovision the unit so it installs its factory individual certificate (firmware 2.0.x or later), or "
       "identify it by another factor. Until then treat its profile as readable by any unit of the family."},
      {"no-client-cert", "No client certificate",
       "The server asked for a client certificate and the device answered with none (empty Certificate message "
       "or SSLv3 no_certificate alert).",
       "Check whether the unit predates certificates or had its certificate removed; the server should refuse "
       "such clients or serve them a restricted profile."},
      {"cert-untrusted", "Certificate chain not trusted",
       "The client chain does not verify against the trusted device CA bundle: forged, self-signed, foreign, or "
       "a certificate whose issuer name imitates the real CA without its signature.",
       "Treat as a possible impostor. Compare the chain with the manufacturer CA, check the switch port and "
       "take the unit out of service if it cannot be explained."},
      {"cert-expired", "Certificate expired",
       "The certificate's validity ended before the capture time.",
       "Renew or replace the certificate; confirm the provisioning server rejects expired client certificates."},
      {"cert-not-yet-valid", "Certificate not yet valid",
       "The certificate's validity starts after the capture time: a wrong device clock or a fabricated certificate.",
       "Check the device clock (NTP) and the certificate's origin."},
      {"cert-weak-key", "Weak certificate key",
       "The client key is too short (RSA below 2048 bits) to resist factoring by a motivated attacker.",
       "Replace with a certificate carrying at least an RSA-2048 or P-256 key."},
      {"cert-weak-signature", "Weak certificate signature",
       "The certificate is signed with MD5 or SHA-1, for which collisions are practical.",
       "Reissue the certificate with a SHA-256 (or better) signature."},
      {"cert-clone", "Cloned certificate",
       "One individual (non-generic) certificate was presented by more than one device. Either its key was "
       "copied to another unit or one unit moved between MACs.",
       "Find every device listed with this certificate; revoke the certificate and reprovision the genuine unit."},
      {"cert-mac-mismatch", "Certificate MAC mismatch",
       "The MAC address named in the certificate differs from the MAC seen on the wire or claimed by the "
       "User-Agent or URL.",
       "The certificate may belong to another unit (copied key) or traffic passes a proxy; verify the unit's "
       "label against the certificate."},
      {"serial-mismatch", "Serial number mismatch",
       "The serial number in the certificate differs from the one in the User-Agent.",
       "Verify the unit's label; a mismatch suggests a copied certificate or a modified firmware."},
      {"plaintext-provisioning", "Plain-HTTP provisioning",
       "The profile was fetched over plain HTTP: the User-Agent, the requested file and the profile contents "
       "(often SIP credentials) are visible to anyone on the path.",
       "Move provisioning to HTTPS with client certificates and rotate any credentials the profile carried."},
      {"legacy-tls", "Legacy TLS version",
       "SSLv3, TLS 1.0 or TLS 1.1 was negotiated; these versions have known weaknesses.",
       "Update device firmware and set the server's minimum version to TLS 1.2."},
      {"weak-cipher", "Weak cipher suite",
       "An RC4, DES, EXPORT or NULL cipher suite was negotiated.",
       "Remove these suites from the server configuration."},
      {"cert-hidden", "Certificate not observable",
       "The device's certificate could not be seen on the wire: TLS 1.3 encrypts it, resumed sessions do not "
       "send it, renegotiation happens inside the encrypted channel. This is not evidence of a problem.",
       "Capture a full TLS 1.2 handshake (e.g. after a reboot or with session caching off), or provide a key "
       "log, to classify the device."},
      {"server-no-cert-request", "Server never requests client certificates",
       "This provisioning server never sent a CertificateRequest, so devices cannot prove who they are and "
       "anyone can fetch profiles.",
       "Enable mutual TLS on the server (request and verify client certificates against the device CA)."},
      {"fingerprint-mismatch", "TLS fingerprint differs from its model",
       "The device claims a model whose other units present a different TLS fingerprint (JA4): it may run other "
       "firmware, or be a different client (a script, a PC) using that unit's identity.",
       "Compare its firmware with the fleet; if it is not a phone, investigate the host behind that address."},
      {"ccert-mismatch", "$CCERT contradicts the handshake",
       "The device's provisioning URL reports $CCERT (Installed / Not Installed) differently from what its TLS "
       "handshake showed.",
       "Check the profile rule that builds the URL and the device's certificate state; a forged URL is a sign "
       "of a client imitating the device."},
      {"claim-mismatch", "The device's claims disagree",
       "A MAC named in the device's requests (User-Agent, provisioning URL, POST body) differs from the MAC its "
       "frames come from or from another request's, its certificate and its User-Agent name different vendors, or "
       "its MAC is in another vendor's OUI than the one its certificate or User-Agent names.",
       "Find which unit the claims belong to: a client imitating a device, a profile URL built for another unit, "
       "or a certificate copied onto other hardware."},
  };
  return catalogue;
}

const FindingInfo* findingInfo(std::string_view code) {
  for (const auto& f : findingCatalogue()) {
    if (f.code == code) return &f;
  }
  return nullptr;
}

namespace {

// Whether server `s` asks for client certificates, as its report says: 1, 0,
// or NULL where the request could not be seen (TLS 1.3 encrypts it; a
// handshake cut short). The servers table's own column keeps 0 for NULL.
const std::string SERVER_ASKS_SQL = "json_extract(s.report,'$.requests_client_cert')";

// How full the last writer's audit evidence is (--max-sightings): its limit
// and left-out count are stats of the moment; sightings are never deleted,
// so their number is the highest rowid, and the evidence holds those less
// the ones left out.
struct EvidenceLevel {
  std::int64_t held = 0, limit = 0, in_order = 0, left_out = 0;
  // What the evidence may need at that limit at most, and what the writer
  // may use (bytes; 0: no limit, unknown).
  std::int64_t memory_need = 0, memory_limit = 0;
  // Its estimated size, and the size that limit allows (large sightings
  // reach it before their number reaches the limit; 0: no limit).
  std::int64_t bytes = 0, bytes_limit = 0;
};
EvidenceLevel evidenceLevel(sqlite3* db) {
  EvidenceLevel e;
  e.left_out = statValue(db, STAT_SIGHTINGS_LEFT_OUT);
  e.limit = statValue(db, STAT_AUDIT_MAX_SIGHTINGS);
  const auto limit = static_cast<std::size_t>(std::max<std::int64_t>(e.limit, 0));
  e.in_order = static_cast<std::int64_t>(analyze::inOrderPart(limit));
  const std::int64_t extra = std::max<std::int64_t>(statValue(db, STAT_AUDIT_MEMORY_EXTRA), 0);
  e.memory_need = static_cast<std::int64_t>(analyze::evidenceMemoryNeed(limit, static_cast<std::uint64_t>(extra)));
  e.memory_limit = statValue(db, STAT_AUDIT_MEMORY_LIMIT);
  e.bytes = statValue(db, STAT_AUDIT_EVIDENCE_BYTES);
  e.bytes_limit = static_cast<std::int64_t>(limit * analyze::EVIDENCE_BYTES_PER_SIGHTING_MAX);
  Stmt s(db, "SELECT coalesce(max(rowid), 0) FROM sightings");
  const std::int64_t stored = s.step() ? s.int64(0) : 0;
  e.held = std::max<std::int64_t>(stored - e.left_out, 0);
  return e;
}

// ---------------------------------------------------------------------------
// Fixed vocabularies. A sort name maps to an SQL expression and the index that
// holds it (migration 4), so that keyset paging walks the index.

struct SortColumn {
  std::string_view name;
  std::string_view expr;
  bool integer;
  std::string_view index;
};

constexpr std::array<SortColumn, 14> DEVICE_SORTS = {{
    {"id", "id", false, "devices_by_id"},
    {"mac", "coalesce(mac,'')", false, "devices_by_mac"},
    {"ips", "ips", false, "devices_by_ips"},
    {"identity", "identity", false, "devices_by_identity"},
    {"vendor", "coalesce(vendor,'')", false, "devices_by_vendor"},
    {"model", "coalesce(model,'')", false, "devices_by_model"},
    {"firmware", "coalesce(firmware,'')", false, "devices_by_firmware"},
    {"serial", "coalesce(serial,'')", false, "devices_by_serial"},
    {"chain", "coalesce(cert_chain,'')", false, "devices_by_chain"},
    {"findings", "findings", false, "devices_by_findings"},
    {"severity", "worst_severity", true, "devices_by_severity"},
    {"first_seen", "first_seen_ns", true, "devices_by_first_seen"},
    {"last_seen", "last_seen_ns", true, "devices_by_last_seen"},
    {"sessions", "sessions", true, "devices_by_sessions"},
}};

// The same expression as the findings_by_rank index (migration 4).
constexpr std::string_view SEVERITY_RANK_SQL =
    "CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END";

constexpr std::array<std::pair<std::string_view, std::string_view>, 6> SERVER_SORTS = {{
    {"id", "s.id"},
    {"ip", "s.ip"},
    {"port", "s.port"},
    {"cert_request", "s.requests_client_cert"},
    {"devices", "devices"},
    {"sessions", "json_extract(s.report,'$.sessions')"},
}};

constexpr std::array<std::string_view, 4> IDENTITY_CLASSES = {"individualized", "generic", "none", "unknown"};
constexpr std::array<std::string_view, 5> SEVERITIES = {"info", "low", "medium", "high", "critical"};

const SortColumn* deviceSort(std::string_view name) {
  for (const auto& s : DEVICE_SORTS) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

template <typename Table>
std::string_view lookupSort(const Table& table, std::string_view name) {
  for (const auto& [n, expr] : table) {
    if (n == name) return expr;
  }
  return table[0].second;
}

std::int64_t severityRank(std::string_view s) {
  for (std::size_t i = 0; i < SEVERITIES.size(); ++i) {
    if (SEVERITIES[i] == s) return static_cast<std::int64_t>(i);
  }
  return -1;
}

std::string_view severityName(std::int64_t rank) {
  if (rank < 0 || rank >= static_cast<std::int64_t>(SEVERITIES.size())) return "";
  return SEVERITIES[static_cast<std::size_t>(rank)];
}

// ---------------------------------------------------------------------------
// WHERE clauses with their parameters, bound in order.

using Param = std::variant<std::int64_t, std::string>;

struct Where {
  std::string sql;
  std::vector<Param> params;
  void add(std::string_view clause) { sql += (sql.empty() ? " WHERE " : " AND ") + std::string(clause); }
  void add(std::string_view clause, Param p) {
    add(clause);
    params.push_back(std::move(p));
  }
  void add(const Where& other) {
    if (other.sql.empty()) return;
    add(std::string_view(other.sql).substr(7));  // without its " WHERE "
    params.insert(params.end(), other.params.begin(), other.params.end());
  }
  // " AND ..." to append to a clause that has its own WHERE.
  [[nodiscard]] std::string andSql() const { return sql.empty() ? "" : " AND " + sql.substr(7); }
};

int bindAll(Stmt& s, const std::vector<Param>& params, int first = 1) {
  int i = first;
  for (const auto& p : params) {
    if (const auto* n = std::get_if<std::int64_t>(&p)) s.bind(i++, *n);
    else s.bind(i++, std::get<std::string>(p));
  }
  return i;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// The text the search index holds for a device: the body of the
// devices_search_source view (migration 2), computed from the row itself
// (the export, which reads every row anyway). Substring search in it, after
// ASCII case folding, finds what the trigram index finds for an ASCII word
// (FTS5 folds case the same way there).
constexpr std::string_view ROW_SEARCH_SQL =
    "instr(lower(id || ' ' || coalesce(mac,'') || ' ' || replace(coalesce(mac,''),':','') || ' ' || ips || ' ' || "
    "coalesce(vendor,'') || ' ' || coalesce(model,'') || ' ' || coalesce(firmware,'') || ' ' || "
    "coalesce(serial,'') || ' ' || coalesce(cert_subject,'') || ' ' || coalesce(cert_sha256,'') || ' ' || "
    "user_agents), ?) > 0";

// The class, vendor, severity and finding filters, over columns that every
// devices_by_* index carries: tested on an index entry, they never read the
// device row. Column names are unqualified, so the clause fits any query
// whose only table with these names is devices.
Where facetWhere(const DeviceFilter& f) {
  Where w;
  // Unary + keeps these tests out of SQLite's constant propagation, which
  // would otherwise rewrite coalesce(vendor,'') in a range over
  // devices_by_vendor into a constant and lose the index.
  if (!f.identity.empty()) w.add("+identity = ?", f.identity);
  if (f.vendor == "-") w.add("vendor IS NULL");
  else if (!f.vendor.empty()) w.add("+vendor = ?", f.vendor);
  if (!f.severity.empty()) w.add("+worst_severity = ?", severityRank(f.severity));
  if (!f.finding.empty()) {
    // devices.findings is the device's distinct codes joined with ';' (as the
    // findings rows hold them): a cheap substring test, then the exact one.
    w.add("instr(findings, ?) > 0", f.finding);
    w.add("instr(';' || findings || ';', ?) > 0", ";" + f.finding + ";");
  }
  return w;
}

bool hasFacets(const DeviceFilter& f) {
  return !f.identity.empty() || !f.vendor.empty() || !f.severity.empty() || !f.finding.empty();
}

constexpr std::string_view SERVER_FILTER_SQL =
    "EXISTS (SELECT 1 FROM device_servers WHERE device_servers.device_id = id AND device_servers.server_id = ?)";

// The search words, split by what can answer them: FTS5 trigram phrases need
// three characters; shorter words are tested on the row text. Without the
// search index, every word is looked for in the devices' folded texts.
struct Search {
  std::string match;                     // FTS5 query: quoted phrases, ANDed ("" = none)
  std::vector<std::string> phrases;      // the words behind `match`
  std::vector<std::string> short_words;  // lowercased
  std::vector<std::string> text_words;   // no search index: every word, as typed (SearchTexts)
  bool ascii = true;                     // every phrase is ASCII: the row text test finds what the index finds
  [[nodiscard]] bool empty() const { return match.empty() && short_words.empty() && text_words.empty(); }
};

// Characters (not bytes) of a UTF-8 word: the trigram index needs three.
std::size_t characters(std::string_view word) {
  return static_cast<std::size_t>(
      std::count_if(word.begin(), word.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// An FTS5 phrase matching `word` as a substring (trigram tokenizer).
std::string ftsPhrase(std::string_view word) {
  std::string quoted = "\"";
  for (char c : word) {
    if (c == '"') quoted += "\"\"";
    else quoted.push_back(c);
  }
  return quoted + "\"";
}

Search parseSearch(const std::string& q, bool has_search_index) {
  Search s;
  for (const auto& term : words(q)) {
    if (!has_search_index) {
      s.text_words.push_back(term);
      continue;
    }
    if (characters(term) < 3) {
      s.short_words.push_back(lower(term));
      continue;
    }
    s.match += (s.match.empty() ? "" : " ") + ftsPhrase(term);
    s.phrases.push_back(term);
    if (!std::all_of(term.begin(), term.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
      s.ascii = false;
    }
  }
  return s;
}

// A word in a device's search text, read from the search index's own copy of
// it (the FTS5 content table, keyed by the device's rowid: a narrow row, not
// the wide device row). For a query over the devices table only.
constexpr std::string_view TEXT_SEARCH_SQL =
    "EXISTS (SELECT 1 FROM devices_search_content WHERE devices_search_content.id = devices.rowid "
    "AND instr(lower(devices_search_content.c0), ?) > 0)";

// Where a search's candidate rowids come from: the search index, or the
// JSON list of the devices whose folded text matched (no search index).
constexpr std::string_view FTS_CANDIDATES_SQL = "SELECT rowid FROM devices_search WHERE devices_search MATCH ?";
constexpr std::string_view LISTED_CANDIDATES_SQL = "SELECT value FROM json_each(?)";

// Tests whether a rowid is in the search's hits (see SearchHitFunction).
constexpr const char* SEARCH_HIT_FUNCTION = "provaudit_search_hit";

void addShortWords(Where& w, const Search& s) {
  for (const auto& word : s.short_words) w.add(TEXT_SEARCH_SQL, word);
}

// The phrases as text tests (for ASCII words, the same answer as the index).
void addPhraseTests(Where& w, const Search& s) {
  for (const auto& word : s.phrases) w.add(TEXT_SEARCH_SQL, lower(word));
}

// The whole filter as one WHERE over the devices table (the export).
Where deviceWhere(const DeviceFilter& f, bool has_search_index) {
  Where w = facetWhere(f);
  if (!f.server.empty()) w.add(SERVER_FILTER_SQL, f.server);
  const Search s = parseSearch(f.q, has_search_index);
  for (const auto& word : s.short_words) w.add(ROW_SEARCH_SQL, word);
  if (!s.match.empty()) w.add("rowid IN (" + std::string(FTS_CANDIDATES_SQL) + ")", s.match);
  // Without the search index the caller registers the hits of the words (SearchHitFunction).
  if (!s.text_words.empty()) w.add(std::string(SEARCH_HIT_FUNCTION) + "(rowid)");
  return w;
}

json::array splitList(const std::string& s) {
  json::array out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t end = s.find(';', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<std::string> splitCodes(const std::string& s) {
  std::vector<std::string> out;
  for (const auto& v : splitList(s)) out.emplace_back(v.as_string());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

json::value textOrNull(const Stmt& s, int col) { return s.isNull(col) ? json::value(nullptr) : json::value(s.text(col)); }

json::value parseOrNull(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value(nullptr) : v;
}

constexpr std::string_view DEVICE_COLUMNS =
    "id, mac, ips, identity, identity_reason, vendor, model, firmware, serial, cert_subject, cert_chain, findings, "
    "worst_severity, first_seen_ns, last_seen_ns, sessions";

json::object deviceRow(const Stmt& s) {
  json::object o;
  o["id"] = s.text(0);
  o["mac"] = textOrNull(s, 1);
  o["ips"] = splitList(s.text(2));
  o["identity"] = s.text(3);
  o["identity_reason"] = s.text(4);
  o["vendor"] = textOrNull(s, 5);
  o["model"] = textOrNull(s, 6);
  o["firmware"] = textOrNull(s, 7);
  o["serial"] = textOrNull(s, 8);
  o["cert_subject"] = textOrNull(s, 9);
  o["cert_chain"] = textOrNull(s, 10);
  o["findings"] = splitList(s.text(11));
  const auto sev = severityName(s.int64(12));
  o["severity"] = sev.empty() ? json::value(nullptr) : json::value(sev);
  o["first_seen"] = isoTime(s.int64(13));
  o["last_seen"] = isoTime(s.int64(14));
  o["sessions"] = s.int64(15);
  return o;
}

struct Cursor {
  Param value;
  std::string id;
};

std::optional<Cursor> parseCursor(const std::string& text, bool integer) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_array() || v.as_array().size() != 2 || !v.as_array()[1].is_string()) return std::nullopt;
  const auto& a = v.as_array();
  Cursor c;
  c.id = std::string(a[1].as_string());
  if (integer && a[0].is_int64()) c.value = a[0].as_int64();
  else if (integer && a[0].is_uint64()) c.value = static_cast<std::int64_t>(a[0].as_uint64());
  else if (!integer && a[0].is_string()) c.value = std::string(a[0].as_string());
  else return std::nullopt;
  return c;
}

std::size_t clampLimit(std::size_t n) { return n == 0 ? DEFAULT_PAGE : std::min(n, MAX_PAGE); }

// A read transaction around one answer, so that its counts and rows come from
// one snapshot of a database that a replay may be writing.
class ReadTransaction {
 public:
  explicit ReadTransaction(sqlite3* db) : db_(db) {
    // Inside a caller's transaction already (autocommit off): nothing to do.
    if (sqlite3_get_autocommit(db) != 0) {
      execSql(db, "BEGIN");
      open_ = true;
    }
  }
  ~ReadTransaction() {
    // A read transaction has nothing to lose: COMMIT only ends it (never throws here).
    if (open_) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  sqlite3* db_;
  bool open_ = false;
};

// ---------------------------------------------------------------------------
// Dense searches: the rowids the FTS index matched, as a bitmap that the SQL
// function provaudit_search_hit(rowid) tests while an index is walked (an
// `IN (subquery)` would first copy every match into a temporary b-tree).

struct RowidSet {
  std::vector<std::uint64_t> bits;
  std::int64_t size = 0;
  void insert(std::int64_t rowid) {
    if (rowid < 0) return;
    const auto i = static_cast<std::size_t>(rowid);
    if (i / 64 >= bits.size()) bits.resize(i / 64 + 1, 0);
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    if ((bits[i / 64] & bit) == 0) ++size;
    bits[i / 64] |= bit;
  }
  [[nodiscard]] bool contains(std::int64_t rowid) const {
    if (rowid < 0) return false;
    const auto i = static_cast<std::size_t>(rowid);
    return i / 64 < bits.size() && (bits[i / 64] & (std::uint64_t{1} << (i % 64))) != 0;
  }
};

void searchHit(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  const auto* set = static_cast<const RowidSet*>(sqlite3_user_data(ctx));
  sqlite3_result_int(ctx, argc == 1 && set->contains(sqlite3_value_int64(argv[0])) ? 1 : 0);
}

// Registers provaudit_search_hit() on the connection for the life of this
// object; the set must outlive it (the connection keeps only a pointer).
class SearchHitFunction {
 public:
  SearchHitFunction(sqlite3* db, const RowidSet& set) : db_(db) {
    if (sqlite3_create_function_v2(db, SEARCH_HIT_FUNCTION, 1, SQLITE_UTF8, const_cast<RowidSet*>(&set), &searchHit,
                                   nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw DbError(std::string("cannot register search function: ") + sqlite3_errmsg(db));
    }
  }
  ~SearchHitFunction() {
    // Unregister, so that no later statement on this pooled connection can reach the freed set.
    sqlite3_create_function_v2(db_, SEARCH_HIT_FUNCTION, 1, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr, nullptr);
  }
  SearchHitFunction(const SearchHitFunction&) = delete;
  SearchHitFunction& operator=(const SearchHitFunction&) = delete;

 private:
  sqlite3* db_;
};

// ---------------------------------------------------------------------------
// Device list plans. A page is read one of two ways:
//  - pick: the devices matching the most selective filter come from its index
//    (one class, vendor or severity: a devices_by_* range; a finding code or a
//    server: their tables, then devices_by_id; a search: the FTS index), the
//    other filters are tested, and the few that remain are sorted;
//  - walk: the sort index is walked in order and each entry tested, until the
//    page is full.
// Picking costs about the size of that filter's match set; walking about
// page size × devices / matches index entries. Both are estimated in
// microseconds from the counts (exact for class, vendor, severity, finding
// and server) and the cheaper plan is taken. Walking an index whose order is
// correlated with the filter (vendor=Yealink sorted by MAC) costs more than
// the estimate, so walking must win by a margin, and a walk that overruns its
// budget (sqlite3_progress_handler) gives way to a pick.

constexpr double COST_INDEX_ENTRY_US = 0.2;  // one index entry read and tested
constexpr double COST_PROBE_US = 1.5;        // one b-tree lookup (device_servers, devices_by_id)
constexpr double COST_ROW_US = 3.0;          // one device row read (they are wide) and sorted
constexpr double COST_TEXT_US = 2.0;         // one search text tested (its row in the FTS content table)
constexpr double WALK_MARGIN = 2.0;

// Where a pick takes its candidate rowids from.
struct Source {
  enum class Kind { Identity, Vendor, Severity, Finding, Server, Search, All } kind;
  std::int64_t size;     // entries it yields (before the other filters)
  double entry_cost_us;  // to read one and test the index-level filters on it
};

std::string indexedBy(bool has_indexes, std::string_view index) {
  return has_indexes ? " INDEXED BY " + std::string(index) : std::string();
}

// Candidate rowids from `src`, tested against the index-level filters `inner`.
std::string sourceSql(const Source& src, const DeviceFilter& f, std::string_view search_sql, const std::string& search_param,
                      const Where& inner, bool has_indexes, std::vector<Param>& params) {
  // One range of a devices_by_* index.
  const auto range = [&](std::string_view index, std::string_view cond, std::optional<Param> value) {
    if (value) params.push_back(std::move(*value));
    params.insert(params.end(), inner.params.begin(), inner.params.end());
    return "SELECT rowid FROM devices" + indexedBy(has_indexes, index) + " WHERE " + std::string(cond) + inner.andSql();
  };
  // Device ids from another table, looked up in devices_by_id.
  const auto byId = [&](std::string_view ids_sql, Param value) {
    params.push_back(std::move(value));
    params.insert(params.end(), inner.params.begin(), inner.params.end());
    return "SELECT rowid FROM devices" + indexedBy(has_indexes, "devices_by_id") + " WHERE id IN (" +
           std::string(ids_sql) + ")" + inner.andSql();
  };
  switch (src.kind) {
    case Source::Kind::Identity: return range("devices_by_identity", "identity = ?", f.identity);
    case Source::Kind::Vendor:
      return range("devices_by_vendor", "coalesce(vendor,'') = ?", f.vendor == "-" ? std::string() : f.vendor);
    case Source::Kind::Severity: return range("devices_by_severity", "worst_severity = ?", severityRank(f.severity));
    case Source::Kind::Finding:
      return byId("SELECT subject_id FROM findings WHERE subject_kind = 'device' AND code = ?", f.finding);
    case Source::Kind::Server: return byId("SELECT device_id FROM device_servers WHERE server_id = ?", f.server);
    case Source::Kind::Search:
      params.emplace_back(search_param);  // the other filters are tested on the rows (no index has them by rowid)
      return std::string(search_sql);
    case Source::Kind::All: return range("devices_by_id", "1", std::nullopt);
  }
  return {};
}

}  // namespace

bool isDeviceSort(std::string_view name) { return deviceSort(name) != nullptr; }
bool isServerSort(std::string_view name) {
  return std::any_of(SERVER_SORTS.begin(), SERVER_SORTS.end(), [&](const auto& s) { return s.first == name; });
}
bool isIdentityClass(std::string_view name) {
  return std::find(IDENTITY_CLASSES.begin(), IDENTITY_CLASSES.end(), name) != IDENTITY_CLASSES.end();
}
bool isSeverity(std::string_view name) { return severityRank(name) >= 0; }
std::vector<std::string> deviceSortNames() {
  std::vector<std::string> out;
  for (const auto& s : DEVICE_SORTS) out.emplace_back(s.name);
  return out;
}

// ---------------------------------------------------------------------------
// Counts kept per audit generation.

std::int64_t FleetCounts::matching(const DeviceFilter& f) const {
  if (!hasFacets(f)) return devices;
  const std::int64_t severity = severityRank(f.severity);
  std::int64_t n = 0;
  for (const auto& x : facets) {
    if (!f.identity.empty() && x.identity != f.identity) continue;
    if (f.vendor == "-" ? x.vendor.has_value() : (!f.vendor.empty() && x.vendor != f.vendor)) continue;
    if (!f.severity.empty() && x.severity != severity) continue;
    if (!f.finding.empty() && !std::binary_search(x.codes.begin(), x.codes.end(), f.finding)) continue;
    n += x.devices;
  }
  return n;
}

namespace {

template <typename T, typename Compute>
std::shared_ptr<const T> cached(std::mutex& mutex, std::int64_t& generation, std::shared_ptr<const T>& value,
                                std::int64_t now, Compute&& compute) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!value || generation != now) {
    value = std::make_shared<const T>(compute());
    generation = now;
  }
  return value;
}

}  // namespace

namespace {

std::string_view columnText(const Stmt& s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), col));
  return p == nullptr ? std::string_view() : std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s.get(), col)));
}

}  // namespace

std::shared_ptr<const FleetCounts> SummaryCache::fleet(sqlite3* db, std::int64_t generation) {
  return cached(fleet_.mutex, fleet_.generation, fleet_.value, generation, [&]() {
    // One pass over a covering index, grouped here: SQLite's GROUP BY would
    // sort a million entries first (a second at 1 M devices, this a third of it).
    // The key: identity NUL vendor ("\1" when absent) NUL severity (8 bytes) findings.
    std::unordered_map<std::string, std::int64_t> groups;
    std::string key;
    Stmt s(db, "SELECT identity, vendor, worst_severity, findings FROM devices");
    while (s.step()) {
      key.assign(columnText(s, 0));
      key.push_back('\0');
      if (s.isNull(1)) key.push_back('\1');
      else key.append(columnText(s, 1));
      key.push_back('\0');
      const std::int64_t severity = s.int64(2);
      key.append(reinterpret_cast<const char*>(&severity), sizeof severity);  // fixed width: no separator needed
      key.append(columnText(s, 3));
      ++groups[key];
    }
    FleetCounts c;
    for (const auto& [k, n] : groups) {
      const std::size_t identity_end = k.find('\0');
      const std::size_t vendor_end = k.find('\0', identity_end + 1);
      DeviceFacets x;
      x.identity = k.substr(0, identity_end);
      const std::string vendor = k.substr(identity_end + 1, vendor_end - identity_end - 1);
      if (vendor != "\1") x.vendor = vendor;
      std::memcpy(&x.severity, k.data() + vendor_end + 1, sizeof x.severity);
      x.codes = splitCodes(k.substr(vendor_end + 1 + sizeof x.severity));
      x.devices = n;
      c.devices += n;
      c.facets.push_back(std::move(x));
    }
    return c;
  });
}

std::shared_ptr<const std::map<std::string, std::int64_t>> SummaryCache::serverDevices(sqlite3* db,
                                                                                      std::int64_t generation) {
  return cached(servers_.mutex, servers_.generation, servers_.value, generation, [&]() {
    std::map<std::string, std::int64_t> m;
    Stmt s(db, "SELECT server_id, count(*) FROM device_servers GROUP BY server_id");
    while (s.step()) m[s.text(0)] = s.int64(1);
    return m;
  });
}

std::shared_ptr<const std::vector<FindingCount>> SummaryCache::findings(sqlite3* db, std::int64_t generation) {
  return cached(findings_.mutex, findings_.generation, findings_.value, generation, [&]() {
    std::vector<FindingCount> v;
    // In findings_summary order (migration 4): distinct subjects are counted
    // as they change, without a temporary table per group (nor a copy per row).
    Stmt s(db, "SELECT subject_kind, code, severity, subject_id FROM findings ORDER BY subject_kind, code, severity, subject_id");
    std::string last_subject;
    while (s.step()) {
      const std::string_view kind = columnText(s, 0), code = columnText(s, 1), severity = columnText(s, 2);
      const std::string_view subject = columnText(s, 3);
      if (v.empty() || v.back().kind != kind || v.back().code != code || v.back().severity != severity) {
        v.push_back(FindingCount{std::string(code), std::string(severity), std::string(kind), 0, 0});
        last_subject.clear();
      }
      if (v.back().count++ == 0 || subject != last_subject) {
        ++v.back().subjects;
        last_subject.assign(subject);
      }
    }
    std::sort(v.begin(), v.end(), [](const FindingCount& a, const FindingCount& b) {
      return std::tie(a.code, a.severity, a.kind) < std::tie(b.code, b.severity, b.kind);
    });
    return v;
  });
}

std::vector<std::size_t> SearchTexts::containingAll(const std::vector<std::string>& needles) const {
  std::vector<std::size_t> hits;
  if (needles.empty()) return hits;
  // One scan of the whole text for the longest needle (the fewest entries), the others tested within those entries.
  const auto longest = std::max_element(needles.begin(), needles.end(),
                                         [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const auto entryEnd = [&](std::size_t entry) { return entry + 1 < offsets.size() ? begin + offsets[entry + 1] : end; };
  // glibc's memmem scans gigabytes a second; std::string::find stops at every first character.
  for (const void* at = memmem(begin, text.size(), longest->data(), longest->size()); at != nullptr;) {
    const auto pos = static_cast<std::size_t>(static_cast<const char*>(at) - begin);
    const auto entry = static_cast<std::size_t>(std::upper_bound(offsets.begin(), offsets.end(), pos) - offsets.begin() - 1);
    const char* from = begin + offsets[entry];
    const char* next = entryEnd(entry);
    const bool all = std::all_of(needles.begin(), needles.end(), [&](const std::string& n) {
      return &n == &*longest || memmem(from, static_cast<std::size_t>(next - from), n.data(), n.size()) != nullptr;
    });
    if (all) hits.push_back(entry);
    at = next == end ? nullptr : memmem(next, static_cast<std::size_t>(end - next), longest->data(), longest->size());
  }
  return hits;
}

namespace {

// Every device's search text, folded (SearchTexts; no search index). The
// texts of rows unchanged since `previous` (same rowid, same row_hash: the
// hash covers every column of the text) are copied from it, so an audit
// that rewrote a few devices costs a scan of the rowids and hashes (10-20 ms
// for 50k devices) and a copy, not a read of every device's text (70 ms)
// and its folding. nullopt: `previous` is exact as it is (nothing changed).
std::optional<SearchTexts> loadDeviceTexts(sqlite3* db, const SearchTexts* previous = nullptr) {
  SearchTexts t;
  {
    Stmt s(db, "SELECT rowid, row_hash FROM devices ORDER BY rowid");
    while (s.step()) {
      t.ids.push_back(s.int64(0));
      t.hashes.push_back(s.isNull(1) ? std::nullopt : std::optional<std::int64_t>(s.int64(1)));
    }
  }
  // Where each row's text is in `previous`, when it can be reused.
  std::vector<std::optional<std::size_t>> reuse(t.ids.size());
  std::size_t reusable = 0;
  if (previous != nullptr && previous->hashes.size() == previous->ids.size()) {
    std::size_t p = 0;
    for (std::size_t i = 0; i < t.ids.size(); ++i) {
      while (p < previous->ids.size() && previous->ids[p] < t.ids[i]) ++p;
      if (p < previous->ids.size() && previous->ids[p] == t.ids[i] && t.hashes[i] && previous->hashes[p] == t.hashes[i]) {
        reuse[i] = p;
        ++reusable;
      }
    }
  }
  if (previous != nullptr && reusable == t.ids.size() && reusable == previous->ids.size()) return std::nullopt;
  SearchFold fold(db);
  // Room for the text at once (about 200 bytes a device): fewer new pages touched while it grows.
  t.text.reserve(previous != nullptr ? previous->text.size() + previous->text.size() / 8 : t.ids.size() * 200);
  // Mostly unchanged: the others read one by one; mostly new: every text in
  // one scan, in the same rowid order (one snapshot).
  const bool one_by_one = reusable * 2 >= t.ids.size();
  Stmt body(db, one_by_one ? "SELECT body FROM devices_search_source WHERE rid = ?"
                           : "SELECT body, rid FROM devices_search_source ORDER BY rid");
  for (std::size_t i = 0; i < t.ids.size(); ++i) {
    t.offsets.push_back(t.text.size());
    if (!one_by_one && (!body.step() || body.int64(1) != t.ids[i])) {
      throw DbError("the devices table changed while its search text was read");
    }
    if (reuse[i]) {
      const std::size_t p = *reuse[i];
      const std::size_t to = p + 1 < previous->offsets.size() ? previous->offsets[p + 1] : previous->text.size();
      t.text.append(previous->text, previous->offsets[p], to - previous->offsets[p]);  // with its newline
      continue;
    }
    if (one_by_one) {
      const bool found = body.bind(1, t.ids[i]).step();
      if (found) fold.append(columnText(body, 0), t.text);
      body.reset();
    } else {
      fold.append(columnText(body, 0), t.text);
    }
    t.text.push_back('\n');
  }
  return t;
}

}  // namespace

std::shared_ptr<const SearchTexts> SummaryCache::deviceTexts(sqlite3* db, std::int64_t generation) {
  device_texts_used_ = true;
  std::lock_guard<std::mutex> lock(device_texts_.mutex);
  if (!device_texts_.value || device_texts_.generation != generation) {
    // An audit that changed no device keeps the texts as they are.
    if (auto next = loadDeviceTexts(db, device_texts_.value.get())) {
      device_texts_.value = std::make_shared<const SearchTexts>(std::move(*next));
    }
    device_texts_.generation = generation;
  }
  return device_texts_.value;
}

std::shared_ptr<const SearchTexts> SummaryCache::findingTexts(sqlite3* db, std::int64_t generation) {
  texts_used_ = true;
  return cached(texts_.mutex, texts_.generation, texts_.value, generation, [&]() {
    SearchTexts t;
    Stmt s(db, "SELECT id, subject_id, detail FROM findings ORDER BY id");
    while (s.step()) {
      t.offsets.push_back(t.text.size());
      t.ids.push_back(s.int64(0));
      // ASCII case folding, as SQLite's lower(): the same answer as instr(lower(...)).
      const auto append = [&](std::string_view part) {
        for (const char c : part) t.text.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      };
      append(columnText(s, 1));
      t.text.push_back('\t');
      append(columnText(s, 2));
      t.text.push_back('\n');
    }
    return t;
  });
}

TimelineCounts SummaryCache::timeline(sqlite3* db, std::int64_t width) {
  std::lock_guard<std::mutex> lock(timeline_mutex_);
  TimelineCounts& t = timelines_[width];
  Stmt m(db, "SELECT max(rowid) FROM sightings");
  const std::int64_t max_rowid = m.step() && !m.isNull(0) ? m.int64(0) : 0;
  if (max_rowid < t.last_rowid) t = TimelineCounts{};  // not the rows we counted (a new database file): start over
  if (max_rowid > t.last_rowid) {
    // The first count reads the (ts_ns, kind) index in time order; later ones
    // only the rows added since (sightings are inserted, never changed).
    Stmt s(db, t.last_rowid == 0 ? "SELECT ts_ns, kind FROM sightings WHERE rowid <= ?2 ORDER BY ts_ns"
                                 : "SELECT ts_ns, kind FROM sightings WHERE rowid > ?1 AND rowid <= ?2");
    s.bind(1, t.last_rowid).bind(2, max_rowid);
    std::int64_t bucket = 0;
    std::array<std::int64_t, 3>* counts = nullptr;
    while (s.step()) {
      // Integer division floors toward zero; capture times are after 1970, so that is the bucket start.
      const std::int64_t b = s.int64(0) / width;
      if (counts == nullptr || b != bucket) {
        bucket = b;
        counts = &t.buckets[b];
      }
      ++(*counts)[0];
      const unsigned char* kind = sqlite3_column_text(s.get(), 1);
      if (kind != nullptr && kind[0] == 't') ++(*counts)[1];
      else ++(*counts)[2];
    }
    t.last_rowid = max_rowid;
  }
  return t;
}

WebQueries::WebQueries(sqlite3* db, SummaryCache* cache) : db_(db), cache_(cache) {
  if (cache_ == nullptr) {
    own_cache_ = std::make_unique<SummaryCache>();
    cache_ = own_cache_.get();
  }
}

void WebQueries::readIndexes() {
  indexes_.clear();
  has_search_index_ = false;
  Stmt s(db_, "SELECT type, name FROM sqlite_master WHERE type = 'index' OR name = 'devices_search'");
  while (s.step()) {
    if (columnText(s, 0) == "index") indexes_.push_back(s.text(1));
    else has_search_index_ = true;
  }
  has_facet_indexes_ = hasIndex("devices_by_id");  // the devices_by_* come and go together
}

bool WebQueries::hasIndex(std::string_view name) const {
  return std::find(indexes_.begin(), indexes_.end(), name) != indexes_.end();
}

std::int64_t WebQueries::changeCounter() {
  Stmt s(db_, "PRAGMA data_version");
  return s.step() ? s.int64(0) : 0;
}

void WebQueries::refreshCounts() {
  ReadTransaction txn(db_);
  const std::int64_t gen = generation();
  cache_->fleet(db_, gen);
  cache_->serverDevices(db_, gen);
  cache_->findings(db_, gen);
  if (cache_->findingTextsUsed()) cache_->findingTexts(db_, gen);
  readIndexes();
  if (cache_->deviceTextsUsed() && !has_search_index_) cache_->deviceTexts(db_, gen);
}

std::int64_t WebQueries::generation() { return statValue(db_, "audit_generation"); }

namespace {

// How a search is answered (planSearch):
//  - Candidates: at most pick_max rowids from an FTS query: the search itself
//    (exact), or the last six characters of its longest word, which a few
//    devices share while the whole word's trigrams may be in every MAC or IP
//    (then `verify`: the row text is tested too);
//  - Bitmap: every match, in the bitmap that provaudit_search_hit() tests;
//  - RowText: so many matches (over bitmap_max) that testing the row text of
//    the devices walked past is cheaper than listing them all.
struct SearchPlan {
  enum class Mode { None, Candidates, Bitmap, RowText } mode = Mode::None;
  std::string candidates;  // FTS query of the Candidates (or their JSON list of rowids)
  std::string_view candidates_sql = FTS_CANDIDATES_SQL;  // the rowids, from `candidates`
  bool verify = false;
  std::int64_t size = 0;   // Candidates and Bitmap: how many; RowText: at least
  double estimate = 0;     // matches expected (RowText: from how far into the rowids the first ones reached)
  double us_per_match = 0; // what listing them cost so far (long phrases of common trigrams cost more)
  RowidSet hits;
};

constexpr std::size_t PROBE_MIN_WORD = 7;  // a shorter word is its own probe
constexpr std::size_t PROBE_CHARS = 6;

// Reads up to `limit` rowids (0: all) matching an FTS query, in rowid order;
// returns how many it read (and the last rowid in `last`).
std::int64_t ftsRowids(sqlite3* db, const std::string& match, std::int64_t limit, RowidSet* into,
                       std::int64_t* last = nullptr) {
  Stmt s(db, "SELECT rowid FROM devices_search WHERE devices_search MATCH ?");
  s.bind(1, match);
  std::int64_t n = 0;
  while ((limit == 0 || n < limit) && s.step()) {
    ++n;
    if (into != nullptr) into->insert(s.int64(0));
    if (last != nullptr) *last = s.int64(0);
  }
  return n;
}

SearchPlan planSearch(sqlite3* db, const Search& search, const DeviceListLimits& limits) {
  SearchPlan plan;
  if (search.match.empty()) return plan;
  if (search.ascii) {
    for (const auto& word : search.phrases) {
      if (word.size() < PROBE_MIN_WORD) continue;
      const std::string probe = ftsPhrase(std::string_view(word).substr(word.size() - PROBE_CHARS));
      const std::int64_t n = ftsRowids(db, probe, limits.pick_max + 1, nullptr);
      if (n <= limits.pick_max && (plan.mode == SearchPlan::Mode::None || n < plan.size)) {
        plan.mode = SearchPlan::Mode::Candidates;
        plan.candidates = probe;
        plan.verify = true;
        plan.size = n;
      }
    }
    if (plan.mode != SearchPlan::Mode::None) return plan;
  }
  std::int64_t last = 0;
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t n = ftsRowids(db, search.match, limits.bitmap_max + 1, &plan.hits, &last);
  plan.us_per_match = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count() /
                      static_cast<double>(std::max<std::int64_t>(n, 1));
  plan.estimate = static_cast<double>(n);
  if (n <= limits.pick_max) {
    plan.mode = SearchPlan::Mode::Candidates;
    plan.candidates = search.match;
    plan.size = n;
  } else if (n <= limits.bitmap_max) {
    plan.mode = SearchPlan::Mode::Bitmap;
    plan.size = n;
  } else if (search.ascii) {
    plan.mode = SearchPlan::Mode::RowText;
    plan.size = n;
    Stmt top(db, "SELECT max(rowid) FROM devices");
    const double rows = top.step() ? static_cast<double>(top.int64(0)) : 0.0;
    plan.estimate = std::max(static_cast<double>(n), static_cast<double>(n) * rows / static_cast<double>(std::max<std::int64_t>(last, 1)));
  } else {
    plan.mode = SearchPlan::Mode::Bitmap;
    plan.size = ftsRowids(db, search.match, 0, &plan.hits);
    plan.estimate = static_cast<double>(plan.size);
  }
  return plan;
}

// The devices (rowids, ascending) whose folded search text holds every word (no search index).
std::vector<std::int64_t> textMatches(sqlite3* db, const SearchTexts& texts, const std::vector<std::string>& words) {
  SearchFold fold(db);
  std::vector<std::string> needles;
  for (const auto& word : words) needles.push_back(fold.fold(word));
  std::vector<std::int64_t> rowids;
  for (const std::size_t entry : texts.containingAll(needles)) rowids.push_back(texts.ids[entry]);
  return rowids;
}

RowidSet rowidSet(const std::vector<std::int64_t>& rowids) {
  RowidSet set;
  for (const std::int64_t r : rowids) set.insert(r);
  return set;
}

// A search without the search index: every match is known at once; a few
// are a candidate list (JSON, for json_each), more a bitmap.
SearchPlan planTextSearch(sqlite3* db, const SearchTexts& texts, const Search& search, const DeviceListLimits& limits) {
  SearchPlan plan;
  const std::vector<std::int64_t> rowids = textMatches(db, texts, search.text_words);
  plan.hits = rowidSet(rowids);
  plan.size = plan.hits.size;
  plan.estimate = static_cast<double>(plan.size);
  if (plan.size > limits.pick_max) {
    plan.mode = SearchPlan::Mode::Bitmap;
    return plan;
  }
  plan.mode = SearchPlan::Mode::Candidates;
  plan.candidates_sql = LISTED_CANDIDATES_SQL;
  plan.candidates = "[";
  for (const std::int64_t r : rowids) plan.candidates += (plan.candidates.size() > 1 ? "," : "") + std::to_string(r);
  plan.candidates += "]";
  return plan;
}

// Interrupts the connection's statements (SQLITE_INTERRUPT) once `budget_us`
// has passed, so that a walk whose index order turns out to be correlated
// with its filters can give way to another plan.
class WorkBudget {
 public:
  WorkBudget(sqlite3* db, double budget_us)
      : db_(db), deadline_(std::chrono::steady_clock::now() + std::chrono::microseconds(static_cast<std::int64_t>(budget_us))) {
    sqlite3_progress_handler(db_, PROGRESS_STEPS, &WorkBudget::check, this);
  }
  ~WorkBudget() { sqlite3_progress_handler(db_, 0, nullptr, nullptr); }
  WorkBudget(const WorkBudget&) = delete;
  WorkBudget& operator=(const WorkBudget&) = delete;
  [[nodiscard]] bool exceeded() const { return exceeded_; }

 private:
  static constexpr int PROGRESS_STEPS = 2000;  // virtual machine instructions between clock reads
  static int check(void* self) {
    auto* b = static_cast<WorkBudget*>(self);
    if (std::chrono::steady_clock::now() > b->deadline_) b->exceeded_ = true;
    return b->exceeded_ ? 1 : 0;
  }
  sqlite3* db_;
  std::chrono::steady_clock::time_point deadline_;
  bool exceeded_ = false;
};

// Steps `count` (one row per match, at most TOTAL_CAP + 1) within
// `budget_us` (DeviceListLimits::count_budget_us): how many rows it gave, and
// whether it finished.
std::pair<std::int64_t, bool> countRows(sqlite3* db, Stmt& count, double budget_us) {
  std::int64_t n = 0;
  WorkBudget budget(db, budget_us);
  try {
    while (count.step()) ++n;
  } catch (const DbError&) {
    if (!budget.exceeded()) throw;
    return {n, false};
  }
  return {n, true};
}

}  // namespace

std::optional<json::object> WebQueries::devices(const DeviceFilter& f, const PageRequest& page, DevicePlan forced) {
  const SortColumn* sort = deviceSort(f.sort);
  if (sort == nullptr) sort = &DEVICE_SORTS[0];
  const std::size_t limit = clampLimit(page.limit);
  std::optional<Cursor> cursor;
  const bool backwards = !page.before.empty();
  if (!page.after.empty() || backwards) {
    cursor = parseCursor(backwards ? page.before : page.after, sort->integer);
    if (!cursor) return std::nullopt;
  }
  // Walking backwards from `before` reverses the order, then the page is flipped back.
  const bool descending = f.desc != backwards;
  const std::string expr(sort->expr);
  const char* dir = descending ? " DESC" : " ASC";

  ReadTransaction txn(db_);
  readIndexes();
  const std::int64_t gen = generation();
  const auto fleet = cache_->fleet(db_, gen);
  const auto all = static_cast<double>(std::max<std::int64_t>(fleet->devices, 1));
  const Search search = parseSearch(f.q, has_search_index_);

  json::object out;
  out["sort"] = sort->name;
  out["desc"] = f.desc;
  out["limit"] = limit;
  json::array items;
  std::vector<json::value> cursors;
  bool more = false;
  const auto finish = [&](std::int64_t total, bool exact) {
    if (backwards) {
      std::reverse(items.begin(), items.end());
      std::reverse(cursors.begin(), cursors.end());
    }
    const bool has_next = backwards ? true : more;
    const bool has_prev = backwards ? more : cursor.has_value();
    out["next"] = has_next && !cursors.empty() ? cursors.back() : json::value(nullptr);
    out["prev"] = has_prev && !cursors.empty() ? cursors.front() : json::value(nullptr);
    // A lower bound is at least what this page shows (and one more when there is a next page).
    if (!exact) total = std::max(total, static_cast<std::int64_t>(items.size()) + (more ? 1 : 0));
    out["items"] = std::move(items);
    out["total"] = total;
    out["total_exact"] = exact;
    return std::optional<json::object>(std::move(out));
  };

  // How many devices each filter matches on its own: exact from the counts.
  std::vector<Source> sources;
  if (hasFacets(f)) {
    const auto single = [&](Source::Kind kind, const auto& set) {
      DeviceFilter one;
      set(one);
      sources.push_back({kind, fleet->matching(one), kind == Source::Kind::Finding ? COST_PROBE_US : COST_INDEX_ENTRY_US});
    };
    if (!f.identity.empty()) single(Source::Kind::Identity, [&](DeviceFilter& o) { o.identity = f.identity; });
    if (!f.vendor.empty()) single(Source::Kind::Vendor, [&](DeviceFilter& o) { o.vendor = f.vendor; });
    if (!f.severity.empty()) single(Source::Kind::Severity, [&](DeviceFilter& o) { o.severity = f.severity; });
    if (!f.finding.empty()) single(Source::Kind::Finding, [&](DeviceFilter& o) { o.finding = f.finding; });
  }
  const std::int64_t facet_matches = fleet->matching(f);
  std::int64_t server_matches = -1;
  if (!f.server.empty()) {
    const auto servers = cache_->serverDevices(db_, gen);
    const auto it = servers->find(f.server);
    server_matches = it == servers->end() ? 0 : it->second;
    sources.push_back({Source::Kind::Server, server_matches, COST_PROBE_US});
  }
  SearchPlan sp = search.text_words.empty() ? planSearch(db_, search, limits_)
                                             : planTextSearch(db_, *cache_->deviceTexts(db_, gen), search, limits_);
  using Mode = SearchPlan::Mode;
  if (sp.mode == Mode::Candidates) sources.push_back({Source::Kind::Search, sp.size, COST_ROW_US});
  if (facet_matches == 0 || server_matches == 0 || (sp.mode != Mode::None && sp.size == 0)) return finish(0, true);

  // Filters a source entry is tested against, by where they can be tested:
  // `inner` on index entries (rowid, id and the facet columns), `outer` on rows.
  std::optional<SearchHitFunction> hit_function;
  const auto innerFor = [&](Source::Kind src) {
    Where w;
    if (src == Source::Kind::Search) return w;  // the search index yields rowids only
    w.add(facetWhere(f));
    if (!f.server.empty() && src != Source::Kind::Server) w.add(SERVER_FILTER_SQL, f.server);
    if (sp.mode == Mode::Bitmap) w.add(std::string(SEARCH_HIT_FUNCTION) + "(rowid)");
    if (sp.mode == Mode::Candidates) {
      w.add("rowid IN (" + std::string(sp.candidates_sql) + ")", sp.candidates);
    }
    return w;
  };
  const auto outerFor = [&](Source::Kind src) {
    Where w;
    if (src == Source::Kind::Search) {
      w.add(facetWhere(f));
      if (!f.server.empty()) w.add(SERVER_FILTER_SQL, f.server);
    }
    if (sp.mode == Mode::RowText || (sp.mode == Mode::Candidates && sp.verify)) addPhraseTests(w, search);
    addShortWords(w, search);
    return w;
  };

  // Estimated cost of each plan, taking the filters as independent. A search
  // with very many matches is either tested on the row text, or first listed
  // whole into the bitmap (then it is tested on index entries): both are costed.
  const double server_share = server_matches >= 0 ? static_cast<double>(server_matches) / all : 1.0;
  const double search_share = sp.mode == Mode::None ? 1.0 : std::min(1.0, std::max(sp.estimate, 1.0) / all);
  const double short_share = search.short_words.empty() ? 1.0 : 0.1;
  const double expected = std::max(1.0, static_cast<double>(facet_matches) * server_share * search_share * short_share);
  const double page_rows = static_cast<double>(limit + 1);
  struct Choice {
    const Source* source = nullptr;  // nullptr: walk
    double cost = 0;
  };
  const auto choose = [&](bool search_on_rows) {
    const bool row_tests = search_on_rows || !search.short_words.empty();
    Choice c;
    c.cost = WALK_MARGIN * (std::min(all, page_rows * all / expected) *
                                (COST_INDEX_ENTRY_US + (f.server.empty() ? 0.0 : COST_PROBE_US) +
                                 (row_tests ? COST_TEXT_US : 0.0)) +
                            page_rows * COST_ROW_US);
    // Rows a pick reads: the source entries that pass the index-level tests.
    const double passing = std::max(1.0, static_cast<double>(facet_matches) * server_share * (search_on_rows ? 1.0 : search_share));
    for (const auto& src : sources) {
      const double cost = static_cast<double>(src.size) * src.entry_cost_us +
                          (src.kind == Source::Kind::Search ? 0.0
                                                            : std::min(static_cast<double>(src.size), passing * 2.0) * COST_ROW_US);
      if (cost < c.cost) c = {&src, cost};
    }
    return c;
  };
  Choice choice = choose(sp.mode == Mode::RowText);
  if (sp.mode == Mode::RowText) {
    Choice listed = choose(false);
    listed.cost += std::max(0.0, sp.estimate - static_cast<double>(sp.size)) * sp.us_per_match;
    if (listed.cost < choice.cost) {
      ftsRowids(db_, search.match, 0, &sp.hits);
      sp.size = sp.hits.size;
      sp.mode = Mode::Bitmap;
      choice = listed;
    }
  }
  const Source* best = choice.source;
  bool pick = best != nullptr;
  if (forced == DevicePlan::Walk) pick = false;
  if (forced == DevicePlan::Pick) {
    if (best == nullptr && !sources.empty()) best = &sources.front();
    if (best == nullptr) {
      sources.push_back({Source::Kind::All, fleet->devices, COST_INDEX_ENTRY_US});
      best = &sources.back();
    }
    pick = true;
  }

  // A sort column that a filter fixes (class sorted by class): the page is
  // that group in id order, read from the sort index by equality.
  std::optional<Param> fixed;
  if (sort->name == "identity" && !f.identity.empty()) fixed = f.identity;
  else if (sort->name == "severity" && !f.severity.empty()) fixed = severityRank(f.severity);
  else if (sort->name == "vendor" && !f.vendor.empty()) fixed = f.vendor == "-" ? std::string() : f.vendor;

  // The page as (rowid, sort value, id) in page order: `limit + 1` rows show whether there is more.
  const auto readPage = [&](bool by_pick) {
    if (sp.mode == Mode::Bitmap && !hit_function) hit_function.emplace(db_, sp.hits);
    std::string head;
    Where w;
    if (by_pick) {
      std::vector<Param> source_params;
      const std::string source =
          sourceSql(*best, f, sp.candidates_sql, sp.candidates, innerFor(best->kind), has_facet_indexes_, source_params);
      head = "SELECT rowid, " + expr + ", id FROM devices NOT INDEXED";
      w.add("rowid IN (" + source + ")");
      w.params = std::move(source_params);
      w.add(outerFor(best->kind));
    } else {
      head = "SELECT rowid, " + expr + ", id FROM devices" + indexedBy(has_facet_indexes_, sort->index);
      if (fixed) w.add(expr + " = ?", *fixed);
      w.add(innerFor(Source::Kind::All));
      w.add(outerFor(Source::Kind::All));
    }
    if (cursor) {
      // Keyset: after (value, id) in the page's direction. Written as a range
      // on the sort expression plus a tie test (SQLite seeks an index on an
      // expression for `expr >= ?`, not for a row value).
      const char* cmp = descending ? "<" : ">";
      if (fixed && !by_pick) {
        const bool before_group = descending ? cursor->value > *fixed : cursor->value < *fixed;
        const bool after_group = descending ? cursor->value < *fixed : cursor->value > *fixed;
        if (after_group) w.add("0");
        else if (!before_group) w.add(std::string("id ") + cmp + " ?", cursor->id);
      } else {
        w.add(expr + (descending ? " <= ?" : " >= ?"), cursor->value);
        w.add("(" + expr + " " + cmp + " ? OR id " + cmp + " ?)", cursor->value);
        w.params.emplace_back(cursor->id);
      }
    }
    w.params.emplace_back(static_cast<std::int64_t>(limit + 1));
    Stmt keys(db_, head + w.sql + " ORDER BY " + expr + dir + ", id" + dir + " LIMIT ?");
    bindAll(keys, w.params);
    std::vector<std::pair<std::int64_t, json::value>> rows;  // rowid, cursor
    while (keys.step()) {
      json::array c;
      if (sort->integer) c.emplace_back(keys.int64(1));
      else c.emplace_back(keys.text(1));
      c.emplace_back(keys.text(2));
      rows.emplace_back(keys.int64(0), json::value(json::serialize(c)));
    }
    return rows;
  };

  std::vector<std::pair<std::int64_t, json::value>> rows;
  if (pick || forced == DevicePlan::Walk) {
    rows = readPage(pick);
  } else {
    // A walk runs within a budget: past it, its order must be working against
    // its filters, and the other plan (a bounded one) takes over.
    bool gave_way = false;
    {
      std::optional<WorkBudget> budget;
      if (sp.mode == Mode::RowText || !sources.empty()) budget.emplace(db_, limits_.walk_budget_us);
      try {
        rows = readPage(false);
      } catch (const DbError&) {
        if (!budget || !budget->exceeded()) throw;
        gave_way = true;
      }
    }
    if (gave_way && sp.mode == Mode::RowText) {
      // List every match after all, and walk testing the bitmap instead of the rows.
      ftsRowids(db_, search.match, 0, &sp.hits);
      sp.size = sp.hits.size;
      sp.mode = Mode::Bitmap;
      rows = readPage(false);
    } else if (gave_way) {
      // The smallest source bounds the pick.
      best = &*std::min_element(sources.begin(), sources.end(), [](const Source& a, const Source& b) { return a.size < b.size; });
      rows = readPage(true);
    }
  }
  {
    Stmt row(db_, "SELECT " + std::string(DEVICE_COLUMNS) + " FROM devices WHERE rowid = ?");
    for (auto& [rowid, c] : rows) {
      if (items.size() == limit) {
        more = true;
        break;
      }
      row.bind(1, rowid);
      if (!row.step()) continue;  // cannot happen inside one read transaction
      items.push_back(deviceRow(row));
      row.reset();
      cursors.push_back(std::move(c));
    }
  }

  // The total: exact from the counts where the filters allow, else counted
  // from the cheapest source within a budget.
  if (server_matches < 0 && search.empty()) return finish(facet_matches, true);
  if (!hasFacets(f) && search.empty()) return finish(server_matches, true);
  if (!hasFacets(f) && server_matches < 0 && search.short_words.empty()) {
    if (sp.mode == Mode::Bitmap || (sp.mode == Mode::Candidates && !sp.verify)) return finish(sp.size, true);
    if (sp.mode == Mode::RowText && sp.size > TOTAL_CAP) return finish(TOTAL_CAP, false);
  }
  // The cheapest source to count from; its entries are tested as in a pick.
  // Counting stops at TOTAL_CAP + 1 matches or when DeviceListLimits::count_budget_us is spent
  // (then what was counted is a lower bound).
  if (sp.mode == Mode::Bitmap && !hit_function) hit_function.emplace(db_, sp.hits);
  sources.push_back({Source::Kind::All, fleet->devices, COST_INDEX_ENTRY_US});
  const auto entryCost = [&](const Source& s) {
    return s.entry_cost_us + (!f.server.empty() && s.kind != Source::Kind::Server ? COST_PROBE_US : 0.0) +
           (s.kind != Source::Kind::Search && !outerFor(s.kind).sql.empty() ? COST_ROW_US + COST_TEXT_US : 0.0);
  };
  const Source& counted = *std::min_element(sources.begin(), sources.end(), [&](const Source& a, const Source& b) {
    return static_cast<double>(a.size) * entryCost(a) < static_cast<double>(b.size) * entryCost(b);
  });
  const Where outer = outerFor(counted.kind);
  std::vector<Param> params;
  const std::string source =
      sourceSql(counted, f, sp.candidates_sql, sp.candidates, innerFor(counted.kind), has_facet_indexes_, params);
  const std::string cap = " LIMIT " + std::to_string(TOTAL_CAP + 1);
  // Without row tests the source's rowids are counted as they are (each comes once).
  Stmt count(db_, outer.sql.empty() ? "SELECT 1 FROM (" + source + ")" + cap
                                    : "SELECT 1 FROM devices NOT INDEXED WHERE rowid IN (" + source + ")" +
                                          outer.andSql() + cap);
  params.insert(params.end(), outer.params.begin(), outer.params.end());
  bindAll(count, params);
  auto [n, complete] = countRows(db_, count, limits_.count_budget_us);
  if (n > TOTAL_CAP) return finish(TOTAL_CAP, false);
  return finish(n, complete);
}

std::optional<json::object> WebQueries::device(const std::string& id, const SightingsPage& page) {
  json::object out;
  {
    Stmt s(db_, "SELECT report, detail FROM device_docs WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    out["device"] = parseOrNull(s.text(0));
    json::value detail = parseOrNull(s.text(1));
    if (auto* o = detail.if_object()) expandStoredDetail(*o);
    out["detail"] = std::move(detail);
  }
  {
    // The page is picked in the device's part of the primary key (device_id,
    // ts_ns, sighting_key) before any sighting is read: an offset deep into a
    // chatty device's 100,000 sightings skips index entries, not joined rows.
    const std::size_t limit = page.limit == 0 ? DEVICE_SIGHTINGS_PAGE : std::min(page.limit, MAX_DEVICE_SIGHTINGS);
    const std::string dir = page.newest_first ? " DESC" : "";
    Stmt s(db_,
           "SELECT s.key, s.kind, s.ts_ns, s.source, s.frame, s.client_ip, s.client_port, s.server_ip, s.server_port, "
           "s.client_mac, s.data FROM (SELECT ts_ns, sighting_key FROM device_sightings WHERE device_id = ? "
           "ORDER BY ts_ns" + dir + ", sighting_key" + dir + " LIMIT ? OFFSET ?) d "
           "JOIN sightings s ON s.key = d.sighting_key ORDER BY d.ts_ns" + dir + ", d.sighting_key" + dir);
    s.bind(1, id)
        .bind(2, static_cast<std::int64_t>(limit))
        .bind(3, static_cast<std::int64_t>(std::min<std::size_t>(page.offset, std::numeric_limits<std::int64_t>::max())));
    json::array rows;
    while (s.step()) {
      json::object r;
      r["key"] = s.text(0);
      r["kind"] = s.text(1);
      r["time"] = isoTime(s.int64(2));
      r["source"] = s.text(3);
      r["frame"] = s.int64(4);
      r["client"] = s.text(5) + " " + std::to_string(s.int64(6));
      r["server"] = s.text(7) + " " + std::to_string(s.int64(8));
      r["client_mac"] = textOrNull(s, 9);
      const json::value data = parseOrNull(s.text(10));
      if (const auto* o = data.if_object()) {
        // A short summary of what the sighting carried; the full row stays in the store.
        for (const char* k : {"sni", "version", "client_cert", "ja4", "ja3", "resumed", "tls13", "method", "uri",
                              "host", "user_agent"}) {
          if (const auto* v = o->if_contains(k)) r[k] = *v;
        }
      }
      rows.push_back(std::move(r));
    }
    out["sightings"] = std::move(rows);
    Stmt n(db_, "SELECT count(*) FROM device_sightings WHERE device_id = ?");
    n.bind(1, id);
    out["sightings_total"] = n.step() ? n.int64(0) : 0;
    out["sightings_offset"] = page.offset;
    out["sightings_limit"] = limit;
    out["sightings_order"] = page.newest_first ? "newest" : "oldest";
  }
  {
    Stmt s(db_,
           "SELECT s.id, s.ip, s.port, " + SERVER_ASKS_SQL + " FROM device_servers d "
           "JOIN servers s ON s.id = d.server_id WHERE d.device_id = ? ORDER BY s.id");
    s.bind(1, id);
    json::array rows;
    while (s.step()) {
      // null, as in the server's report, where its request could not be seen.
      json::value asks = nullptr;
      if (!s.isNull(3)) asks = s.int64(3) != 0;
      rows.push_back(json::object{
          {"id", s.text(0)}, {"ip", s.text(1)}, {"port", s.int64(2)}, {"requests_client_cert", std::move(asks)}});
    }
    out["servers"] = std::move(rows);
  }
  return out;
}

json::object WebQueries::servers(const ServerFilter& f, const PageRequest& page) {
  ReadTransaction txn(db_);
  Where w;
  if (!f.q.empty()) {
    w.add("(instr(lower(s.id), ?) > 0 OR instr(lower(coalesce(json_extract(s.report,'$.cert.subject'),'')), ?) > 0)",
          lower(f.q));
    w.params.emplace_back(lower(f.q));
  }
  // A request that could not be seen is neither yes nor no.
  if (f.cert_request == "yes") w.add("s.requests_client_cert = 1");
  else if (f.cert_request == "no") w.add(SERVER_ASKS_SQL + " = 0");
  else if (f.cert_request == "unknown") w.add(SERVER_ASKS_SQL + " IS NULL");
  if (!f.finding.empty()) {
    w.add("s.id IN (SELECT subject_id FROM findings WHERE code = ? AND subject_kind = 'server')", f.finding);
  }
  // Servers are few (one per provisioning endpoint): every match is keyed and
  // sorted here, with its device count from the per-generation counts, and
  // only the page's reports are read.
  const auto devices = cache_->serverDevices(db_, generation());
  // Both branches string_view: with "?:" over a std::string, the result is a temporary.
  const std::string_view sort = isServerSort(f.sort) ? std::string_view(f.sort) : std::string_view("id");
  const bool by_devices = sort == "devices";
  struct Key {
    Param value;
    std::string id;
    std::int64_t devices;
  };
  std::vector<Key> keys;
  {
    Stmt s(db_, "SELECT s.id, " + std::string(by_devices ? "0" : lookupSort(SERVER_SORTS, sort)) + " FROM servers s" + w.sql);
    bindAll(s, w.params);
    while (s.step()) {
      const auto it = devices->find(s.text(0));
      const std::int64_t n = it == devices->end() ? 0 : it->second;
      const int type = sqlite3_column_type(s.get(), 1);
      Param v = by_devices               ? Param(n)
                : type == SQLITE_NULL    ? Param(std::numeric_limits<std::int64_t>::min())  // NULL sorts first
                : type == SQLITE_INTEGER ? Param(s.int64(1))
                                         : Param(s.text(1));
      keys.push_back({std::move(v), s.text(0), n});
    }
  }
  // Within one sort every key has one type (an integer column or a text one), as in SQLite's order.
  std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
    return f.desc ? std::tie(b.value, b.id) < std::tie(a.value, a.id) : std::tie(a.value, a.id) < std::tie(b.value, b.id);
  });
  const std::size_t limit = clampLimit(page.limit);
  json::array items;
  Stmt report(db_, "SELECT report FROM servers WHERE id = ?");
  for (std::size_t i = page.offset; i < keys.size() && items.size() < limit; ++i) {
    report.bind(1, keys[i].id);
    json::object o;
    if (report.step()) {
      json::value v = parseOrNull(report.text(0));
      if (v.is_object()) o = std::move(v.as_object());
    }
    report.reset();
    o["id"] = keys[i].id;
    o["devices"] = keys[i].devices;
    items.push_back(std::move(o));
  }
  return json::object{{"items", std::move(items)},
                      {"total", static_cast<std::int64_t>(keys.size())},
                      {"offset", page.offset},
                      {"limit", limit}};
}

namespace {

// Finding sorts: the ORDER BY terms (all in the requested direction, so that
// one index serves both) and the index that delivers them (migration 4).
struct FindingSort {
  std::string_view name;
  std::vector<std::string_view> terms;
  std::string_view index;
};

const std::vector<FindingSort>& findingSorts() {
  static const std::vector<FindingSort> sorts = {
      {"severity", {SEVERITY_RANK_SQL, "id"}, "findings_by_rank"},
      {"code", {"code", "subject_id", "id"}, "findings_code"},
      {"subject", {"subject_id", "subject_kind", "id"}, "findings_by_subject"},
      {"kind", {"subject_kind", "code", "severity", "subject_id", "id"}, "findings_summary"},
      {"detail", {"detail", "id"}, "findings_by_detail"},
  };
  return sorts;
}

}  // namespace

bool isFindingSort(std::string_view name) {
  const auto& sorts = findingSorts();
  return std::any_of(sorts.begin(), sorts.end(), [&](const auto& s) { return s.name == name; });
}

json::object WebQueries::findings(const FindingFilter& f, const PageRequest& page) {
  ReadTransaction txn(db_);
  readIndexes();
  const auto counts = cache_->findings(db_, generation());
  const bool by_kind = f.kind == "device" || f.kind == "server";
  std::int64_t matches = 0;  // of the code, severity and kind filters: exact
  for (const auto& c : *counts) {
    if ((f.code.empty() || c.code == f.code) && (f.severity.empty() || c.severity == f.severity) &&
        (!by_kind || c.kind == f.kind)) {
      matches += c.count;
    }
  }
  const FindingSort* sort = &findingSorts()[0];
  for (const auto& s : findingSorts()) {
    if (s.name == f.sort) sort = &s;
  }
  // Few matches: read them from the filter's index and sort them; many: walk
  // the sort index and test each (finding rows are narrow, both are cheap).
  std::string_view index = sort->index;
  Where w;
  if (!f.code.empty()) w.add("code = ?", f.code);
  if (!f.severity.empty()) {
    // The rank range of findings_by_rank, then the exact name (the rank folds unknown names into info).
    w.add(std::string(SEVERITY_RANK_SQL) + " = ?", std::max<std::int64_t>(severityRank(f.severity), 0));
    w.add("+severity = ?", f.severity);  // unary +: no constant propagation into the rank expression
  }
  if (by_kind) w.add("subject_kind = ?", f.kind);
  if (matches <= PICK_MAX * 4) {
    if (!f.code.empty()) index = "findings_code";
    else if (!f.severity.empty()) index = "findings_by_rank";
    else if (by_kind) index = "findings_summary";
  }
  Where text;
  std::optional<std::int64_t> text_matches;  // exact, when the search ran in memory
  const std::string needle = lower(f.q);
  if (!f.q.empty() && needle.find_first_of("\t\n") == std::string::npos) {
    // The text search runs over the per-generation copy of every subject and
    // detail; the findings it hits are then read by id (few) or, when they are
    // many, found again by walking the sort index (a dense search stops early).
    const auto texts = cache_->findingTexts(db_, generation());
    std::string ids = "[";
    std::int64_t hits = 0;
    for (const std::size_t entry : texts->containingAll({needle})) {
      ids += (hits++ == 0 ? "" : ",") + std::to_string(texts->ids[entry]);
    }
    ids += "]";
    if (hits <= PICK_MAX * 4) {
      text.add("id IN (SELECT value FROM json_each(?))", ids);
      index = "";  // no index: the few ids are looked up by rowid, then sorted
      Stmt n(db_, "SELECT count(*) FROM findings WHERE id IN (SELECT value FROM json_each(?))" + w.andSql());
      n.bind(1, ids);
      bindAll(n, w.params, 2);
      text_matches = n.step() ? n.int64(0) : 0;
    } else if (w.sql.empty()) {
      text_matches = hits;
    }
  }
  if (!f.q.empty() && text.sql.empty()) {
    text.add("(instr(lower(subject_id), ?) > 0 OR instr(lower(detail), ?) > 0)", needle);
    text.params.emplace_back(needle);
  }
  const std::string from = index.empty() ? std::string("FROM findings NOT INDEXED")
                                          : "FROM findings" + indexedBy(hasIndex(index), index);
  Where all = w;
  all.add(text);
  const std::size_t limit = clampLimit(page.limit);
  const char* dir = f.desc ? " DESC" : " ASC";
  std::string order;
  for (const auto& t : sort->terms) order += (order.empty() ? " ORDER BY " : ", ") + std::string(t) + dir;
  Stmt s(db_, "SELECT id, subject_kind, subject_id, code, severity, detail " + from + all.sql + order + " LIMIT ? OFFSET ?");
  const int next = bindAll(s, all.params);
  s.bind(next, static_cast<std::int64_t>(limit)).bind(next + 1, static_cast<std::int64_t>(page.offset));
  Stmt device(db_, "SELECT identity, model, ips FROM devices WHERE id = ?");
  json::array items;
  while (s.step()) {
    json::object o{{"id", s.int64(0)},
                   {"kind", s.text(1)},
                   {"subject", s.text(2)},
                   {"code", s.text(3)},
                   {"severity", s.text(4)},
                   {"detail", s.text(5)},
                   {"identity", nullptr},
                   {"model", nullptr},
                   {"ips", json::array{}}};
    if (s.text(1) == "device") {
      device.bind(1, s.text(2));
      if (device.step()) {
        o["identity"] = textOrNull(device, 0);
        o["model"] = textOrNull(device, 1);
        o["ips"] = device.isNull(2) ? json::array{} : splitList(device.text(2));
      }
      device.reset();
    }
    items.push_back(std::move(o));
  }
  json::object out{{"items", std::move(items)}, {"offset", page.offset}, {"limit", limit}};
  if (f.q.empty() || text_matches) {
    out["total"] = text_matches.value_or(matches);
    out["total_exact"] = true;
    return out;
  }
  // A text search the in-memory copy could not answer (or very many matches
  // with other filters): counted within the time budget (a lower bound beyond).
  Stmt count(db_, "SELECT 1 " + from + all.sql + " LIMIT " + std::to_string(TOTAL_CAP + 1));
  bindAll(count, all.params);
  auto [n, complete] = countRows(db_, count, limits_.count_budget_us);
  if (!complete) {  // at least what this page shows, and one more when it is full
    const auto shown = static_cast<std::int64_t>(page.offset + out["items"].as_array().size());
    n = std::max(n, shown + (out["items"].as_array().size() == limit ? 1 : 0));
  }
  out["total"] = std::min(n, TOTAL_CAP);
  out["total_exact"] = complete && n <= TOTAL_CAP;
  return out;
}

json::object WebQueries::findingSummary() {
  ReadTransaction txn(db_);
  const auto counts = cache_->findings(db_, generation());
  json::array rows;
  for (const auto& c : *counts) {
    json::object r{{"code", c.code}, {"severity", c.severity}, {"kind", c.kind}, {"count", c.count}, {"subjects", c.subjects}};
    if (const auto* info = findingInfo(c.code)) r["title"] = info->title;
    rows.push_back(std::move(r));
  }
  json::array codes;
  for (const auto& info : findingCatalogue()) {
    codes.push_back(
        json::object{{"code", info.code}, {"title", info.title}, {"meaning", info.meaning}, {"action", info.action}});
  }
  return json::object{{"items", std::move(rows)}, {"catalogue", std::move(codes)}};
}

json::array WebQueries::vendors() {
  ReadTransaction txn(db_);
  const auto fleet = cache_->fleet(db_, generation());
  std::map<std::optional<std::string>, std::int64_t> by;  // nullopt (no vendor) first, as NULL sorts in SQL
  for (const auto& x : fleet->facets) by[x.vendor] += x.devices;
  std::vector<std::pair<std::optional<std::string>, std::int64_t>> v(by.begin(), by.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  json::array out;
  for (const auto& [vendor, n] : v) {
    out.push_back(json::object{{"vendor", vendor ? json::value(*vendor) : json::value(nullptr)}, {"devices", n}});
  }
  return out;
}

json::object WebQueries::stats() {
  ReadTransaction txn(db_);
  const std::int64_t gen = generation();
  json::object out;
  const auto fleet = cache_->fleet(db_, gen);
  {
    json::object by_class;
    for (auto c : IDENTITY_CLASSES) by_class[c] = 0;
    for (const auto& x : fleet->facets) by_class[x.identity] = by_class[x.identity].to_number<std::int64_t>() + x.devices;
    out["devices"] = json::object{{"total", fleet->devices}, {"by_identity", std::move(by_class)}};
  }
  {
    json::object by_sev;
    for (auto s : SEVERITIES) by_sev[s] = 0;
    std::int64_t total = 0;
    for (const auto& c : *cache_->findings(db_, gen)) {
      by_sev[c.severity] = by_sev[c.severity].to_number<std::int64_t>() + c.count;
      total += c.count;
    }
    std::map<std::int64_t, std::int64_t> worst;  // devices by the worst severity among their findings
    for (const auto& x : fleet->facets) {
      if (x.severity >= 0) worst[x.severity] += x.devices;
    }
    json::object by_worst;
    for (const auto& [rank, n] : worst) by_worst[severityName(rank)] = n;
    out["findings"] =
        json::object{{"total", total}, {"by_severity", std::move(by_sev)}, {"devices_by_worst", std::move(by_worst)}};
  }
  {
    Stmt s(db_, "SELECT count(*), coalesce(sum(s.requests_client_cert),0), coalesce(sum(" + SERVER_ASKS_SQL +
                " IS NULL),0) FROM servers s");
    if (s.step()) {
      out["servers"] = json::object{{"total", s.int64(0)},
                                    {"requesting_client_cert", s.int64(1)},
                                    {"not_requesting", s.int64(0) - s.int64(1) - s.int64(2)},
                                    {"request_not_visible", s.int64(2)}};
    }
  }
  {
    json::array sources;
    Stmt s(db_, "SELECT key, name, kind, first_ts_ns, last_ts_ns, packets, bytes, status, error FROM sources "
                "ORDER BY updated_ns DESC, key LIMIT 200");
    while (s.step()) {
      sources.push_back(json::object{{"key", s.text(0)},
                                     {"name", s.text(1)},
                                     {"kind", s.text(2)},
                                     {"first", s.isNull(3) ? json::value(nullptr) : json::value(isoTime(s.int64(3)))},
                                     {"last", s.isNull(4) ? json::value(nullptr) : json::value(isoTime(s.int64(4)))},
                                     {"packets", s.int64(5)},
                                     {"bytes", s.int64(6)},
                                     {"status", s.text(7)},
                                     {"error", s.text(8)}});
    }
    Stmt t(db_, "SELECT count(*), coalesce(sum(packets),0), coalesce(sum(bytes),0), min(first_ts_ns), max(last_ts_ns), "
                "coalesce(sum(kind = 'file'),0), coalesce(sum(kind = 'interface'),0), coalesce(sum(status = 'error'),0) "
                "FROM sources WHERE packets > 0 OR status = 'error'");
    json::object cov;
    if (t.step()) {
      cov["sources"] = t.int64(0);
      cov["packets"] = t.int64(1);
      cov["bytes"] = t.int64(2);
      cov["first"] = t.isNull(3) ? json::value(nullptr) : json::value(isoTime(t.int64(3)));
      cov["last"] = t.isNull(4) ? json::value(nullptr) : json::value(isoTime(t.int64(4)));
      cov["span_seconds"] = t.isNull(3) ? 0.0 : static_cast<double>(t.int64(4) - t.int64(3)) / 1e9;
      cov["files"] = t.int64(5);
      cov["interfaces"] = t.int64(6);
      cov["errors"] = t.int64(7);
    }
    cov["list"] = std::move(sources);
    out["coverage"] = std::move(cov);
  }
  {
    json::object counters;
    std::int64_t drops = 0;
    Stmt s(db_, "SELECT name, value FROM stats ORDER BY name");
    while (s.step()) {
      if (isMomentStat(s.text(0))) continue;
      counters[s.text(0)] = s.int64(1);
      if (s.text(0).rfind("drops", 0) == 0) drops += s.int64(1);
    }
    out["counters"] = std::move(counters);
    out["drops"] = drops;
    const EvidenceLevel evidence = evidenceLevel(db_);
    out["sightings_left_out"] = evidence.left_out;
    out["evidence"] = json::object{{"held", evidence.held},
                                   {"limit", evidence.limit},
                                   {"in_order", evidence.in_order},
                                   {"memory_need", evidence.memory_need},
                                   {"memory_limit", evidence.memory_limit},
                                   {"bytes", evidence.bytes},
                                   {"bytes_limit", evidence.bytes_limit}};
  }
  {
    json::array anomalies;
    std::int64_t total = 0;
    Stmt s(db_, "SELECT name, sum(count) FROM source_anomalies GROUP BY name ORDER BY sum(count) DESC, name");
    while (s.step()) {
      anomalies.push_back(json::object{{"name", s.text(0)}, {"count", s.int64(1)}});
      total += s.int64(1);
    }
    out["anomalies"] = json::object{{"total", total}, {"list", std::move(anomalies)}};
  }
  out["change"] = changeCounter();
  return out;
}

json::object WebQueries::timeline(const std::string& bucket) {
  constexpr std::int64_t SEC = 1000000000;
  ReadTransaction txn(db_);
  std::int64_t width = 0;
  if (bucket == "hour") width = 3600 * SEC;
  else if (bucket == "day") width = 86400 * SEC;
  else {
    // Two statements: SQLite reads min() or max() from the index end only when it is alone.
    Stmt first(db_, "SELECT min(ts_ns) FROM sightings");
    Stmt last(db_, "SELECT max(ts_ns) FROM sightings");
    const std::int64_t range = first.step() && last.step() && !first.isNull(0) ? last.int64(0) - first.int64(0) : 0;
    constexpr std::array<std::int64_t, 10> NICE = {SEC,         10 * SEC,   60 * SEC,    300 * SEC,    900 * SEC,
                                                   3600 * SEC, 6 * 3600 * SEC, 86400 * SEC, 7 * 86400 * SEC, 30 * 86400 * SEC};
    width = NICE.back();
    for (auto w : NICE) {
      if (range / w < 120) {
        width = w;
        break;
      }
    }
  }
  const TimelineCounts counts = cache_->timeline(db_, width);
  json::array buckets;
  for (const auto& [b, n] : counts.buckets) {
    buckets.push_back(json::object{{"start", isoTime(b * width)}, {"count", n[0]}, {"tls", n[1]}, {"http", n[2]}});
  }
  return json::object{{"bucket_seconds", width / SEC}, {"buckets", std::move(buckets)}};
}

namespace {

// Prometheus text format 0.0.4: label values escape backslash, double quote and newline.
std::string promLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

void promHeader(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void promSample(std::string& out, std::string_view name, std::string_view labels, std::int64_t value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

// A metric of one unlabelled sample: its header and its value.
void promSingle(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                std::int64_t value) {
  promHeader(out, name, type, help);
  promSample(out, name, "", value);
}

}  // namespace

std::string WebQueries::metrics() {
  ReadTransaction txn(db_);
  const std::int64_t gen = generation();
  std::string out;
  std::map<std::string, std::int64_t> counters;
  {
    Stmt s(db_, "SELECT name, value FROM stats");
    while (s.step()) counters[s.text(0)] = s.int64(1);
  }
  std::erase_if(counters, [](const auto& c) { return isMomentStat(c.first); });  // not counters
  const EvidenceLevel evidence = evidenceLevel(db_);
  const std::pair<const char*, const char*> named[] = {
      {"packets", "Packets read from all capture sources."},
      {"bytes", "Bytes (original length) read from all capture sources."},
      {"flows", "TCP flows created."},
      {"tls_handshakes", "TLS handshakes observed."},
      {"http_requests", "HTTP requests observed."},
      {"client_certificates", "Client certificates observed."},
  };
  for (const auto& [key, help] : named) {
    promSingle(out, std::string("provaudit_") + key + "_total", "counter", help,
               counters.count(key) != 0 ? counters[key] : 0);
  }
  promHeader(out, "provaudit_drops_total", "counter", "Packets dropped, by where (stats named drops_*).");
  // The three places a live capture loses packets (docs/operations.md §3)
  // always have a series, 0 until the first drop: an alert on one of them
  // has something to watch from the start. Other drops_* counters follow.
  std::map<std::string, std::int64_t> drops = {{"kernel", 0}, {"interface", 0}, {"queue", 0}};
  for (const auto& [k, v] : counters) {
    if (k.rfind("drops", 0) == 0) drops[k.size() > 6 ? k.substr(6) : "total"] = v;
  }
  for (const auto& [where, v] : drops) {
    promSample(out, "provaudit_drops_total", "where=\"" + promLabel(where) + "\"", v);
  }
  promHeader(out, "provaudit_counter_total", "counter", "Every cumulative run counter stored, by name.");
  for (const auto& [k, v] : counters) promSample(out, "provaudit_counter_total", "name=\"" + promLabel(k) + "\"", v);

  promSingle(out, "provaudit_sightings_left_out", "gauge",
             "Sightings stored but left out of the audit by --max-sightings.", evidence.left_out);
  promSingle(out, "provaudit_audit_evidence_sightings", "gauge",
             "Sightings the last writer's audit holds as evidence (stored less those left out).", evidence.held);
  promSingle(out, "provaudit_audit_evidence_limit", "gauge",
             "The last writer's --max-sightings (0: no limit); past its first four fifths only new "
             "sightings join the evidence.",
             evidence.limit);
  promSingle(out, "provaudit_audit_evidence_bytes", "gauge",
             "The estimated size of the last writer's evidence; at --max-sightings times 8 KiB it is full, "
             "whatever the number of its sightings (long User-Agents, large certificates).",
             evidence.bytes);
  promSingle(out, "provaudit_audit_evidence_memory_need_bytes", "gauge",
             "The most memory the last writer's evidence may need at its --max-sightings (0: no limit).",
             evidence.memory_need);
  promSingle(out, "provaudit_audit_memory_limit_bytes", "gauge",
             "The memory the last writer may use: its cgroup's limit or the machine's memory (0: unknown).",
             evidence.memory_limit);

  promHeader(out, "provaudit_devices", "gauge", "Devices by identity class.");
  {
    std::map<std::string, std::int64_t> by_class;
    for (auto c : IDENTITY_CLASSES) by_class[std::string(c)] = 0;
    for (const auto& x : cache_->fleet(db_, gen)->facets) by_class[x.identity] += x.devices;
    for (const auto& [c, n] : by_class) promSample(out, "provaudit_devices", "identity=\"" + promLabel(c) + "\"", n);
  }
  promHeader(out, "provaudit_findings", "gauge", "Findings by code, severity and subject kind.");
  {
    for (const auto& c : *cache_->findings(db_, gen)) {
      promSample(out, "provaudit_findings",
                 "code=\"" + promLabel(c.code) + "\",severity=\"" + promLabel(c.severity) + "\",kind=\"" +
                     promLabel(c.kind) + "\"",
                 c.count);
    }
  }
  promHeader(out, "provaudit_servers", "gauge", "Provisioning servers, by whether they request client certificates.");
  {
    // "unknown": the request could not be seen (null in the server's report).
    Stmt s(db_, "SELECT " + SERVER_ASKS_SQL + " AS asks, count(*) FROM servers s GROUP BY asks");
    std::int64_t yes = 0, no = 0, unknown = 0;
    while (s.step()) (s.isNull(0) ? unknown : s.int64(0) != 0 ? yes : no) += s.int64(1);
    promSample(out, "provaudit_servers", "requests_client_cert=\"true\"", yes);
    promSample(out, "provaudit_servers", "requests_client_cert=\"false\"", no);
    promSample(out, "provaudit_servers", "requests_client_cert=\"unknown\"", unknown);
  }
  promHeader(out, "provaudit_anomalies_total", "counter", "Input anomalies by name, summed over sources.");
  {
    Stmt s(db_, "SELECT name, sum(count) FROM source_anomalies GROUP BY name ORDER BY name");
    while (s.step()) promSample(out, "provaudit_anomalies_total", "name=\"" + promLabel(s.text(0)) + "\"", s.int64(1));
  }
  promHeader(out, "provaudit_sources", "gauge", "Capture sources recorded, by status.");
  {
    Stmt s(db_, "SELECT status, count(*) FROM sources GROUP BY status ORDER BY status");
    while (s.step()) promSample(out, "provaudit_sources", "status=\"" + promLabel(s.text(0)) + "\"", s.int64(1));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Report streams.

std::optional<ReportFormat> parseReportFormat(std::string_view name) {
  if (name == "json") return ReportFormat::Json;
  if (name == "csv") return ReportFormat::Csv;
  if (name == "html") return ReportFormat::Html;
  return std::nullopt;
}

std::string_view reportContentType(ReportFormat f) {
  switch (f) {
    case ReportFormat::Json: return "application/json; charset=utf-8";
    case ReportFormat::Csv: return "text/csv; charset=utf-8";
    case ReportFormat::Html: return "text/html; charset=utf-8";
  }
  return "application/octet-stream";
}

std::string_view reportExtension(ReportFormat f) {
  switch (f) {
    case ReportFormat::Json: return "json";
    case ReportFormat::Csv: return "csv";
    case ReportFormat::Html: return "html";
  }
  return "bin";
}

std::string describeFilter(const DeviceFilter& f) {
  std::string out;
  const auto add = [&](std::string_view label, const std::string& v) {
    if (v.empty()) return;
    out += (out.empty() ? "" : ", ") + std::string(label) + "=" + v;
  };
  add("search", f.q);
  add("class", f.identity);
  add("vendor", f.vendor);
  add("finding", f.finding);
  add("severity", f.severity);
  add("server", f.server);
  return out.empty() ? "all devices" : out;
}

namespace {

class FilteredReport final : public ReportStream {
 public:
  FilteredReport(sqlite3* db, ReportFormat format, const DeviceFilter& filter, const std::string& generated)
      : snapshot_(db), format_(format), html_(generated, describeFilter(filter)), generated_(generated) {
    const bool fts = hasSchemaObject(db, "devices_search");
    const Search search = parseSearch(filter.q, fts);
    if (!search.text_words.empty()) {
      hits_ = rowidSet(textMatches(db, *loadDeviceTexts(db), search.text_words));  // without `previous`: always a value
      hit_function_.emplace(db, hits_);  // before the statements that call it, which it outlives
    }
    const Where where = deviceWhere(filter, fts);
    const SortColumn* sort = deviceSort(filter.sort);
    const std::string expr(sort != nullptr ? sort->expr : DEVICE_SORTS[0].expr);
    const char* dir = filter.desc ? " DESC" : " ASC";
    // Each row: its id, its report, and whether the report is a JSON object.
    // JSON copies the text as it is stored, so SQLite checks it; CSV and HTML
    // decode it anyway.
    const std::string sound = format_ == ReportFormat::Json
                                  ? "CASE WHEN json_valid(report) THEN json_type(report) = 'object' ELSE 0 END"
                                  : "1";
    devices_ = std::make_unique<Stmt>(
        db, "SELECT id, (SELECT report FROM device_docs o WHERE o.id = devices.id), (SELECT " + sound +
                " FROM device_docs o WHERE o.id = devices.id) FROM devices" + where.sql + " ORDER BY " + expr + dir +
                ", id" + dir);
    bindAll(*devices_, where.params);
    if (filter.empty()) {
      servers_ = std::make_unique<Stmt>(db, "SELECT id, report, " + sound + " FROM servers ORDER BY id");
    } else {
      // Only the servers the selected devices talked to.
      servers_ = std::make_unique<Stmt>(db, "SELECT id, report, " + sound +
                                                " FROM servers WHERE id IN (SELECT server_id FROM device_servers "
                                                "WHERE device_id IN (SELECT id FROM devices" +
                                                where.sql + ")) ORDER BY id");
      bindAll(*servers_, where.params);
    }
    if (format_ == ReportFormat::Html) {
      Stmt c(db, "SELECT identity, count(*) FROM devices" + where.sql + " GROUP BY identity");
      bindAll(c, where.params);
      json::object by_class;
      std::int64_t total = 0;
      while (c.step()) {
        by_class[c.text(0)] = c.int64(1);
        total += c.int64(1);
      }
      summary_ = json::object{{"devices", total}, {"identity", std::move(by_class)},
                              {"sightings_left_out", statValue(db, STAT_SIGHTINGS_LEFT_OUT)}};
    }
  }

  bool fill(std::string& out, std::size_t want) override {
    const std::size_t start = out.size();
    while (out.size() - start < want) {
      switch (stage_) {
        case Stage::Header: header(out); stage_ = Stage::Devices; break;
        case Stage::Devices:
          if (devices_->step()) row(out, *devices_, false);
          else {
            betweenSections(out);
            stage_ = Stage::Servers;
          }
          break;
        case Stage::Servers:
          if (format_ != ReportFormat::Csv && servers_->step()) row(out, *servers_, true);
          else {
            footer(out);
            stage_ = Stage::Done;
          }
          break;
        case Stage::Done: return false;
      }
    }
    return stage_ != Stage::Done;
  }
  const Damage& damage() const override { return damage_; }

 private:
  enum class Stage { Header, Devices, Servers, Done };

  void header(std::string& out) {
    switch (format_) {
      case ReportFormat::Json:
        out += "{\"schema\":\"provaudit.report/1\",\"generated\":" + json::serialize(json::value(generated_)) +
               ",\"devices\":[";
        break;
      case ReportFormat::Csv:
        out += CSV_HEADER;
        break;
      case ReportFormat::Html: html_.begin(out, summary_); break;
    }
  }
  // A device or server row (id, report, sound): copied as is into JSON,
  // decoded for CSV and HTML. One whose report is missing or not a JSON
  // object (a database damaged outside provaudit) is left out and counted:
  // never an empty or broken JSON element, never a row dropped unsaid.
  void row(std::string& out, const Stmt& s, bool server) {
    const std::string text = s.isNull(1) ? std::string() : s.text(1);
    const auto damaged = [&] {
      if (damage_.rows++ == 0) damage_.first = s.text(0);
    };
    if (text.empty() || s.int64(2) == 0) return damaged();
    if (format_ == ReportFormat::Json) {
      out += first_ ? "\n" : ",\n";
      out += text;
      first_ = false;
      return;
    }
    const json::value v = parseOrNull(text);
    if (!v.is_object()) return damaged();
    if (server) html_.server(out, v.as_object());
    else if (format_ == ReportFormat::Csv) out += csvDeviceRow(v.as_object());
    else html_.device(out, v.as_object());
  }
  void betweenSections(std::string& out) {
    if (format_ == ReportFormat::Json) {
      out += "\n],\"servers\":[";
      first_ = true;
    } else if (format_ == ReportFormat::Html) {
      html_.beginServers(out);
    }
  }
  void footer(std::string& out) {
    if (format_ == ReportFormat::Json) out += "\n]}\n";
    else if (format_ == ReportFormat::Html) html_.end(out, damage_.rows);
  }

  // One snapshot for the whole report: the search hits, devices and servers
  // read from the same audit (ended last, after the statements).
  ReadTransaction snapshot_;
  ReportFormat format_;
  HtmlReportWriter html_;
  std::string generated_;
  json::object summary_;
  RowidSet hits_;                                  // a search without the search index
  std::optional<SearchHitFunction> hit_function_;  // provaudit_search_hit() over hits_
  std::unique_ptr<Stmt> devices_;
  std::unique_ptr<Stmt> servers_;
  Stage stage_ = Stage::Header;
  bool first_ = true;
  Damage damage_;
};

}  // namespace

std::unique_ptr<ReportStream> openReportStream(sqlite3* db, ReportFormat format, const DeviceFilter& filter,
                                               const std::string& generated_iso) {
  return std::make_unique<FilteredReport>(db, format, filter, generated_iso);
}

}  // namespace provaudit::store
