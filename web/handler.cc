#include "web/handler.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <boost/json.hpp>
#include <chrono>

#include "common/net_types.h"
#include "store/sqlite_util.h"
#include "web/assets.h"

namespace provaudit::web {
namespace json = boost::json;
using Query = std::vector<std::pair<std::string, std::string>>;

namespace {

constexpr std::string_view CSP =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
// The HTML export styles itself inline and runs nothing.
constexpr std::string_view EXPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";
constexpr std::string_view SESSION_COOKIE = "provaudit_session";

void secure(Response& res, std::string_view csp = CSP) {
  res.set(http::field::server, "provaudit");
  res.set("Content-Security-Policy", csp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::x_frame_options, "DENY");
  res.set("Cross-Origin-Resource-Policy", "same-origin");
  res.set("Cross-Origin-Opener-Policy", "same-origin");
  if (res.find(http::field::cache_control) == res.end()) res.set(http::field::cache_control, "no-store");
}

Response make(http::status status, unsigned version, std::string_view type, std::string body) {
  Response res{status, version};
  res.set(http::field::content_type, type);
  res.body() = std::move(body);
  res.prepare_payload();
  secure(res);
  return res;
}

Reply reply(Response res) { return Reply{std::move(res), nullptr, {}}; }

Reply jsonReply(const Request& req, const json::value& v, http::status status = http::status::ok) {
  return reply(make(status, req.version(), "application/json; charset=utf-8", json::serialize(v) + "\n"));
}

Reply jsonError(const Request& req, http::status status, std::string_view message) {
  return jsonReply(req, json::object{{"error", message}}, status);
}

Reply redirect(const Request& req, std::string_view location) {
  Response res = make(http::status::see_other, req.version(), "text/plain; charset=utf-8", "");
  res.set(http::field::location, location);
  return reply(std::move(res));
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "a=1&b=2" -> pairs; false on a malformed escape or too many parameters.
bool parseQuery(std::string_view q, Query& out) {
  while (!q.empty()) {
    const std::size_t amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (part.empty()) continue;
    if (out.size() == MAX_QUERY_PARAMS) return false;
    const std::size_t eq = part.find('=');
    std::string key, value;
    if (!percentDecode(part.substr(0, eq), key, true)) return false;
    if (eq != std::string_view::npos && !percentDecode(part.substr(eq + 1), value, true)) return false;
    out.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

std::string param(const Query& q, std::string_view key) {
  for (auto it = q.rbegin(); it != q.rend(); ++it) {
    if (it->first == key) return it->second;
  }
  return {};
}

// Where signing in returns to: a view of the dashboard, its hash ("#/devices?class=generic"),
// which the login page sends as the form's `next`. Only such a fragment is followed, appended
// to "/": whatever it says, the browser stays on this origin and this page (no open redirect).
// Visible ASCII only, as a Location header carries it (the page's links are percent-encoded).
bool isViewFragment(std::string_view next) {
  return next.size() >= 2 && next.size() <= MAX_RETURN_VIEW_BYTES && next.substr(0, 2) == "#/" &&
         std::all_of(next.begin(), next.end(), [](char c) { return c > ' ' && c < '\x7f'; });
}

// RFC 3986 §2.3: all but the unreserved characters percent-encoded, for a query value.
std::string percentEncode(std::string_view text) {
  static constexpr char HEX[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (std::isalnum(b) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(HEX[b >> 4]);
      out.push_back(HEX[b & 0xF]);
    }
  }
  return out;
}

// A whole-number parameter: absent or empty, `fallback`; decimal digits, their
// value (the queries clamp a page size to its maximum, and the answer says
// which size it used); anything else (a sign, letters, 0 for a page size) is
// refused with `error` naming it: a typo must not look like an answer.
enum class Count { Offset, PageSize };
bool sizeParam(const Query& q, std::string_view key, std::size_t fallback, Count kind, std::size_t& out,
               std::string& error) {
  constexpr std::size_t DIGITS_MAX = 9;
  const std::string v = param(q, key);
  out = fallback;
  if (v.empty()) return true;
  if (v.size() <= DIGITS_MAX && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    out = static_cast<std::size_t>(std::stoul(v));
    if (out > 0 || kind == Count::Offset) return true;
  }
  error = std::string(key) + (kind == Count::Offset ? ": a whole number from 0" : ": a page size from 1");
  return false;
}

// dir=asc|desc; absent or empty, `fallback`.
bool sortDirection(const Query& q, bool fallback_desc, bool& desc, std::string& error) {
  const std::string v = param(q, "dir");
  desc = v.empty() ? fallback_desc : v == "desc";
  if (v.empty() || v == "asc" || v == "desc") return true;
  error = "dir: expected asc or desc";
  return false;
}

// limit= and offset= of an offset-paged list.
bool pageOf(const Query& q, store::PageRequest& page, std::string& error) {
  return sizeParam(q, "limit", store::DEFAULT_PAGE, Count::PageSize, page.limit, error) &&
         sizeParam(q, "offset", 0, Count::Offset, page.offset, error);
}

// Validated device filter from the query; `error` names the bad parameter.
// A search text: any bytes but NUL, which no stored text can hold past
// (the search index's tokenizer stops there, SQLite's FTS5 query parser
// refuses it): a clear 400 rather than a 503 or a search for nothing.
bool searchText(const Query& q, std::string& out, std::string& error) {
  out = param(q, "q");
  if (out.find('\0') == std::string::npos) return true;
  error = "q: a search may not contain NUL characters";
  return false;
}

// A finding code as the catalogue writes them (design.md): a device row joins
// its codes with ';', so anything else would match there and not elsewhere.
bool isFindingCode(std::string_view code) {
  constexpr std::size_t CODE_MAX = 64;
  return code.size() <= CODE_MAX && std::all_of(code.begin(), code.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

bool deviceFilter(const Query& q, store::DeviceFilter& f, std::string& error) {
  if (!searchText(q, f.q, error)) return false;
  f.identity = param(q, "class");
  f.vendor = param(q, "vendor");
  f.finding = param(q, "finding");
  f.severity = param(q, "severity");
  f.server = param(q, "server");
  const std::string sort = param(q, "sort");
  f.sort = sort.empty() ? "id" : sort;
  if (!sortDirection(q, false, f.desc, error)) return false;
  if (!f.identity.empty() && !store::isIdentityClass(f.identity)) error = "class: expected individualized, generic, none or unknown";
  else if (!f.severity.empty() && !store::isSeverity(f.severity)) error = "severity: expected info, low, medium, high or critical";
  else if (!f.finding.empty() && !isFindingCode(f.finding)) error = "finding: one finding code (a-z, 0-9 and '-')";
  else if (!store::isDeviceSort(f.sort)) error = "sort: unknown column";
  return error.empty();
}

std::string nowIso() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
  return isoTime(ns.count());
}

std::string_view header(const Request& req, http::field f) {
  const auto it = req.find(f);
  return it == req.end() ? std::string_view{} : std::string_view(it->value().data(), it->value().size());
}

}  // namespace

bool percentDecode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hexValue(in[i + 1]);
      const int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------

bool Auth::tokenMatches(std::string_view candidate) const {
  // Constant time in the content; only the length (public: the user chose it) can show.
  if (candidate.size() != token_.size()) return false;
  return CRYPTO_memcmp(candidate.data(), token_.data(), token_.size()) == 0;
}

std::string Auth::newSession() {
  unsigned char raw[32];
  std::string id;
  if (RAND_bytes(raw, sizeof raw) != 1) return id;
  static constexpr char HEX[] = "0123456789abcdef";
  for (unsigned char b : raw) {
    id.push_back(HEX[b >> 4]);
    id.push_back(HEX[b & 15]);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (sessions_.size() == MAX_LOGIN_SESSIONS) sessions_.erase(sessions_.begin());
  sessions_.push_back(id);
  return id;
}

namespace {

// The values of every session cookie the request carries.
std::vector<std::string_view> sessionCookies(const Request& req) {
  std::vector<std::string_view> out;
  std::string_view cookies = header(req, http::field::cookie);
  while (!cookies.empty()) {
    const std::size_t semi = cookies.find(';');
    std::string_view c = cookies.substr(0, semi);
    cookies = semi == std::string_view::npos ? std::string_view{} : cookies.substr(semi + 1);
    while (!c.empty() && c.front() == ' ') c.remove_prefix(1);
    if (c.size() <= SESSION_COOKIE.size() + 1 || c.substr(0, SESSION_COOKIE.size()) != SESSION_COOKIE ||
        c[SESSION_COOKIE.size()] != '=') {
      continue;
    }
    out.push_back(c.substr(SESSION_COOKIE.size() + 1));
  }
  return out;
}

bool sameSecret(const std::string& s, std::string_view value) {
  return s.size() == value.size() && CRYPTO_memcmp(s.data(), value.data(), s.size()) == 0;
}

}  // namespace

bool Auth::allows(const Request& req) {
  if (!enabled()) return true;
  const std::string_view authz = header(req, http::field::authorization);
  if (authz.size() > 7 && (authz.substr(0, 7) == "Bearer " || authz.substr(0, 7) == "bearer ")) {
    if (tokenMatches(authz.substr(7))) return true;
  }
  for (const auto value : sessionCookies(req)) {
    std::lock_guard<std::mutex> lock(mutex_);
    bool match = false;
    for (const auto& s : sessions_) {
      if (sameSecret(s, value)) match = true;  // no early exit: constant time over the list
    }
    if (match) return true;
  }
  return false;
}

void Auth::endSession(const Request& req) {
  for (const auto value : sessionCookies(req)) {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(), [&](const std::string& s) { return sameSecret(s, value); }),
                    sessions_.end());
  }
}

// ---------------------------------------------------------------------------

const Asset* findAsset(std::string_view name) {
  for (const auto& a : embeddedAssets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

Handler::Handler(const ServerOptions& opts, DbPool& pool) : opts_(opts), pool_(pool), auth_(opts.token) {}

Response Handler::errorResponse(http::status status, unsigned version, std::string_view message) {
  // As every other error (web/API.md): {"error": "..."}.
  Response res = make(status, version, "application/json; charset=utf-8",
                      json::serialize(json::object{{"error", message}}) + "\n");
  res.keep_alive(false);
  return res;
}

namespace {

// A loopback address written as one: 127.0.0.0/8 as a dotted quad, or ::1
// in brackets. Never a name that merely begins like one (127.attacker.example
// resolves wherever its owner likes: the DNS rebinding this check stops).
bool isLoopbackLiteral(std::string_view name) {
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    const std::string inner(name.substr(1, name.size() - 2));
    in6_addr v6{};
    return inet_pton(AF_INET6, inner.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  const std::string text(name);
  in_addr v4{};
  constexpr unsigned LOOPBACK_NET = 127, NET_SHIFT = 24;
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 && ntohl(v4.s_addr) >> NET_SHIFT == LOOPBACK_NET;
}

}  // namespace

bool Handler::hostAllowed(const Request& req) const {
  // Without a token the loopback bind is the only protection; refusing foreign
  // Host names stops a web page from reaching it through DNS rebinding.
  if (auth_.enabled()) return true;
  const std::string_view host = header(req, http::field::host);
  if (host.empty()) return req.version() < 11;
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    const std::size_t close = name.find(']');
    // "[address]" or "[address]:port", nothing else after the bracket.
    if (close == std::string_view::npos || (close + 1 < name.size() && name[close + 1] != ':')) return false;
    name = name.substr(0, close + 1);
  } else if (const std::size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  return name == "localhost" || isLoopbackLiteral(name) || name == opts_.address ||
         (name.size() > 2 && name.substr(1, name.size() - 2) == opts_.address);
}

Reply Handler::handle(const Request& req) noexcept {
  last_request_ = std::chrono::steady_clock::now();
  try {
    if (!hostAllowed(req)) return jsonError(req, http::status::misdirected_request, "Host not allowed without --token");
    const std::string_view target(req.target().data(), req.target().size());
    if (target.empty() || target.front() != '/') return jsonError(req, http::status::bad_request, "origin-form target expected");
    const std::size_t qmark = target.find('?');
    std::string path;
    Query query;
    if (!percentDecode(target.substr(0, qmark), path, false) ||
        (qmark != std::string_view::npos && !parseQuery(target.substr(qmark + 1), query))) {
      return jsonError(req, http::status::bad_request, "malformed URL");
    }
    if (path.find('\0') != std::string::npos) return jsonError(req, http::status::bad_request, "malformed URL");
    const bool is_login = path == "/login";
    const bool is_logout = path == "/logout";
    if (req.method() == http::verb::post) {
      if (is_login) return login(req);
      if (is_logout) return logout(req);
      return jsonError(req, http::status::method_not_allowed, "only GET and HEAD");
    }
    // Signing out changes state: a link, a prefetch or an <img src=/logout> must not do it.
    if ((req.method() != http::verb::get && req.method() != http::verb::head) || is_logout) {
      Reply r = jsonError(req, http::status::method_not_allowed,
                          is_logout ? "sign out with POST /logout" : "only GET and HEAD (POST /login, POST /logout)");
      r.response.set(http::field::allow, is_login ? "GET, HEAD, POST" : is_logout ? "POST" : "GET, HEAD");
      return r;
    }
    if (!req.body().empty()) return jsonError(req, http::status::payload_too_large, "no request body expected");
    Reply r = route(req, path, query);
    if (req.method() == http::verb::head) {
      if (r.stream) {
        r.stream.reset();  // HEAD of an export: the header only, no query run
        r.lease = DbLease();
      } else {
        const auto n = r.response.body().size();
        r.response.body().clear();
        r.response.content_length(n);
      }
    }
    return r;
  } catch (const store::DbError& e) {
    return jsonError(req, http::status::service_unavailable, std::string("database: ") + e.what());
  } catch (const std::exception& e) {
    return jsonError(req, http::status::internal_server_error, e.what());
  }
}

Reply Handler::route(const Request& req, std::string_view path, const Query& query) {
  // Public: the login form and what it needs.
  if (path == "/login") {
    const Asset* a = findAsset("/login.html");
    return reply(make(http::status::ok, req.version(), a->content_type, std::string(a->data)));
  }
  if (path == "/app.css" || path == "/favicon.svg" || path == "/login.js") {
    const Asset* a = findAsset(path);
    Response res = make(http::status::ok, req.version(), a->content_type, std::string(a->data));
    res.set(http::field::cache_control, "no-cache");
    return reply(std::move(res));
  }
  const bool machine = path.substr(0, 5) == "/api/" || path == "/metrics";
  if (!auth_.allows(req)) {
    if (machine) {
      Reply r = jsonError(req, http::status::unauthorized, "token required");
      r.response.set(http::field::www_authenticate, "Bearer realm=\"provaudit\"");
      return r;
    }
    return redirect(req, "/login");
  }
  if (machine) return api(req, path, query);
  const Asset* a = findAsset(path == "/" ? "/index.html" : path);
  if (a == nullptr || path == "/login.html" || path == "/index.html") return jsonError(req, http::status::not_found, "not found");
  Response res = make(http::status::ok, req.version(), a->content_type, std::string(a->data));
  res.set(http::field::cache_control, "no-cache");
  return reply(std::move(res));
}

Reply Handler::api(const Request& req, std::string_view path, const Query& query) {
  if (path == "/api/change") {
    // `auth`: the page shows its sign-out button only when there is something to sign out of.
    // `sightings_left_out`: every page's banner (--max-sightings), without the whole /api/stats.
    // Either read failing (a writer holds a database in rollback mode) is a
    // 503, never a counter that would look like a change, or no banner.
    const std::int64_t change = pool_.changeCounter(), left_out = pool_.sightingsLeftOut();
    if (change < 0 || left_out < 0) {
      return jsonError(req, http::status::service_unavailable, "database busy: a writer holds it; asked again at the next poll");
    }
    return jsonReply(req, json::object{{"change", change}, {"auth", auth_.enabled()}, {"sightings_left_out", left_out}});
  }
  std::string error;
  DbLease lease = pool_.acquire(error);
  if (!lease) return jsonError(req, http::status::service_unavailable, error);
  store::WebQueries db(lease.get(), &counts_);

  if (path == "/metrics") {
    Response res = make(http::status::ok, req.version(), "text/plain; version=0.0.4; charset=utf-8", db.metrics());
    return reply(std::move(res));
  }
  if (path == "/api/stats") {
    json::object o = db.stats();
    o["change"] = pool_.changeCounter();
    o["vendors"] = db.vendors();
    return jsonReply(req, o);
  }
  if (path == "/api/timeline") {
    const std::string bucket = param(query, "bucket");
    if (!bucket.empty() && bucket != "auto" && bucket != "hour" && bucket != "day") {
      return jsonError(req, http::status::bad_request, "bucket: expected auto, hour or day");
    }
    return jsonReply(req, db.timeline(bucket.empty() ? "auto" : bucket));
  }
  if (path == "/api/devices") {
    store::DeviceFilter f;
    if (!deviceFilter(query, f, error)) return jsonError(req, http::status::bad_request, error);
    store::PageRequest page;
    if (!sizeParam(query, "limit", store::DEFAULT_PAGE, Count::PageSize, page.limit, error)) {
      return jsonError(req, http::status::bad_request, error);
    }
    page.after = param(query, "after");
    page.before = param(query, "before");
    auto result = db.devices(f, page);
    if (!result) return jsonError(req, http::status::bad_request, "after/before: malformed cursor");
    return jsonReply(req, *result);
  }
  if (path.substr(0, 13) == "/api/devices/") {
    const std::string id(path.substr(13));
    store::SightingsPage sightings;
    if (!sizeParam(query, "sightings_offset", 0, Count::Offset, sightings.offset, error) ||
        !sizeParam(query, "sightings_limit", store::DEVICE_SIGHTINGS_PAGE, Count::PageSize, sightings.limit, error)) {
      return jsonError(req, http::status::bad_request, error);
    }
    const std::string order = param(query, "sightings_order");
    if (!order.empty() && order != "oldest" && order != "newest") {
      return jsonError(req, http::status::bad_request, "sightings_order: oldest or newest");
    }
    sightings.newest_first = order == "newest";
    auto result = db.device(id, sightings);
    if (!result) return jsonError(req, http::status::not_found, "no such device");
    return jsonReply(req, *result);
  }
  if (path == "/api/servers") {
    store::ServerFilter f;
    if (!searchText(query, f.q, error)) return jsonError(req, http::status::bad_request, error);
    f.cert_request = param(query, "cert_request");
    f.finding = param(query, "finding");
    f.sort = param(query, "sort").empty() ? "id" : param(query, "sort");
    if (!f.cert_request.empty() && f.cert_request != "yes" && f.cert_request != "no" && f.cert_request != "unknown") {
      return jsonError(req, http::status::bad_request, "cert_request: expected yes, no or unknown");
    }
    if (!store::isServerSort(f.sort)) return jsonError(req, http::status::bad_request, "sort: unknown column");
    store::PageRequest page;
    if (!sortDirection(query, false, f.desc, error) || !pageOf(query, page, error)) {
      return jsonError(req, http::status::bad_request, error);
    }
    return jsonReply(req, db.servers(f, page));
  }
  if (path == "/api/findings/summary") return jsonReply(req, db.findingSummary());
  if (path == "/api/findings") {
    store::FindingFilter f;
    if (!searchText(query, f.q, error)) return jsonError(req, http::status::bad_request, error);
    f.code = param(query, "code");
    f.severity = param(query, "severity");
    f.kind = param(query, "kind");
    const std::string sort = param(query, "sort");
    f.sort = sort.empty() ? "severity" : sort;
    if (!f.kind.empty() && f.kind != "device" && f.kind != "server") {
      return jsonError(req, http::status::bad_request, "kind: expected device or server");
    }
    if (!store::isFindingSort(f.sort)) return jsonError(req, http::status::bad_request, "sort: unknown column");
    if (!f.severity.empty() && !store::isSeverity(f.severity)) return jsonError(req, http::status::bad_request, "severity: unknown");
    store::PageRequest page;
    if (!sortDirection(query, sort.empty(), f.desc, error) || !pageOf(query, page, error)) {
      return jsonError(req, http::status::bad_request, error);
    }
    return jsonReply(req, db.findings(f, page));
  }
  if (path == "/api/export") {
    const auto format = store::parseReportFormat(param(query, "format"));
    if (!format) return jsonError(req, http::status::bad_request, "format: expected csv, json or html");
    store::DeviceFilter f;
    if (!deviceFilter(query, f, error)) return jsonError(req, http::status::bad_request, error);
    const std::string generated = nowIso();
    Reply r;
    r.stream = store::openReportStream(lease.get(), *format, f, generated);
    r.lease = std::move(lease);
    r.response = Response{http::status::ok, req.version()};
    r.response.set(http::field::content_type, store::reportContentType(*format));
    r.response.set(http::field::content_disposition, "attachment; filename=\"provaudit-report-" +
                                                         generated.substr(0, 10) + "." +
                                                         std::string(store::reportExtension(*format)) + "\"");
    secure(r.response, *format == store::ReportFormat::Html ? EXPORT_CSP : CSP);
    return r;
  }
  return jsonError(req, http::status::not_found, "no such endpoint");
}

bool Handler::sameOrigin(const Request& req) const {
  // A cross-site form cannot sign a browser in or out. Browsers say where a
  // request comes from in Sec-Fetch-Site; without it, the Origin, when sent,
  // must be ours. (Our pages set Referrer-Policy: no-referrer, under which a
  // browser sends our own form posts with "Origin: null": not proof either way.)
  const auto fetch_site = req.find("Sec-Fetch-Site");
  if (fetch_site != req.end()) return fetch_site->value() == "same-origin";
  const std::string_view origin = header(req, http::field::origin);
  const std::string_view host = header(req, http::field::host);
  return origin.empty() || origin == "http://" + std::string(host);
}

Reply Handler::logout(const Request& req) {
  if (!sameOrigin(req)) return jsonError(req, http::status::forbidden, "cross-origin sign-out refused");
  if (!auth_.enabled()) return redirect(req, "/");
  auth_.endSession(req);
  Reply r = redirect(req, "/login");
  r.response.set(http::field::set_cookie, std::string(SESSION_COOKIE) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  return r;
}

Reply Handler::login(const Request& req) {
  if (!sameOrigin(req)) return jsonError(req, http::status::forbidden, "cross-origin login refused");
  if (!auth_.enabled()) return redirect(req, "/");
  Query form;
  if (!parseQuery(req.body(), form)) return jsonError(req, http::status::bad_request, "malformed form");
  // The view the user came from, kept across a wrong token too (the login page reads it back).
  const std::string next = param(form, "next");
  const bool returns = isViewFragment(next);
  if (!auth_.tokenMatches(param(form, "token"))) {
    return redirect(req, returns ? "/login?next=" + percentEncode(next) + "#failed" : std::string("/login#failed"));
  }
  const std::string session = auth_.newSession();
  if (session.empty()) return jsonError(req, http::status::internal_server_error, "no randomness for a session");
  Reply r = redirect(req, returns ? "/" + next : std::string("/"));
  r.response.set(http::field::set_cookie,
                 std::string(SESSION_COOKIE) + "=" + session + "; Path=/; HttpOnly; SameSite=Strict");
  return r;
}

}  // namespace provaudit::web
