#pragma once
// Request routing for the dashboard: the embedded assets, the JSON API, the
// export, /metrics and the login form. Turns every request into a Reply;
// never throws (a database failure becomes one 503 answer here).
#include <atomic>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/web_queries.h"
#include "web/db_pool.h"
#include "web/server.h"

namespace provaudit::web {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Named limits of the request path (house style §5).
inline constexpr std::size_t MAX_HEADER_BYTES = 8 * 1024;
inline constexpr std::size_t MAX_LOGIN_BODY_BYTES = 1024;  // the only request with a body
inline constexpr std::size_t MAX_QUERY_PARAMS = 32;
inline constexpr std::size_t MAX_LOGIN_SESSIONS = 64;      // oldest is forgotten beyond this
inline constexpr std::size_t MAX_RETURN_VIEW_BYTES = 512;   // login's `next` (a view's hash); longer: back to "/"
inline constexpr std::size_t EXPORT_CHUNK_BYTES = 64 * 1024;

struct Reply {
  Response response;
  // When set, `response` carries only the header fields: the body is streamed
  // in chunks from this report while `lease` keeps its connection.
  std::unique_ptr<store::ReportStream> stream;
  DbLease lease;
};

// Bearer token or a session cookie issued by POST /login; compared in constant time.
class Auth {
 public:
  explicit Auth(std::string token) : token_(std::move(token)) {}
  [[nodiscard]] bool enabled() const { return !token_.empty(); }
  [[nodiscard]] bool allows(const Request& req);
  [[nodiscard]] bool tokenMatches(std::string_view candidate) const;
  std::string newSession();  // the cookie value
  // Forgets the session the request's cookie names (sign-out): the cookie stops working everywhere.
  void endSession(const Request& req);

 private:
  std::string token_;
  std::mutex mutex_;
  std::vector<std::string> sessions_;
};

class Handler {
 public:
  Handler(const ServerOptions& opts, DbPool& pool);
  Reply handle(const Request& req) noexcept;
  // The per-audit counts every request shares (web/server.cc refreshes them after each audit).
  store::SummaryCache& counts() { return counts_; }
  // When the last request came (steady clock), to refresh counts only while someone looks.
  [[nodiscard]] std::chrono::steady_clock::time_point lastRequest() const { return last_request_.load(); }
  // An answer for a request that could not be read whole (431, 413, 400, 503).
  static Response errorResponse(http::status status, unsigned version, std::string_view message);

 private:
  Reply route(const Request& req, std::string_view path, const std::vector<std::pair<std::string, std::string>>& query);
  Reply api(const Request& req, std::string_view path, const std::vector<std::pair<std::string, std::string>>& query);
  Reply login(const Request& req);
  Reply logout(const Request& req);
  [[nodiscard]] bool sameOrigin(const Request& req) const;
  [[nodiscard]] bool hostAllowed(const Request& req) const;

  ServerOptions opts_;
  DbPool& pool_;
  Auth auth_;
  store::SummaryCache counts_;  // per audit generation, shared by all connections
  std::atomic<std::chrono::steady_clock::time_point> last_request_{};
};

// Percent-decoding of a URL path or query component ('+' as space only in queries).
bool percentDecode(std::string_view in, std::string& out, bool plus_is_space);

}  // namespace provaudit::web
