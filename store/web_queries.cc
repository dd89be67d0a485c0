#include "store/web_queries.h"

#include <algorithm>
#include <array>
#include <map>
#include <variant>

#include "common/net_types.h"
#include "store/report.h"
#include "store/report_html.h"
#include "store/sqlite_util.h"

namespace provaudit::store {
namespace json = boost::json;

// ---------------------------------------------------------------------------
// Finding catalogue: design.md "Findings catalogue" plus the two consistency
// findings the audit adds (fingerprint-mismatch, ccert-mismatch).

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

// ---------------------------------------------------------------------------
// Fixed vocabularies. A sort name maps to an SQL expression that has an index
// (migration 2), so that keyset paging walks the index.

struct SortColumn {
  std::string_view name;
  std::string_view expr;
  bool integer;
};

constexpr std::array<SortColumn, 14> DEVICE_SORTS = {{
    {"id", "id", false},
    {"mac", "coalesce(mac,'')", false},
    {"ips", "ips", false},
    {"identity", "identity", false},
    {"vendor", "coalesce(vendor,'')", false},
    {"model", "coalesce(model,'')", false},
    {"firmware", "coalesce(firmware,'')", false},
    {"serial", "coalesce(serial,'')", false},
    {"chain", "coalesce(cert_chain,'')", false},
    {"findings", "findings", false},
    {"severity", "worst_severity", true},
    {"first_seen", "first_seen_ns", true},
    {"last_seen", "last_seen_ns", true},
    {"sessions", "sessions", true},
}};

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

constexpr std::array<std::pair<std::string_view, std::string_view>, 5> FINDING_SORTS = {{
    {"severity", "rank"},
    {"code", "f.code"},
    {"subject", "f.subject_id"},
    {"kind", "f.subject_kind"},
    {"detail", "f.detail"},
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

// Search text of a device without the FTS index (a database older than migration 2).
constexpr std::string_view PLAIN_SEARCH_SQL =
    "instr(lower(id||' '||coalesce(mac,'')||' '||replace(coalesce(mac,''),':','')||' '||ips||' '||"
    "coalesce(vendor,'')||' '||coalesce(model,'')||' '||coalesce(serial,'')||' '||coalesce(cert_subject,'')||' '||"
    "user_agents), ?) > 0";

Where deviceWhere(const DeviceFilter& f, bool has_search_index) {
  Where w;
  if (!f.identity.empty()) w.add("identity = ?", f.identity);
  if (f.vendor == "-") w.add("vendor IS NULL");
  else if (!f.vendor.empty()) w.add("vendor = ?", f.vendor);
  if (!f.finding.empty()) {
    w.add("id IN (SELECT subject_id FROM findings WHERE code = ? AND subject_kind = 'device')", f.finding);
  }
  if (!f.severity.empty()) w.add("worst_severity = ?", severityRank(f.severity));
  if (!f.server.empty()) w.add("id IN (SELECT device_id FROM device_servers WHERE server_id = ?)", f.server);
  std::string phrases;  // FTS5 trigram: each quoted phrase matches as a substring; phrases AND together
  for (const auto& term : words(f.q)) {
    if (!has_search_index) {
      w.add(PLAIN_SEARCH_SQL, lower(term));
    } else if (term.size() >= 3) {
      std::string quoted = "\"";
      for (char c : term) {
        if (c == '"') quoted += "\"\"";
        else quoted.push_back(c);
      }
      phrases += (phrases.empty() ? "" : " ") + quoted + "\"";
    } else {
      // Trigrams need three characters; shorter words scan the search text.
      w.add("rowid IN (SELECT rowid FROM devices_search WHERE instr(lower(body), ?) > 0)", lower(term));
    }
  }
  if (!phrases.empty()) w.add("rowid IN (SELECT rowid FROM devices_search WHERE devices_search MATCH ?)", phrases);
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

json::value makeCursor(const Stmt& s, int col, bool integer, const std::string& id) {
  json::array a;
  if (integer) a.emplace_back(s.int64(col));
  else a.emplace_back(s.text(col));
  a.emplace_back(id);
  return json::value(json::serialize(a));
}

std::size_t clampLimit(std::size_t n) { return n == 0 ? DEFAULT_PAGE : std::min(n, MAX_PAGE); }

}  // namespace

bool isDeviceSort(std::string_view name) { return deviceSort(name) != nullptr; }
bool isServerSort(std::string_view name) {
  return std::any_of(SERVER_SORTS.begin(), SERVER_SORTS.end(), [&](const auto& s) { return s.first == name; });
}
bool isFindingSort(std::string_view name) {
  return std::any_of(FINDING_SORTS.begin(), FINDING_SORTS.end(), [&](const auto& s) { return s.first == name; });
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

WebQueries::WebQueries(sqlite3* db) : db_(db) {
  Stmt s(db_, "SELECT count(*) FROM sqlite_master WHERE name = 'devices_search'");
  has_search_index_ = s.step() && s.int64(0) == 1;
}

std::int64_t WebQueries::changeCounter() {
  Stmt s(db_, "PRAGMA data_version");
  return s.step() ? s.int64(0) : 0;
}

std::optional<json::object> WebQueries::devices(const DeviceFilter& f, const PageRequest& page) {
  const SortColumn* sort = deviceSort(f.sort);
  if (sort == nullptr) sort = &DEVICE_SORTS[0];
  const std::size_t limit = clampLimit(page.limit);
  const Where where = deviceWhere(f, has_search_index_);

  std::optional<Cursor> cursor;
  const bool backwards = !page.before.empty();
  if (!page.after.empty() || backwards) {
    cursor = parseCursor(backwards ? page.before : page.after, sort->integer);
    if (!cursor) return std::nullopt;
  }
  // Walking backwards from `before` reverses the order, then the page is flipped back.
  const bool descending = f.desc != backwards;
  const std::string expr(sort->expr);
  std::string sql = "SELECT " + std::string(DEVICE_COLUMNS) + ", " + expr + " FROM devices" + where.sql;
  if (cursor) {
    sql += std::string(where.sql.empty() ? " WHERE " : " AND ") + "(" + expr + ", id) " + (descending ? "<" : ">") +
           " (?, ?)";
  }
  const char* dir = descending ? " DESC" : " ASC";
  sql += " ORDER BY " + expr + dir + ", id" + dir + " LIMIT ?";
  Stmt s(db_, sql);
  int next = bindAll(s, where.params);
  if (cursor) {
    next = bindAll(s, {cursor->value}, next);
    s.bind(next++, cursor->id);
  }
  s.bind(next, static_cast<std::int64_t>(limit + 1));

  json::array items;
  std::vector<json::value> cursors;
  bool more = false;
  while (s.step()) {
    if (items.size() == limit) {
      more = true;
      break;
    }
    json::object row = deviceRow(s);
    cursors.push_back(makeCursor(s, 16, sort->integer, s.text(0)));
    items.push_back(std::move(row));
  }
  if (backwards) {
    std::reverse(items.begin(), items.end());
    std::reverse(cursors.begin(), cursors.end());
  }
  json::object out;
  const bool has_next = backwards ? true : more;
  const bool has_prev = backwards ? more : cursor.has_value();
  out["next"] = has_next && !cursors.empty() ? cursors.back() : json::value(nullptr);
  out["prev"] = has_prev && !cursors.empty() ? cursors.front() : json::value(nullptr);
  out["items"] = std::move(items);
  Stmt count(db_, "SELECT count(*) FROM devices" + where.sql);
  bindAll(count, where.params);
  out["total"] = count.step() ? count.int64(0) : 0;
  out["sort"] = sort->name;
  out["desc"] = f.desc;
  out["limit"] = limit;
  return out;
}

std::optional<json::object> WebQueries::device(const std::string& id) {
  json::object out;
  {
    Stmt s(db_, "SELECT report, detail FROM devices WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    out["device"] = parseOrNull(s.text(0));
    out["detail"] = parseOrNull(s.text(1));
  }
  {
    Stmt s(db_,
           "SELECT s.key, s.kind, s.ts_ns, s.source, s.frame, s.client_ip, s.client_port, s.server_ip, s.server_port, "
           "s.client_mac, s.data FROM device_sightings d JOIN sightings s ON s.key = d.sighting_key "
           "WHERE d.device_id = ? ORDER BY s.ts_ns, s.key LIMIT ?");
    s.bind(1, id).bind(2, static_cast<std::int64_t>(MAX_DEVICE_SIGHTINGS));
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
  }
  {
    Stmt s(db_,
           "SELECT s.id, s.ip, s.port, s.requests_client_cert FROM device_servers d JOIN servers s ON s.id = d.server_id "
           "WHERE d.device_id = ? ORDER BY s.id");
    s.bind(1, id);
    json::array rows;
    while (s.step()) {
      rows.push_back(json::object{
          {"id", s.text(0)}, {"ip", s.text(1)}, {"port", s.int64(2)}, {"requests_client_cert", s.int64(3) != 0}});
    }
    out["servers"] = std::move(rows);
  }
  return out;
}

json::object WebQueries::servers(const ServerFilter& f, const PageRequest& page) {
  Where w;
  if (!f.q.empty()) {
    w.add("(instr(lower(s.id), ?) > 0 OR instr(lower(coalesce(json_extract(s.report,'$.cert.subject'),'')), ?) > 0)",
          lower(f.q));
    w.params.emplace_back(lower(f.q));
  }
  if (f.cert_request == "yes") w.add("s.requests_client_cert = 1");
  else if (f.cert_request == "no") w.add("s.requests_client_cert = 0");
  if (!f.finding.empty()) {
    w.add("s.id IN (SELECT subject_id FROM findings WHERE code = ? AND subject_kind = 'server')", f.finding);
  }
  const std::size_t limit = clampLimit(page.limit);
  const char* dir = f.desc ? " DESC" : " ASC";
  Stmt s(db_, "SELECT s.id, s.report, (SELECT count(*) FROM device_servers d WHERE d.server_id = s.id) AS devices "
              "FROM servers s" + w.sql + " ORDER BY " + std::string(lookupSort(SERVER_SORTS, f.sort)) + dir + ", s.id" +
              dir + " LIMIT ? OFFSET ?");
  const int next = bindAll(s, w.params);
  s.bind(next, static_cast<std::int64_t>(limit)).bind(next + 1, static_cast<std::int64_t>(page.offset));
  json::array items;
  while (s.step()) {
    json::value report = parseOrNull(s.text(1));
    json::object o = report.is_object() ? report.as_object() : json::object{};
    o["id"] = s.text(0);
    o["devices"] = s.int64(2);
    items.push_back(std::move(o));
  }
  Stmt count(db_, "SELECT count(*) FROM servers s" + w.sql);
  bindAll(count, w.params);
  return json::object{{"items", std::move(items)},
                      {"total", count.step() ? count.int64(0) : 0},
                      {"offset", page.offset},
                      {"limit", limit}};
}

json::object WebQueries::findings(const FindingFilter& f, const PageRequest& page) {
  Where w;
  if (!f.code.empty()) w.add("f.code = ?", f.code);
  if (!f.severity.empty()) w.add("f.severity = ?", f.severity);
  if (f.kind == "device" || f.kind == "server") w.add("f.subject_kind = ?", f.kind);
  if (!f.q.empty()) {
    w.add("(instr(lower(f.subject_id), ?) > 0 OR instr(lower(f.detail), ?) > 0)", lower(f.q));
    w.params.emplace_back(lower(f.q));
  }
  const std::size_t limit = clampLimit(page.limit);
  const char* dir = f.desc ? " DESC" : " ASC";
  Stmt s(db_, "SELECT f.id, f.subject_kind, f.subject_id, f.code, f.severity, f.detail, " + std::string(SEVERITY_RANK_SQL) +
                  " AS rank, d.identity, d.model, d.ips FROM findings f "
                  "LEFT JOIN devices d ON f.subject_kind = 'device' AND d.id = f.subject_id" +
                  w.sql + " ORDER BY " + std::string(lookupSort(FINDING_SORTS, f.sort)) + dir + ", f.id ASC LIMIT ? OFFSET ?");
  const int next = bindAll(s, w.params);
  s.bind(next, static_cast<std::int64_t>(limit)).bind(next + 1, static_cast<std::int64_t>(page.offset));
  json::array items;
  while (s.step()) {
    items.push_back(json::object{{"id", s.int64(0)},
                                 {"kind", s.text(1)},
                                 {"subject", s.text(2)},
                                 {"code", s.text(3)},
                                 {"severity", s.text(4)},
                                 {"detail", s.text(5)},
                                 {"identity", textOrNull(s, 7)},
                                 {"model", textOrNull(s, 8)},
                                 {"ips", s.isNull(9) ? json::array{} : splitList(s.text(9))}});
  }
  Stmt count(db_, "SELECT count(*) FROM findings f" + w.sql);
  bindAll(count, w.params);
  return json::object{{"items", std::move(items)},
                      {"total", count.step() ? count.int64(0) : 0},
                      {"offset", page.offset},
                      {"limit", limit}};
}

json::object WebQueries::findingSummary() {
  Stmt s(db_, "SELECT code, severity, subject_kind, count(*), count(DISTINCT subject_id) FROM findings "
              "GROUP BY code, severity, subject_kind ORDER BY code");
  json::array rows;
  while (s.step()) {
    json::object r{{"code", s.text(0)},
                   {"severity", s.text(1)},
                   {"kind", s.text(2)},
                   {"count", s.int64(3)},
                   {"subjects", s.int64(4)}};
    if (const auto* info = findingInfo(s.text(0))) r["title"] = info->title;
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
  Stmt s(db_, "SELECT vendor, count(*) FROM devices GROUP BY vendor ORDER BY count(*) DESC, vendor");
  json::array out;
  while (s.step()) out.push_back(json::object{{"vendor", textOrNull(s, 0)}, {"devices", s.int64(1)}});
  return out;
}

namespace {

// "SELECT key, count" rows as an object with every expected key present (0 when absent), and their sum.
template <std::size_t N>
std::pair<json::object, std::int64_t> countBy(sqlite3* db, std::string_view sql,
                                              const std::array<std::string_view, N>& keys) {
  json::object by;
  for (auto k : keys) by[k] = 0;
  std::int64_t total = 0;
  Stmt s(db, sql);
  while (s.step()) {
    by[s.text(0)] = s.int64(1);
    total += s.int64(1);
  }
  return {std::move(by), total};
}

}  // namespace

json::object WebQueries::stats() {
  json::object out;
  {
    auto [by_class, total] = countBy(db_, "SELECT identity, count(*) FROM devices GROUP BY identity", IDENTITY_CLASSES);
    out["devices"] = json::object{{"total", total}, {"by_identity", std::move(by_class)}};
  }
  {
    auto [by_sev, total] = countBy(db_, "SELECT severity, count(*) FROM findings GROUP BY severity", SEVERITIES);
    json::object by_worst;  // devices by the worst severity among their findings
    Stmt w(db_, "SELECT worst_severity, count(*) FROM devices WHERE worst_severity >= 0 GROUP BY worst_severity");
    while (w.step()) by_worst[severityName(w.int64(0))] = w.int64(1);
    out["findings"] =
        json::object{{"total", total}, {"by_severity", std::move(by_sev)}, {"devices_by_worst", std::move(by_worst)}};
  }
  {
    Stmt s(db_, "SELECT count(*), coalesce(sum(requests_client_cert),0) FROM servers");
    if (s.step()) {
      out["servers"] = json::object{{"total", s.int64(0)},
                                    {"requesting_client_cert", s.int64(1)},
                                    {"not_requesting", s.int64(0) - s.int64(1)}};
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
      counters[s.text(0)] = s.int64(1);
      if (s.text(0).rfind("drops", 0) == 0) drops += s.int64(1);
    }
    out["counters"] = std::move(counters);
    out["drops"] = drops;
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
  std::int64_t width = 0;
  if (bucket == "hour") width = 3600 * SEC;
  else if (bucket == "day") width = 86400 * SEC;
  else {
    Stmt span(db_, "SELECT min(ts_ns), max(ts_ns) FROM sightings");
    const std::int64_t range = span.step() && !span.isNull(0) ? span.int64(1) - span.int64(0) : 0;
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
  // Integer division floors toward zero; capture times are after 1970, so that is the bucket start.
  Stmt s(db_, "SELECT ts_ns / ?1 AS b, count(*), sum(kind = 'tls'), sum(kind = 'http') FROM sightings GROUP BY b ORDER BY b");
  s.bind(1, width);
  json::array buckets;
  while (s.step()) {
    buckets.push_back(json::object{{"start", isoTime(s.int64(0) * width)},
                                   {"count", s.int64(1)},
                                   {"tls", s.int64(2)},
                                   {"http", s.int64(3)}});
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

}  // namespace

std::string WebQueries::metrics() {
  std::string out;
  std::map<std::string, std::int64_t> counters;
  {
    Stmt s(db_, "SELECT name, value FROM stats");
    while (s.step()) counters[s.text(0)] = s.int64(1);
  }
  const std::pair<const char*, const char*> named[] = {
      {"packets", "Packets read from all capture sources."},
      {"bytes", "Bytes (original length) read from all capture sources."},
      {"flows", "TCP flows created."},
      {"tls_handshakes", "TLS handshakes observed."},
      {"http_requests", "HTTP requests observed."},
      {"client_certificates", "Client certificates observed."},
  };
  for (const auto& [key, help] : named) {
    const std::string name = std::string("provaudit_") + key + "_total";
    promHeader(out, name, "counter", help);
    promSample(out, name, "", counters.count(key) != 0 ? counters[key] : 0);
  }
  promHeader(out, "provaudit_drops_total", "counter", "Packets dropped, by where (stats named drops_*).");
  if (std::none_of(counters.begin(), counters.end(), [](const auto& c) { return c.first.rfind("drops", 0) == 0; })) {
    promSample(out, "provaudit_drops_total", "where=\"total\"", 0);
  }
  for (const auto& [k, v] : counters) {
    if (k.rfind("drops", 0) != 0) continue;
    const std::string where = k.size() > 6 ? k.substr(6) : "total";
    promSample(out, "provaudit_drops_total", "where=\"" + promLabel(where) + "\"", v);
  }
  promHeader(out, "provaudit_counter_total", "counter", "Every cumulative run counter stored, by name.");
  for (const auto& [k, v] : counters) promSample(out, "provaudit_counter_total", "name=\"" + promLabel(k) + "\"", v);

  promHeader(out, "provaudit_devices", "gauge", "Devices by identity class.");
  {
    std::map<std::string, std::int64_t> by_class;
    for (auto c : IDENTITY_CLASSES) by_class[std::string(c)] = 0;
    Stmt s(db_, "SELECT identity, count(*) FROM devices GROUP BY identity");
    while (s.step()) by_class[s.text(0)] = s.int64(1);
    for (const auto& [c, n] : by_class) promSample(out, "provaudit_devices", "identity=\"" + promLabel(c) + "\"", n);
  }
  promHeader(out, "provaudit_findings", "gauge", "Findings by code, severity and subject kind.");
  {
    Stmt s(db_, "SELECT code, severity, subject_kind, count(*) FROM findings GROUP BY code, severity, subject_kind "
                "ORDER BY code");
    while (s.step()) {
      promSample(out, "provaudit_findings",
                 "code=\"" + promLabel(s.text(0)) + "\",severity=\"" + promLabel(s.text(1)) + "\",kind=\"" +
                     promLabel(s.text(2)) + "\"",
                 s.int64(3));
    }
  }
  promHeader(out, "provaudit_servers", "gauge", "Provisioning servers, by whether they request client certificates.");
  {
    Stmt s(db_, "SELECT requests_client_cert, count(*) FROM servers GROUP BY requests_client_cert");
    std::int64_t yes = 0, no = 0;
    while (s.step()) (s.int64(0) != 0 ? yes : no) += s.int64(1);
    promSample(out, "provaudit_servers", "requests_client_cert=\"true\"", yes);
    promSample(out, "provaudit_servers", "requests_client_cert=\"false\"", no);
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

std::string jsonStr(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string joinArray(const json::object& o, const char* key, const char* field = nullptr) {
  std::string out;
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array()) {
    const std::string s = field != nullptr ? (e.is_object() ? jsonStr(e.as_object(), field) : std::string())
                                           : (e.is_string() ? std::string(e.as_string()) : std::string());
    if (!s.empty()) out += (out.empty() ? "" : ";") + s;
  }
  return out;
}

// One CSV row from a device's report object: the columns of design.md "Report CSV".
std::string csvRow(const json::object& d) {
  const json::value* cert_v = d.if_contains("cert");
  const json::object empty;
  const json::object& cert = cert_v != nullptr && cert_v->is_object() ? cert_v->as_object() : empty;
  const std::string cells[] = {jsonStr(d, "mac"),        joinArray(d, "ips"),        jsonStr(d, "identity"),
                               jsonStr(d, "vendor"),     jsonStr(d, "model"),        jsonStr(d, "firmware"),
                               jsonStr(d, "serial"),     jsonStr(cert, "mac"),       jsonStr(cert, "sha256"),
                               jsonStr(cert, "chain"),   joinArray(d, "findings", "code"), jsonStr(d, "first_seen"),
                               jsonStr(d, "last_seen")};
  std::string row;
  bool first = true;
  for (const auto& c : cells) {
    if (!first) row += ',';
    row += csvField(c);
    first = false;
  }
  return row + "\r\n";
}

class FilteredReport final : public ReportStream {
 public:
  FilteredReport(sqlite3* db, ReportFormat format, const DeviceFilter& filter, const std::string& generated)
      : format_(format), html_(generated, describeFilter(filter)), generated_(generated) {
    bool fts = false;
    {
      Stmt s(db, "SELECT count(*) FROM sqlite_master WHERE name = 'devices_search'");
      fts = s.step() && s.int64(0) == 1;
    }
    const Where where = deviceWhere(filter, fts);
    const SortColumn* sort = deviceSort(filter.sort);
    const std::string expr(sort != nullptr ? sort->expr : DEVICE_SORTS[0].expr);
    const char* dir = filter.desc ? " DESC" : " ASC";
    devices_ = std::make_unique<Stmt>(db, "SELECT report FROM devices" + where.sql + " ORDER BY " + expr + dir + ", id" + dir);
    bindAll(*devices_, where.params);
    servers_ = std::make_unique<Stmt>(db, "SELECT report FROM servers ORDER BY id");
    if (format_ == ReportFormat::Html) {
      Stmt c(db, "SELECT identity, count(*) FROM devices" + where.sql + " GROUP BY identity");
      bindAll(c, where.params);
      json::object by_class;
      std::int64_t total = 0;
      while (c.step()) {
        by_class[c.text(0)] = c.int64(1);
        total += c.int64(1);
      }
      summary_ = json::object{{"devices", total}, {"identity", std::move(by_class)}};
    }
  }

  bool fill(std::string& out, std::size_t want) override {
    const std::size_t start = out.size();
    while (out.size() - start < want) {
      switch (stage_) {
        case Stage::Header: header(out); stage_ = Stage::Devices; break;
        case Stage::Devices:
          if (devices_->step()) row(out, devices_->text(0), false);
          else {
            betweenSections(out);
            stage_ = Stage::Servers;
          }
          break;
        case Stage::Servers:
          if (format_ != ReportFormat::Csv && servers_->step()) row(out, servers_->text(0), true);
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

 private:
  enum class Stage { Header, Devices, Servers, Done };

  void header(std::string& out) {
    switch (format_) {
      case ReportFormat::Json:
        out += "{\"schema\":\"provaudit.report/1\",\"generated\":" + json::serialize(json::value(generated_)) +
               ",\"devices\":[";
        break;
      case ReportFormat::Csv:
        out += "mac,ips,identity,vendor,model,firmware,serial,cert_mac,cert_sha256,cert_chain,findings,first_seen,last_seen\r\n";
        break;
      case ReportFormat::Html: html_.begin(out, summary_); break;
    }
  }
  // A device or server row: copied as is into JSON, decoded for CSV and HTML.
  void row(std::string& out, const std::string& text, bool server) {
    if (format_ == ReportFormat::Json) {
      out += first_ ? "\n" : ",\n";
      out += text;
      first_ = false;
      return;
    }
    const json::value v = parseOrNull(text);
    if (!v.is_object()) return;
    if (server) html_.server(out, v.as_object());
    else if (format_ == ReportFormat::Csv) out += csvRow(v.as_object());
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
    else if (format_ == ReportFormat::Html) html_.end(out);
  }

  ReportFormat format_;
  HtmlReportWriter html_;
  std::string generated_;
  json::object summary_;
  std::unique_ptr<Stmt> devices_;
  std::unique_ptr<Stmt> servers_;
  Stage stage_ = Stage::Header;
  bool first_ = true;
};

}  // namespace

std::unique_ptr<ReportStream> openReportStream(sqlite3* db, ReportFormat format, const DeviceFilter& filter,
                                               const std::string& generated_iso) {
  return std::make_unique<FilteredReport>(db, format, filter, generated_iso);
}

}  // namespace provaudit::store
