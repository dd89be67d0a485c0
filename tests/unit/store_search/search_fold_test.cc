// SearchFold folds text as FTS5's trigram tokenizer does: a word found as a
// substring of the folded text is exactly a trigram-index match. Checked
// against the index itself over random text (ASCII, Latin, Greek, Cyrillic,
// Turkish dotted I, symbols and bytes that are not UTF-8).
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/search_fold.h"
#include "store/sqlite_util.h"

using namespace provaudit;
using namespace provaudit::store;

namespace {

struct MemoryDb {
  MemoryDb() {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(":memory:", &raw) == SQLITE_OK);
    db.reset(raw);
  }
  SqlitePtr db;
};

// Pieces random text is made of, upper and lower case of each where there is one.
const std::vector<std::string> PIECES = {
    "a", "B", "c", "Z", "0", "7", " ", "-", ":", "=", ",", "/", ".",
    "\xc3\xa9", "\xc3\x89",          // é É
    "\xc3\xbc", "\xc3\x9c",          // ü Ü
    "\xc3\x9f",                      // ß
    "\xce\xb1", "\xce\x91",          // α Α
    "\xcf\x83", "\xcf\x82", "\xce\xa3",  // σ ς Σ
    "\xd0\xb6", "\xd0\x96",          // ж Ж
    "\xc4\xb0", "\xc4\xb1", "i", "I",  // İ ı i I
    "\xe2\x84\xaa", "k", "K",        // Kelvin sign
    "\xe2\x98\x8e",                  // ☎
    "\xf0\x9f\x93\x9e",              // 📞
    "\xff", "\xfe", "\xc3", "\x80",  // not UTF-8 (lone lead and continuation bytes)
};

std::string randomText(std::mt19937& rng, std::size_t pieces) {
  std::string s;
  for (std::size_t i = 0; i < pieces; ++i) s += PIECES[rng() % PIECES.size()];
  return s;
}

std::size_t characters(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("SearchFold: ASCII is lowercased and nothing else changes; the text ends at a NUL") {
  MemoryDb m;
  SearchFold fold(m.db.get());
  CHECK(fold.fold("") == "");
  CHECK(fold.fold("CN=SPA504G,O=Cisco Systems") == "cn=spa504g,o=cisco systems");
  CHECK(fold.fold("AB") == "ab");
  CHECK(fold.fold("\xc3\x89") == "\xc3\xa9");                // É -> é (one character)
  CHECK(fold.fold("M\xc3\x9cLLER") == "m\xc3\xbcller");      // MÜLLER -> müller
  CHECK(fold.fold("Stra\xc3\x9f" "e") == "stra\xc3\x9f" "e");  // ß stays
  CHECK(fold.fold(std::string("ab\0CD", 5)) == "ab");
  CHECK(fold.fold(std::string("\xc3\x89\0CD", 5)) == "\xc3\xa9");
}

TEST_CASE("SearchFold: a substring of the folded text is exactly what the trigram index matches") {
  MemoryDb m;
  sqlite3* db = m.db.get();
  execSql(db, "CREATE VIRTUAL TABLE t USING fts5(body, tokenize='trigram')");
  std::mt19937 rng(2026);
  std::vector<std::string> bodies;
  {
    Stmt add(db, "INSERT INTO t(rowid, body) VALUES(?, ?)");
    for (int i = 0; i < 300; ++i) {
      bodies.push_back(randomText(rng, 4 + rng() % 40));
      add.bind(1, static_cast<std::int64_t>(i)).bind(2, bodies.back()).exec();
    }
  }
  SearchFold fold(db);
  std::vector<std::string> folded;
  for (const auto& b : bodies) folded.push_back(fold.fold(b));

  Stmt match(db, "SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid");
  int compared = 0, nonempty = 0;
  for (int round = 0; round < 1500; ++round) {
    // A word: a piece of a body (found at least there) or random text; 3 to 6 characters.
    std::string word;
    if (round % 2 == 0) {
      const std::string& b = bodies[rng() % bodies.size()];
      const std::size_t from = rng() % b.size(), len = 3 + rng() % 12;
      word = b.substr(from, len);
    } else {
      word = randomText(rng, 3 + rng() % 4);
    }
    if (word.find_first_of(" \t\n\"") != std::string::npos || characters(word) < 3) continue;
    INFO("word bytes: " << word.size());
    std::set<std::int64_t> by_index;
    match.bind(1, "\"" + word + "\"");
    while (match.step()) by_index.insert(match.int64(0));
    match.reset();
    std::set<std::int64_t> by_fold;
    const std::string needle = fold.fold(word);
    for (std::size_t i = 0; i < folded.size(); ++i) {
      if (folded[i].find(needle) != std::string::npos) by_fold.insert(static_cast<std::int64_t>(i));
    }
    CHECK(by_fold == by_index);
    ++compared;
    if (!by_index.empty()) ++nonempty;
  }
  // The comparison covered many words, and many of them matched something.
  CHECK(compared > 600);
  CHECK(nonempty > 300);
}
