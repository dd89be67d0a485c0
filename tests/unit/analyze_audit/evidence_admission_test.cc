// Which sightings the audit holds under --max-sightings (EvidenceAdmission),
// and what makes one new (noveltyKey).
#include <catch2/catch.hpp>

#include "analyze/evidence_admission.h"
#include "../../support/audit_fixtures.h"

using namespace provaudit;
using namespace provaudit::analyze;
using provaudit::testing::makeCert;
using provaudit::testing::SEC;
using provaudit::testing::T0;

namespace {

// Client 10.0.0.N (MAC 00:0e:08:00:00:N) to the provisioning server 10.0.0.254.
ObservedFlow flowOf(std::uint8_t n, std::uint16_t client_port, std::uint16_t server_port) {
  ObservedFlow f;
  f.client_mac = MacAddr{{0x00, 0x0e, 0x08, 0x00, 0x00, n}};
  f.client.ip = *IpAddr::parse("10.0.0." + std::to_string(n));
  f.client.port = client_port;
  f.server.ip = *IpAddr::parse("10.0.0.254");
  f.server.port = server_port;
  f.ref.ts_ns = T0;
  return f;
}

TlsObservation phone(std::uint8_t last_mac_byte, const std::string& cert_sha = "aa") {
  TlsObservation t;
  t.flow = flowOf(last_mac_byte, 40000, 443);
  t.first = t.flow.ref;
  t.client_cert = ClientCertState::Present;
  t.client_chain = {makeCert(cert_sha, {{"CN", "SPA-962"}})};
  t.ja4 = "t12d1311h2_8b80da21ef18_77989cba8f21";
  t.ja3 = "0123456789abcdef0123456789abcdef";
  t.session_id = "00";
  return t;
}

HttpObservation request(std::uint8_t last_mac_byte, const std::string& ua, const std::string& uri) {
  HttpObservation h;
  h.flow = flowOf(last_mac_byte, 40001, 80);
  h.method = "GET";
  h.user_agent = ua;
  h.uri = uri;
  return h;
}

}  // namespace

TEST_CASE("novelty key: a client with what it presented, not when or from which port") {
  const TlsObservation a = phone(1);
  TlsObservation later = a;
  later.flow.ref.ts_ns += 3600 * SEC;
  later.first = later.flow.ref;
  later.flow.client.port = 51234;
  later.session_id = "ff";        // a new session, resumption ids, JA3 order: not what is new
  later.ja3 = "ffffffffffffffffffffffffffffffff";
  CHECK(noveltyKey(later) == noveltyKey(a));

  const auto differs = [&](const auto& change) {
    TlsObservation b = a;
    change(b);
    return noveltyKey(b) != noveltyKey(a);
  };
  CHECK(differs([](TlsObservation& b) { b.flow.client_mac->b[5] = 2; }));             // another MAC
  CHECK(differs([](TlsObservation& b) { b.flow.client_mac.reset(); }));              // none on the wire
  CHECK(differs([](TlsObservation& b) { b.flow.client.ip = *IpAddr::parse("10.0.0.9"); }));  // another address
  CHECK(differs([](TlsObservation& b) { b.flow.server.ip = *IpAddr::parse("10.0.0.253"); }));  // another server
  CHECK(differs([](TlsObservation& b) { b.flow.server.port = 8443; }));
  CHECK(differs([](TlsObservation& b) { b.client_chain = {makeCert("bb", {{"CN", "SPA-962"}})}; }));  // new cert
  CHECK(differs([](TlsObservation& b) {  // the certificate withheld
    b.client_cert = ClientCertState::NotSent;
    b.client_chain.clear();
  }));
  CHECK(differs([](TlsObservation& b) {  // an empty Certificate is not the same as none sent
    b.client_cert = ClientCertState::Empty;
    b.client_chain.clear();
  }));
  CHECK(differs([](TlsObservation& b) { b.ja4 = "t13d1516h2_8daaf6152771_02713d6af862"; }));  // new firmware

  const HttpObservation r = request(1, "Cisco/SPA962-7.6.2", "/cfg/spa000e08000001.xml?t=1");
  HttpObservation r2 = r;
  r2.uri = "/cfg/spa000e08000001.xml?t=2";  // the query changes with every request
  r2.flow.client.port = 40002;
  CHECK(noveltyKey(r2) == noveltyKey(r));
  r2.uri = "/cfg/spa000e08000001-new.xml";
  CHECK(noveltyKey(r2) != noveltyKey(r));
  r2 = r;
  r2.user_agent = "Cisco/SPA962-7.6.3";  // firmware upgraded
  CHECK(noveltyKey(r2) != noveltyKey(r));
  r2 = r;
  r2.over_tls = true;
  CHECK(noveltyKey(r2) != noveltyKey(r));
  // Texts are length-framed: moving bytes from one to the next is another key.
  HttpObservation x = request(1, "ab", "/c"), y = request(1, "a", "b/c");
  CHECK(noveltyKey(x) != noveltyKey(y));
}

