#include "analyze/evidence_admission.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "analyze/digest.h"

namespace provaudit::analyze {
namespace {

// The key's input: fixed-size parts, then each text with its length first,
// so that no two different sightings write the same bytes.
class KeyText {
 public:
  explicit KeyText(char kind) { s_ += kind; }
  void client(const ObservedFlow& f) {
    s_ += f.client_mac ? '\1' : '\0';
    if (f.client_mac) s_.append(reinterpret_cast<const char*>(f.client_mac->b.data()), f.client_mac->b.size());
    ip(f.client.ip);
    ip(f.server.ip);
    s_ += static_cast<char>(f.server.port >> 8);
    s_ += static_cast<char>(f.server.port & 0xff);
  }
  void byte(std::uint8_t b) { s_ += static_cast<char>(b); }
  void text(std::string_view t) {
    const auto n = static_cast<std::uint32_t>(t.size());
    for (int shift = 24; shift >= 0; shift -= 8) s_ += static_cast<char>((n >> shift) & 0xff);
    s_.append(t);
  }
  [[nodiscard]] NoveltyKey key() const {
    const auto digest = sha256(std::span(reinterpret_cast<const std::uint8_t*>(s_.data()), s_.size()));
    NoveltyKey k{};
    std::memcpy(k.data(), digest.data(), k.size());
    return k;
  }

 private:
  void ip(const IpAddr& a) {
    s_ += static_cast<char>(a.family);
    s_.append(reinterpret_cast<const char*>(a.b.data()), a.b.size());
  }
  std::string s_;
};

}  // namespace

NoveltyKey noveltyKey(const TlsObservation& t) {
  KeyText k('T');
  k.client(t.flow);
  k.byte(static_cast<std::uint8_t>(t.client_cert));
  k.text(t.client_cert == ClientCertState::Present && !t.client_chain.empty() && t.client_chain.front()
             ? std::string_view(t.client_chain.front()->sha256)
             : std::string_view(t.client_raw_key_sha256));
  k.text(t.ja4);
  return k.key();
}

NoveltyKey noveltyKey(const HttpObservation& h) {
  KeyText k('H');
  k.client(h.flow);
  k.byte(h.over_tls ? 1 : 0);
  k.text(h.user_agent);
  const std::string_view uri = h.uri;
  k.text(uri.substr(0, uri.find('?')));
  return k.key();
}

std::size_t EvidenceAdmission::KeyHash::operator()(const NoveltyKey& k) const {
  std::size_t h = 0;  // the key is a digest: any of its words is a hash
  std::memcpy(&h, k.data(), sizeof h);
  return h;
}

EvidenceAdmission::EvidenceAdmission(std::size_t max_sightings)
    : max_(max_sightings),
      in_order_(inOrderPart(max_sightings)),
      max_bytes_(max_sightings * EVIDENCE_BYTES_PER_SIGHTING_MAX),
      in_order_bytes_(inOrderPart(max_sightings) * EVIDENCE_BYTES_PER_SIGHTING_MAX) {}

std::uint64_t EvidenceAdmission::weight(std::uint64_t text_bytes, const TlsObservation* t,
                                        std::vector<CertKey>& new_certs) const {
  std::uint64_t w = SIGHTING_WEIGHT_BASE + TEXT_COPIES * text_bytes;
  if (t != nullptr) {
    for (const auto* chain : {&t->client_chain, &t->server_chain}) {
      for (const CertPtr& c : *chain) {
        if (!c) continue;
        CertKey k{};
        std::memcpy(k.data(), c->sha256.data(), std::min(k.size(), c->sha256.size()));
        if (certs_.count(k) != 0 || std::find(new_certs.begin(), new_certs.end(), k) != new_certs.end()) continue;
        new_certs.push_back(k);
        const std::uint64_t footprint = certFootprint(*c);
        w += footprint + footprint / 2;
      }
    }
  }
  return std::max(w, EVIDENCE_BYTES_PER_SIGHTING_MAX);
}

bool EvidenceAdmission::admitKey(const NoveltyKey& key, std::uint64_t weight, const std::vector<CertKey>& new_certs) {
  if (full()) {  // callers stop first; a sighting past the limit is left out all the same
    ++skipped_;
    return false;
  }
  const bool novel = keys_.insert(key).second;
  if (!limited() || novel) {
    ++held_;
    bytes_ += weight;
    certs_.insert(new_certs.begin(), new_certs.end());
    return true;
  }
  ++skipped_;
  return false;
}

bool EvidenceAdmission::admit(const TlsObservation& t) {
  if (max_ == 0) {
    ++held_;
    return true;
  }
  std::vector<CertKey> new_certs;
  const std::uint64_t w = weight(keptTextBytes(t), &t, new_certs);  // the evidence holds it trimmed
  return admitKey(noveltyKey(t), w, new_certs);
}

bool EvidenceAdmission::admit(const HttpObservation& h) {
  if (max_ == 0) {
    ++held_;
    return true;
  }
  std::vector<CertKey> none;
  return admitKey(noveltyKey(h), weight(textBytes(h), nullptr, none), none);
}

void EvidenceAdmission::clear() {
  held_ = 0;
  bytes_ = 0;
  skipped_ = 0;
  decltype(keys_)().swap(keys_);  // clear() would keep the buckets
  decltype(certs_)().swap(certs_);
}

std::uint64_t evidenceMemoryNeed(std::size_t max_sightings, std::uint64_t extra_bytes) {
  if (max_sightings == 0) return 0;
  return RUN_BASE_BYTES + extra_bytes + static_cast<std::uint64_t>(max_sightings) * EVIDENCE_BYTES_PER_SIGHTING_MAX;
}

std::string evidenceMemoryWarning(std::size_t max_sightings, const MemoryLimit& limit, const MemoryExtra& extra) {
  const std::uint64_t need = evidenceMemoryNeed(max_sightings, extra.bytes);
  if (need == 0 || limit.bytes == 0 || need <= limit.bytes) return {};
  const std::uint64_t base = RUN_BASE_BYTES + extra.bytes;
  const std::uint64_t fit = limit.bytes > base ? (limit.bytes - base) / EVIDENCE_BYTES_PER_SIGHTING_MAX : 0;
  const std::string besides =
      extra.bytes == 0 ? std::string() : fmt::format(", and {} for {}", gigabytes(extra.bytes), extra.what);
  // (--max-sightings 0 is no limit: with too little memory for any evidence, none fits.)
  return fmt::format(
      "provaudit: warning: --max-sightings {} may need up to {} of memory (about {} KB a sighting when each is a "
      "device with a certificate of its own{}), more than this process may use ({}: {}); {}",
      max_sightings, gigabytes(need), EVIDENCE_BYTES_PER_SIGHTING_MAX / 1024, besides, gigabytes(limit.bytes),
      limit.source, fit > 0 ? fmt::format("--max-sightings {} fits", fit) : std::string("it needs more memory"));
}

}  // namespace provaudit::analyze
