#pragma once
// The audit dashboard: a Boost.Beast HTTP server in the shape of Beast's
// async server example (one session object per connection, do_read/on_read
// pairs, a single fail(), timeouts, body limits) serving the embedded page,
// the JSON API under /api/ and /metrics from a read-only database connection.
#include <cstdint>
#include <memory>
#include <string>

namespace provaudit::web {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string token;    // required for a non-loopback address
  std::string db_path;
};

class DashboardServer {
 public:
  // Throws std::runtime_error (one line) on bad options, an unreadable
  // database or a bind failure.
  explicit DashboardServer(ServerOptions opts);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  void start();  // runs the io_context on its own threads; returns once listening
  void stop();   // graceful: stops accepting, closes connections, joins the threads
  [[nodiscard]] std::uint16_t port() const;  // the actual port (0 in the options = ephemeral)
  // The database is served as it is now (DbPool::snapshot): its directory lets
  // this user make no -shm file beside it.
  [[nodiscard]] bool snapshot() const;
  void wait();   // blocks until stop() or SIGINT/SIGTERM

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "ADDR:PORT", "[v6]:PORT" or ":PORT" (loopback); throws std::invalid_argument.
ServerOptions parseListen(const std::string& text);

}  // namespace provaudit::web
