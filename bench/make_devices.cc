// make_devices: a synthetic fleet in a provaudit database, for the dashboard
// benchmark (issue 4: "1 M devices, dashboard API p95 < 100 ms"; bench/api).
//
//   make_devices --db FILE [--devices 1000000] [--sites 150] [--seed 1] [--batch 50000]
//   make_devices --db FILE --upgrade     # only bring an existing file to this schema (timed)
//
// Devices are written through the store's real write path, so the schema, the
// indexes and the search index are what a replay produces: the sightings with
// Database::addTls/addHttp, the derived devices, servers and findings with
// Database::replaceAudit and a synthetic analyze::AuditResult. The fleet is
// written in batches (one transaction each) to keep memory flat: the first
// batch is a full audit; each later one is an incremental audit whose
// `written` memory names the devices of that batch only (with stale hashes),
// so replaceAudit adds the batch and keeps the devices already stored (the
// servers, being few, are in every batch). Naming all of them keeps the write
// incremental: a `written` much smaller than the audit means a bulk rewrite.
//
// The fleet: ~20 vendor/model families (Cisco SPA and MPP, Yealink, Poly,
// Grandstream, Snom, Fanvil, Avaya, Mitel, AudioCodes, Gigaset, Obihai, Htek,
// some without a vendor), one MAC per device from the vendor's OUI, unique IPv4
// addresses (some IPv6), serials, certificate subjects in each vendor's style
// (individual, Cisco's generic one, none), User-Agents, identity classes in
// the proportions of a real site (about half individualized), findings of
// every code with common and rare ones (cert-clone, ccert-mismatch, ...), and
// sites × (HTTPS + HTTP) provisioning servers with a Zipf-like share of the
// devices each. A few devices are chatty (1500 sightings: the device page caps
// its list at 1000).
//
// Output on stdout: what was written, the time it took and the file size.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analyze/audit.h"
#include "analyze/observation.h"
#include "common/anomaly.h"
#include "common/net_types.h"
#include "store/database.h"
#include "store/sqlite_util.h"

#include "rng.h"

namespace fs = std::filesystem;
using namespace provaudit;
using analyze::CertInfo;
using analyze::CertPtr;
using analyze::DeviceRecord;
using analyze::Finding;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "make_devices: %s\n", msg.c_str());
  std::exit(1);
}

using provaudit::bench::Rng;

std::string hex(std::uint64_t v, int digits, bool upper = false) {
  static constexpr char LO[] = "0123456789abcdef";
  static constexpr char UP[] = "0123456789ABCDEF";
  std::string out(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = (upper ? UP : LO)[v & 15];
    v >>= 4;
  }
  return out;
}

std::string randomHex(Rng& rng, int digits) {
  std::string out;
  while (static_cast<int>(out.size()) < digits) out += hex(rng.next(), 16);
  return out.substr(0, static_cast<std::size_t>(digits));
}

// ---------------------------------------------------------------- the fleet's models

enum class Style { CiscoSpa, CiscoMpp, Yealink, Poly, Grandstream, Snom, Generic };

struct Model {
  const char* vendor;  // nullptr: no rule names a vendor
  const char* model;
  std::uint32_t oui;
  Style style;
  double weight;
  std::array<const char*, 3> firmware;
  const char* issuer;  // the vendor's device CA, as a subject text
};

constexpr const char* SIPURA_CA = "C=US,O=Sipura Technology\\, Inc.,CN=Sipura CA Client Root";
constexpr const char* CISCO_MFG = "O=Cisco,CN=Cisco Manufacturing CA SHA2";
constexpr const char* YEALINK_CA = "C=CN,O=Yealink,CN=Yealink Equipment Issuing CA";
constexpr const char* POLY_CA = "O=Polycom Inc.,CN=Polycom Equipment Issuing CA 1";
constexpr const char* OTHER_CA = "O=Device Manufacturer,CN=Device Issuing CA";

