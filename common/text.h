#pragma once
// Text that came off the wire is kept byte for byte where it is valid UTF-8;
// every byte that does not start a well-formed sequence becomes "\xNN", so
// everything downstream (JSON, SQLite TEXT, HTML) holds valid UTF-8.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace provaudit {

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629 §4), or 0.
std::size_t utf8SequenceLength(std::string_view s, std::size_t i);
std::string visibleUtf8(std::string_view s);
// As visibleUtf8, and control characters (C0 and DEL) as "\xNN" too: a file
// name or any outside text written to a terminal or a log line, where a line
// feed would forge a line and an escape sequence would drive the terminal.
std::string terminalText(std::string_view s);

// Lowercase hex, two digits per byte, appended to `out` (no printf: these run
// per packet, for fingerprints, keys and MAC addresses).
void appendHexLower(std::string& out, std::span<const std::uint8_t> bytes);
std::string hexLower(std::span<const std::uint8_t> bytes);
// The lowest `digits` nibbles of `v`, most significant first.
void appendHexLower(std::string& out, std::uint64_t v, int digits);
// `v` in decimal, at least `width` digits (zero-padded), appended to `out`
// (no printf: documents hold several times, addresses and counts each).
void appendDecimal(std::string& out, std::uint64_t v, int width = 1);
// "0x" and eight lowercase digits: a 32-bit field as error messages show it.
std::string hex32(std::uint32_t v);
// A count and its noun for people: `one` for exactly 1, else `many`
// ("1 flow", "0 flows", "2 anomalies").
std::string counted(std::uint64_t n, std::string_view one, std::string_view many);

}  // namespace provaudit
