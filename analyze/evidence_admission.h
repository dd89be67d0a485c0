#pragma once
// Which stored sightings the audit holds as evidence under --max-sightings N.
// The first N - N/NOVEL_SHARE_DIVISOR are taken as they come (in rowid
// order); past them, up to N, only a sighting that brings something the
// evidence does not hold yet (noveltyKey: a client not seen before, a
// certificate, fingerprint, User-Agent or URL path new to its client), so
// that a sensor at its limit still audits the phone plugged in today, the
// certificate that replaced another and the firmware that changed, while a
// fleet's hourly repeats stay stored but not audited. Memory stays bounded:
// never more than N sightings, whatever the traffic (a flood of spoofed
// clients ends the novel share as repeats end the first part), and never
// more than N x EVIDENCE_BYTES_PER_SIGHTING_MAX by their estimated size: a
// sighting counts as at least that much, one carrying a 15 KiB User-Agent or
// a 120 KB certificate as what it holds (sightingWeight), so that hostile
// sightings fill the evidence sooner instead of its memory growing past what
// the limit promises (both parts by size as by count).
//
// Deterministic: the same sightings in the same rowid order give the same
// evidence, so a restart reads back what the run before it held.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "analyze/observation.h"
#include "common/memory_limit.h"

namespace provaudit::analyze {

// Of --max-sightings N, the last N / NOVEL_SHARE_DIVISOR are kept for novel
// sightings (a fifth: at the default 250,000, 50,000 novel ones after the
// first 200,000).
inline constexpr std::size_t NOVEL_SHARE_DIVISOR = 5;
// The part of --max-sightings N taken in rowid order (N itself for N < 5).
inline constexpr std::size_t inOrderPart(std::size_t max_sightings) {
  return max_sightings - max_sightings / NOVEL_SHARE_DIVISOR;
}

// What the evidence may cost at most, a sighting: every sighting a device
// with a certificate of its own (its certificate, the observation, what the
// rules read from it, and the device the audit derives; `bench/run
// --certflood N --limit N`: 7.6 KB measured, bench/RESULTS.md session 14).
// Repeated sightings of the same devices cost less (about 6 KB).
inline constexpr std::uint64_t EVIDENCE_BYTES_PER_SIGHTING_MAX = 8 * 1024;
// What a run holds besides its evidence (flow tables, queues, SQLite's
// cache, the audit's encoding, the dashboard): the intercept of the same
// measurement (about 180 MB), rounded up.
inline constexpr std::uint64_t RUN_BASE_BYTES = std::uint64_t{256} << 20;
// What holding a sighting may cost, estimated from what it carries: its
// texts (copied into the device, its claims and the encodings: up to
// TEXT_COPIES times) and each certificate the evidence does not hold yet
// (certFootprint: its DER and parsed fields, and half as much again for the
// device's copies). Measured: 15 KiB User-Agents cost 63 KB a sighting, 121
// KB client certificates with 3,000 names 370 KB (bench/RESULTS.md, session 15).
inline constexpr std::uint64_t SIGHTING_WEIGHT_BASE = 2 * 1024;
inline constexpr std::uint64_t TEXT_COPIES = 5;
// What a run holds beyond RUN_BASE_BYTES that does not come from its evidence:
// a live capture's buffers past one interface at the default -B
// (captureMemoryBeyondBase), and in words for the warning ("the capture
// buffers of 2 interfaces at -B 64").
struct MemoryExtra {
  std::uint64_t bytes = 0;
  std::string what;
};
// The most memory a run may need with the evidence at max_sightings (0: no
// limit, nothing to say).
std::uint64_t evidenceMemoryNeed(std::size_t max_sightings, std::uint64_t extra_bytes = 0);
// One line for stderr when that may exceed what the process may use
// (`limit`, processMemoryLimit()): how much, against which limit, and the
// largest --max-sightings that fits. Empty when it fits or nothing is known.
std::string evidenceMemoryWarning(std::size_t max_sightings, const MemoryLimit& limit, const MemoryExtra& extra = {});

// What makes a sighting new to the evidence (an opaque digest): its client
// (frame MAC and address) with, for TLS, the client certificate presented
// (or how none was) and the JA4 fingerprint; for HTTP, the User-Agent and the
// URL's path (not its query, which often changes with every request).
using NoveltyKey = std::array<std::uint8_t, 16>;
NoveltyKey noveltyKey(const TlsObservation& t);
NoveltyKey noveltyKey(const HttpObservation& h);

class EvidenceAdmission {
 public:
  explicit EvidenceAdmission(std::size_t max_sightings = 0);  // 0: no limit

  // The next sighting in rowid order: true when the evidence takes it
  // (held() counts it), false when it is left out (skipped() counts it).
  // Never called once full().
  bool admit(const TlsObservation& t);
  bool admit(const HttpObservation& h);

  // The evidence holds the limit: no sighting can join it any more (the
  // rest are left unread).
  [[nodiscard]] bool full() const { return max_ != 0 && (held_ >= max_ || bytes_ >= max_bytes_); }
  // Past the part taken in order: sightings may be left out from here on.
  [[nodiscard]] bool limited() const { return max_ != 0 && (held_ >= in_order_ || bytes_ >= in_order_bytes_); }
  [[nodiscard]] std::size_t held() const { return held_; }
  // The evidence's estimated size (each sighting at least
  // EVIDENCE_BYTES_PER_SIGHTING_MAX), and its limit; 0 without a limit.
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }
  [[nodiscard]] std::uint64_t maxBytes() const { return max_bytes_; }
  // Sightings read and left out as repeats of what the evidence holds.
  [[nodiscard]] std::uint64_t skipped() const { return skipped_; }
  [[nodiscard]] std::size_t inOrder() const { return in_order_; }
  [[nodiscard]] std::size_t max() const { return max_; }

  // The evidence was released: the next sighting is the first again.
  void clear();

 private:
  using CertKey = std::array<std::uint8_t, 16>;  // the first bytes of a certificate's SHA-256
  // What the sighting would add to bytes_ (new_certs: the certificates it
  // would add to certs_).
  std::uint64_t weight(std::uint64_t text_bytes, const TlsObservation* t, std::vector<CertKey>& new_certs) const;
  bool admitKey(const NoveltyKey& key, std::uint64_t weight, const std::vector<CertKey>& new_certs);

  struct KeyHash {
    std::size_t operator()(const NoveltyKey& k) const;
  };
  std::size_t max_;
  std::size_t in_order_;
  std::uint64_t max_bytes_;
  std::uint64_t in_order_bytes_;
  std::size_t held_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t skipped_ = 0;
  // Keys of every sighting held, and of every certificate they carry (only under a limit).
  std::unordered_set<NoveltyKey, KeyHash> keys_;
  std::unordered_set<CertKey, KeyHash> certs_;
};

}  // namespace provaudit::analyze