// Weights: a telco fleet dominated by a few families, with a long tail (Htek,
// Obihai, the vendor-less units) that makes rare filters.
const std::vector<Model>& models() {
  static const std::vector<Model> m = {
      {"Cisco", "SPA-2102", 0x000e08, Style::CiscoSpa, 9.0, {"5.2.10", "5.1.10", "2.0.5"}, SIPURA_CA},
      {"Cisco", "SPA112", 0x000e08, Style::CiscoSpa, 11.0, {"1.4.1(SR5)", "1.3.5(004p)", "1.4.1"}, SIPURA_CA},
      {"Cisco", "SPA122", 0x000e08, Style::CiscoSpa, 8.0, {"1.4.1(SR5)", "1.4.1", "1.3.2"}, SIPURA_CA},
      {"Cisco", "SPA-962", 0x000e08, Style::CiscoSpa, 3.0, {"6.1.5(a)", "6.1.3", "5.1.7"}, SIPURA_CA},
      {"Cisco", "SPA-942", 0x000e08, Style::CiscoSpa, 3.0, {"6.1.5(a)", "6.1.3", "5.1.5"}, SIPURA_CA},
      {"Cisco", "CP-8841-3PCC", 0x00562b, Style::CiscoMpp, 7.0, {"11.3.7", "12.0.1", "11.2.3"}, CISCO_MFG},
      {"Cisco", "CP-7841-3PCC", 0x00562b, Style::CiscoMpp, 5.0, {"11.3.7", "12.0.1", "11.1.2"}, CISCO_MFG},
      {"Yealink", "SIP-T46S", 0x805ec0, Style::Yealink, 9.0, {"66.86.0.15", "66.85.0.5", "66.84.0.10"}, YEALINK_CA},
      {"Yealink", "SIP-T54W", 0x805ec0, Style::Yealink, 6.0, {"96.86.0.30", "96.85.0.5", "96.84.0.70"}, YEALINK_CA},
      {"Yealink", "SIP-T33G", 0x249ad8, Style::Yealink, 4.0, {"124.86.0.40", "124.85.0.15", "124.85.0.5"}, YEALINK_CA},
      {"Polycom", "VVX_400", 0x0004f2, Style::Poly, 5.0, {"6.4.3.5018", "5.9.5.0614", "4.1.4.7430"}, POLY_CA},
      {"Polycom", "VVX_411", 0x0004f2, Style::Poly, 4.0, {"6.4.3.5018", "6.3.1.8427", "5.9.7.3480"}, POLY_CA},
      {"Polycom", "CCX_500", 0x482567, Style::Poly, 1.5, {"7.2.2.1094", "7.1.0.0311", "7.0.2.1072"}, POLY_CA},
      {"Grandstream", "GXP2170", 0x000b82, Style::Grandstream, 4.0, {"1.0.11.64", "1.0.9.135", "1.0.11.3"}, OTHER_CA},
      {"Grandstream", "HT802", 0x000b82, Style::Grandstream, 6.0, {"1.0.43.11", "1.0.41.5", "1.0.39.4"}, OTHER_CA},
      {"Snom", "D785", 0x000413, Style::Snom, 3.0, {"10.1.54.13", "10.1.33.33", "10.1.46.16"}, OTHER_CA},
      {"Snom", "D735", 0x000413, Style::Snom, 2.0, {"10.1.54.13", "10.1.51.12", "10.1.46.16"}, OTHER_CA},
      {"Fanvil", "X6U", 0x0c383e, Style::Generic, 1.5, {"2.12.1", "2.10.2", "2.8.15"}, OTHER_CA},
      {"Avaya", "J179", 0xc81fea, Style::Generic, 2.0, {"4.0.13.0.3", "4.0.10.3.2", "4.0.7.1.5"}, OTHER_CA},
      {"Mitel", "6867i", 0x00085d, Style::Generic, 1.5, {"6.3.0.1020", "5.1.0.2122", "6.2.0.1011"}, OTHER_CA},
      {"AudioCodes", "C450HD", 0x00908f, Style::Generic, 1.0, {"3.4.4.1000", "3.4.2.700", "3.2.1.2001"}, OTHER_CA},
      {"Gigaset", "N510", 0x7c2f80, Style::Generic, 0.8, {"42.250", "42.245", "42.236"}, OTHER_CA},
      {"Obihai", "OBi202", 0x9cadef, Style::Generic, 0.3, {"3.2.2.5921", "3.2.1.5787", "3.1.1.5463"}, OTHER_CA},
      {"Htek", "UC926", 0x001fc1, Style::Generic, 0.02, {"2.0.4.6.41", "2.0.4.4.31", "2.0.4.2.8"}, OTHER_CA},
      {nullptr, nullptr, 0x02a0b0, Style::Generic, 2.5, {"", "", ""}, OTHER_CA},
  };
  return m;
}

// ---------------------------------------------------------------- servers

struct Site {
  analyze::ServerRecord https;
  analyze::ServerRecord http;
  CertPtr cert;
  bool asks_for_cert = true;
};

constexpr std::int64_t SEC = 1000000000;
constexpr std::int64_t BASE_NS = 1793491200LL * SEC;  // 2026-11-01T00:00:00Z: a month of captures
constexpr std::int64_t SPAN_NS = 30LL * 86400 * SEC;

IpAddr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  const std::uint8_t p[4] = {a, b, c, d};
  return IpAddr::v4(p);
}