TEST_CASE("admission: the first four fifths in order, then only what is new, never past the limit") {
  EvidenceAdmission admit(10);  // 8 in order, 2 for what is new
  CHECK(admit.inOrder() == 8);
  CHECK(admit.max() == 10);
  for (int i = 0; i < 8; ++i) {
    CHECK_FALSE(admit.limited());
    CHECK(admit.admit(phone(1)));  // repeats, taken as they come
  }
  CHECK(admit.limited());
  CHECK_FALSE(admit.full());
  CHECK_FALSE(admit.admit(phone(1)));  // a repeat past the part in order
  CHECK(admit.admit(request(1, "UA", "/a")));  // new: the phone's first request
  CHECK_FALSE(admit.admit(request(1, "UA", "/a?t=2")));  // and its repeat
  CHECK(admit.held() == 9);
  CHECK(admit.skipped() == 2);
  CHECK_FALSE(admit.admit(phone(1)));
  CHECK(admit.admit(phone(2)));  // a new phone fills it
  CHECK(admit.full());
  CHECK(admit.held() == 10);
  CHECK_FALSE(admit.admit(phone(3)));  // full: nothing more, new or not
  CHECK(admit.held() == 10);
  CHECK(admit.skipped() == 4);

  admit.clear();  // the evidence released: the next sighting is the first again
  CHECK(admit.held() == 0);
  CHECK(admit.skipped() == 0);
  CHECK_FALSE(admit.limited());
  CHECK(admit.admit(phone(1)));
}

TEST_CASE("admission: no limit takes everything; the smallest limits keep their part in order") {
  EvidenceAdmission all(0);
  for (int i = 0; i < 1000; ++i) CHECK(all.admit(phone(1)));
  CHECK_FALSE(all.limited());
  CHECK_FALSE(all.full());
  CHECK(all.skipped() == 0);

  EvidenceAdmission one(1);  // nothing to keep for what is new
  CHECK(one.inOrder() == 1);
  CHECK(one.admit(phone(1)));
  CHECK(one.full());
  CHECK_FALSE(one.admit(phone(2)));

  EvidenceAdmission five(5);  // four in order, one new
  CHECK(five.inOrder() == 4);
  for (int i = 0; i < 4; ++i) CHECK(five.admit(phone(1)));
  CHECK_FALSE(five.admit(phone(1)));
  CHECK(five.admit(phone(1, "bb")));  // its certificate replaced
  CHECK(five.full());
}

TEST_CASE("admission: a flood of new clients past the limit is bounded; what came first decides, not what came most") {
  EvidenceAdmission admit(100);
  for (int i = 0; i < 80; ++i) CHECK(admit.admit(phone(static_cast<std::uint8_t>(i % 4))));  // four phones, 20 each
  std::size_t taken = 0;
  for (int i = 0; i < 1000; ++i) {
    TlsObservation spoofed = phone(static_cast<std::uint8_t>(i % 250), "s" + std::to_string(i));
    if (admit.full()) break;
    if (admit.admit(spoofed)) ++taken;
  }
  CHECK(taken == 20);
  CHECK(admit.held() == 100);
  CHECK(admit.full());
}

