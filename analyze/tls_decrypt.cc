// TLS record decryption (RFC 2246 §6.2.3, RFC 4346 §6.2.3.2, RFC 5246 §6.2.3,
// RFC 8446 §5.2-5.3) and the key schedules that feed it (RFC 5246 §6.3 and §8.1,
// RFC 7627 §4, RFC 8446 §7.3). Ciphers, MACs, KDFs and RSA are OpenSSL EVP;
// this file builds nonces, additional data and labels, and walks the records.
#include "analyze/tls_decrypt.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <deque>
#include <stdexcept>

#include "analyze/tls_connection.h"
#include "analyze/tls_handshake.h"
#include "analyze/tls_prf.h"

namespace provaudit::analyze {
namespace {

constexpr std::uint8_t HS_END_OF_EARLY_DATA = 5;        // RFC 8446 §4.5
constexpr std::uint8_t HS_KEY_UPDATE = 24;       // RFC 8446 §4.6.3
constexpr std::uint16_t EXT_EARLY_DATA = 42;              // RFC 8446 §4.2.10
constexpr std::uint16_t EXT_ENCRYPT_THEN_MAC = 22;        // RFC 7366 §2
constexpr std::uint16_t EXT_EXTENDED_MASTER_SECRET = 23;  // RFC 7627 §5.1
constexpr std::uint16_t EXT_CERTIFICATE_AUTHORITIES = 47;  // RFC 8446 §4.2.4
constexpr std::uint16_t TLS_VERSION_1_0 = 0x0301;
constexpr std::uint16_t TLS_VERSION_1_1 = 0x0302;

constexpr std::size_t RECORD_HEADER = 5;
constexpr std::size_t HANDSHAKE_HEADER = 4;
constexpr std::size_t MASTER_SECRET = 48;     // RFC 5246 §8.1
constexpr std::size_t PREMASTER_SECRET = 48;  // RFC 5246 §7.4.7.1
constexpr std::size_t AEAD_TAG = 16;          // AES-GCM (RFC 5288 §3), ChaCha20-Poly1305 (RFC 7905 §2), AES-CCM
constexpr std::size_t CCM_8_TAG = 8;          // AES-CCM_8 (RFC 6655 §3, RFC 8446 Appendix B.4)
constexpr std::size_t AEAD_NONCE = 12;
constexpr std::size_t GCM_EXPLICIT_NONCE = 8;  // RFC 5288 §3; the same for CCM (RFC 6655 §3)
constexpr std::size_t MAX_MAC = 64;

enum class CipherKind : std::uint8_t { Cbc, Gcm, Ccm, Ccm8, ChaCha, Stream };
// Psk: the premaster secret holds a pre-shared key (RFC 4279 §2-4, RFC 5489
// §2), which no --rsa-key gives: RSA_PSK's encrypted half is not enough. A
// key log's CLIENT_RANDOM line is the only way in.
enum class KeyExchange : std::uint8_t { Rsa, Ephemeral, Psk, Tls13 };

struct SuiteInfo {
  std::uint16_t id;
  KeyExchange kx;
  const char* cipher;  // OpenSSL cipher name
  CipherKind kind;
  std::uint8_t key_len;
  std::uint8_t iv_len;  // CBC: block size; AEAD: fixed IV (salt) length; stream: 0
  const char* mac;      // HMAC digest, nullptr for AEAD
  std::uint8_t mac_len;
  const char* prf;      // TLS 1.2 PRF / TLS 1.3 HKDF digest
  bool legacy;          // needs OpenSSL's legacy provider
};

// IANA TLS Cipher Suites registry; the suites provisioning stacks use.
constexpr SuiteInfo SUITES[] = {
    {0x0004, KeyExchange::Rsa, "RC4", CipherKind::Stream, 16, 0, "MD5", 16, "SHA256", true},
    {0x0005, KeyExchange::Rsa, "RC4", CipherKind::Stream, 16, 0, "SHA1", 20, "SHA256", true},
    {0x000A, KeyExchange::Rsa, "DES-EDE3-CBC", CipherKind::Cbc, 24, 8, "SHA1", 20, "SHA256", false},
    {0x0016, KeyExchange::Ephemeral, "DES-EDE3-CBC", CipherKind::Cbc, 24, 8, "SHA1", 20, "SHA256", false},
    {0x002F, KeyExchange::Rsa, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x0033, KeyExchange::Ephemeral, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x0035, KeyExchange::Rsa, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0x0039, KeyExchange::Ephemeral, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0x0041, KeyExchange::Rsa, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x0044, KeyExchange::Ephemeral, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x0045, KeyExchange::Ephemeral, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x0046, KeyExchange::Ephemeral, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x003C, KeyExchange::Rsa, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x003D, KeyExchange::Rsa, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA256", 32, "SHA256", false},
    {0x0067, KeyExchange::Ephemeral, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x006B, KeyExchange::Ephemeral, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA256", 32, "SHA256", false},
    {0x0084, KeyExchange::Rsa, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0x0087, KeyExchange::Ephemeral, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0x0088, KeyExchange::Ephemeral, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0x0089, KeyExchange::Ephemeral, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    // RFC 4279 §2-4 (PSK, DHE_PSK, RSA_PSK; HMAC-SHA1, TLS 1.2's SHA-256 PRF).
    {0x008A, KeyExchange::Psk, "RC4", CipherKind::Stream, 16, 0, "SHA1", 20, "SHA256", true},
    {0x008B, KeyExchange::Psk, "DES-EDE3-CBC", CipherKind::Cbc, 24, 8, "SHA1", 20, "SHA256", false},
    {0x008C, KeyExchange::Psk, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x008D, KeyExchange::Psk, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0x008E, KeyExchange::Psk, "RC4", CipherKind::Stream, 16, 0, "SHA1", 20, "SHA256", true},
    {0x008F, KeyExchange::Psk, "DES-EDE3-CBC", CipherKind::Cbc, 24, 8, "SHA1", 20, "SHA256", false},
    {0x0090, KeyExchange::Psk, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x0091, KeyExchange::Psk, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0x0092, KeyExchange::Psk, "RC4", CipherKind::Stream, 16, 0, "SHA1", 20, "SHA256", true},
    {0x0093, KeyExchange::Psk, "DES-EDE3-CBC", CipherKind::Cbc, 24, 8, "SHA1", 20, "SHA256", false},
    {0x0094, KeyExchange::Psk, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0x0095, KeyExchange::Psk, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0x009C, KeyExchange::Rsa, "AES-128-GCM", CipherKind::Gcm, 16, 4, nullptr, 0, "SHA256", false},
    {0x009D, KeyExchange::Rsa, "AES-256-GCM", CipherKind::Gcm, 32, 4, nullptr, 0, "SHA384", false},
    {0x009E, KeyExchange::Ephemeral, "AES-128-GCM", CipherKind::Gcm, 16, 4, nullptr, 0, "SHA256", false},
    {0x009F, KeyExchange::Ephemeral, "AES-256-GCM", CipherKind::Gcm, 32, 4, nullptr, 0, "SHA384", false},
    // RFC 5487 §3: the PSK families with AES-GCM, and AES-CBC with HMAC-SHA256/-SHA384
    // (the PRF's hash is the MAC's). Their NULL suites are read without keys (tls_null_records.h).
    {0x00A8, KeyExchange::Psk, "AES-128-GCM", CipherKind::Gcm, 16, 4, nullptr, 0, "SHA256", false},
    {0x00A9, KeyExchange::Psk, "AES-256-GCM", CipherKind::Gcm, 32, 4, nullptr, 0, "SHA384", false},
    {0x00AA, KeyExchange::Psk, "AES-128-GCM", CipherKind::Gcm, 16, 4, nullptr, 0, "SHA256", false},
    {0x00AB, KeyExchange::Psk, "AES-256-GCM", CipherKind::Gcm, 32, 4, nullptr, 0, "SHA384", false},
    {0x00AC, KeyExchange::Psk, "AES-128-GCM", CipherKind::Gcm, 16, 4, nullptr, 0, "SHA256", false},
    {0x00AD, KeyExchange::Psk, "AES-256-GCM", CipherKind::Gcm, 32, 4, nullptr, 0, "SHA384", false},
    {0x00AE, KeyExchange::Psk, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x00AF, KeyExchange::Psk, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    {0x00B2, KeyExchange::Psk, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x00B3, KeyExchange::Psk, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    {0x00B6, KeyExchange::Psk, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x00B7, KeyExchange::Psk, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    // RFC 6367 §2.1 (Camellia CBC with HMAC-SHA256; the PRF is TLS 1.2's SHA-256).
    {0x00BA, KeyExchange::Rsa, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x00BD, KeyExchange::Ephemeral, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x00BE, KeyExchange::Ephemeral, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x00BF, KeyExchange::Ephemeral, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0x00C0, KeyExchange::Rsa, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA256", 32, "SHA256", false},
    {0x00C3, KeyExchange::Ephemeral, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA256", 32, "SHA256", false},
    {0x00C4, KeyExchange::Ephemeral, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA256", 32, "SHA256", false},
    {0x00C5, KeyExchange::Ephemeral, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA256", 32, "SHA256", false},
    {0x1301, KeyExchange::Tls13, "AES-128-GCM", CipherKind::Gcm, 16, 12, nullptr, 0, "SHA256", false},
    {0x1302, KeyExchange::Tls13, "AES-256-GCM", CipherKind::Gcm, 32, 12, nullptr, 0, "SHA384", false},
    {0x1303, KeyExchange::Tls13, "ChaCha20-Poly1305", CipherKind::ChaCha, 32, 12, nullptr, 0, "SHA256", false},
    {0x1304, KeyExchange::Tls13, "AES-128-CCM", CipherKind::Ccm, 16, 12, nullptr, 0, "SHA256", false},
    {0x1305, KeyExchange::Tls13, "AES-128-CCM", CipherKind::Ccm8, 16, 12, nullptr, 0, "SHA256", false},
    {0xC007, KeyExchange::Ephemeral, "RC4", CipherKind::Stream, 16, 0, "SHA1", 20, "SHA256", true},
    {0xC008, KeyExchange::Ephemeral, "DES-EDE3-CBC", CipherKind::Cbc, 24, 8, "SHA1", 20, "SHA256", false},
    {0xC009, KeyExchange::Ephemeral, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0xC00A, KeyExchange::Ephemeral, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0xC011, KeyExchange::Ephemeral, "RC4", CipherKind::Stream, 16, 0, "SHA1", 20, "SHA256", true},
    {0xC012, KeyExchange::Ephemeral, "DES-EDE3-CBC", CipherKind::Cbc, 24, 8, "SHA1", 20, "SHA256", false},
    {0xC013, KeyExchange::Ephemeral, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0xC014, KeyExchange::Ephemeral, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0xC023, KeyExchange::Ephemeral, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC024, KeyExchange::Ephemeral, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    {0xC027, KeyExchange::Ephemeral, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC028, KeyExchange::Ephemeral, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    {0xC02B, KeyExchange::Ephemeral, "AES-128-GCM", CipherKind::Gcm, 16, 4, nullptr, 0, "SHA256", false},
    {0xC02C, KeyExchange::Ephemeral, "AES-256-GCM", CipherKind::Gcm, 32, 4, nullptr, 0, "SHA384", false},
    {0xC02F, KeyExchange::Ephemeral, "AES-128-GCM", CipherKind::Gcm, 16, 4, nullptr, 0, "SHA256", false},
    {0xC030, KeyExchange::Ephemeral, "AES-256-GCM", CipherKind::Gcm, 32, 4, nullptr, 0, "SHA384", false},
    // RFC 5489 §3-4: ECDHE_PSK (its NULL suites are read without keys). RFC
    // 8442's ECDHE_PSK AEAD suites (0xd001-0xd005) are not here: no stack at
    // hand negotiates them to show their record format, so they stay
    // decrypt_unsupported_suite, as ARIA (RFC 6209) does.
    {0xC033, KeyExchange::Psk, "RC4", CipherKind::Stream, 16, 0, "SHA1", 20, "SHA256", true},
    {0xC034, KeyExchange::Psk, "DES-EDE3-CBC", CipherKind::Cbc, 24, 8, "SHA1", 20, "SHA256", false},
    {0xC035, KeyExchange::Psk, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA1", 20, "SHA256", false},
    {0xC036, KeyExchange::Psk, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA1", 20, "SHA256", false},
    {0xC037, KeyExchange::Psk, "AES-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC038, KeyExchange::Psk, "AES-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    // RFC 6367 §2.1: ECDHE with Camellia CBC (HMAC-SHA256 / -SHA384 and that PRF).
    {0xC072, KeyExchange::Ephemeral, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC073, KeyExchange::Ephemeral, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    {0xC076, KeyExchange::Ephemeral, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC077, KeyExchange::Ephemeral, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    // RFC 6367 §2.1: the PSK families with Camellia CBC (Camellia-GCM has no OpenSSL cipher).
    {0xC094, KeyExchange::Psk, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC095, KeyExchange::Psk, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    {0xC096, KeyExchange::Psk, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC097, KeyExchange::Psk, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    {0xC098, KeyExchange::Psk, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC099, KeyExchange::Psk, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    {0xC09A, KeyExchange::Psk, "CAMELLIA-128-CBC", CipherKind::Cbc, 16, 16, "SHA256", 32, "SHA256", false},
    {0xC09B, KeyExchange::Psk, "CAMELLIA-256-CBC", CipherKind::Cbc, 32, 16, "SHA384", 48, "SHA384", false},
    // RFC 6655 §3 and RFC 7251 §2: AES-CCM, 4-byte salt + 8-byte explicit nonce, SHA-256 PRF.
    // (Camellia-GCM, RFC 6367 §2.2, has no OpenSSL cipher: those suites stay
    // decrypt_unsupported_suite.)
    {0xC09C, KeyExchange::Rsa, "AES-128-CCM", CipherKind::Ccm, 16, 4, nullptr, 0, "SHA256", false},
    {0xC09D, KeyExchange::Rsa, "AES-256-CCM", CipherKind::Ccm, 32, 4, nullptr, 0, "SHA256", false},
    {0xC09E, KeyExchange::Ephemeral, "AES-128-CCM", CipherKind::Ccm, 16, 4, nullptr, 0, "SHA256", false},
    {0xC09F, KeyExchange::Ephemeral, "AES-256-CCM", CipherKind::Ccm, 32, 4, nullptr, 0, "SHA256", false},
    {0xC0A0, KeyExchange::Rsa, "AES-128-CCM", CipherKind::Ccm8, 16, 4, nullptr, 0, "SHA256", false},
    {0xC0A1, KeyExchange::Rsa, "AES-256-CCM", CipherKind::Ccm8, 32, 4, nullptr, 0, "SHA256", false},
    {0xC0A2, KeyExchange::Ephemeral, "AES-128-CCM", CipherKind::Ccm8, 16, 4, nullptr, 0, "SHA256", false},
    {0xC0A3, KeyExchange::Ephemeral, "AES-256-CCM", CipherKind::Ccm8, 32, 4, nullptr, 0, "SHA256", false},
    // RFC 6655 §4: PSK and DHE_PSK with AES-CCM and AES-CCM_8.
    {0xC0A4, KeyExchange::Psk, "AES-128-CCM", CipherKind::Ccm, 16, 4, nullptr, 0, "SHA256", false},
    {0xC0A5, KeyExchange::Psk, "AES-256-CCM", CipherKind::Ccm, 32, 4, nullptr, 0, "SHA256", false},
    {0xC0A6, KeyExchange::Psk, "AES-128-CCM", CipherKind::Ccm, 16, 4, nullptr, 0, "SHA256", false},
    {0xC0A7, KeyExchange::Psk, "AES-256-CCM", CipherKind::Ccm, 32, 4, nullptr, 0, "SHA256", false},
    {0xC0A8, KeyExchange::Psk, "AES-128-CCM", CipherKind::Ccm8, 16, 4, nullptr, 0, "SHA256", false},
    {0xC0A9, KeyExchange::Psk, "AES-256-CCM", CipherKind::Ccm8, 32, 4, nullptr, 0, "SHA256", false},
    {0xC0AA, KeyExchange::Psk, "AES-128-CCM", CipherKind::Ccm8, 16, 4, nullptr, 0, "SHA256", false},
    {0xC0AB, KeyExchange::Psk, "AES-256-CCM", CipherKind::Ccm8, 32, 4, nullptr, 0, "SHA256", false},
    {0xC0AC, KeyExchange::Ephemeral, "AES-128-CCM", CipherKind::Ccm, 16, 4, nullptr, 0, "SHA256", false},
    {0xC0AD, KeyExchange::Ephemeral, "AES-256-CCM", CipherKind::Ccm, 32, 4, nullptr, 0, "SHA256", false},
    {0xC0AE, KeyExchange::Ephemeral, "AES-128-CCM", CipherKind::Ccm8, 16, 4, nullptr, 0, "SHA256", false},
    {0xC0AF, KeyExchange::Ephemeral, "AES-256-CCM", CipherKind::Ccm8, 32, 4, nullptr, 0, "SHA256", false},
    {0xCCA8, KeyExchange::Ephemeral, "ChaCha20-Poly1305", CipherKind::ChaCha, 32, 12, nullptr, 0, "SHA256", false},
    {0xCCA9, KeyExchange::Ephemeral, "ChaCha20-Poly1305", CipherKind::ChaCha, 32, 12, nullptr, 0, "SHA256", false},
    {0xCCAA, KeyExchange::Ephemeral, "ChaCha20-Poly1305", CipherKind::ChaCha, 32, 12, nullptr, 0, "SHA256", false},
    // RFC 7905 §2: the PSK families with ChaCha20-Poly1305.
    {0xCCAB, KeyExchange::Psk, "ChaCha20-Poly1305", CipherKind::ChaCha, 32, 12, nullptr, 0, "SHA256", false},
    {0xCCAC, KeyExchange::Psk, "ChaCha20-Poly1305", CipherKind::ChaCha, 32, 12, nullptr, 0, "SHA256", false},
    {0xCCAD, KeyExchange::Psk, "ChaCha20-Poly1305", CipherKind::ChaCha, 32, 12, nullptr, 0, "SHA256", false},
    {0xCCAE, KeyExchange::Psk, "ChaCha20-Poly1305", CipherKind::ChaCha, 32, 12, nullptr, 0, "SHA256", false},
};

const SuiteInfo* findSuite(std::uint16_t id) {
  for (const auto& s : SUITES) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

void putU64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// RFC 5246 §6.2.3.1 / §6.2.3.3 additional data: seq_num + type + version + length.
std::vector<std::uint8_t> macHeader(std::uint64_t seq, std::uint8_t type, Bytes header, std::size_t length) {
  std::vector<std::uint8_t> out;
  putU64(out, seq);
  out.push_back(type);
  out.push_back(header[1]);
  out.push_back(header[2]);
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  out.push_back(static_cast<std::uint8_t>(length & 0xff));
  return out;
}

// One direction's record protection: cipher context, keys and sequence number.
class RecordCipher {
 public:
  RecordCipher(const SuiteInfo& suite, std::uint16_t version, bool tls13, bool encrypt_then_mac = false)
      : suite_(suite), version_(version), tls13_(tls13), encrypt_then_mac_(encrypt_then_mac) {}

  bool init(Bytes key, Bytes iv, Bytes mac_key) {
    cipher_.reset(EVP_CIPHER_fetch(nullptr, suite_.cipher, nullptr));
    ctx_.reset(EVP_CIPHER_CTX_new());
    if (!cipher_ || !ctx_) return false;
    if (static_cast<std::size_t>(EVP_CIPHER_get_key_length(cipher_.get())) != key.size()) return false;
    iv_.assign(iv.begin(), iv.end());
    mac_key_.assign(mac_key.begin(), mac_key.end());
    if (isCcm()) {
      // RFC 3610 §2.2: CCM's nonce and tag lengths are fixed with its key (they
      // go into each message's first block): set both before the key.
      return EVP_DecryptInit_ex2(ctx_.get(), cipher_.get(), nullptr, nullptr, nullptr) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(AEAD_NONCE), nullptr) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tagLength()), nullptr) == 1 &&
             EVP_DecryptInit_ex2(ctx_.get(), nullptr, key.data(), nullptr, nullptr) == 1;
    }
    if (EVP_DecryptInit_ex2(ctx_.get(), cipher_.get(), key.data(), nullptr, nullptr) != 1) return false;
    if (suite_.kind == CipherKind::Cbc && EVP_CIPHER_CTX_set_padding(ctx_.get(), 0) != 1) return false;
    return true;
  }

  // Decrypts and authenticates one record's payload; false on a bad MAC/tag or
  // a length that cannot be this cipher's.
  bool open(std::uint8_t type, Bytes header, Bytes payload, std::vector<std::uint8_t>& out) {
    bool ok = false;
    switch (suite_.kind) {
      case CipherKind::Cbc:
        ok = openCbc(type, header, payload, out);
        break;
      case CipherKind::Stream:
        ok = openStream(type, header, payload, out);
        break;
      case CipherKind::Gcm:
      case CipherKind::Ccm:
      case CipherKind::Ccm8:
      case CipherKind::ChaCha:
        ok = openAead(type, header, payload, out);
        break;
    }
    if (ok) ++seq_;
    return ok;
  }

  // Takes a record without reading it (the server's application data): its
  // sequence number, and for TLS 1.0 CBC the running IV (its last ciphertext
  // block). False for a stream cipher, whose state only decrypting advances.
  bool passOver(Bytes payload) {
    if (suite_.kind == CipherKind::Stream) return false;
    if (suite_.kind == CipherKind::Cbc && version_ < TLS_VERSION_1_1) {
      const std::size_t block = suite_.iv_len;
      const Bytes ct = encrypt_then_mac_ && payload.size() >= suite_.mac_len
                           ? payload.first(payload.size() - suite_.mac_len)
                           : payload;
      if (ct.size() < block) return false;
      iv_.assign(ct.end() - static_cast<std::ptrdiff_t>(block), ct.end());
    }
    ++seq_;
    return true;
  }

 private:
  [[nodiscard]] bool isCcm() const { return suite_.kind == CipherKind::Ccm || suite_.kind == CipherKind::Ccm8; }
  [[nodiscard]] std::size_t tagLength() const { return suite_.kind == CipherKind::Ccm8 ? CCM_8_TAG : AEAD_TAG; }

  // MAC-then-encrypt: the MAC trails the decrypted content. With RFC 7366
  // encrypt-then-MAC it trails the ciphertext (IV included) instead.
  bool checkMac(std::uint8_t type, Bytes header, std::vector<std::uint8_t>& plain) {
    if (!macMatches(type, header, plain)) return false;
    plain.resize(plain.size() - suite_.mac_len);
    return true;
  }

  bool macMatches(std::uint8_t type, Bytes header, Bytes data) {
    if (data.size() < suite_.mac_len) return false;
    const std::size_t content = data.size() - suite_.mac_len;
    std::vector<std::uint8_t> input = macHeader(seq_, type, header, content);
    input.insert(input.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(content));
    std::array<std::uint8_t, MAX_MAC> mac{};
    std::size_t mac_len = 0;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, suite_.mac, nullptr, mac_key_.data(), mac_key_.size(), input.data(),
                  input.size(), mac.data(), mac.size(), &mac_len) == nullptr ||
        mac_len != suite_.mac_len) {
      return false;
    }
    return CRYPTO_memcmp(mac.data(), data.data() + content, mac_len) == 0;
  }

  // RFC 2246 §6.2.3.2 (TLS 1.0: the IV of a record is the last ciphertext block
  // of the previous one) and RFC 4346 §6.2.3.2 / RFC 5246 §6.2.3.2 (explicit IV).
  bool openCbc(std::uint8_t type, Bytes header, Bytes payload, std::vector<std::uint8_t>& out) {
    const std::size_t block = suite_.iv_len;
    if (encrypt_then_mac_) {
      if (!macMatches(type, header, payload)) return false;
      payload = payload.first(payload.size() - suite_.mac_len);
    }
    Bytes iv(iv_);
    Bytes ct = payload;
    if (version_ >= TLS_VERSION_1_1) {
      if (payload.size() < block) return false;
      iv = payload.first(block);
      ct = payload.subspan(block);
    }
    if (ct.empty() || ct.size() % block != 0 || iv.size() != block) return false;
    // Padding is TLS's own (checked below), not PKCS#7: set again after every re-init.
    if (EVP_DecryptInit_ex2(ctx_.get(), nullptr, nullptr, iv.data(), nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx_.get(), 0) != 1) {
      return false;
    }
    out.resize(ct.size());
    int len = 0;
    if (EVP_DecryptUpdate(ctx_.get(), out.data(), &len, ct.data(), static_cast<int>(ct.size())) != 1 ||
        static_cast<std::size_t>(len) != ct.size()) {
      return false;
    }
    if (version_ < TLS_VERSION_1_1) iv_.assign(ct.end() - static_cast<std::ptrdiff_t>(block), ct.end());
    // padding_length bytes, each equal to padding_length, then that byte itself.
    const std::size_t pad = out.back();
    const std::size_t trailing_mac = encrypt_then_mac_ ? 0 : suite_.mac_len;
    if (pad + 1 + trailing_mac > out.size()) return false;
    for (std::size_t i = out.size() - pad - 1; i < out.size(); ++i) {
      if (out[i] != pad) return false;
    }
    out.resize(out.size() - pad - 1);
    return encrypt_then_mac_ || checkMac(type, header, out);
  }

  bool openStream(std::uint8_t type, Bytes header, Bytes payload, std::vector<std::uint8_t>& out) {
    out.resize(payload.size());
    int len = 0;
    if (!payload.empty() &&
        EVP_DecryptUpdate(ctx_.get(), out.data(), &len, payload.data(), static_cast<int>(payload.size())) != 1) {
      return false;
    }
    return checkMac(type, header, out);
  }

  // RFC 5288 §3 (TLS 1.2 GCM: 4-byte salt + 8-byte explicit nonce; CCM the
  // same, RFC 6655 §3), RFC 7905 §2 (TLS 1.2 ChaCha20-Poly1305) and RFC 8446
  // §5.3 (TLS 1.3: iv XOR seq; the additional data is the record header).
  bool openAead(std::uint8_t type, Bytes header, Bytes payload, std::vector<std::uint8_t>& out) {
    std::array<std::uint8_t, AEAD_NONCE> nonce{};
    Bytes ct = payload;
    if (!tls13_ && suite_.kind != CipherKind::ChaCha) {
      if (payload.size() < GCM_EXPLICIT_NONCE || iv_.size() != AEAD_NONCE - GCM_EXPLICIT_NONCE) return false;
      std::copy(iv_.begin(), iv_.end(), nonce.begin());
      std::copy_n(payload.begin(), GCM_EXPLICIT_NONCE, nonce.begin() + static_cast<std::ptrdiff_t>(iv_.size()));
      ct = payload.subspan(GCM_EXPLICIT_NONCE);
    } else {
      if (iv_.size() != AEAD_NONCE) return false;
      std::copy(iv_.begin(), iv_.end(), nonce.begin());
      for (std::size_t i = 0; i < 8; ++i) {
        nonce[AEAD_NONCE - 1 - i] ^= static_cast<std::uint8_t>(seq_ >> (8 * i));
      }
    }
    const std::size_t tag_len = tagLength();
    if (ct.size() < tag_len) return false;
    const std::size_t plain_len = ct.size() - tag_len;
    std::array<std::uint8_t, AEAD_TAG> tag{};
    std::copy(ct.end() - static_cast<std::ptrdiff_t>(tag_len), ct.end(), tag.begin());
    const std::vector<std::uint8_t> aad =
        tls13_ ? std::vector<std::uint8_t>(header.begin(), header.end()) : macHeader(seq_, type, header, plain_len);
    int len = 0;
    if (EVP_DecryptInit_ex2(ctx_.get(), nullptr, nullptr, nonce.data(), nullptr) != 1) return false;
    // CCM authenticates the length first (RFC 3610 §2.2): the tag and the
    // length go in before the additional data.
    if (isCcm() &&
        (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag_len), tag.data()) != 1 ||
         EVP_DecryptUpdate(ctx_.get(), nullptr, &len, nullptr, static_cast<int>(plain_len)) != 1)) {
      return false;
    }
    if (EVP_DecryptUpdate(ctx_.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) return false;
    out.resize(plain_len);
    if (isCcm()) {
      // One call decrypts and checks the tag; it fails on a bad one. An empty
      // record still hands OpenSSL a buffer (a null one means "no data").
      std::array<std::uint8_t, 1> none{};
      return EVP_DecryptUpdate(ctx_.get(), plain_len > 0 ? out.data() : none.data(), &len,
                               plain_len > 0 ? ct.data() : none.data(), static_cast<int>(plain_len)) == 1;
    }
    if (plain_len > 0 &&
        EVP_DecryptUpdate(ctx_.get(), out.data(), &len, ct.data(), static_cast<int>(plain_len)) != 1) {
      return false;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag.size()), tag.data()) != 1) {
      return false;
    }
    std::array<std::uint8_t, AEAD_TAG> final_block{};
    return EVP_DecryptFinal_ex(ctx_.get(), final_block.data(), &len) == 1;
  }

  const SuiteInfo& suite_;
  std::uint16_t version_;
  bool tls13_;
  bool encrypt_then_mac_;  // RFC 7366, CBC suites only
  EvpCipherPtr cipher_;
  EvpCipherCtxPtr ctx_;
  std::vector<std::uint8_t> iv_;  // CBC: TLS 1.0's running IV; AEAD: fixed IV / salt
  std::vector<std::uint8_t> mac_key_;
  std::uint64_t seq_ = 0;          // RFC 5246 §6.1: per direction, reset at ChangeCipherSpec
};

std::unique_ptr<RecordCipher> tls13Cipher(const SuiteInfo& suite, Bytes secret) {
  std::vector<std::uint8_t> key(suite.key_len);
  std::array<std::uint8_t, AEAD_NONCE> iv{};
  // RFC 8446 §7.3: [sender]_write_key / _iv from the traffic secret.
  if (!hkdfExpandLabel(suite.prf, secret, "key", {}, key) || !hkdfExpandLabel(suite.prf, secret, "iv", {}, iv)) {
    return nullptr;
  }
  auto cipher = std::make_unique<RecordCipher>(suite, TLS_VERSION_1_3, true);
  if (!cipher->init(key, iv, {})) return nullptr;
  return cipher;
}

bool hasExtension(const std::vector<std::uint16_t>& exts, std::uint16_t type) {
  return std::find(exts.begin(), exts.end(), type) != exts.end();
}

// A session ticket is kept by its SHA-256 (tickets run to 64 KiB).
using TicketDigest = std::array<std::uint8_t, 32>;
std::optional<TicketDigest> ticketDigest(Bytes ticket) {
  TicketDigest d{};
  std::size_t n = 0;
  if (ticket.empty() || EVP_Q_digest(nullptr, "SHA256", nullptr, ticket.data(), ticket.size(), d.data(), &n) != 1 ||
      n != d.size()) {
    return std::nullopt;
  }
  return d;
}

}  // namespace

bool loadLegacyProvider() {
  // Process-lifetime providers: loading "legacy" explicitly turns off the
  // implicit "default", so both are loaded; they are unloaded by the static
  // handles' destructors at exit (before LeakSanitizer looks).
  static const OsslProviderPtr legacy(OSSL_PROVIDER_load(nullptr, "legacy"));
  static const OsslProviderPtr deflt(OSSL_PROVIDER_load(nullptr, "default"));
  return legacy != nullptr && deflt != nullptr;
}

void DecryptionKeys::addRsaKeySpec(const std::string& spec) {
  std::optional<Endpoint> server;
  std::string file = spec;
  const std::size_t eq = spec.find('=');
  if (eq != std::string::npos) {
    const std::string addr = spec.substr(0, eq);
    const std::size_t colon = addr.rfind(':');
    std::string host = colon == std::string::npos ? std::string() : addr.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const auto ip = IpAddr::parse(host);
    const std::string port = colon == std::string::npos ? std::string() : addr.substr(colon + 1);
    const bool port_ok = !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), ::isdigit) &&
                         std::stoul(port) <= 0xffff;
    if (!ip || !port_ok) throw std::runtime_error("--rsa-key " + spec + ": expected [IP:PORT=]FILE");
    server = Endpoint{*ip, static_cast<std::uint16_t>(std::stoul(port))};
    file = spec.substr(eq + 1);
  }
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) throw std::runtime_error(file + ": cannot open RSA key file");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) throw std::runtime_error(file + ": not a PEM private key (or it is encrypted)");
  if (EVP_PKEY_is_a(key.get(), "RSA") != 1) throw std::runtime_error(file + ": not an RSA key");
  addRsaKey(std::move(key), server, file);
}

void DecryptionKeys::addRsaKey(EvpPkeyPtr key, std::optional<Endpoint> server, std::string file) {
  rsa_keys_.push_back(RsaServerKey{server, std::move(key), std::move(file)});
}

std::optional<ResumableSessions::Key> ResumableSessions::key(By by, Bytes id) {
  Key k{};
  if (id.empty() || id.size() > k.size() - 2) return std::nullopt;
  k[0] = static_cast<std::uint8_t>(by);
  k[1] = static_cast<std::uint8_t>(id.size());
  std::copy(id.begin(), id.end(), k.begin() + 2);
  return k;
}

std::uint64_t ResumableSessions::remember(By by, Bytes id, const MasterSecret& master) {
  const auto k = key(by, id);
  if (!k) return 0;
  std::lock_guard lock(mu_);
  if (const auto it = secrets_.find(*k); it != secrets_.end()) {
    // The same session again (or a server reusing an id): the latest secret.
    it->second.master = master;
    touch(it->second);
    return 0;
  }
  uses_.push_back(*k);
  secrets_.emplace(*k, Entry{master, std::prev(uses_.end())});
  std::uint64_t evicted = 0;
  while (secrets_.size() > max_entries_ && !uses_.empty()) {
    secrets_.erase(uses_.front());
    uses_.pop_front();
    ++evicted;
  }
  evictions_ += evicted;
  return evicted;
}

std::optional<ResumableSessions::MasterSecret> ResumableSessions::find(By by, Bytes id) {
  const auto k = key(by, id);
  if (!k) return std::nullopt;
  std::lock_guard lock(mu_);
  const auto it = secrets_.find(*k);
  if (it == secrets_.end()) return std::nullopt;
  touch(it->second);
  return it->second.master;
}

std::size_t ResumableSessions::size() const {
  std::lock_guard lock(mu_);
  return secrets_.size();
}

std::uint64_t ResumableSessions::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

std::optional<std::vector<Der>> parseTls13CertificateList(Bytes body, AnomalyCounters& anomalies) {
  ByteReader r(body);
  ByteReader context;
  ByteReader list;
  if (!r.readPrefixed8(context) || !r.readPrefixed24(list)) {
    anomalies.inc(PA_ANOMALY("tls13_certificate_malformed"));
    return std::nullopt;
  }
  std::vector<Der> certs;
  while (!list.empty()) {
    ByteReader cert;
    ByteReader extensions;
    if (!list.readPrefixed24(cert) || cert.empty() || !list.readPrefixed16(extensions)) {
      anomalies.inc(PA_ANOMALY("tls13_certificate_malformed"));
      if (certs.empty()) return std::nullopt;  // broken must never look like "no certificate"
      break;
    }
    const Bytes der = cert.rest();
    certs.emplace_back(der.begin(), der.end());
  }
  return certs;
}

std::vector<Der> parseTls13CertificateRequestCas(Bytes body, AnomalyCounters& anomalies) {
  std::vector<Der> names;
  ByteReader r(body);
  ByteReader context;
  ByteReader extensions;
  if (!r.readPrefixed8(context) || !r.readPrefixed16(extensions)) {
    anomalies.inc(PA_ANOMALY("tls13_certificate_request_malformed"));
    return names;
  }
  while (!extensions.empty()) {
    std::uint16_t type = 0;
    ByteReader data;
    if (!extensions.readU16(type) || !extensions.readPrefixed16(data)) {
      anomalies.inc(PA_ANOMALY("tls13_certificate_request_malformed"));
      break;
    }
    if (type != EXT_CERTIFICATE_AUTHORITIES) continue;
    ByteReader list;
    if (!data.readPrefixed16(list)) continue;
    while (!list.empty()) {
      ByteReader dn;
      if (!list.readPrefixed16(dn)) {
        anomalies.inc(PA_ANOMALY("tls13_certificate_request_malformed"));
        break;
      }
      const Bytes b = dn.rest();
      names.emplace_back(b.begin(), b.end());
    }
  }
  return names;
}

// ---------------------------------------------------------------------------

struct TlsDecryptSession::Impl {
  // One (re)negotiation: what its messages said, in clear or decrypted.
  struct Handshake {
    bool have_client_hello = false;
    bool have_server_hello = false;
    bool hello_retry = false;
    bool offers_tls13 = false;  // the ClientHello's supported_versions lists TLS 1.3
    std::vector<std::uint16_t> offered_tls13_suites;  // the ClientHello's TLS 1.3 suites we know, in SUITES order
    bool encrypted = false;  // its messages travel encrypted (a renegotiation)
    ClientRandom client_random{};
    std::array<std::uint8_t, 32> server_random{};
    std::uint16_t version = 0;
    std::uint16_t suite = 0;
    bool ems_offered = false;
    bool ems = false;  // RFC 7627 extended master secret negotiated
    bool etm_offered = false;
    bool etm = false;  // RFC 7366 encrypt-then-MAC negotiated
    bool cke_seen = false;
    bool transcript_overflow = false;
    std::vector<std::uint8_t> transcript;  // RFC 7627 §3 session_hash input: ClientHello .. ClientKeyExchange
    std::vector<std::uint8_t> server_part;  // server messages, appended to transcript at ClientKeyExchange
    std::vector<std::uint8_t> client_key_exchange;
    std::optional<Der> server_leaf;
    // RFC 7250 §4.2: what each side's Certificate carries, from the ServerHello
    // (TLS <= 1.2) or EncryptedExtensions (TLS 1.3).
    std::uint8_t client_certificate_type = TLS_CERT_TYPE_X509;
    std::uint8_t server_certificate_type = TLS_CERT_TYPE_X509;
    bool keys_derived = false;
    std::unique_ptr<RecordCipher> pending[2];
    // Resumption (RFC 5246 §7.4.1.2, RFC 5077 §3.1): what resumes a session
    // or names it for a later handshake to resume.
    std::vector<std::uint8_t> client_session_id;
    std::vector<std::uint8_t> session_id;                   // the ServerHello's
    bool resumes_session_id = false;                        // the ServerHello echoed the client's non-empty session ID
    std::optional<TicketDigest> offered_ticket;             // the ClientHello's session ticket
    std::optional<TicketDigest> issued_ticket;              // the server's NewSessionTicket
    std::optional<ResumableSessions::MasterSecret> master;  // once derived
  };
  struct Direction {
    std::array<std::uint8_t, RECORD_HEADER> header{};
    std::size_t header_len = 0;
    bool in_payload = false;
    std::size_t payload_left = 0;
    std::vector<std::uint8_t> record;
    std::vector<std::uint8_t> handshake;  // partial handshake message (plaintext)
    std::unique_ptr<RecordCipher> cipher;
    std::vector<std::uint8_t> tls13_secret;  // current traffic secret (KeyUpdate)
    bool first_byte_seen = false;
    bool pass_over = false;  // TLS 1.3 server after its handshake: nothing it sends is read
    bool tls13_finished = false;  // its TLS 1.3 handshake Finished was read: later messages are post-handshake
  };
  // The step that waits for a key the key log does not hold yet.
  enum class Awaited : std::uint8_t {
    None,
    MasterSecret,      // a TLS <= 1.2 ChangeCipherSpec (awaited_side's)
    Tls13Handshake,    // the handshake traffic secrets, after the ServerHello
    Tls13Application,  // awaited_side's application traffic secret, after its Finished
  };
  // A record that came while a key was awaited, in arrival order (both sides).
  struct HeldRecord {
    Side side;
    std::array<std::uint8_t, RECORD_HEADER> header;
    std::vector<std::uint8_t> payload;
  };

  Impl(TlsDecryptSession& s, std::shared_ptr<DecryptionKeys> k, AnomalyCounters& a, const Endpoint& srv)
      : session(s), keys(std::move(k)), anomalies(a), server(srv) {}

  TlsDecryptSession& session;
  std::shared_ptr<DecryptionKeys> keys;
  AnomalyCounters& anomalies;
  AnomalyCounters scratch;  // clear handshake messages: TlsConnection already counts their anomalies
  Endpoint server;
  Handshake hs;
  Direction dirs[2];
  bool tls13 = false;
  const SuiteInfo* tls13_suite = nullptr;
  std::vector<std::uint8_t>* client_out = nullptr;
  // RFC 8446 §2.3 0-RTT. Open from a ClientHello that offers early_data
  // (§4.2.10) until the client's early data ends: its EndOfEarlyData (§4.5),
  // or its first record that opens under its handshake key.
  bool early_open = false;
  std::optional<bool> early_accepted;  // the server's EncryptedExtensions answer (§4.2.10), once read
  std::unique_ptr<RecordCipher> early_cipher;  // client_early_traffic_secret's keys (§7.1, §7.3)
  bool early_key_tried = false;  // the key log was asked for it (once per connection)
  bool early_unread_counted = false;
  std::uint64_t early_skipped = 0;  // early record bytes skipped, against DECRYPT_MAX_EARLY_DATA_SKIPPED
  Awaited awaited = Awaited::None;
  Side awaited_side = Side::Client;
  AnomalyId awaited_why = 0;  // counted if the key never comes
  std::deque<HeldRecord> held;
  std::size_t held_bytes = 0;  // payload bytes in `held`

  Direction& dir(Side side) { return dirs[static_cast<int>(side)]; }

  void off(AnomalyId why) {
    if (session.state_ == State::Off) return;
    anomalies.inc(why);
    session.state_ = State::Off;
    awaited = Awaited::None;
    held.clear();
    held_bytes = 0;
  }
  bool isOff() const { return session.state_ == State::Off; }

  void feed(Side side, Bytes bytes) {
    Direction& d = dir(side);
    while (!bytes.empty() && !isOff()) {
      if (!d.first_byte_seen) {
        d.first_byte_seen = true;
        // RFC 5246 Appendix E.2 SSLv2-compatible hello: no transcript we can rebuild.
        if (side == Side::Client && (bytes[0] & 0x80) != 0) {
          off(PA_ANOMALY("decrypt_missing_handshake"));
          return;
        }
      }
      if (!d.in_payload) {
        const std::size_t n = std::min(RECORD_HEADER - d.header_len, bytes.size());
        std::copy_n(bytes.begin(), n, d.header.begin() + static_cast<std::ptrdiff_t>(d.header_len));
        d.header_len += n;
        bytes = bytes.subspan(n);
        if (d.header_len < RECORD_HEADER) return;
        d.header_len = 0;
        const std::uint8_t type = d.header[0];
        const std::size_t length = (static_cast<std::size_t>(d.header[3]) << 8) | d.header[4];
        if (!isContentType(type) || d.header[1] != 3 || length > TLS_MAX_RECORD) {
          off(PA_ANOMALY("tls_decrypt_record_malformed"));
          return;
        }
        d.in_payload = true;
        d.payload_left = length;
        d.record.clear();
      } else {
        const std::size_t n = std::min(d.payload_left, bytes.size());
        d.record.insert(d.record.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
        d.payload_left -= n;
        bytes = bytes.subspan(n);
      }
      if (d.in_payload && d.payload_left == 0) {
        d.in_payload = false;
        if (awaited != Awaited::None) {
          hold(side, d.header, d.record);
        } else {
          onRecord(side, d.header, d.record);
        }
      }
    }
  }

  // ---- keys logged late (DecryptionKeys::setAwaitLateKeys) ----

  // The key log has no key for `what` (yet). With late keys awaited, the
  // session is followed on and its records held until the key is logged;
  // else it stops here, counting `why`.
  void noKey(Awaited what, Side side, AnomalyId why) { noKey(what, side, why, keys->awaitsLateKeys()); }
  void noKey(Awaited what, Side side, AnomalyId why, bool may_come_late) {
    if (!may_come_late) {
      off(why);
      return;
    }
    awaited = what;
    awaited_side = side;
    awaited_why = why;
    session.state_ = State::Decrypting;
  }

  void hold(Side side, const std::array<std::uint8_t, RECORD_HEADER>& header, Bytes payload) {
    if (held.size() >= DECRYPT_MAX_RECORDS_AWAITING_KEY || held_bytes + payload.size() > DECRYPT_MAX_BYTES_AWAITING_KEY) {
      resumeIfKeyLogged();  // a last look before the wait ends
      if (awaited != Awaited::None) {
        off(awaited_why);  // the key never came
        return;
      }
      if (!isOff()) onRecord(side, header, payload);
      return;
    }
    held.push_back(HeldRecord{side, header, std::vector<std::uint8_t>(payload.begin(), payload.end())});
    held_bytes += payload.size();
    resumeIfKeyLogged();
  }

  // Looks for the awaited key again. Once it is logged, the step that waited
  // is taken and the held records are read in their order, as if the key had
  // been there all along, until one of them waits for the next key.
  void resumeIfKeyLogged() {
    while (awaited != Awaited::None && !isOff()) {
      const Awaited what = awaited;
      awaited = Awaited::None;
      switch (what) {
        case Awaited::MasterSecret:
          hs.keys_derived = false;
          onChangeCipherSpec(awaited_side);
          break;
        case Awaited::Tls13Handshake:
          installTls13HandshakeKeys();
          break;
        case Awaited::Tls13Application:
          switchToApplicationKeys(awaited_side);
          break;
        case Awaited::None:
          break;
      }
      if (awaited != Awaited::None) return;  // still not logged
      while (awaited == Awaited::None && !held.empty() && !isOff()) {
        HeldRecord r = std::move(held.front());
        held.pop_front();
        held_bytes -= r.payload.size();
        onRecord(r.side, r.header, r.payload);
      }
    }
  }

  void onRecord(Side side, const std::array<std::uint8_t, RECORD_HEADER>& record_header, Bytes payload) {
    Direction& d = dir(side);
    std::uint8_t type = record_header[0];
    const Bytes header(record_header);
    // RFC 8446 §5: a TLS 1.3 ChangeCipherSpec is never protected and changes nothing.
    if (tls13 && static_cast<ContentType>(type) == ContentType::ChangeCipherSpec) return;
    // RFC 8446 §5.1: protected records travel as application_data; the
    // client's, while its 0-RTT data may still be coming, are read apart.
    if (side == Side::Client && early_open && static_cast<ContentType>(type) == ContentType::ApplicationData) {
      onEarlyRecord(type, header, payload);
      return;
    }
    if (!d.cipher) {
      switch (static_cast<ContentType>(type)) {
        case ContentType::ChangeCipherSpec:
          if (!tls13 && !isCompatibilityCcs()) onChangeCipherSpec(side);
          return;
        case ContentType::Handshake:
          onHandshakeBytes(side, payload, false);
          return;
        case ContentType::ApplicationData:
          // Protected data without the handshake that keyed it.
          if (session.state_ == State::Waiting) off(PA_ANOMALY("decrypt_missing_handshake"));
          return;
        default:
          return;
      }
    }
    // The server's application data carries nothing we audit: its records
    // are passed over (their sequence numbers kept), not decrypted. TLS 1.3
    // hides the type: there, all the server sends after its handshake.
    if (side == Side::Server &&
        (d.pass_over || (!tls13 && static_cast<ContentType>(type) == ContentType::ApplicationData)) &&
        d.cipher->passOver(payload)) {
      return;
    }
    session.work_bytes_ += payload.size();
    if (session.work_bytes_ > DECRYPT_MAX_WORK_BYTES_PER_FLOW) {
      off(PA_ANOMALY("tls_decrypt_flow_limit"));
      return;
    }
    std::vector<std::uint8_t> plain;
    if (!d.cipher->open(type, header, payload, plain)) {
      off(PA_ANOMALY("tls_decrypt_bad_record_mac"));
      return;
    }
    onOpened(side, type, plain, tls13);
  }

  // What a record opened to. `inner`: a TLS 1.3 record, whose real type
  // trails its content.
  void onOpened(Side side, std::uint8_t type, std::vector<std::uint8_t>& plain, bool inner) {
    if (inner) {
      // RFC 8446 §5.2 TLSInnerPlaintext: content, real type, zero padding.
      while (!plain.empty() && plain.back() == 0) plain.pop_back();
      if (plain.empty()) {
        off(PA_ANOMALY("tls_decrypt_record_malformed"));
        return;
      }
      type = plain.back();
      plain.pop_back();
    }
    session.plaintext_bytes_ += plain.size();
    if (static_cast<ContentType>(type) == ContentType::Handshake) {
      session.budget_used_ += plain.size();
    } else if (static_cast<ContentType>(type) == ContentType::ApplicationData && side == Side::Client) {
      session.client_unsettled_ += plain.size();  // the caller says what was request body (passOver)
    }
    if (session.budget_used_ > DECRYPT_MAX_BYTES_PER_FLOW) {
      off(PA_ANOMALY("tls_decrypt_flow_limit"));
      return;
    }
    switch (static_cast<ContentType>(type)) {
      case ContentType::Handshake:
        onHandshakeBytes(side, plain, true);
        break;
      case ContentType::ApplicationData:
        if (side == Side::Client && client_out != nullptr) client_out->insert(client_out->end(), plain.begin(), plain.end());
        break;
      case ContentType::ChangeCipherSpec:
        if (!tls13) onChangeCipherSpec(side);  // a renegotiation's, under the old keys
        break;
      case ContentType::Alert:
      default:
        break;
    }
  }

  // ---- TLS 1.3 early data (RFC 8446 §2.3, §4.2.10) ----

  // A client application_data record while its 0-RTT data may be coming.
  // Before the ServerHello it can only be early data. After it (the
  // handshake keys installed), as the server does (§4.2.10): a server that
  // accepted reads early data until the client's EndOfEarlyData; one that
  // refused skips "past early data by attempting to deprotect received
  // records using the handshake traffic key, discarding records which fail
  // deprotection", and so do we. Whether the server accepted is known once
  // its EncryptedExtensions is read; until then a record that does not open
  // under the handshake key is taken for early data too. Early data the
  // device sent is read as its other requests when the key log holds
  // client_early_traffic_secret; else it is skipped, counted
  // (decrypt_early_data_no_key), and the handshake and what follows it are
  // read as ever.
  void onEarlyRecord(std::uint8_t type, const Bytes header, Bytes payload) {
    Direction& d = dir(Side::Client);
    session.work_bytes_ += payload.size();
    if (session.work_bytes_ > DECRYPT_MAX_WORK_BYTES_PER_FLOW) {
      off(PA_ANOMALY("tls_decrypt_flow_limit"));
      return;
    }
    std::vector<std::uint8_t> plain;
    const bool reading_early = early_accepted == true && early_cipher;
    // A failed open changes no cipher state (the nonce is rebuilt for each
    // record, the sequence number advances only on success): trying is free.
    if (d.cipher && !reading_early && d.cipher->open(type, header, payload, plain)) {
      early_open = false;  // the client's handshake flight: early data is over
      onOpened(Side::Client, type, plain, true);
      return;
    }
    if (early_accepted != false && openEarly(type, header, payload, plain)) {
      if (session.state_ == State::Waiting) session.state_ = State::Decrypting;
      onOpened(Side::Client, type, plain, true);  // an EndOfEarlyData in it closes early_open
      return;
    }
    if (reading_early) {
      // The server reads these records with this key (§4.2.10): one that
      // does not open is damaged, as any record that fails.
      off(PA_ANOMALY("tls_decrypt_bad_record_mac"));
      return;
    }
    // Skipped: refused early data (the server skipped it too), or early data
    // without its key. Bounded as the server bounds it (max_early_data_size,
    // §4.2.10): past the bound a record that does not open is a bad one.
    early_skipped += payload.size();
    if (early_skipped > DECRYPT_MAX_EARLY_DATA_SKIPPED) {
      off(PA_ANOMALY("tls_decrypt_bad_record_mac"));
      return;
    }
    if (early_accepted != false && !early_unread_counted) {
      early_unread_counted = true;
      anomalies.inc(PA_ANOMALY("decrypt_early_data_no_key"));
    }
  }

  // Opens a 0-RTT record under client_early_traffic_secret (RFC 8446 §7.1,
  // keys per §7.3). Early data is protected with the suite of the PSK it
  // resumes (§4.2.10), which the ClientHello does not name and the
  // ServerHello may not have said yet: the first early record is tried under
  // each TLS 1.3 suite the client offered (at most five); the one whose tag
  // checks is kept.
  bool openEarly(std::uint8_t type, Bytes header, Bytes payload, std::vector<std::uint8_t>& plain) {
    if (early_cipher) return early_cipher->open(type, header, payload, plain);
    if (early_key_tried) return false;
    early_key_tried = true;
    const auto secret = keys->keylog().find(KeyLogLabel::ClientEarlyTrafficSecret, hs.client_random);
    if (!secret) return false;
    for (const std::uint16_t id : hs.offered_tls13_suites) {
      const SuiteInfo* suite = findSuite(id);
      if (suite == nullptr) continue;
      auto cipher = tls13Cipher(*suite, *secret);
      if (cipher && cipher->open(type, header, payload, plain)) {
        early_cipher = std::move(cipher);
        return true;
      }
    }
    return false;
  }

  void onHandshakeBytes(Side side, Bytes bytes, bool decrypted) {
    Direction& d = dir(side);
    d.handshake.insert(d.handshake.end(), bytes.begin(), bytes.end());
    std::size_t used = 0;
    while (!isOff()) {
      ByteReader r(Bytes(d.handshake).subspan(used));
      std::uint8_t type = 0;
      std::uint32_t length = 0;
      if (!r.readU8(type) || !r.readU24(length)) break;
      if (length > TLS_MAX_HANDSHAKE_MESSAGE) {
        off(PA_ANOMALY("decrypt_missing_handshake"));
        return;
      }
      Bytes body;
      if (!r.readBytes(length, body)) break;
      const Bytes message = Bytes(d.handshake).subspan(used, HANDSHAKE_HEADER + length);
      onHandshakeMessage(side, type, message, body, decrypted);
      used += HANDSHAKE_HEADER + length;
    }
    if (isOff()) return;
    d.handshake.erase(d.handshake.begin(), d.handshake.begin() + static_cast<std::ptrdiff_t>(used));
  }

  void appendTranscript(std::vector<std::uint8_t>& part, Bytes message) {
    if (hs.transcript.size() + hs.server_part.size() + message.size() > DECRYPT_MAX_TRANSCRIPT) {
      hs.transcript_overflow = true;
      return;
    }
    part.insert(part.end(), message.begin(), message.end());
  }

  void onHandshakeMessage(Side side, std::uint8_t type, Bytes message, Bytes body, bool decrypted) {
    AnomalyCounters& counters = decrypted ? anomalies : scratch;
    switch (static_cast<HandshakeType>(type)) {
      case HandshakeType::HelloRequest:
        return;  // RFC 5246 §7.4.1.1: not part of the handshake hashes
      case HandshakeType::NewSessionTicket:
        // RFC 5077 §3.3: the ticket a later ClientHello offers to resume this
        // session (TLS 1.3's tickets, after the handshake, are not read).
        if (side == Side::Server && !tls13) {
          hs.issued_ticket = ticketDigest(parseNewSessionTicket(body, counters).ticket);
          rememberSession();
        }
        return;
      case HandshakeType::ClientHello: {
        if (side != Side::Client) return;
        if (hs.have_client_hello && !hs.hello_retry) {
          // A new handshake on an established connection (RFC 5246 §7.4.1.2).
          hs = Handshake{};
          hs.encrypted = decrypted;
          if (decrypted) session.revealed_.renegotiated = true;
        }
        const ClientHello ch = parseClientHello(body, counters);
        if (!hs.have_client_hello) {
          hs.client_random = ch.random;
          hs.client_session_id = ch.session_id;
          hs.offered_ticket = ticketDigest(ch.session_ticket);
          hs.ems_offered = hasExtension(ch.extensions, EXT_EXTENDED_MASTER_SECRET);
          hs.etm_offered = hasExtension(ch.extensions, EXT_ENCRYPT_THEN_MAC);
          hs.offers_tls13 = std::any_of(ch.supported_versions.begin(), ch.supported_versions.end(), isTls13);
          for (const SuiteInfo& suite : SUITES) {
            if (suite.kx == KeyExchange::Tls13 &&
                std::find(ch.cipher_suites.begin(), ch.cipher_suites.end(), suite.id) != ch.cipher_suites.end()) {
              hs.offered_tls13_suites.push_back(suite.id);
            }
          }
          // RFC 8446 §4.2.10: early_data in the ClientHello: its 0-RTT
          // records may follow at once, before the server's answer.
          early_open = hs.offers_tls13 && !decrypted && hasExtension(ch.extensions, EXT_EARLY_DATA);
          appendTranscript(hs.transcript, message);
        } else {
          // RFC 8446 §4.1.2: the ClientHello after a HelloRetryRequest offers
          // no early data; the server refused what came before it (§4.2.10),
          // and nothing after it is early data.
          early_open = false;
        }
        hs.have_client_hello = true;
        return;
      }
      case HandshakeType::ServerHello: {
        if (side != Side::Server) return;
        const ServerHello sh = parseServerHello(body, counters);
        if (sh.hello_retry_request) {
          hs.hello_retry = true;
          return;
        }
        hs.have_server_hello = true;
        hs.server_random = sh.random;
        hs.version = sh.selected_version;
        hs.suite = sh.cipher_suite;
        hs.session_id = sh.session_id;
        hs.resumes_session_id = !sh.session_id.empty() && sh.session_id == hs.client_session_id;
        hs.ems = hs.ems_offered && hasExtension(sh.extensions, EXT_EXTENDED_MASTER_SECRET);
        hs.etm = hs.etm_offered && hasExtension(sh.extensions, EXT_ENCRYPT_THEN_MAC);
        hs.client_certificate_type = sh.client_certificate_type;
        hs.server_certificate_type = sh.server_certificate_type;
        appendTranscript(hs.server_part, message);
        if (isTls13(sh.selected_version)) {
          startTls13();
        } else {
          early_open = false;  // RFC 8446 §4.2.10: early data is TLS 1.3's; this server reads none
        }
        return;
      }
      case HandshakeType::Certificate: {
        // RFC 7250 §3: a raw public key is one SubjectPublicKeyInfo; TLS 1.3
        // wraps it in a CertificateEntry as it would a certificate.
        const bool raw = (side == Side::Server ? hs.server_certificate_type : hs.client_certificate_type) ==
                         TLS_CERT_TYPE_RAW_PUBLIC_KEY;
        auto certs = tls13 ? parseTls13CertificateList(body, counters)
                     : raw ? parseRawPublicKeyCertificate(body, counters)
                           : parseCertificateList(body, counters);
        if (!hs.cke_seen) appendTranscript(side == Side::Server ? hs.server_part : hs.transcript, message);
        if (side == Side::Server) {
          if (certs && !certs->empty() && !raw) hs.server_leaf = certs->front();
          if (decrypted && certs) {
            session.revealed_.server_certificates = std::move(certs);
            session.revealed_.server_raw_public_key = raw;
          }
        } else if (decrypted && certs) {
          session.revealed_.client_certificates = std::move(certs);
          session.revealed_.client_raw_public_key = raw;
          if (tls13 && dir(side).tls13_finished) {
            // RFC 8446 §4.6.2: sent only in answer to the server's CertificateRequest.
            session.revealed_.post_handshake_auth = true;
            session.revealed_.certificate_requested = true;
          }
        }
        return;
      }
      case HandshakeType::CertificateRequest:
        if (!hs.cke_seen) appendTranscript(hs.server_part, message);
        if (decrypted && side == Side::Server) {
          session.revealed_.certificate_requested = true;
          session.revealed_.requested_ca_names =
              tls13 ? parseTls13CertificateRequestCas(body, counters)
                    : parseCertificateRequest(body, hs.version, counters).ca_names;
        }
        return;
      case HandshakeType::ClientKeyExchange:
        if (side != Side::Client || hs.cke_seen) return;
        appendTranscript(hs.transcript, message);
        hs.client_key_exchange.assign(body.begin(), body.end());
        hs.cke_seen = true;
        // RFC 7627 §3: the hash covers ClientHello up to and including ClientKeyExchange.
        {
          std::vector<std::uint8_t> full(hs.transcript.begin(), hs.transcript.begin() + static_cast<std::ptrdiff_t>(
                                                                                           messageLength(hs.transcript)));
          full.insert(full.end(), hs.server_part.begin(), hs.server_part.end());
          full.insert(full.end(), hs.transcript.begin() + static_cast<std::ptrdiff_t>(messageLength(hs.transcript)),
                      hs.transcript.end());
          hs.transcript = std::move(full);
          hs.server_part.clear();
        }
        return;
      case HandshakeType::Finished:
        if (tls13 && decrypted) {
          // RFC 8446 §4.6.2: the Finished closing a post-handshake
          // authentication changes no keys (only KeyUpdate does, §4.6.3).
          if (dir(side).tls13_finished) return;
          dir(side).tls13_finished = true;
          switchToApplicationKeys(side);
          if (side == Side::Client) session.revealed_.handshake_complete = true;
        } else if (decrypted && side == Side::Client && hs.encrypted) {
          session.revealed_.handshake_complete = true;
        }
        return;
      default:
        if (type == HS_KEY_UPDATE && tls13 && decrypted) keyUpdate(side);
        if (type == static_cast<std::uint8_t>(HandshakeType::EncryptedExtensions) && tls13 && decrypted &&
            side == Side::Server) {
          // RFC 8446 §4.3.1: TLS 1.3 negotiates the certificate types here,
          // and the server says whether it accepted the client's early data
          // (§4.2.10: early_data in its EncryptedExtensions).
          const EncryptedExtensions ee = parseEncryptedExtensions(body, counters);
          hs.client_certificate_type = ee.client_certificate_type;
          hs.server_certificate_type = ee.server_certificate_type;
          early_accepted = hasExtension(ee.extensions, EXT_EARLY_DATA);
        }
        // RFC 8446 §4.5: the client's last early record; its handshake keys follow.
        if (type == HS_END_OF_EARLY_DATA && tls13 && decrypted && side == Side::Client) early_open = false;
        if (!hs.cke_seen && !tls13) appendTranscript(side == Side::Server ? hs.server_part : hs.transcript, message);
        return;
    }
  }

  // Length of the first handshake message in `t` (the ClientHello).
  static std::size_t messageLength(const std::vector<std::uint8_t>& t) {
    if (t.size() < HANDSHAKE_HEADER) return t.size();
    const std::size_t n = HANDSHAKE_HEADER + ((static_cast<std::size_t>(t[1]) << 16) | (static_cast<std::size_t>(t[2]) << 8) | t[3]);
    return std::min(n, t.size());
  }

  // ---- TLS 1.3 (RFC 8446 §7.1: secrets from the key log) ----
  void startTls13() {
    tls13 = true;
    tls13_suite = findSuite(hs.suite);
    if (tls13_suite == nullptr || tls13_suite->kx != KeyExchange::Tls13) {
      off(PA_ANOMALY("decrypt_unsupported_suite"));
      return;
    }
    installTls13HandshakeKeys();
  }

  void installTls13HandshakeKeys() {
    auto chts = keys->keylog().find(KeyLogLabel::ClientHandshakeTrafficSecret, hs.client_random);
    auto shts = keys->keylog().find(KeyLogLabel::ServerHandshakeTrafficSecret, hs.client_random);
    if (!chts || !shts) {
      noKey(Awaited::Tls13Handshake, Side::Server, whyNoSecret(*tls13_suite));
      return;
    }
    if (!install13(Side::Client, *chts) || !install13(Side::Server, *shts)) return;
    session.state_ = State::Decrypting;
  }

  bool install13(Side side, const std::vector<std::uint8_t>& secret) {
    Direction& d = dir(side);
    d.cipher = tls13Cipher(*tls13_suite, secret);
    d.tls13_secret = secret;
    if (!d.cipher) {
      off(PA_ANOMALY("decrypt_unsupported_suite"));
      return false;
    }
    return true;
  }

  void switchToApplicationKeys(Side side) {
    const auto label = side == Side::Client ? KeyLogLabel::ClientTrafficSecret0 : KeyLogLabel::ServerTrafficSecret0;
    auto secret = keys->keylog().find(label, hs.client_random);
    if (!secret) {
      noKey(Awaited::Tls13Application, side, PA_ANOMALY("decrypt_no_key"));
      return;
    }
    if (install13(side, *secret) && side == Side::Server) dir(side).pass_over = true;
  }

  void keyUpdate(Side side) {
    Direction& d = dir(side);
    // RFC 8446 §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length).
    std::vector<std::uint8_t> next(d.tls13_secret.size());
    if (!hkdfExpandLabel(tls13_suite->prf, d.tls13_secret, "traffic upd", {}, next)) {
      off(PA_ANOMALY("decrypt_unsupported_suite"));
      return;
    }
    install13(side, next);
  }

  // RFC 8446 §5 and Appendix D.4: a client offering TLS 1.3 and its server
  // may send a ChangeCipherSpec for middlebox compatibility before the
  // ServerHello that settles the version: around a HelloRetryRequest, or a
  // client's first. It switches nothing (tls13 is set only at that
  // ServerHello; a TLS <= 1.2 ChangeCipherSpec always comes after it).
  // TlsConnection::isCompatibilityCcs() reads the clear handshake the same way.
  [[nodiscard]] bool isCompatibilityCcs() const {
    return hs.have_client_hello && hs.offers_tls13 && !hs.have_server_hello && !hs.cke_seen;
  }

  // ---- TLS 1.0-1.2 ----
  void onChangeCipherSpec(Side side) {
    if (!hs.keys_derived && !deriveKeys(side)) return;
    Direction& d = dir(side);
    d.cipher = std::move(hs.pending[static_cast<int>(side)]);
    if (!d.cipher) {
      off(PA_ANOMALY("decrypt_missing_handshake"));
      return;
    }
    session.state_ = State::Decrypting;
  }

  // Whether an --rsa-key given could be this server's: one bound to its
  // address, or one bound to none (an abbreviated handshake shows no
  // certificate to match an unbound key against).
  [[nodiscard]] bool rsaKeyMayApply() const {
    return std::any_of(keys->rsaKeys().begin(), keys->rsaKeys().end(),
                       [&](const RsaServerKey& k) { return !k.server || *k.server == server; });
  }

  std::optional<std::vector<std::uint8_t>> rsaPremaster(const SuiteInfo& suite) {
    ByteReader r(hs.client_key_exchange);
    // RFC 5246 §7.4.7.1: TLS (not SSL 3.0) prefixes the EncryptedPreMasterSecret with its length.
    ByteReader encrypted;
    if (hs.version < TLS_VERSION_1_0 || !r.readPrefixed16(encrypted)) return std::nullopt;
    (void)suite;
    const Bytes ct = encrypted.rest();
    std::vector<const RsaServerKey*> candidates;
    for (const auto& k : keys->rsaKeys()) {
      if (k.server && *k.server == server) candidates.push_back(&k);
    }
    for (const auto& k : keys->rsaKeys()) {
      if (k.server) continue;
      bool matches = !hs.server_leaf;  // no certificate seen: try every unbound key
      if (hs.server_leaf) {
        const unsigned char* p = hs.server_leaf->data();
        X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(hs.server_leaf->size())));
        EVP_PKEY* pub = cert ? X509_get0_pubkey(cert.get()) : nullptr;  // owned by cert
        matches = pub != nullptr && EVP_PKEY_eq(k.key.get(), pub) == 1;
      }
      if (matches) candidates.push_back(&k);
    }
    for (const RsaServerKey* k : candidates) {
      EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(k->key.get(), nullptr));
      if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
          EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) {
        continue;
      }
      std::size_t len = 0;
      if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, ct.data(), ct.size()) != 1) continue;
      std::vector<std::uint8_t> premaster(len);
      if (EVP_PKEY_decrypt(ctx.get(), premaster.data(), &len, ct.data(), ct.size()) != 1) continue;
      premaster.resize(len);
      if (premaster.size() == PREMASTER_SECRET) return premaster;
    }
    return std::nullopt;
  }

  // ---- resumption (RFC 5246 §7.4.1.2, RFC 5077 §3.1) ----

  // Keeps this handshake's master secret, once known, under its session ID
  // and the ticket issued for it, for the handshakes that resume it.
  void rememberSession() {
    if (!hs.master) return;
    ResumableSessions& sessions = keys->sessions();
    std::uint64_t evicted = 0;
    using By = ResumableSessions::By;
    if (!hs.session_id.empty()) evicted += sessions.remember(By::SessionId, hs.session_id, *hs.master);
    if (hs.issued_ticket) evicted += sessions.remember(By::Ticket, *hs.issued_ticket, *hs.master);
    if (evicted > 0) anomalies.inc(PA_ANOMALY("decrypt_session_cache_evict"), evicted);
  }

  // The master secret of the session an abbreviated handshake resumes: by the
  // session ID its ServerHello echoed, else by the ticket its ClientHello
  // offered (RFC 5077 §3.4: a client resuming with a ticket may send any
  // session ID, OpenSSL the ticket's hash).
  [[nodiscard]] std::optional<ResumableSessions::MasterSecret> resumedMaster() const {
    std::optional<ResumableSessions::MasterSecret> m;
    if (hs.resumes_session_id) m = keys->sessions().find(ResumableSessions::By::SessionId, hs.session_id);
    if (!m && hs.offered_ticket) m = keys->sessions().find(ResumableSessions::By::Ticket, *hs.offered_ticket);
    return m;
  }

  // Why a session with `suite` has no secret: none in the key log, and no
  // --rsa-key that could give it (an ephemeral key exchange, TLS 1.3's
  // included; a pre-shared key, which the server's RSA key does not reveal,
  // RSA_PSK's included: RFC 4279 §4), or no key at all.
  [[nodiscard]] AnomalyId whyNoSecret(const SuiteInfo& suite) const {
    if (keys->rsaKeys().empty()) return PA_ANOMALY("decrypt_no_key");
    switch (suite.kx) {
      case KeyExchange::Psk:
        return PA_ANOMALY("decrypt_psk_with_rsa_key_only");
      case KeyExchange::Ephemeral:
      case KeyExchange::Tls13:
        return PA_ANOMALY("decrypt_dhe_with_rsa_key_only");
      case KeyExchange::Rsa:
        break;
    }
    return PA_ANOMALY("decrypt_no_key");
  }

  // `ccs_side` sent the ChangeCipherSpec that needs the keys.
  bool deriveKeys(Side ccs_side) {
    hs.keys_derived = true;  // one attempt per handshake (and per look at a key log that was behind)
    if (!hs.have_client_hello || !hs.have_server_hello) {
      off(PA_ANOMALY("decrypt_missing_handshake"));
      return false;
    }
    const SuiteInfo* suite = findSuite(hs.suite);
    if (suite == nullptr || suite->kx == KeyExchange::Tls13 || hs.version < TLS_VERSION_1_0 ||
        (suite->legacy && !loadLegacyProvider())) {
      off(PA_ANOMALY("decrypt_unsupported_suite"));
      return false;
    }
    const bool tls12 = hs.version >= TLS_VERSION_1_2;
    const char* prf = tls12 ? suite->prf : PRF_TLS10;
    std::vector<std::uint8_t> master;
    // No ClientKeyExchange before the ChangeCipherSpec, and a session offered to resume.
    const bool abbreviated = !hs.cke_seen && (hs.resumes_session_id || hs.offered_ticket);
    const auto resumed = abbreviated ? resumedMaster() : std::nullopt;
    if (auto logged = keys->keylog().find(KeyLogLabel::ClientRandom, hs.client_random)) {
      master = std::move(*logged);
    } else if (resumed) {
      master.assign(resumed->begin(), resumed->end());
    } else if (abbreviated && suite->kx == KeyExchange::Rsa && !keys->rsaKeys().empty() && !rsaKeyMayApply()) {
      // Every --rsa-key given is another server's (IP:PORT=): as its full
      // handshake would be, this one is counted for want of a key.
      off(PA_ANOMALY("decrypt_no_key"));
      return false;
    } else if (abbreviated && suite->kx == KeyExchange::Rsa && !keys->rsaKeys().empty()) {
      // An abbreviated handshake has no key exchange to decrypt, and the
      // session it resumes was not decrypted before it: its full handshake
      // came later in the capture, before it began, or was evicted.
      noKey(Awaited::MasterSecret, ccs_side, PA_ANOMALY("decrypt_resumed_session_unknown"),
            keys->awaitsLateKeys() || keys->awaitsLateSessions());
      return false;
    } else if (suite->kx == KeyExchange::Rsa && !keys->rsaKeys().empty()) {
      if (!hs.cke_seen || (hs.ems && hs.transcript_overflow)) {
        off(PA_ANOMALY("decrypt_missing_handshake"));
        return false;
      }
      const auto premaster = rsaPremaster(*suite);
      if (!premaster) {
        off(PA_ANOMALY("decrypt_no_key"));
        return false;
      }
      master.resize(MASTER_SECRET);
      bool ok = false;
      if (hs.ems) {
        // RFC 7627 §4: master_secret = PRF(pre_master_secret, "extended master secret", session_hash).
        std::vector<std::uint8_t> session_hash(EVP_MAX_MD_SIZE * 2);
        std::size_t n = 0;
        if (tls12) {
          ok = EVP_Q_digest(nullptr, prf, nullptr, hs.transcript.data(), hs.transcript.size(), session_hash.data(),
                            &n) == 1;
        } else {
          // TLS 1.0/1.1: MD5(handshake_messages) + SHA1(handshake_messages).
          std::size_t m = 0;
          ok = EVP_Q_digest(nullptr, "MD5", nullptr, hs.transcript.data(), hs.transcript.size(), session_hash.data(),
                            &n) == 1 &&
               EVP_Q_digest(nullptr, "SHA1", nullptr, hs.transcript.data(), hs.transcript.size(),
                            session_hash.data() + n, &m) == 1;
          n += m;
        }
        session_hash.resize(n);
        ok = ok && tlsPrf(prf, *premaster, "extended master secret", session_hash, master);
      } else {
        // RFC 5246 §8.1: PRF(pre_master_secret, "master secret", ClientHello.random + ServerHello.random).
        std::vector<std::uint8_t> seed(hs.client_random.begin(), hs.client_random.end());
        seed.insert(seed.end(), hs.server_random.begin(), hs.server_random.end());
        ok = tlsPrf(prf, *premaster, "master secret", seed, master);
      }
      if (!ok) {
        off(PA_ANOMALY("decrypt_unsupported_suite"));
        return false;
      }
    } else {
      noKey(Awaited::MasterSecret, ccs_side, whyNoSecret(*suite));
      return false;
    }
    if (master.size() == MASTER_SECRET) {
      hs.master.emplace();
      std::copy(master.begin(), master.end(), hs.master->begin());
      rememberSession();
    }
    // RFC 5246 §6.3: key_block = PRF(master, "key expansion", server_random + client_random):
    // client MAC key, server MAC key, client key, server key, client IV, server IV.
    const std::size_t iv_len = suite->kind == CipherKind::Cbc ? (hs.version < TLS_VERSION_1_1 ? suite->iv_len : 0)
                                                              : suite->iv_len;
    const std::size_t total = 2 * (suite->mac_len + suite->key_len + iv_len);
    std::vector<std::uint8_t> block(total);
    std::vector<std::uint8_t> seed(hs.server_random.begin(), hs.server_random.end());
    seed.insert(seed.end(), hs.client_random.begin(), hs.client_random.end());
    if (!tlsPrf(prf, master, "key expansion", seed, block)) {
      off(PA_ANOMALY("decrypt_unsupported_suite"));
      return false;
    }
    const Bytes kb(block);
    std::size_t at = 0;
    const auto take = [&](std::size_t n) {
      const Bytes b = kb.subspan(at, n);
      at += n;
      return b;
    };
    const Bytes client_mac = take(suite->mac_len);
    const Bytes server_mac = take(suite->mac_len);
    const Bytes client_key = take(suite->key_len);
    const Bytes server_key = take(suite->key_len);
    const Bytes client_iv = take(iv_len);
    const Bytes server_iv = take(iv_len);
    // RFC 7366 §3: encrypt-then-MAC applies to block ciphers only.
    const bool etm = hs.etm && suite->kind == CipherKind::Cbc;
    auto client = std::make_unique<RecordCipher>(*suite, hs.version, false, etm);
    auto srv = std::make_unique<RecordCipher>(*suite, hs.version, false, etm);
    if (!client->init(client_key, client_iv, client_mac) || !srv->init(server_key, server_iv, server_mac)) {
      off(PA_ANOMALY("decrypt_unsupported_suite"));
      return false;
    }
    hs.pending[static_cast<int>(Side::Client)] = std::move(client);
    hs.pending[static_cast<int>(Side::Server)] = std::move(srv);
    return true;
  }
};

TlsDecryptSession::TlsDecryptSession(std::shared_ptr<DecryptionKeys> keys, AnomalyCounters& anomalies,
                                     const Endpoint& server)
    : impl_(std::make_unique<Impl>(*this, std::move(keys), anomalies, server)) {}

TlsDecryptSession::~TlsDecryptSession() {
  // The flow ended (closed, timed out, evicted) while its key was awaited:
  // it never came. The counters outlive the flow's analyzers.
  if (impl_ && impl_->awaited != Impl::Awaited::None) impl_->off(impl_->awaited_why);
}

std::size_t TlsDecryptSession::heldBytes() const {
  std::size_t n = 0;
  if (impl_) {
    const Impl::Handshake& hs = impl_->hs;
    n += hs.transcript.capacity() + hs.server_part.capacity() + hs.client_key_exchange.capacity();
    if (hs.server_leaf) n += hs.server_leaf->size();
    for (const Impl::Direction& d : impl_->dirs) n += d.record.capacity() + d.handshake.capacity();
    for (const Impl::HeldRecord& r : impl_->held) n += sizeof r + r.payload.capacity();
  }
  for (const Der& der : revealed_.requested_ca_names) n += der.size();
  for (const auto* certs : {&revealed_.client_certificates, &revealed_.server_certificates}) {
    if (!*certs) continue;
    for (const Der& der : **certs) n += der.size();
  }
  return n;
}

TlsDecryptSession::State TlsDecryptSession::feed(Side side, Bytes bytes, std::vector<std::uint8_t>& client_data) {
  if (state_ == State::Off) return state_;
  passOver(0);  // the last feed's client data, none of it said to be a body
  if (budget_used_ > DECRYPT_MAX_BYTES_PER_FLOW) {
    impl_->off(PA_ANOMALY("tls_decrypt_flow_limit"));
    return state_;
  }
  impl_->client_out = &client_data;
  impl_->feed(side, bytes);
  impl_->client_out = nullptr;
  return state_;
}

void TlsDecryptSession::passOver(std::uint64_t n) {
  budget_used_ += client_unsettled_;
  client_unsettled_ = 0;
  budget_used_ -= std::min(n, budget_used_);
}

TlsDecryptSession::State TlsDecryptSession::gap(Side /*side*/, std::uint64_t missing) {
  if (missing == 0 || state_ == State::Off) return state_;
  // Record boundaries, sequence numbers and CBC/RC4 state are lost with the
  // bytes. A session still waiting for its key had none: that is why it stops.
  if (impl_->awaited != Impl::Awaited::None) {
    impl_->off(impl_->awaited_why);
  } else {
    impl_->off(state_ == State::Waiting ? PA_ANOMALY("decrypt_missing_handshake") : PA_ANOMALY("tls_decrypt_gap"));
  }
  return state_;
}

}  // namespace provaudit::analyze