std::vector<Site> makeSites(std::size_t n, Rng& rng) {
  std::vector<Site> sites(n);
  for (std::size_t i = 0; i < n; ++i) {
    Site& s = sites[i];
    const auto hi = static_cast<std::uint8_t>(100 + i / 250);
    const auto lo = static_cast<std::uint8_t>(i % 250);
    auto cert = std::make_shared<CertInfo>();
    cert->der.resize(900);
    for (auto& b : cert->der) b = static_cast<std::uint8_t>(rng.next());
    cert->sha256 = randomHex(rng, 64);
    cert->subject_text = "O=Example Telco,CN=prov" + std::to_string(i) + ".example.net";
    cert->issuer_text = "C=US,O=Example Telco,CN=Provisioning Server CA";
    cert->serial_number = hex(0x1000 + i, 4, true);
    cert->not_before = 1704067200;  // 2024-01-01
    cert->not_after = 2335219200;   // 2044-01-01
    cert->key_type = "RSA";
    cert->key_bits = 2048;
    cert->signature = "sha256WithRSAEncryption";
    s.cert = cert;
    s.asks_for_cert = !rng.chance(0.1);
    for (auto* srv : {&s.https, &s.http}) {
      const bool tls = srv == &s.https;
      srv->endpoint = {v4(172, 16, hi, lo), static_cast<std::uint16_t>(tls ? 443 : 80)};
      srv->id = srv->endpoint.str();
      srv->tls = tls;
      srv->first_seen = BASE_NS;
      srv->last_seen = BASE_NS + SPAN_NS;
      if (tls) {
        srv->sni = {"prov" + std::to_string(i) + ".example.net"};
        srv->requests_client_cert = s.asks_for_cert;
        srv->cert_request_visible = true;
        srv->tls_versions = {"TLS 1.2", "TLS 1.3"};
        srv->cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"};
        analyze::CertVerdict v;
        v.cert = cert;
        v.chain_sent = {cert};
        s.https.cert = v;
        if (s.asks_for_cert) s.https.requested_ca_names = {SIPURA_CA, CISCO_MFG, YEALINK_CA};
        else s.https.findings.push_back({"server-no-cert-request", "high", "never sent a CertificateRequest"});
        if (rng.chance(0.2)) {
          s.https.tls_versions.push_back("TLS 1.0");
          s.https.findings.push_back({"legacy-tls", "medium", "negotiated TLS 1.0"});
        }
      } else {
        srv->findings.push_back({"plaintext-provisioning", "high", "serves provisioning over plain HTTP"});
      }
    }
  }
  return sites;
}

// A Zipf-like pick: a few big sites, a long tail of small ones.
std::size_t pickSite(Rng& rng, std::size_t n) {
  const double u = rng.unit();
  return std::min(n - 1, static_cast<std::size_t>(static_cast<double>(n) * u * u * u));
}

// ---------------------------------------------------------------- one device

struct Generator {
  Rng rng;
  std::vector<Site> sites;
  std::vector<double> cumulative;  // model weights
  std::unordered_map<std::uint32_t, std::uint32_t> next_in_oui;
  CertPtr generic_cert;
  CertPtr clone_cert;  // the certificate every cert-clone device shares
  std::uint64_t frame = 1;
  std::size_t sightings = 0;

  Generator(std::uint64_t seed, std::size_t site_count) : rng(seed) {
    sites = makeSites(site_count, rng);
    double sum = 0;
    for (const auto& m : models()) cumulative.push_back(sum += m.weight);
    auto g = std::make_shared<CertInfo>();
    g->der.assign(700, 0x42);
    g->sha256 = randomHex(rng, 64);
    g->subject_text = "OU=cisco.com,L=ciscogeneric,ST=ciscogeneric";
    g->issuer_text = SIPURA_CA;
    g->serial_number = "01";
    g->not_before = 1104537600;
    g->not_after = 2051222400;
    g->key_type = "RSA";
    g->key_bits = 1024;
    g->signature = "sha1WithRSAEncryption";
    generic_cert = g;
  }

  const Model& pickModel() {
    const double u = rng.unit() * cumulative.back();
    const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
    return models()[std::min<std::size_t>(static_cast<std::size_t>(it - cumulative.begin()), models().size() - 1)];
  }

  MacAddr nextMac(std::uint32_t oui) {
    // A bijection of the counter over 24 bits: MACs look scattered yet never repeat.
    const std::uint32_t n = next_in_oui[oui]++;
    const std::uint32_t low = (n * 0x9E3779u + 0x5A5A5u) & 0xFFFFFFu;
    MacAddr m;
    m.b = {static_cast<std::uint8_t>(oui >> 16), static_cast<std::uint8_t>(oui >> 8), static_cast<std::uint8_t>(oui),
           static_cast<std::uint8_t>(low >> 16), static_cast<std::uint8_t>(low >> 8), static_cast<std::uint8_t>(low)};
    return m;
  }

