// The listener and the per-connection session follow Beast's
// example/http/server/async/http_server_async.cpp: a session reads one
// request (do_read/on_read), answers it (on_write), and loops while the
// connection is kept alive; every error goes through fail().
#include "web/server.h"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/thread_name.h"
#include "web/db_pool.h"
#include "web/handler.h"

namespace provaudit::web {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Named limits of the server (house style §5).
inline constexpr std::chrono::seconds READ_TIMEOUT{20};   // a whole request, headers and body; an idle connection
inline constexpr std::chrono::seconds WRITE_TIMEOUT{60};  // each response or export chunk
inline constexpr std::size_t MAX_SESSIONS = 64;           // beyond this a connection gets 503 and is closed
inline constexpr int IO_THREADS = 2;
// The counts behind the overview and the filters change only with an audit;
// they are recomputed this soon after one (at a million devices that takes
// about a second), while the dashboard has had a request in the last IDLE_AFTER.
inline constexpr std::chrono::seconds COUNTS_CHECK_EVERY{1};
inline constexpr std::chrono::minutes COUNTS_IDLE_AFTER{10};

namespace {

const std::string KEEP_ALIVE_HINT = "timeout=" + std::to_string(READ_TIMEOUT.count());

struct Shared {
  Shared(const ServerOptions& opts, DbPool& pool) : handler(opts, pool) {}
  Handler handler;
  std::atomic<std::size_t> sessions{0};
};

// Expected ends of a connection are not worth a line on stderr.
void fail(beast::error_code ec, const char* what) {
  if (ec == net::error::operation_aborted || ec == beast::error::timeout || ec == net::error::eof ||
      ec == net::error::connection_reset || ec == net::error::broken_pipe || ec == http::error::end_of_stream ||
      ec == http::error::partial_message) {  // a client that went away mid-request: one line each would flood stderr
    return;
  }
  std::cerr << "provaudit: web: " << what << ": " << ec.message() << '\n';
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<Shared> shared, bool overloaded)
      : stream_(std::move(socket)), shared_(std::move(shared)), overloaded_(overloaded) {
    ++shared_->sessions;
  }
  ~Session() { --shared_->sessions; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() {
    // On the session's strand, so that no handler of this session runs concurrently.
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::start, shared_from_this()));
  }

 private:
  void start() {
    if (overloaded_) {
      return sendError(http::status::service_unavailable, 11, "too many connections; retry shortly");
    }
    do_read();
  }

