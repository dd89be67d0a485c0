// The CSV report's cells: RFC 4180 quoting, and nothing a spreadsheet would
// read as a formula (OWASP "CSV injection"), whatever a device sent.
#include <catch2/catch.hpp>
#include <string>

#include "store/report.h"

using provaudit::store::csvField;

TEST_CASE("csvField quotes what RFC 4180 and the spreadsheets' list separators need") {
  CHECK(csvField("") == "");
  CHECK(csvField("SPA-2102") == "SPA-2102");
  CHECK(csvField("'quoted") == "'quoted");
  CHECK(csvField("a,b") == "\"a,b\"");
  CHECK(csvField("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csvField("two\nlines") == "\"two\nlines\"");
  CHECK(csvField("cr\rhere") == "\"cr\rhere\"");
  // ';' separates cells in many locales' spreadsheets, and our joined lists:
  // unquoted, "10.0.0.1;=6+6" would be two cells there, the second a formula.
  CHECK(csvField("10.0.0.1;=6+6") == "\"10.0.0.1;=6+6\"");
  CHECK(csvField("generic-cert;no-client-cert") == "\"generic-cert;no-client-cert\"");
  CHECK(csvField("a\tb") == "\"a\tb\"");
  // Any other control character (a NUL, an escape sequence, DEL from a
  // device's User-Agent): quoted, its bytes kept.
  CHECK(csvField(std::string("SPA\0942", 7)) == "\"" + std::string("SPA\0942", 7) + "\"");
  CHECK(csvField("SPA\x1b[31m942") == "\"SPA\x1b[31m942\"");
  CHECK(csvField("SPA\x7f") == "\"SPA\x7f\"");
  CHECK(csvField("SPA\x07") == "\"SPA\x07\"");
  CHECK(csvField("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 is no control character
}

TEST_CASE("csvField neutralises a formula, also behind blanks and control characters") {
  for (const char* lead : {"=", "+", "-", "@"}) {
    const std::string f = std::string(lead) + "1+1";
    INFO(f);
    CHECK(csvField(f) == "\"'" + f + "\"");
  }
  CHECK(csvField("\t=1") == "\"'\t=1\"");
  CHECK(csvField("\rx") == "\"'\rx\"");
  // An import that trims blanks (LibreOffice's "Trim spaces") would leave the formula.
  CHECK(csvField(" =1+1") == "\"' =1+1\"");
  CHECK(csvField("   @SUM(1)") == "\"'   @SUM(1)\"");
  CHECK(csvField("\n=3+3") == "\"'\n=3+3\"");
  CHECK(csvField(std::string("\0=7+7", 5)) == "\"'" + std::string("\0=7+7", 5) + "\"");
  CHECK(csvField("\x1b+cmd") == "\"'\x1b+cmd\"");
  // Not a formula: the character after the blanks is ordinary.
  CHECK(csvField(" SPA") == " SPA");
  CHECK(csvField("a=1") == "a=1");
  CHECK(csvField("00:0e:08:aa:bb:cc") == "00:0e:08:aa:bb:cc");
}
