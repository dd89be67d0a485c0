#pragma once
// Text that came off the wire is kept byte for byte where it is valid UTF-8;
// every byte that does not start a well-formed sequence becomes "\xNN", so
// everything downstream (JSON, SQLite TEXT, HTML) holds valid UTF-8.
#include <string>
#include <string_view>

namespace provaudit {

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629 §4), or 0.
std::size_t utf8SequenceLength(std::string_view s, std::size_t i);
std::string visibleUtf8(std::string_view s);

}  // namespace provaudit