  void do_read() {
    parser_.emplace();  // a fresh parser per request: the limits apply to each
    parser_->header_limit(MAX_HEADER_BYTES);
    parser_->body_limit(MAX_LOGIN_BODY_BYTES);
    stream_.expires_after(READ_TIMEOUT);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::header_limit) {
      return sendError(http::status::request_header_fields_too_large, 11, "request header fields too large");
    }
    if (ec == http::error::body_limit) return sendError(http::status::payload_too_large, 11, "request body too large");
    if (ec && ec.category() == beast::error_code(http::error::bad_target).category() && ec != http::error::partial_message) {
      return sendError(http::status::bad_request, 11, "malformed request");
    }
    if (ec) return fail(ec, "read");
    const Request req = parser_->release();
    Reply r = shared_->handler.handle(req);
    r.response.keep_alive(req.keep_alive());
    // How long an idle connection is kept (RFC 9112 leaves it to the server):
    // a client's pool that knows (Node's agent, Playwright) lets the
    // connection go a second before, instead of reusing it as it closes
    // (ECONNRESET on the next request).
    if (req.keep_alive()) r.response.set(http::field::keep_alive, KEEP_ALIVE_HINT);
    if (r.stream) return startExport(std::move(r));
    send(std::move(r.response));
  }

  void send(Response&& res) {
    const bool keep_alive = res.keep_alive();
    stream_.expires_after(WRITE_TIMEOUT);
    beast::async_write(stream_, http::message_generator(std::move(res)),
                       beast::bind_front_handler(&Session::on_write, shared_from_this(), keep_alive));
  }

  void sendError(http::status status, unsigned version, std::string_view message) {
    send(Handler::errorResponse(status, version, message));  // and close: the request was not read whole
  }

  void on_write(bool keep_alive, beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return fail(ec, "write");
    if (!keep_alive) return do_close();
    do_read();
  }

  // Export: the header, then the report in chunks (chunked transfer coding),
  // so that memory stays flat whatever the fleet size. HTTP/1.0 knows no
  // chunks (RFC 9112 §6.1): there the body is the bytes until the close.
  void startExport(Reply&& r) {
    export_ = std::move(r);
    header_.emplace(export_.response.result(), export_.response.version());
    for (const auto& field : export_.response) header_->set(field.name_string(), field.value());
    until_close_ = export_.response.version() < 11;
    header_->keep_alive(export_.response.keep_alive() && !until_close_);
    header_->chunked(!until_close_);
    serializer_.emplace(*header_);
    stream_.expires_after(WRITE_TIMEOUT);
    http::async_write_header(stream_, *serializer_,
                             beast::bind_front_handler(&Session::on_export_write, shared_from_this(), true));
  }

  void on_export_write(bool more, beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return fail(ec, "export");
    if (!more) {
      const bool keep_alive = header_->keep_alive();
      export_ = Reply{};
      serializer_.reset();
      header_.reset();
      return on_write(keep_alive, {}, 0);
    }
    chunk_.clear();
    bool again = false;
    try {
      again = export_.stream->fill(chunk_, EXPORT_CHUNK_BYTES);
    } catch (const std::exception& e) {
      // The header is gone already: cutting the connection is the only honest signal.
      std::cerr << "provaudit: web: export: " << e.what() << '\n';
      return do_close();
    }
    stream_.expires_after(WRITE_TIMEOUT);
    if (chunk_.empty() && !again) return endExport();
    if (!again) {
      // Last data chunk followed by the terminating chunk in one write.
      last_ = true;
    }
    if (until_close_) {
      net::async_write(stream_, net::buffer(chunk_),
                       beast::bind_front_handler(&Session::on_export_chunk, shared_from_this()));
    } else {
      net::async_write(stream_, http::make_chunk(net::buffer(chunk_)),
                       beast::bind_front_handler(&Session::on_export_chunk, shared_from_this()));
    }
  }

  // The terminating chunk; for HTTP/1.0, the close that ends the body.
  void endExport() {
    if (until_close_) return do_close();
    net::async_write(stream_, http::make_chunk_last(),
                     beast::bind_front_handler(&Session::on_export_write, shared_from_this(), false));
  }

  void on_export_chunk(beast::error_code ec, std::size_t bytes) {
    if (ec) return fail(ec, "export");
    if (last_) {
      last_ = false;
      chunk_.clear();
      stream_.expires_after(WRITE_TIMEOUT);
      return endExport();
    }
    on_export_write(true, {}, bytes);
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // best effort; the socket closes with the session
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<Shared> shared_;
  bool overloaded_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Reply export_;
  std::optional<http::response<http::empty_body>> header_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::string chunk_;
  bool last_ = false;
  bool until_close_ = false;  // HTTP/1.0 export: no chunks, the close ends the body
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, const tcp::endpoint& endpoint, std::shared_ptr<Shared> shared)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), shared_(std::move(shared)) {
    beast::error_code ec;
    const auto check = [&](const char* what) {
      if (ec) {
        throw std::runtime_error("cannot listen on " + endpoint.address().to_string() + " port " +
                                 std::to_string(endpoint.port()) + ": " + what + ": " + ec.message());
      }
    };
    acceptor_.open(endpoint.protocol(), ec);
    check("open");
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    check("set_option");
    acceptor_.bind(endpoint, ec);
    check("bind");
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    check("listen");
  }

  void run() { do_accept(); }
  [[nodiscard]] std::uint16_t port() const {
    beast::error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }
  void close() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()]() {
      beast::error_code ec;
      self->acceptor_.close(ec);
    });
  }

 private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // closed by stop()
    if (ec) {
      fail(ec, "accept");
    } else {
      // An answer goes out as header and body writes: without TCP_NODELAY the
      // body waits for the client's delayed ACK (40 ms on Linux) on every
      // keep-alive request.
      beast::error_code nodelay_ec;
      socket.set_option(tcp::no_delay(true), nodelay_ec);  // best effort: only latency is at stake
      const bool overloaded = shared_->sessions.load() >= MAX_SESSIONS;
      std::make_shared<Session>(std::move(socket), shared_, overloaded)->run();
    }
    if (acceptor_.is_open()) do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<Shared> shared_;
};

