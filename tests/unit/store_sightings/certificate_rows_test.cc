// A TLS sighting's certificates go into the certificates table once: the
// writer remembers what its committed transactions stored and skips those,
// but forgets what a rolled-back transaction wrote, so a later sighting
// writes it again. Every sighting keeps referring to a stored row.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "../../support/temp_dir.h"
#include "store/database.h"
#include "store/sqlite_util.h"

using namespace provaudit;
using namespace provaudit::analyze;
using namespace provaudit::store;

namespace {

constexpr std::int64_t T0 = 1'750'000'000'000'000'000;
const std::string SHA = "7c9978370801bab578ae4dea356d2b39d01556412a7fc24711e7915b12e85bcb";

CertPtr leaf() {
  auto c = std::make_shared<CertInfo>();
  c->sha256 = SHA;
  c->der = {0x30, 0x03, 0x02, 0x01, 0x01};
  c->subject_text = "OU=SPA-2102,L=88012BFE0001,ST=000e08fe0001";
  c->issuer_text = "CN=Sipura CA Client Root";
  return c;
}

// A distinct sighting (its own time) presenting the same certificate.
TlsObservation sighting(int n) {
  TlsObservation t;
  t.flow.ref.ts_ns = T0 + n;
  t.flow.ref.frame = static_cast<std::uint64_t>(n);
  t.flow.source = "synthetic";
  t.flow.client = {*IpAddr::parse("10.0.0.7"), static_cast<std::uint16_t>(40000 + n)};
  t.flow.server = {*IpAddr::parse("10.0.0.1"), 443};
  t.first = t.flow.ref;
  t.client_cert = ClientCertState::Present;
  t.client_chain = {leaf()};
  t.server_chain = {leaf()};  // the same certificate twice in one sighting, too
  return t;
}

std::int64_t count(Database& db, const std::string& sql) {
  Stmt s(db.handle(), sql.c_str());
  REQUIRE(s.step());
  return s.int64(0);
}

}  // namespace

TEST_CASE("a certificate is written once, and again after the transaction that wrote it rolled back") {
  testing::TempDir dir("pa-certs");
  const std::string path = dir.path("a.db");
  const std::string rows = "SELECT count(*) FROM certificates WHERE sha256='" + SHA + "'";
  {
    Database db(path, Database::Mode::ReadWrite);
    CHECK_THROWS_AS(db.transaction([&] {
                      CHECK(db.addTls(sighting(1)) != 0);
                      throw std::runtime_error("the writer fails before committing");
                    }),
                    std::runtime_error);
    CHECK(count(db, rows) == 0);
    // The rolled-back write is forgotten: this one writes the row again.
    db.transaction([&] { CHECK(db.addTls(sighting(2)) != 0); });
    CHECK(count(db, rows) == 1);
    // Stored and committed: later sightings refer to it without writing it.
    db.transaction([&] {
      CHECK(db.addTls(sighting(3)) != 0);
      CHECK(db.addTls(sighting(4)) != 0);
    });
    CHECK(count(db, rows) == 1);
    CHECK(count(db, "SELECT count(*) FROM sightings") == 3);
  }
  // Another connection, which knows nothing yet, finds the row there.
  Database again(path, Database::Mode::ReadWrite);
  again.transaction([&] { CHECK(again.addTls(sighting(5)) != 0); });
  CHECK(count(again, rows) == 1);
  CHECK(count(again, "SELECT count(*) FROM sightings WHERE data LIKE '%" + SHA + "%'") == 4);
}
