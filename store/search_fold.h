#pragma once
// Device search text folded the way the trigram search index folds it, for
// searches answered without that index (fleets below
// DASHBOARD_INDEX_MIN_DEVICES): a word then finds, as a substring of the
// folded text, the devices that the index would give for it.
#include <sqlite3.h>

#include <string>
#include <string_view>

#include "common/c_handles.h"

namespace provaudit::store {

class SearchFold {
 public:
  // Takes FTS5's trigram tokenizer from `db`, which must outlive this object.
  // Throws DbError when SQLite was built without FTS5.
  explicit SearchFold(sqlite3* db);
  // Appends `in` to `out` folded: ASCII letters lowercased, every other
  // character as FTS5's trigram tokenizer folds it (Unicode case folding,
  // diacritics kept). Like the tokenizer, the text ends at a NUL character.
  void append(std::string_view in, std::string& out);
  [[nodiscard]] std::string fold(std::string_view in) {
    std::string out;
    append(in, out);
    return out;
  }

 private:
  fts5_tokenizer api_{};
  Fts5TokenizerPtr tokenizer_;
  std::string padded_;  // scratch: the text behind two spaces (see append)
};

}  // namespace provaudit::store