// Recomputes the per-audit counts on a thread of its own when an audit
// lands, so that the first page view after it does not wait for them.
class CountsRefresher {
 public:
  CountsRefresher(DbPool& pool, Handler& handler) : pool_(pool), handler_(handler), thread_([this] { run(); }) {
    nameThread(thread_, "pa-counts");
  }
  ~CountsRefresher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  CountsRefresher(const CountsRefresher&) = delete;
  CountsRefresher& operator=(const CountsRefresher&) = delete;

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!cv_.wait_for(lock, COUNTS_CHECK_EVERY, [this] { return stop_; })) {
      lock.unlock();
      refresh();
      lock.lock();
    }
  }
  void refresh() noexcept {
    if (std::chrono::steady_clock::now() - handler_.lastRequest() > COUNTS_IDLE_AFTER) return;
    try {
      std::string error;
      DbLease lease = pool_.acquire(error);
      if (!lease) return;  // the next request computes them itself
      store::WebQueries(lease.get(), &handler_.counts()).refreshCounts();
    } catch (const std::exception&) {
      // A busy or changing database: the next check (or request) tries again.
    }
  }

  DbPool& pool_;
  Handler& handler_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace

struct DashboardServer::Impl {
  explicit Impl(ServerOptions o) : opts(std::move(o)) {}
  ServerOptions opts;
  std::unique_ptr<DbPool> pool;
  std::shared_ptr<Shared> shared;
  net::io_context ioc{IO_THREADS};  // destroyed before the pool: pending sessions give their leases back
  std::shared_ptr<Listener> listener;
  std::unique_ptr<CountsRefresher> refresher;  // stopped before the pool and the handler go
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  bool signaled = false;
};

DashboardServer::DashboardServer(ServerOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {
  const ServerOptions& o = impl_->opts;
  beast::error_code ec;
  const auto address = net::ip::make_address(o.address, ec);
  if (ec) throw std::runtime_error("--listen: '" + o.address + "' is not an IP address");
  if (!address.is_loopback() && o.token.empty()) {
    throw std::runtime_error("refusing to listen on " + o.address +
                             " without --token: only loopback addresses are served without authentication");
  }
  impl_->pool = std::make_unique<DbPool>(o.db_path);
  impl_->shared = std::make_shared<Shared>(o, *impl_->pool);
  impl_->listener = std::make_shared<Listener>(impl_->ioc, tcp::endpoint(address, o.port), impl_->shared);
}

DashboardServer::~DashboardServer() { stop(); }

bool DashboardServer::snapshot() const { return impl_->pool->snapshot(); }

void DashboardServer::start() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->threads.empty() || impl_->stopping) return;
  impl_->listener->run();  // already listening since the constructor: connections queue until now
  for (int i = 0; i < IO_THREADS; ++i) {
    impl_->threads.emplace_back([this]() { impl_->ioc.run(); });
    nameThread(impl_->threads.back(), "pa-web-" + std::to_string(i));
  }
  impl_->refresher = std::make_unique<CountsRefresher>(*impl_->pool, impl_->shared->handler);
}

void DashboardServer::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->refresher.reset();
  impl_->listener->close();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
  impl_->cv.notify_all();
}

std::uint16_t DashboardServer::port() const { return impl_->listener->port(); }

void DashboardServer::wait() {
  net::signal_set signals(impl_->ioc, SIGINT, SIGTERM);
  signals.async_wait([this](beast::error_code ec, int /*signal*/) {
    if (ec) return;
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->signaled = true;
    impl_->cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    impl_->cv.wait(lock, [this]() { return impl_->stopping || impl_->signaled; });
  }
  stop();
}

ServerOptions parseListen(const std::string& text) {
  ServerOptions o;
  std::string addr, port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find("]:");
    if (close == std::string::npos) throw std::invalid_argument("--listen: expected [v6-address]:PORT, got '" + text + "'");
    addr = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      throw std::invalid_argument("--listen: expected ADDR:PORT, [v6]:PORT or :PORT, got '" + text + "'");
    }
    addr = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    throw std::invalid_argument("--listen: bad port in '" + text + "'");
  }
  if (!addr.empty()) {
    beast::error_code ec;
    net::ip::make_address(addr, ec);
    if (ec) throw std::invalid_argument("--listen: '" + addr + "' is not an IP address");
    o.address = addr;
  }
  o.port = static_cast<std::uint16_t>(std::stoul(port));
  return o;
}

}  // namespace provaudit::web
