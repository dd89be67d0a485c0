#include "capture/inflater.h"

#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace provaudit::capture {
namespace {

constexpr ssize_t IO_FAILED = -1;
// inflateInit2's windowBits: the largest window, gzip framing only (zlib.h).
constexpr int GZIP_WINDOW_BITS = 16 + MAX_WBITS;

struct ZstdDctxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

std::unique_ptr<Inflater> Inflater::start(Compression codec, UniqueFd compressed,
                                          std::span<const std::uint8_t> consumed, std::string& err) {
  int ends[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    err = std::string("cannot inflate: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<Inflater> inflater(new Inflater(codec));
  inflater->output_.reset(ends[0]);
  inflater->sink_.reset(ends[1]);
  inflater->input_ = std::move(compressed);
  try {
    inflater->thread_ =
        std::thread(&Inflater::run, inflater.get(), std::vector<std::uint8_t>(consumed.begin(), consumed.end()));
  } catch (const std::system_error& e) {
    err = std::string("cannot inflate: ") + e.what();
    return nullptr;
  }
  return inflater;
}

Inflater::~Inflater() { (void)finish(); }

std::string Inflater::finish() {
  output_.reset();  // if still ours: the thread's next write fails and it stops
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  return error_;
}

void Inflater::fail(std::string reason) {
  std::lock_guard lock(mu_);
  if (error_.empty()) error_ = std::move(reason);
}

bool Inflater::emit(const std::uint8_t* data, std::size_t n) {
  while (n > 0) {
    const ssize_t sent = ::send(sink_.get(), data, n, MSG_NOSIGNAL);
    if (sent == IO_FAILED && errno == EINTR) continue;
    if (sent <= 0) return false;  // the reader closed its end (a bad record, or the run stopped)
    data += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return true;
}

bool Inflater::ensure(Input& in, std::size_t n) {
  if (in.available() >= n || in.eof) return true;
  std::memmove(in.buf.data(), in.buf.data() + in.pos, in.available());
  in.end -= in.pos;
  in.pos = 0;
  while (in.available() < n && !in.eof) {
    const ssize_t got = ::read(input_.get(), in.buf.data() + in.end, in.buf.size() - in.end);
    if (got == IO_FAILED && errno == EINTR) continue;
    if (got == IO_FAILED) {
      fail(std::string("read error: ") + std::strerror(errno));
      return false;
    }
    if (got == 0) in.eof = true;
    in.end += static_cast<std::size_t>(got);
    read_.fetch_add(static_cast<std::uint64_t>(got), std::memory_order_relaxed);
  }
  return true;
}

std::string Inflater::at(const Input& in) const {
  return std::to_string(read_.load(std::memory_order_relaxed) - in.available());
}

void Inflater::run(std::vector<std::uint8_t> consumed) {
  Input in;
  in.buf.resize(std::max(INFLATE_IN_CHUNK, consumed.size()));
  std::copy(consumed.begin(), consumed.end(), in.buf.begin());  // the format's magic bytes
  in.end = consumed.size();
  read_.store(consumed.size(), std::memory_order_relaxed);
  if (codec_ == Compression::Gzip) {
    runGzip(in);
  } else {
    runZstd(in);
  }
  sink_.reset();  // the end of the inflated stream
}

// Both loops call the decoder again while it makes progress, with or without
// new input: a full output buffer can leave inflated bytes pending after the
// last compressed byte was read. The file ended short only when the decoder
// makes no progress, has no input left, and has not finished.
void Inflater::runGzip(Input& in) {
  std::vector<std::uint8_t> out(INFLATE_OUT_CHUNK);
  z_stream z{};
  if (inflateInit2(&z, GZIP_WINDOW_BITS) != Z_OK) {
    fail("cannot inflate: zlib did not start");
    return;
  }
  while (ensure(in, 1)) {
    z.next_in = in.buf.data() + in.pos;
    z.avail_in = static_cast<uInt>(in.available());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    const int r = inflate(&z, Z_NO_FLUSH);
    in.pos = static_cast<std::size_t>(z.next_in - in.buf.data());
    const std::size_t produced = out.size() - z.avail_out;
    if (produced > 0 && !emit(out.data(), produced)) break;
    if (r == Z_OK) continue;
    if (r == Z_BUF_ERROR) {  // no progress: it needs input
      if (in.available() == 0) fail("the compressed file ends in the middle of a gzip member, at byte " + at(in));
      else fail("corrupt gzip data (no progress) at compressed byte " + at(in));  // never seen: no endless loop
      break;
    }
    if (r != Z_STREAM_END) {
      fail(std::string("corrupt gzip data (") + (z.msg != nullptr ? z.msg : "zlib error " + std::to_string(r)) +
           ") at compressed byte " + at(in));
      break;
    }
    // A member ended. Another may follow; anything else is trailing bytes.
    if (!ensure(in, 2) || in.available() < 2 || in.buf[in.pos] != GZIP_ID1 || in.buf[in.pos + 1] != GZIP_ID2) break;
    if (inflateReset(&z) != Z_OK) {
      fail("cannot inflate: zlib did not start the next member");
      break;
    }
  }
  inflateEnd(&z);
}

void Inflater::runZstd(Input& in) {
  std::vector<std::uint8_t> out(INFLATE_OUT_CHUNK);
  const std::unique_ptr<ZSTD_DCtx, ZstdDctxFree> d(ZSTD_createDCtx());
  if (!d || ZSTD_isError(ZSTD_DCtx_setParameter(d.get(), ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX))) {
    fail("cannot inflate: zstd did not start");
    return;
  }
  // ZSTD_decompressStream's answer when it last made progress: 0 once a
  // frame is decoded and flushed whole (a call with no input after that
  // answers a size hint for the next frame instead).
  std::size_t last = 1;
  while (ensure(in, 1)) {
    // The compressed bytes this call is given: where a failing call found
    // the damage, zstd does not say (it consumes nothing then), only that it
    // is in these bytes or, for a checksum, in the frame they end.
    const std::string given_from = at(in);
    const std::string given_to = std::to_string(read_.load(std::memory_order_relaxed));
    ZSTD_inBuffer src{in.buf.data() + in.pos, in.available(), 0};
    ZSTD_outBuffer dst{out.data(), out.size(), 0};
    const std::size_t r = ZSTD_decompressStream(d.get(), &dst, &src);
    in.pos += src.pos;
    if (dst.pos > 0 && !emit(out.data(), dst.pos)) break;
    if (ZSTD_isError(r)) {
      const bool window = ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge;
      fail(window ? "the zstd frame needs a window larger than " + std::to_string((1U << ZSTD_WINDOW_LOG_MAX) >> 20) +
                        " MiB (zstd --long or --ultra); decompress it into a pipe (zstd -dc --memory=2048MB FILE | "
                        "provaudit replay -)"
                  : std::string("corrupt zstd data (") + ZSTD_getErrorName(r) + ") in compressed bytes " + given_from +
                        " to " + given_to);
      break;
    }
    if (src.pos > 0 || dst.pos > 0) {
      last = r;
      continue;
    }
    // No progress: with nothing left to read, the file ended (whole or not).
    if (in.available() > 0) fail("corrupt zstd data (no progress) at compressed byte " + at(in));  // never seen
    else if (last != 0) fail("the compressed file ends in the middle of a zstd frame, at byte " + at(in));
    break;
  }
}

}  // namespace provaudit::capture
