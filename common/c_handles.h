#pragma once
// Every C handle provaudit owns lives in a std::unique_ptr with one of these
// deleters; no bare *_free / *_close calls elsewhere. The C types are forward
// declared so that including this header pulls in no library headers: analyze/
// can use the OpenSSL handles without seeing libpcap, and so on.
#include <cstdio>
#include <memory>
#include <utility>

extern "C" {
struct x509_st;
struct ossl_provider_st;
struct X509_name_st;
struct x509_store_st;
struct x509_store_ctx_st;
struct evp_pkey_st;
struct bio_st;
struct stack_st_X509;
struct evp_md_ctx_st;
struct evp_md_st;
struct evp_cipher_ctx_st;
struct pcap;
struct pcap_dumper;
struct sqlite3;
struct sqlite3_stmt;
struct Fts5Tokenizer;

void X509_free(x509_st*);
int OSSL_PROVIDER_unload(ossl_provider_st*);
void X509_NAME_free(X509_name_st*);
void X509_STORE_free(x509_store_st*);
void X509_STORE_CTX_free(x509_store_ctx_st*);
void EVP_PKEY_free(evp_pkey_st*);
int BIO_free(bio_st*);
void EVP_MD_CTX_free(evp_md_ctx_st*);
void EVP_MD_free(evp_md_st*);
void EVP_CIPHER_CTX_free(evp_cipher_ctx_st*);
void pcap_close(pcap*);
void pcap_dump_close(pcap_dumper*);
int sqlite3_close_v2(sqlite3*);
int sqlite3_finalize(sqlite3_stmt*);
}

namespace provaudit {

template <auto FreeFn>
struct CDeleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    if (p != nullptr) FreeFn(p);
  }
};

using X509Ptr = std::unique_ptr<x509_st, CDeleter<&X509_free>>;
using X509NamePtr = std::unique_ptr<X509_name_st, CDeleter<&X509_NAME_free>>;
using OsslProviderPtr = std::unique_ptr<ossl_provider_st, CDeleter<&OSSL_PROVIDER_unload>>;
using X509StorePtr = std::unique_ptr<x509_store_st, CDeleter<&X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<x509_store_ctx_st, CDeleter<&X509_STORE_CTX_free>>;
using EvpPkeyPtr = std::unique_ptr<evp_pkey_st, CDeleter<&EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<bio_st, CDeleter<&BIO_free>>;
using EvpMdCtxPtr = std::unique_ptr<evp_md_ctx_st, CDeleter<&EVP_MD_CTX_free>>;
using EvpMdPtr = std::unique_ptr<evp_md_st, CDeleter<&EVP_MD_free>>;  // a fetched algorithm
using EvpCipherCtxPtr = std::unique_ptr<evp_cipher_ctx_st, CDeleter<&EVP_CIPHER_CTX_free>>;
using PcapPtr = std::unique_ptr<pcap, CDeleter<&pcap_close>>;
using PcapDumperPtr = std::unique_ptr<pcap_dumper, CDeleter<&pcap_dump_close>>;
using SqlitePtr = std::unique_ptr<sqlite3, CDeleter<&sqlite3_close_v2>>;
using SqliteStmtPtr = std::unique_ptr<sqlite3_stmt, CDeleter<&sqlite3_finalize>>;

// An FTS5 tokenizer instance (store/search_fold.cc). FTS5 hands out its
// delete function with the tokenizer's other functions, at run time.
struct Fts5TokenizerDeleter {
  void (*destroy)(Fts5Tokenizer*) = nullptr;
  void operator()(Fts5Tokenizer* p) const noexcept {
    if (p != nullptr && destroy != nullptr) destroy(p);
  }
};
using Fts5TokenizerPtr = std::unique_ptr<Fts5Tokenizer, Fts5TokenizerDeleter>;

}  // namespace provaudit