  std::string serialFor(const Model& m, const MacAddr& mac) {
    const std::uint32_t low = (std::uint32_t{mac.b[3]} << 16) | (std::uint32_t{mac.b[4]} << 8) | mac.b[5];
    switch (m.style) {
      case Style::CiscoSpa: return "88012B" + hex(low, 6, true);
      case Style::CiscoMpp: return "FCH2" + hex(rng.below(1u << 28), 7, true);
      case Style::Yealink: return "80" + std::to_string(1000000000000ULL + low * 37ULL);
      case Style::Poly: return "0004F2" + hex(low, 6, true);
      case Style::Grandstream: return "2" + hex(low, 6, true) + "GS";
      default: return m.vendor != nullptr ? hex(rng.next(), 12, true) : "";
    }
  }

  static std::string bareMac(const MacAddr& mac) {
    std::string s;
    for (auto b : mac.b) s += hex(b, 2);
    return s;
  }

  std::string userAgent(const Model& m, const std::string& fw, const MacAddr& mac, const std::string& serial) {
    const std::string bare = bareMac(mac);
    switch (m.style) {
      case Style::CiscoSpa: return std::string("Linksys/") + m.model + "-" + fw + " (" + serial + ")";
      case Style::CiscoMpp: return std::string("Cisco-") + m.model + "/" + fw + " (" + bare + ")";
      case Style::Yealink: return std::string("Yealink ") + m.model + " " + fw + " " + mac.str();
      case Style::Poly: return std::string("FileTransport Polycom") + "VVX-" + m.model + "-UA/" + fw + " Type/Application";
      case Style::Grandstream: return std::string("Grandstream Model HW ") + m.model + " SW " + fw + " DevId " + bare;
      case Style::Snom: return std::string("Mozilla/4.0 (compatible; snom") + m.model + "-SIP " + fw + " " + bare + ")";
      default:
        return m.vendor != nullptr ? std::string(m.vendor) + " " + m.model + " " + fw : "curl/7.68.0";
    }
  }

  std::string subjectFor(const Model& m, const MacAddr& mac, const std::string& serial) {
    const std::string bare = bareMac(mac);
    switch (m.style) {
      case Style::CiscoSpa: return std::string("OU=") + m.model + ",L=" + serial + ",ST=" + bare;
      case Style::CiscoMpp: return std::string("CN=") + m.model + "-SEP" + bare + ",O=Cisco Systems Inc.,serialNumber=" + serial;
      case Style::Yealink: return "CN=" + bare + ",OU=" + m.model + ",O=Yealink Network Technology";
      case Style::Poly: return "CN=" + bare + ",O=Polycom Inc.,OU=" + m.model;
      case Style::Grandstream: return "CN=" + bare + ",O=Grandstream Networks\\, Inc.,OU=" + m.model;
      default: return "CN=" + bare + (m.vendor != nullptr ? std::string(",O=") + m.vendor : std::string());
    }
  }

  CertPtr deviceCert(const Model& m, const std::string& subject, const std::string& serial, bool weak_key, bool weak_sig,
                     bool expired, bool not_yet_valid) {
    auto c = std::make_shared<CertInfo>();
    c->der.resize(640);
    for (std::size_t i = 0; i < c->der.size(); i += 8) {
      const std::uint64_t r = rng.next();
      for (std::size_t k = 0; k < 8 && i + k < c->der.size(); ++k) c->der[i + k] = static_cast<std::uint8_t>(r >> (8 * k));
    }
    c->sha256 = randomHex(rng, 64);
    c->subject_text = subject;
    c->issuer_text = m.issuer;
    c->serial_number = serial.empty() ? hex(rng.next(), 16, true) : hex(rng.below(1u << 20), 5, true);
    c->not_before = not_yet_valid ? 2051222400 : 1420070400;
    c->not_after = expired ? 1609459200 : 2366841600;
    c->key_type = "RSA";
    c->key_bits = weak_key ? 1024 : 2048;
    c->signature = weak_sig ? "sha1WithRSAEncryption" : "sha256WithRSAEncryption";
    return c;
  }

  void claim(DeviceRecord& d, const char* field, const std::string& value, const char* origin, const std::string& evidence,
             const char* rule, std::int64_t ts) {
    if (value.empty()) return;
    auto from = std::make_shared<const analyze::ClaimSource>(
        analyze::ClaimSource{origin, evidence, rule, {ts, frame, 0}, "site.pcapng"});
    d.claims.push_back({field, value, std::move(from)});
  }

