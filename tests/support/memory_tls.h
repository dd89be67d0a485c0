#pragma once
// A real TLS conversation inside a test: an OpenSSL client and server joined
// by memory BIOs, every byte that crosses recorded in order, side by side.
// Hermetic: no network, no disk. The contexts (versions, ciphers,
// certificates, key-log callbacks) are the test's; this only moves bytes.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "../unit/analyze_x509/test_certs.h"
#include "common/stream.h"

namespace provaudit::testtls {

struct Chunk {
  Side side;
  std::vector<std::uint8_t> bytes;
};

// Client certificates are accepted whatever their chain: the tests look at
// the wire, not at trust.
inline int acceptAnyCertificate(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

class MemoryTls {
 public:
  MemoryTls(SSL_CTX* client_ctx, SSL_CTX* server_ctx) : client_(SSL_new(client_ctx)), server_(SSL_new(server_ctx)) {
    testcerts::require(client_ && server_, "SSL_new");
    client_out_ = attach(client_.get());
    server_out_ = attach(server_.get());
    client_in_ = SSL_get_rbio(client_.get());
    server_in_ = SSL_get_rbio(server_.get());
    SSL_set_connect_state(client_.get());
    SSL_set_accept_state(server_.get());
  }

  [[nodiscard]] SSL* client() const { return client_.get(); }
  [[nodiscard]] SSL* server() const { return server_.get(); }
  [[nodiscard]] const std::vector<Chunk>& transcript() const { return transcript_; }

  void handshake() {
    for (int round = 0; round < 20; ++round) {
      // SSL_get_error reads the BIO retry flags: ask before pump() moves bytes.
      const int c = SSL_do_handshake(client_.get());
      testcerts::require(c == 1 || retryable(client_.get(), c), "client handshake");
      pump();
      const int s = SSL_do_handshake(server_.get());
      testcerts::require(s == 1 || retryable(server_.get(), s), "server handshake");
      pump();
      if (c == 1 && s == 1) return;
    }
    testcerts::require(false, "handshake did not finish");
  }

  // Application data from `ssl` to its peer (not yet read there).
  void write(SSL* ssl, const std::string& data) {
    testcerts::require(SSL_write(ssl, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size()),
                       "SSL_write");
    pump();
  }
  // Reads what `ssl` has (also takes in TLS 1.3 NewSessionTickets).
  void read(SSL* ssl) {
    std::array<char, 4096> buf{};
    while (SSL_read(ssl, buf.data(), static_cast<int>(buf.size())) > 0) {
    }
    ERR_clear_error();
    pump();
  }

  // Moves what each side wrote to the other (and into the transcript): for
  // the steps handshake(), write() and read() do not take (0-RTT).
  void pump() {
    move(client_out_, server_in_, Side::Client);
    move(server_out_, client_in_, Side::Server);
  }

  // RFC 5746 renegotiation started by the server, driven to its end.
  void renegotiate() {
    testcerts::require(SSL_renegotiate(server_.get()) == 1, "SSL_renegotiate");
    for (int round = 0; round < 20 && SSL_renegotiate_pending(server_.get()) == 1; ++round) {
      SSL_do_handshake(server_.get());
      pump();
      read(client_.get());
      read(server_.get());
    }
    testcerts::require(SSL_renegotiate_pending(server_.get()) == 0, "renegotiation did not finish");
  }

 private:
  // Gives `ssl` a fresh pair of memory BIOs; returns its write BIO.
  static BIO* attach(SSL* ssl) {
    BioPtr in(BIO_new(BIO_s_mem()));
    BioPtr out(BIO_new(BIO_s_mem()));
    testcerts::require(in && out, "BIO_new");
    BIO_set_mem_eof_return(in.get(), -1);  // empty means "retry later", not EOF
    BIO* out_raw = out.get();
    SSL_set_bio(ssl, in.release(), out.release());  // ownership passes to the SSL
    return out_raw;
  }
  static bool retryable(SSL* ssl, int ret) {
    const int err = SSL_get_error(ssl, ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
    UNSCOPED_INFO("SSL_get_error " << err << ": " << ERR_error_string(ERR_peek_error(), nullptr));
    return false;
  }
  void move(BIO* from, BIO* to, Side side) {
    std::array<std::uint8_t, 4096> buf{};
    int n = 0;
    while ((n = BIO_read(from, buf.data(), static_cast<int>(buf.size()))) > 0) {
      transcript_.push_back({side, std::vector<std::uint8_t>(buf.begin(), buf.begin() + n)});
      testcerts::require(BIO_write(to, buf.data(), n) == n, "BIO_write");
    }
  }

  SslPtr client_;
  SslPtr server_;
  BIO* client_out_ = nullptr;  // owned by client_
  BIO* server_out_ = nullptr;  // owned by server_
  BIO* client_in_ = nullptr;   // owned by client_
  BIO* server_in_ = nullptr;   // owned by server_
  std::vector<Chunk> transcript_;
};

}  // namespace provaudit::testtls
