#pragma once
// Writes JSON text straight into a string, byte for byte as
// boost::json::serialize writes the same values (strings escaped alike: '"',
// '\\' and control characters, everything else as it is), so the audit's
// device documents need no document tree first. Building one, serializing it
// and freeing it cost about 120k instructions a device, most of an audit's
// encoding (bench/RESULTS.md, session 6).
//
// Commas come by themselves: a key or a value that follows a value in the same
// object or array gets one. The caller keeps keys and values paired.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace provaudit::store {

class JsonOut {
 public:
  // An object key: a string literal, checked when compiled to need no
  // escaping (no '"', '\\' or control character), so that it is copied as
  // it is rather than scanned on every document.
  class Key {
   public:
    template <std::size_t N>
    consteval Key(const char (&s)[N]) : text_(s, N - 1) {  // implicit: field("id", ...)
      for (const char c : text_) {
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) throw "a JSON key literal that needs escaping";
      }
    }
    [[nodiscard]] constexpr std::string_view text() const { return text_; }

   private:
    std::string_view text_;
  };

  // Appends to `out` (which may hold text already: the document starts at its end).
  explicit JsonOut(std::string& out) : out_(out), start_(out.size()) {}

  JsonOut& beginObject() { return open('{'); }
  JsonOut& endObject() { return close('}'); }
  JsonOut& beginArray() { return open('['); }
  JsonOut& endArray() { return close(']'); }
  JsonOut& key(Key k);

  JsonOut& str(std::string_view s);
  JsonOut& str(const std::string& s) { return str(std::string_view(s)); }
  JsonOut& str(const char* s) { return str(std::string_view(s)); }
  JsonOut& str(const std::optional<std::string>& s);  // null when empty
  JsonOut& num(std::int64_t v);
  JsonOut& num(std::uint64_t v);
  JsonOut& boolean(bool v);
  JsonOut& null();
  JsonOut& strArray(const std::vector<std::string>& v);

  // key(k) then the value, for the common case.
  template <typename T>
  JsonOut& field(Key k, const T& v) {
    key(k);
    return put(v);
  }

 private:
  JsonOut& put(std::string_view s) { return str(s); }
  JsonOut& put(const std::string& s) { return str(s); }
  JsonOut& put(const char* s) { return str(s); }
  JsonOut& put(const std::optional<std::string>& s) { return str(s); }
  JsonOut& put(const std::vector<std::string>& v) { return strArray(v); }
  JsonOut& put(bool v) { return boolean(v); }
  JsonOut& put(std::int64_t v) { return num(v); }
  JsonOut& put(std::uint64_t v) { return num(v); }
  JsonOut& put(std::uint32_t v) { return num(static_cast<std::uint64_t>(v)); }
  JsonOut& put(std::uint16_t v) { return num(static_cast<std::uint64_t>(v)); }
  JsonOut& put(int v) { return num(static_cast<std::int64_t>(v)); }

  void separate();  // a comma when a value came before in this container
  JsonOut& open(char c);
  JsonOut& close(char c);

  std::string& out_;
  const std::size_t start_;
};

}  // namespace provaudit::store
