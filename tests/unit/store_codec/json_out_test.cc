// JsonOut writes what boost::json::serialize writes for the same values, byte
// for byte: every byte value in strings, the integer limits, nesting, commas.
#include "store/json_out.h"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

using provaudit::store::JsonOut;
namespace json = boost::json;

TEST_CASE("JsonOut escapes every byte value as boost::json does") {
  for (int c = 0; c < 256; ++c) {
    const std::string s = std::string("a") + static_cast<char>(c) + "b";
    std::string out;
    JsonOut(out).str(s);
    INFO(c);
    CHECK(out == json::serialize(json::value(s)));
  }
  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 40, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng() % 256);
    std::string out;
    JsonOut(out).str(s);
    CHECK(out == json::serialize(json::value(s)));
  }
}

TEST_CASE("JsonOut writes numbers, literals and nesting as boost::json does") {
  std::string out;
  JsonOut j(out);
  j.beginObject()
      .field("min", std::numeric_limits<std::int64_t>::min())
      .field("max", std::numeric_limits<std::int64_t>::max())
      .field("umax", std::numeric_limits<std::uint64_t>::max())
      .field("zero", std::int64_t{0})
      .field("neg", std::int64_t{-7})
      .field("port", std::uint16_t{443})
      .field("yes", true)
      .field("no", false)
      .field("none", std::optional<std::string>())
      .field("some", std::optional<std::string>("x\"y"))
      .field("list", std::vector<std::string>{"a", "", "c\n"})
      .field("empty", std::vector<std::string>{})
      .key("nested")
      .beginArray()
      .beginObject()
      .endObject()
      .beginArray()
      .null()
      .num(std::uint64_t{1})
      .endArray()
      .str("z")
      .endArray()
      .key("obj")
      .beginObject()
      .field("k", "v")
      .endObject()
      .endObject();
  json::object want;
  want["min"] = std::numeric_limits<std::int64_t>::min();
  want["max"] = std::numeric_limits<std::int64_t>::max();
  want["umax"] = std::numeric_limits<std::uint64_t>::max();
  want["zero"] = 0;
  want["neg"] = -7;
  want["port"] = 443;
  want["yes"] = true;
  want["no"] = false;
  want["none"] = nullptr;
  want["some"] = "x\"y";
  want["list"] = json::array{"a", "", "c\n"};
  want["empty"] = json::array{};
  want["nested"] = json::array{json::object{}, json::array{nullptr, 1}, "z"};
  want["obj"] = json::object{{"k", "v"}};
  CHECK(out == json::serialize(want));
  CHECK(json::parse(out) == want);
}

TEST_CASE("JsonOut appends after text already in the string") {
  std::string out = "prefix:";
  JsonOut(out).beginArray().str("a").num(std::int64_t{2}).endArray();
  CHECK(out == "prefix:[\"a\",2]");
}

TEST_CASE("JsonOut finds a byte to escape at any position of a long string") {
  // The clean runs are skipped eight bytes at a time: every position, every
  // kind of byte next to the limits, in plain and in non-ASCII text.
  for (const char fill : {'a', '\x7f', '\xc3', '!', '#', '[', ']'}) {
    for (std::size_t len = 1; len <= 40; ++len) {
      for (std::size_t pos = 0; pos < len; ++pos) {
        for (const int special : {0x00, 0x08, 0x1f, 0x20, 0x22, 0x5c, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff}) {
          std::string s(len, fill);
          s[pos] = static_cast<char>(special);
          std::string out;
          JsonOut(out).str(s);
          if (out != json::serialize(json::value(s))) {
            INFO(len << " " << pos << " " << special);
            REQUIRE(out == json::serialize(json::value(s)));
          }
        }
      }
    }
  }
}
