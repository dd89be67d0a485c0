#include "capture/gzip_inflater.h"

#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace provaudit::capture {
namespace {

constexpr ssize_t IO_FAILED = -1;
// inflateInit2's windowBits: the largest window, gzip framing only (zlib.h).
constexpr int GZIP_WINDOW_BITS = 16 + MAX_WBITS;

// Writes all of `data` to the reader's end; false once the reader is gone
// (it closed its end: a bad record, or the run stopped) or on any error.
bool sendAll(int fd, const std::uint8_t* data, std::size_t n) {
  while (n > 0) {
    const ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
    if (sent == IO_FAILED && errno == EINTR) continue;
    if (sent <= 0) return false;
    data += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return true;
}

}  // namespace

std::unique_ptr<GzipInflater> GzipInflater::start(UniqueFd compressed, std::span<const std::uint8_t> consumed,
                                                  std::string& err) {
  int ends[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    err = std::string("cannot inflate: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<GzipInflater> g(new GzipInflater);
  g->output_.reset(ends[0]);
  g->sink_.reset(ends[1]);
  g->input_ = std::move(compressed);
  try {
    g->thread_ = std::thread(&GzipInflater::run, g.get(), std::vector<std::uint8_t>(consumed.begin(), consumed.end()));
  } catch (const std::system_error& e) {
    err = std::string("cannot inflate: ") + e.what();
    return nullptr;
  }
  return g;
}

GzipInflater::~GzipInflater() { (void)finish(); }

std::string GzipInflater::finish() {
  output_.reset();  // if still ours: the thread's next write fails and it stops
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  return error_;
}

void GzipInflater::fail(std::string reason) {
  std::lock_guard lock(mu_);
  if (error_.empty()) error_ = std::move(reason);
}

void GzipInflater::run(std::vector<std::uint8_t> pending) {
  std::vector<std::uint8_t> in(GZIP_IN_CHUNK), out(GZIP_OUT_CHUNK);
  z_stream z{};
  if (inflateInit2(&z, GZIP_WINDOW_BITS) != Z_OK) {
    fail("cannot inflate: zlib did not start");
    sink_.reset();
    return;
  }
  std::copy(pending.begin(), pending.end(), in.begin());  // at most the format's magic bytes
  z.next_in = in.data();
  z.avail_in = static_cast<uInt>(pending.size());
  read_.store(pending.size(), std::memory_order_relaxed);
  bool eof = false;
  // Makes at least `n` compressed bytes available (fewer at the end of the
  // file): what is left moves to the front, more is read behind it.
  const auto ensure = [&](std::size_t n) {
    if (z.avail_in >= n || eof) return true;
    std::memmove(in.data(), z.next_in, z.avail_in);
    z.next_in = in.data();
    while (z.avail_in < n && !eof) {
      const ssize_t got = ::read(input_.get(), in.data() + z.avail_in, in.size() - z.avail_in);
      if (got == IO_FAILED && errno == EINTR) continue;
      if (got == IO_FAILED) {
        fail(std::string("read error: ") + std::strerror(errno));
        return false;
      }
      if (got == 0) eof = true;
      z.avail_in += static_cast<uInt>(got);
      read_.fetch_add(static_cast<std::uint64_t>(got), std::memory_order_relaxed);
    }
    return true;
  };
  const auto at = [&] { return std::to_string(read_.load(std::memory_order_relaxed) - z.avail_in); };
  bool in_member = true;  // the magic number said one starts here
  while (ensure(1)) {
    if (z.avail_in == 0) {  // the end of the file
      if (in_member) fail("the compressed file ends in the middle of a gzip member, at byte " + at());
      break;
    }
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    const int r = inflate(&z, Z_NO_FLUSH);
    const std::size_t produced = out.size() - z.avail_out;
    if (produced > 0 && !sendAll(sink_.get(), out.data(), produced)) break;  // the reader stopped
    if (r == Z_OK || (r == Z_BUF_ERROR && z.avail_in == 0)) continue;  // more to inflate, or to read
    if (r != Z_STREAM_END) {
      fail(std::string("corrupt gzip data (") + (z.msg != nullptr ? z.msg : "zlib error " + std::to_string(r)) +
           ") at compressed byte " + at());
      break;
    }
    // A member ended. Another may follow; anything else is trailing bytes.
    in_member = false;
    if (!ensure(2) || z.avail_in < 2 || z.next_in[0] != GZIP_ID1 || z.next_in[1] != GZIP_ID2) break;
    if (inflateReset(&z) != Z_OK) {
      fail("cannot inflate: zlib did not start the next member");
      break;
    }
    in_member = true;
  }
  inflateEnd(&z);
  sink_.reset();  // the end of the inflated stream
}

}  // namespace provaudit::capture
