#include "store/report.h"

#include <iterator>

#include <boost/json.hpp>

namespace provaudit::store {
namespace json = boost::json;

std::string csvField(const std::string& value) {
  std::string v = value;
  if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r')) {
    v.insert(v.begin(), '\'');  // OWASP CSV injection: neutralise a leading formula character
  }
  const bool quote = v.find_first_of(",\"\r\n") != std::string::npos || v != value;
  if (!quote) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += "\"\"";
    else out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void writeJsonReport(Database& db, std::ostream& out, const std::string& generated_iso) {
  out << "{\"schema\":\"provaudit.report/1\",\"generated\":" << json::serialize(json::value(generated_iso))
      << ",\"devices\":[";
  bool first = true;
  db.forEachDeviceJson([&](const std::string& row) {
    out << (first ? "\n" : ",\n") << row;
    first = false;
  });
  out << "\n],\"servers\":[";
  first = true;
  db.forEachServerJson([&](const std::string& row) {
    out << (first ? "\n" : ",\n") << row;
    first = false;
  });
  out << "\n]}\n";
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

void writeCsvReport(Database& db, std::ostream& out) {
  out << CSV_HEADER;
  db.forEachDeviceJson([&](const std::string& row) {
    boost::system::error_code ec;
    const json::value v = json::parse(row, ec);
    if (ec || !v.is_object()) return;
    out << csvDeviceRow(v.as_object());
  });
}

}  // namespace provaudit::store
