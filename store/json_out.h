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
  // Appends to `out` (which may hold text already: the document starts at its end).
  explicit JsonOut(std::string& out) : out_(out), start_(out.size()) {}

  JsonOut& beginObject() { return open('{'); }
  JsonOut& endObject() { return close('}'); }
  JsonOut& beginArray() { return open('['); }
  JsonOut& endArray() { return close(']'); }
  JsonOut& key(std::string_view k);

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
  JsonOut& field(std::string_view k, const T& v) {
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
