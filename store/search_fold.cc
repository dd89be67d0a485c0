#include "store/search_fold.h"

#include <algorithm>
#include <climits>

#include "store/sqlite_util.h"

namespace provaudit::store {
namespace {

// Bytes of the UTF-8 sequences of the first `n` characters of `s`.
std::size_t skipChars(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  while (n > 0 && i < s.size()) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
    --n;
  }
  return i;
}

struct Rebuild {
  std::string* out;
  bool first = true;
};

// The trigram tokenizer emits every run of three characters, folded, in
// order: the first run whole, then the last character of each next one
// rebuild the folded text.
int onTrigram(void* ctx, int /*flags*/, const char* token, int size, int /*start*/, int /*end*/) {
  auto* r = static_cast<Rebuild*>(ctx);
  const std::string_view t(token, static_cast<std::size_t>(std::max(size, 0)));
  r->out->append(r->first ? t : t.substr(skipChars(t, 2)));
  r->first = false;
  return SQLITE_OK;
}

}  // namespace

SearchFold::SearchFold(sqlite3* db) {
  fts5_api* fts5 = nullptr;
  {
    Stmt s(db, "SELECT fts5(?1)");
    if (sqlite3_bind_pointer(s.get(), 1, static_cast<void*>(&fts5), "fts5_api_ptr", nullptr) != SQLITE_OK) {
      throw DbError("cannot reach SQLite's FTS5 module");
    }
    s.step();
  }
  void* user = nullptr;
  Fts5Tokenizer* made = nullptr;
  if (fts5 == nullptr || fts5->iVersion < 2 || fts5->xFindTokenizer(fts5, "trigram", &user, &api_) != SQLITE_OK ||
      api_.xCreate(user, nullptr, 0, &made) != SQLITE_OK) {
    throw DbError("SQLite has no FTS5 trigram tokenizer");
  }
  tokenizer_ = Fts5TokenizerPtr(made, Fts5TokenizerDeleter{api_.xDelete});  // ours from here on
}

void SearchFold::append(std::string_view in, std::string& out) {
  in = in.substr(0, in.find('\0'));
  if (std::all_of(in.begin(), in.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    for (const char c : in) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    return;
  }
  // Two spaces first, so that a text of one or two characters makes a
  // trigram too; they fold to themselves and are dropped again.
  padded_.assign("  ");
  padded_.append(in);
  std::string folded;
  Rebuild r{&folded};
  api_.xTokenize(tokenizer_.get(), &r, FTS5_TOKENIZE_DOCUMENT, padded_.data(),
                 static_cast<int>(std::min<std::size_t>(padded_.size(), INT_MAX)),
                 &onTrigram);
  out.append(std::string_view(folded).substr(std::min<std::size_t>(2, folded.size())));
}

}  // namespace provaudit::store