// TLS-side handles (analyze/x509.cc, the in-memory TLS transcripts of the
// analyze tests): SAN lists, OpenSSL-allocated buffers, SSL objects.
extern "C" {
struct stack_st_GENERAL_NAME;
struct X509_extension_st;
struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;

void GENERAL_NAMES_free(stack_st_GENERAL_NAME*);  // frees the stack and every GENERAL_NAME in it
void X509_EXTENSION_free(X509_extension_st*);
void SSL_free(ssl_st*);
void SSL_CTX_free(ssl_ctx_st*);
void SSL_SESSION_free(ssl_session_st*);
void CRYPTO_free(void* ptr, const char* file, int line);
}

// Decryption (analyze/tls_decrypt.cc, analyze/tls_prf.cc): fetched algorithms and their contexts.
extern "C" {
struct evp_kdf_st;
struct evp_kdf_ctx_st;
struct evp_pkey_ctx_st;
struct evp_cipher_st;

void EVP_KDF_free(evp_kdf_st*);
void EVP_KDF_CTX_free(evp_kdf_ctx_st*);
void EVP_PKEY_CTX_free(evp_pkey_ctx_st*);
void EVP_CIPHER_free(evp_cipher_st*);
}

// Certificates (analyze/x509.cc): an RSASSA-PSS signature's parameters, and
// values decoded against an ASN.1 template of our own (ASN1_item_d2i).
extern "C" {
struct rsa_pss_params_st;
struct ASN1_ITEM_st;
struct ASN1_VALUE_st;
void RSA_PSS_PARAMS_free(rsa_pss_params_st*);
void ASN1_item_free(ASN1_VALUE_st* val, const ASN1_ITEM_st* it);
}

namespace provaudit {

// What the OPENSSL_free macro expands to, for buffers OpenSSL allocates for us
// (ASN1_STRING_to_UTF8, BN_bn2hex, i2d_* with a null output pointer).
inline void opensslBufferFree(unsigned char* p) { CRYPTO_free(p, __FILE__, __LINE__); }

using GeneralNamesPtr = std::unique_ptr<stack_st_GENERAL_NAME, CDeleter<&GENERAL_NAMES_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_extension_st, CDeleter<&X509_EXTENSION_free>>;
using SslPtr = std::unique_ptr<ssl_st, CDeleter<&SSL_free>>;
using SslCtxPtr = std::unique_ptr<ssl_ctx_st, CDeleter<&SSL_CTX_free>>;
using SslSessionPtr = std::unique_ptr<ssl_session_st, CDeleter<&SSL_SESSION_free>>;
using OpensslBufferPtr = std::unique_ptr<unsigned char, CDeleter<&opensslBufferFree>>;
using EvpKdfPtr = std::unique_ptr<evp_kdf_st, CDeleter<&EVP_KDF_free>>;
using EvpKdfCtxPtr = std::unique_ptr<evp_kdf_ctx_st, CDeleter<&EVP_KDF_CTX_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<evp_pkey_ctx_st, CDeleter<&EVP_PKEY_CTX_free>>;
using RsaPssParamsPtr = std::unique_ptr<rsa_pss_params_st, CDeleter<&RSA_PSS_PARAMS_free>>;
// A value of type T decoded with the template `Item` names (its T_it function).
template <typename T, const ASN1_ITEM_st* (*Item)()>
struct Asn1ItemDeleter {
  void operator()(T* value) const { ASN1_item_free(reinterpret_cast<ASN1_VALUE_st*>(value), Item()); }
};
template <typename T, const ASN1_ITEM_st* (*Item)()>
using Asn1ItemPtr = std::unique_ptr<T, Asn1ItemDeleter<T, Item>>;
using EvpCipherPtr = std::unique_ptr<evp_cipher_st, CDeleter<&EVP_CIPHER_free>>;

}  // namespace provaudit

// POSIX file descriptors (capture/pcap_reader.cc, store/wal_writeback.cc).
// Declared as in <unistd.h>.
extern "C" int close(int fd);

namespace provaudit {

// A stdio stream we own (capture/pcapng_reader.cc).
using FilePtr = std::unique_ptr<std::FILE, CDeleter<&std::fclose>>;

// Owns one file descriptor (-1: none) and closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  [[nodiscard]] int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace provaudit