  // One device with its sightings (stored now, through Database::addTls/addHttp).
  DeviceRecord device(std::size_t index, store::Database& db) {
    const Model& m = pickModel();
    const MacAddr mac = nextMac(m.oui);
    DeviceRecord d;
    const bool behind_router = rng.chance(0.02);  // no host MAC on the wire: keyed by IP
    const IpAddr ip = v4(10, static_cast<std::uint8_t>(index >> 16), static_cast<std::uint8_t>(index >> 8),
                         static_cast<std::uint8_t>(index));
    d.id = behind_router ? "ip:" + ip.str() : "mac:" + mac.str();
    d.mac_from_wire = !behind_router;
    if (!behind_router || rng.chance(0.5)) d.mac = mac;
    d.ips = {ip.str()};
    if (rng.chance(0.05)) d.ips.push_back("fd00:" + hex(index >> 16, 4) + "::" + hex(index & 0xffff, 4));

    const std::string fw = m.vendor != nullptr ? m.firmware[rng.below(3)] : "";
    const std::string serial = serialFor(m, mac);
    if (m.vendor != nullptr) {
      d.vendor = m.vendor;
      d.model = m.model;
      if (!fw.empty() && rng.chance(0.8)) d.firmware = fw;
      if (!serial.empty() && m.style != Style::Snom) d.serial = serial;
    }

    const std::size_t site_index = pickSite(rng, sites.size());
    Site& site = sites[site_index];
    d.first_seen = BASE_NS + static_cast<std::int64_t>(rng.unit() * 0.9 * SPAN_NS);
    d.last_seen = d.first_seen + static_cast<std::int64_t>(rng.unit() * static_cast<double>(BASE_NS + SPAN_NS - d.first_seen));
    d.sessions = 1 + static_cast<std::uint64_t>(std::exp(rng.unit() * 5.0)) - 1;

    // Class first, then the evidence that gives it (design.md "Device identity").
    const double c = rng.unit();
    std::string latest;  // reason of the latest handshake
    if (c < 0.18 || m.vendor == nullptr) {
      d.identity = "unknown";
      latest = "plaintext-only";
    } else if (c < 0.27) {
      d.identity = "unknown";
      latest = "tls13";
    } else if (c < 0.30) {
      d.identity = "unknown";
      latest = rng.chance(0.15) ? "renegotiation" : "resumed";
    } else if (c < 0.36) {
      d.identity = "none";
      latest = "empty-certificate";
    } else if (c < 0.48 && m.style == Style::CiscoSpa) {
      d.identity = "generic";
      latest = "generic-cert";
    } else {
      d.identity = "individualized";
      latest = "client-cert";
    }
    if (!site.asks_for_cert && (d.identity == "none" || d.identity == "individualized" || d.identity == "generic")) {
      d.identity = "unknown";
      latest = "server-no-request";
    }
    d.identity_reason = latest;
    const bool plaintext = latest == "plaintext-only";
    const bool has_ua = plaintext || rng.chance(0.25);
    const std::string ua = userAgent(m, fw, mac, serial);

    auto add = [&](const char* code, const char* severity, std::string detail) {
      d.findings.push_back({code, severity, std::move(detail)});
    };
    // Certificate evidence.
    if (d.identity == "individualized" || d.identity == "generic") {
      const bool generic = d.identity == "generic";
      const bool clone = !generic && index % 9973 == 17;  // rare: ~50 per million share one certificate
      const bool weak_key = !generic && rng.chance(0.02);
      const bool weak_sig = !generic && rng.chance(0.03);
      const bool expired = !generic && rng.chance(0.01);
      const bool not_yet = !generic && !expired && rng.chance(0.0002);
      analyze::CertVerdict v;
      if (generic) v.cert = generic_cert;
      else if (clone) {
        if (!clone_cert) clone_cert = deviceCert(m, subjectFor(m, mac, serial), serial, false, false, false, false);
        v.cert = clone_cert;
      } else {
        v.cert = deviceCert(m, subjectFor(m, mac, serial), serial, weak_key, weak_sig, expired, not_yet);
      }
      v.chain_sent = {v.cert};
      v.generic = generic;
      v.checked_at_ns = d.last_seen;
      const bool untrusted = !generic && rng.chance(0.0005);
      v.chain = untrusted ? "untrusted" : expired ? "expired" : rng.chance(0.7) ? "trusted" : "unchecked";
      if (untrusted) v.chain_error = "unable to get local issuer certificate";
      if (!generic) {
        v.product = d.model;
        if (!serial.empty()) v.serial = serial;
        v.mac = mac;
      }
      d.cert = v;
      if (generic) add("generic-cert", "high", "presents the generic certificate " + generic_cert->subject_text);
      if (clone) add("cert-clone", "critical", "certificate " + v.cert->sha256.substr(0, 16) + " also presented by another device");
      if (untrusted) add("cert-untrusted", "critical", "chain does not verify: unable to get local issuer certificate");
      if (weak_key) add("cert-weak-key", "medium", "RSA 1024-bit key");
      if (weak_sig) add("cert-weak-signature", "medium", "signed with sha1WithRSAEncryption");
      if (expired) add("cert-expired", "medium", "certificate expired 2021-01-01T00:00:00.000000Z, presented " + isoTime(d.last_seen));
      if (not_yet) add("cert-not-yet-valid", "medium", "certificate valid from 2035-01-01T00:00:00.000000Z, presented " + isoTime(d.last_seen));
      if (!generic && rng.chance(0.0002)) add("cert-mac-mismatch", "high", "certificate names MAC " + mac.str() + ", the device's frames come from another MAC");
      if (!generic && has_ua && rng.chance(0.001)) add("serial-mismatch", "high", "certificate names serial " + serial + ", the User-Agent names another");
    }
    if (d.identity == "none") add("no-client-cert", "high", "server asked for a certificate, the device sent an empty Certificate");
    if (latest == "tls13" || latest == "resumed" || latest == "renegotiation") {
      add("cert-hidden", "info", latest + ": " + (latest == "tls13" ? "TLS 1.3 encrypts the client Certificate"
                                                  : latest == "resumed" ? "only resumed sessions were seen; they carry no certificate"
                                                                        : "the certificate went inside an encrypted renegotiation"));
    }
    const bool tls = !plaintext;
    const bool also_http = tls && has_ua && rng.chance(0.12);
    const bool legacy = tls && rng.chance(0.06);
    if (plaintext || also_http) {
      add("plaintext-provisioning", "high", "profile fetched over plain HTTP (GET /" + bareMac(mac) + ".cfg): User-Agent and profile exposed");
    }
    if (legacy) add("legacy-tls", "medium", "negotiated TLS 1.0");
    if (tls && rng.chance(0.01)) add("weak-cipher", "high", "negotiated TLS_RSA_WITH_RC4_128_SHA");
    if (tls && rng.chance(0.008)) add("fingerprint-mismatch", "low", "claims " + std::string(m.model != nullptr ? m.model : "?") + " but its TLS fingerprint differs from the fleet's majority");
    if (rng.chance(0.00005)) add("ccert-mismatch", "low", "URL says $CCERT=Installed but no certificate was seen");

    // Sightings: the handshakes and requests the device was seen in.
    const bool chatty = index % 250000 == 123;
    const std::size_t tls_count = tls ? (chatty ? 1500 : 1 + (rng.chance(0.3) ? 1 : 0)) : 0;
    const std::size_t http_count = plaintext || also_http ? 1 : 0;
    std::int64_t ts = d.first_seen;
    const std::int64_t step = std::max<std::int64_t>(SEC, (d.last_seen - d.first_seen) / static_cast<std::int64_t>(tls_count + http_count + 1));
    const std::string ja4 = legacy ? "t10d020400_a5878986a7c9_23f7d3b00788" : "t12d311000_e8f1e7e78f70_1f22a2ca17c4";
    const std::string ja3 = legacy ? "de350869b8c85de67a350c8d186f11e6" : "a3afc2c46ba4a7d7fbe1cfb7a3031c2f";
    for (std::size_t k = 0; k < tls_count; ++k, ts += step) {
      analyze::TlsObservation t;
      t.flow.ref = {ts, frame++, 0};
      t.flow.source = "site" + std::to_string(site_index) + ".pcapng";
      t.flow.client = {ip, static_cast<std::uint16_t>(40000 + (index + k) % 20000)};
      t.flow.server = site.https.endpoint;
      if (!behind_router) t.flow.client_mac = mac;
      t.first = {ts - 3000000, t.flow.ref.frame - 4, 0};
      t.sni = site.https.sni[0];
      t.client_max_version = 0x0304;
      t.version = legacy ? 0x0301 : latest == "tls13" ? 0x0304 : 0x0303;
      t.tls13 = latest == "tls13";
      t.cipher_suite = 0xc030;
      t.offered_versions = {0x0304, 0x0303, 0x0302, 0x0301};
      t.certificate_requested = site.asks_for_cert && !t.tls13;
      if (d.cert && k == 0) {
        t.client_cert = analyze::ClientCertState::Present;
        t.client_chain = d.cert->chain_sent;
        t.client_cert_frame = t.flow.ref.frame;
      } else if (d.identity == "none") {
        t.client_cert = analyze::ClientCertState::Empty;
      }
      t.resumed = latest == "resumed" || (k > 0 && d.cert);
      t.renegotiation = latest == "renegotiation";
      t.server_chain = {site.cert};
      t.complete = true;
      t.server_hello_seen = true;
      t.session_id = randomHex(rng, 64);
      t.ja3 = ja3;
      t.ja4 = ja4;
      t.ja3_string = "771,4866-4867-4865-49196-49200-159,0-11-10-35-22-23-13-43-45-51,29-23-30-25-24,0-1-2";
      db.addTls(t);
      d.sightings.push_back({analyze::observationKey(t), t.flow.ref.ts_ns});
      if (k < 3) {
        analyze::HandshakeSummary h;
        h.ts_ns = ts;
        h.source = t.flow.source;
        h.frame = t.flow.ref.frame;
        h.client = t.flow.client;
        h.server = t.flow.server;
        h.version = t.version;
        h.cipher_suite = 0xc030;  // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        h.sni = t.sni;
        h.outcome = k == 0 ? d.identity : "unknown";
        h.reason = k == 0 ? latest : "resumed";
        h.cert_sha256 = d.cert && k == 0 ? d.cert->cert->sha256 : "";
        h.ja3 = ja3;
        h.ja4 = ja4;
        d.handshakes.push_back(std::move(h));
      }
    }
    const std::string url = "/" + (m.style == Style::CiscoSpa ? "spa" + bareMac(mac) : bareMac(mac)) + ".cfg";
    for (std::size_t k = 0; k < http_count; ++k, ts += step) {
      analyze::HttpObservation h;
      h.flow.ref = {ts, frame++, 0};
      h.flow.source = "site" + std::to_string(site_index) + ".pcapng";
      h.flow.client = {ip, static_cast<std::uint16_t>(30000 + index % 10000)};
      h.flow.server = site.http.endpoint;
      if (!behind_router) h.flow.client_mac = mac;
      h.method = "GET";
      h.uri = url;
      h.host = "prov" + std::to_string(site_index) + ".example.net";
      h.user_agent = ua;
      db.addHttp(h);
      d.sightings.push_back({analyze::observationKey(h), h.flow.ref.ts_ns});
      d.urls.push_back(url);
    }
    sightings += tls_count + http_count;
    if (has_ua) d.user_agents = {ua};
    d.http_requests = http_count;
    d.sessions = std::max<std::uint64_t>(d.sessions, tls_count + http_count);
    if (tls) {
      d.tls_versions = {analyze::versionName(legacy ? 0x0301 : latest == "tls13" ? 0x0304 : 0x0303)};
      d.ja3 = {ja3};
      d.ja4 = {ja4};
      d.sni = site.https.sni;
      d.servers.push_back(site.https.id);
      site.https.sessions += tls_count;
      ++site.https.clients;
    }
    if (http_count > 0) {
      d.servers.push_back(site.http.id);
      site.http.sessions += http_count;
      ++site.http.clients;
    }

    // Claims and where they came from.
    const std::int64_t t0 = d.first_seen;
    if (d.cert && !d.cert->generic) {
      const std::string& subj = d.cert->cert->subject_text;
      claim(d, "vendor", m.vendor != nullptr ? m.vendor : "", "certificate", subj, "cert-rule", t0);
      claim(d, "model", m.model != nullptr ? m.model : "", "certificate", subj, "cert-rule", t0);
      if (d.serial) claim(d, "serial", serial, "certificate", subj, "cert-rule", t0);
      claim(d, "mac", mac.str(), "certificate", subj, "cert-rule", t0);
    }
    if (has_ua && m.vendor != nullptr) {
      claim(d, "vendor", m.vendor, "user-agent", ua, "ua-rule", t0);
      claim(d, "model", m.model, "user-agent", ua, "ua-rule", t0);
      if (d.firmware) claim(d, "firmware", *d.firmware, "user-agent", ua, "ua-rule", t0);
    }
    if (!d.urls.empty()) claim(d, "mac", mac.str(), "url", url, "url-rule", t0);
    if (m.vendor != nullptr) {
      auto from = std::make_shared<const analyze::ClaimSource>(analyze::ClaimSource{"oui", mac.str(), "oui", {}, ""});
      d.claims.push_back({"vendor", m.vendor, std::move(from)});
    }
    return d;
  }
};