TEST_CASE("admission by size: ordinary sightings count 8 KiB each, large ones what they carry, and fill the evidence sooner") {
  EvidenceAdmission admit(10);  // 80 KiB; its first 64 KiB in order
  CHECK(admit.maxBytes() == 10 * EVIDENCE_BYTES_PER_SIGHTING_MAX);
  CHECK(admit.admit(phone(1)));
  CHECK(admit.bytes() == EVIDENCE_BYTES_PER_SIGHTING_MAX);  // an ordinary sighting: the floor
  CHECK(admit.admit(request(1, "Linksys/SPA-962", "/spa962.cfg")));
  CHECK(admit.bytes() == 2 * EVIDENCE_BYTES_PER_SIGHTING_MAX);
  // Hostile User-Agents of 6,000 bytes: copied into the device, its claims and
  // its encodings, each counts for about five times its texts.
  const std::string long_ua(6000, 'A');
  CHECK(admit.admit(request(2, long_ua, "/a.cfg")));
  const std::uint64_t large = admit.bytes() - 2 * EVIDENCE_BYTES_PER_SIGHTING_MAX;
  CHECK(large >= TEXT_COPIES * long_ua.size());
  CHECK(large <= SIGHTING_WEIGHT_BASE + TEXT_COPIES * (long_ua.size() + 100));
  CHECK(admit.admit(request(3, long_ua + "B", "/b.cfg")));
  // Three sightings and past the part in order by size: only new ones join from here.
  CHECK(admit.held() == 4);
  CHECK(admit.held() < admit.inOrder());
  CHECK(admit.limited());
  CHECK_FALSE(admit.full());
  CHECK_FALSE(admit.admit(request(2, long_ua, "/a.cfg?t=1")));  // a repeat
  std::size_t taken = 0;
  for (std::uint8_t n = 10; n < 40 && !admit.full(); ++n) taken += admit.admit(phone(n)) ? 1 : 0;
  CHECK(admit.full());
  CHECK(admit.held() < admit.max());  // full by size, not by number
  CHECK(taken >= 1);
  CHECK(admit.bytes() >= admit.maxBytes());
  CHECK(admit.bytes() < admit.maxBytes() + EVIDENCE_BYTES_PER_SIGHTING_MAX);  // past it by one sighting at most
  CHECK_FALSE(admit.admit(phone(50)));
  admit.clear();
  CHECK(admit.bytes() == 0);
  CHECK_FALSE(admit.limited());
}

TEST_CASE("admission by size: a certificate counts once, with what its parsed fields hold") {
  // A server certificate of 40,000 bytes with 1,000 names, the same in every handshake.
  auto big = std::make_shared<CertInfo>(*makeCert("5e", {{"CN", "prov.example"}}));
  big->der.assign(40000, 0x30);
  for (int i = 0; i < 1000; ++i) big->san_dns.push_back("host" + std::to_string(i) + ".provisioning.example.net");
  CHECK(parsedBytes(*big) > 1000 * sizeof(std::string));
  CHECK(certFootprint(*big) == big->der.size() + parsedBytes(*big));
  CHECK(certFootprint(*makeCert("aa", {{"CN", "SPA-962"}})) == 2 + CERT_ENTRY_MIN);  // a small one: at least the minimum

  EvidenceAdmission admit(100);
  auto withServer = [&](std::uint8_t n) {
    TlsObservation t = phone(n);
    t.server_chain = {big};
    return t;
  };
  CHECK(admit.admit(withServer(1)));
  const std::uint64_t first = admit.bytes();
  CHECK(first >= certFootprint(*big) + certFootprint(*big) / 2);
  for (std::uint8_t n = 2; n <= 5; ++n) CHECK(admit.admit(withServer(n)));
  // Four more phones behind the same server: ordinary sightings from then on.
  CHECK(admit.bytes() == first + 4 * EVIDENCE_BYTES_PER_SIGHTING_MAX);

  // Released and read back: counted again, once.
  admit.clear();
  CHECK(admit.admit(withServer(1)));
  CHECK(admit.bytes() == first);

  EvidenceAdmission unlimited(0);  // no limit: nothing is weighed
  CHECK(unlimited.admit(withServer(1)));
  CHECK(unlimited.bytes() == 0);
  CHECK_FALSE(unlimited.full());
}

