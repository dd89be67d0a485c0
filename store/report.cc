#include "store/report.h"

#include <algorithm>
#include <iterator>
#include <string_view>

#include <boost/json.hpp>

namespace provaudit::store {
namespace json = boost::json;

namespace {

// Whether a spreadsheet may read the cell as a formula (OWASP "CSV
// injection"): it begins with = + - @, a tab or a carriage return, or one of
// the first four after blanks and control characters, which an import that
// trims them (LibreOffice's "Trim spaces") takes away.
bool formulaLike(std::string_view v) {
  if (v.empty()) return false;
  if (v.front() == '\t' || v.front() == '\r') return true;
  const auto first = std::find_if(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) > ' '; });
  return first != v.end() && (*first == '=' || *first == '+' || *first == '-' || *first == '@');
}

}  // namespace

std::string csvField(const std::string& value) {
  std::string v = value;
  if (formulaLike(v)) v.insert(v.begin(), '\'');  // neutralised: the cell is text
  // Quoted also when it holds a ';' or a tab: the list separator of the
  // spreadsheets of many locales, and of lists we join (an unquoted
  // "10.0.0.1;=1+1" would be two cells there, the second a formula); and
  // when it holds any other control character (a NUL or an escape sequence
  // from a User-Agent): the cell's bytes are kept, its bounds unmistakable.
  const bool control = std::any_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  const bool quote = control || v.find_first_of(",\";") != std::string::npos || v != value;
  if (!quote) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += "\"\"";
    else out.push_back(c);
  }
  out.push_back('"');
  return out;
}

namespace {

std::string str(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string joinStrings(const json::value* v, const char* field = nullptr) {
  std::string out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array()) {
    std::string s;
    if (field != nullptr && e.is_object()) s = str(e.as_object(), field);
    else if (e.is_string()) s = std::string(e.as_string());
    if (s.empty()) continue;
    out += (out.empty() ? "" : ";") + s;
  }
  return out;
}

}  // namespace

const char* const CSV_HEADER =
    "mac,ips,identity,vendor,model,firmware,serial,cert_mac,cert_sha256,cert_chain,findings,first_seen,last_seen\r\n";

std::string csvDeviceRow(const json::object& d) {
  const json::value* cert_v = d.if_contains("cert");
  const json::object none;
  const json::object& cert = cert_v != nullptr && cert_v->is_object() ? cert_v->as_object() : none;
  const std::string cells[] = {str(d, "mac"),       joinStrings(d.if_contains("ips")),
                               str(d, "identity"),  str(d, "vendor"),
                               str(d, "model"),     str(d, "firmware"),
                               str(d, "serial"),    str(cert, "mac"),
                               str(cert, "sha256"), str(cert, "chain"),
                               joinStrings(d.if_contains("findings"), "code"),
                               str(d, "first_seen"), str(d, "last_seen")};
  std::string row;
  for (std::size_t i = 0; i < std::size(cells); ++i) {
    if (i > 0) row += ',';
    row += csvField(cells[i]);
  }
  return row + "\r\n";
}

ReportStream::Damage writeReport(Database& db, ReportFormat format, std::ostream& out,
                                 const std::string& generated_iso) {
  auto stream = openReportStream(db.handle(), format, DeviceFilter{}, generated_iso);
  std::string chunk;
  bool more = true;
  while (more) {
    chunk.clear();
    more = stream->fill(chunk, 64 * 1024);
    out << chunk;
  }
  return stream->damage();
}

}  // namespace provaudit::store