std::uint64_t parseCount(const std::string& flag, const char* text) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || v == 0) die(flag + ": expected a positive number");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  std::size_t devices = 1000000, site_count = 150, batch = 50000;
  std::uint64_t seed = 1;
  bool upgrade = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) die(a + ": missing value");
      return argv[++i];
    };
    if (a == "--db") path = value();
    else if (a == "--devices") devices = parseCount(a, value());
    else if (a == "--sites") site_count = std::min<std::size_t>(parseCount(a, value()), 1000);
    else if (a == "--seed") seed = parseCount(a, value());
    else if (a == "--batch") batch = parseCount(a, value());
    else if (a == "--upgrade") upgrade = true;
    else if (a == "-h" || a == "--help") {
      std::puts("make_devices --db FILE [--devices 1000000] [--sites 150] [--seed 1] [--batch 50000]\n"
                "make_devices --db FILE --upgrade");
      return 0;
    } else {
      die("unknown option " + a);
    }
  }
  if (path.empty()) die("--db FILE is required");
  if (upgrade) {
    if (!fs::exists(path)) die(path + ": no such file");
    const auto t0 = std::chrono::steady_clock::now();
    try {
      store::Database db(path, store::Database::Mode::ReadWrite);  // runs the migrations it lacks
    } catch (const std::exception& e) {
      die(e.what());
    }
    std::printf("upgraded %s to schema %d in %.1f s\n", path.c_str(), store::SCHEMA_VERSION,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
  }
  if (devices > (1u << 24)) die("--devices: at most 16777216 (one 10.0.0.0/8 address each)");
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);

  const auto started = std::chrono::steady_clock::now();
  store::Database db(path, store::Database::Mode::ReadWrite);
  // A bigger page cache than SQLite's default 2 MB: 16 device indexes take
  // random inserts. This is the writer's connection only; the file is the same.
  store::execSql(db.handle(), "PRAGMA cache_size=-1048576");
  Generator gen(seed, site_count);

  std::unordered_map<std::string, std::uint64_t> written;
  std::int64_t generation = 0;
  std::size_t done = 0, findings = 0;
  std::map<std::string, std::size_t> by_class;
  while (done < devices) {
    const std::size_t n = std::min(batch, devices - done);
    db.begin();
    analyze::AuditResult result;
    result.devices.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      result.devices.push_back(gen.device(done + i, db));
      findings += result.devices.back().findings.size();
      ++by_class[result.devices.back().identity];
    }
    std::sort(result.devices.begin(), result.devices.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    for (const auto& s : gen.sites) {
      result.servers.push_back(s.https);
      result.servers.push_back(s.http);
    }
    std::sort(result.servers.begin(), result.servers.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    // First batch: a full audit. Later ones: an incremental audit that knows
    // this batch's devices (with stale hashes), so nothing stored is removed.
    if (done > 0) {
      written.clear();
      for (const auto& d : result.devices) written.emplace(d.id, 0);
    }
    db.replaceAudit(result, written, generation);
    db.commit();
    done += n;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "\rmake_devices: %zu/%zu devices, %.0f s", done, devices, s);
  }
  std::fputc('\n', stderr);

  // Capture sources and run counters, as a month of replays would leave them.
  db.begin();
  std::uint64_t packets = 0, bytes = 0;
  for (std::size_t i = 0; i < 30; ++i) {
    store::SourceRecord src;
    src.name = "captures/site-2026-11-" + std::string(i < 9 ? "0" : "") + std::to_string(i + 1) + ".pcapng";
    src.first_ts_ns = BASE_NS + static_cast<std::int64_t>(i) * 86400 * SEC;
    src.last_ts_ns = src.first_ts_ns + 86400 * SEC - SEC;
    src.key = src.name + "@" + std::to_string(src.first_ts_ns);
    src.kind = "file";
    src.packets = 4000000 + gen.rng.below(1000000);
    src.bytes = src.packets * 600;
    src.status = "complete";
    packets += src.packets;
    bytes += src.bytes;
    AnomalyCounters anomalies;
    anomalies.inc(PA_ANOMALY("tcp_gap_in_handshake"), gen.rng.below(40));
    anomalies.inc(PA_ANOMALY("tls_record_too_large"), gen.rng.below(3));
    db.saveSource(src, anomalies);
  }
  db.addStat("packets", static_cast<std::int64_t>(packets));
  db.addStat("bytes", static_cast<std::int64_t>(bytes));
  db.addStat("tls_handshakes", static_cast<std::int64_t>(gen.sightings));
  db.commit();
  store::execSql(db.handle(), "PRAGMA wal_checkpoint(TRUNCATE)");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::printf("devices %zu (", devices);
  bool first = true;
  for (const auto& [cls, n] : by_class) {
    std::printf("%s%s %zu", first ? "" : ", ", cls.c_str(), n);
    first = false;
  }
  std::printf(")\nservers %zu, device findings %zu, sightings %zu\n", gen.sites.size() * 2, findings, gen.sightings);
  std::printf("generated in %.1f s; %s: %.1f MB\n", seconds, path.c_str(),
              static_cast<double>(fs::file_size(path)) / 1e6);
  return 0;
}
