// Opening a database creates or migrates its schema; several processes (or
// threads) opening the same new file at once take turns instead of running
// the same migration twice.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../../support/temp_dir.h"
#include "store/database.h"

using provaudit::store::Database;

TEST_CASE("eight openers of one new database at the same moment all succeed and the schema is current") {
  const provaudit::testing::TempDir tmp("provaudit-migrate");
  std::string path;
  for (int round = 0; round < 5; ++round) {
    path = tmp.path("race-" + std::to_string(round) + ".db");  // a new file each round
    std::atomic<int> ready{0};
    std::atomic<int> failures{0};
    std::vector<std::string> errors(8);
    std::vector<std::thread> openers;
    for (int i = 0; i < 8; ++i) {
      openers.emplace_back([&, i] {
        ++ready;
        while (ready.load() < 8) std::this_thread::yield();  // start together
        try {
          Database db(path, Database::Mode::ReadWrite);
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(i)] = e.what();
          ++failures;
        }
      });
    }
    for (auto& t : openers) t.join();
    std::string all;
    for (const auto& e : errors) all += e.empty() ? "" : e + "\n";
    INFO(all);
    REQUIRE(failures.load() == 0);
  }
  Database db(path, Database::Mode::ReadOnly);  // refuses a schema it does not know
  CHECK(db.count("devices") == 0);
}