TEST_CASE("evidence memory: the worst case of a limit against what the process may use, and the limit that fits") {
  // No limit, nothing to estimate; otherwise the base and 8 KiB a sighting.
  CHECK(evidenceMemoryNeed(0) == 0);
  CHECK(evidenceMemoryNeed(1) == RUN_BASE_BYTES + 8192);
  CHECK(evidenceMemoryNeed(150000) == RUN_BASE_BYTES + 150000ULL * 8192);

  const MemoryLimit unit{2ULL << 30, "memory.max of cgroup /system.slice/provaudit.service"};
  // The default fits the packaged unit's MemoryMax (2 GiB) with room to spare...
  CHECK(evidenceMemoryWarning(150000, unit).empty());
  CHECK(evidenceMemoryNeed(150000) < unit.bytes * 3 / 4);
  // ...the old default did not: it peaked at 2.0 GB in a replay alone (bench/RESULTS.md, session 14).
  const std::string w = evidenceMemoryWarning(250000, unit);
  CHECK(w == "provaudit: warning: --max-sightings 250000 may need up to 2.3 GB of memory (about 8 KB a sighting "
             "when each is a device with a certificate of its own), more than this process may use (2.1 GB: "
             "memory.max of cgroup /system.slice/provaudit.service); --max-sightings 229376 fits");
  // The limit it names fits, and one more does not.
  CHECK(evidenceMemoryWarning(229376, unit).empty());
  CHECK_FALSE(evidenceMemoryWarning(229377, unit).empty());

  // What a capture holds besides (interfaces past the first, a larger -B)
  // counts in: the limit that fits is smaller by as many sightings as it holds.
  constexpr std::uint64_t MIB = 1024 * 1024;
  CHECK(evidenceMemoryNeed(1, 448 * MIB) == RUN_BASE_BYTES + 448 * MIB + 8192);
  CHECK(evidenceMemoryNeed(0, 448 * MIB) == 0);
  const MemoryExtra big_buffer{448 * MIB, "the capture buffers of 1 interface at -B 512"};
  CHECK(evidenceMemoryWarning(229376, unit, big_buffer) ==
        "provaudit: warning: --max-sightings 229376 may need up to 2.6 GB of memory (about 8 KB a sighting when each "
        "is a device with a certificate of its own, and 0.5 GB for the capture buffers of 1 interface at -B 512), "
        "more than this process may use (2.1 GB: memory.max of cgroup /system.slice/provaudit.service); "
        "--max-sightings 172032 fits");
  CHECK(evidenceMemoryWarning(172032, unit, big_buffer).empty());
  CHECK_FALSE(evidenceMemoryWarning(172033, unit, big_buffer).empty());

  // No limit asked for, or nothing known of the memory: nothing to say.
  CHECK(evidenceMemoryWarning(0, unit).empty());
  CHECK(evidenceMemoryWarning(250000, MemoryLimit{}).empty());
  // Less memory than the base: no limit fits.
  const std::string tiny = evidenceMemoryWarning(10, MemoryLimit{100ULL << 20, "physical memory"});
  CHECK(tiny.ends_with("more than this process may use (0.1 GB: physical memory); it needs more memory"));
}
