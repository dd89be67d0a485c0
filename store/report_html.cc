#include "store/report_html.h"

#include <algorithm>
#include <array>
#include <optional>
#include <span>

#include "common/text.h"
#include "store/schema.h"
#include "store/web_queries.h"

namespace provaudit::store {
namespace json = boost::json;

namespace {

// Characters that change how the text around them reads without being seen themselves: DEL and
// the C1 controls, bidi marks, embeddings, overrides and isolates (U+202A–202E, U+2066–2069:
// "\u202Egnp.lave" reads "eval.png"), zero-width characters (U+200B–200D, U+2060, U+FEFF), the
// other format characters (Unicode category Cf: soft hyphen, tags...), line and paragraph
// separators, fillers and variation selectors. The dashboard shows the same set the same way.
struct CodePointRange {
  char32_t first;
  char32_t last;
};
constexpr std::array<CodePointRange, 26> INVISIBLE = {{
    {0x7F, 0x9F},       {0xAD, 0xAD},       {0x34F, 0x34F},     {0x600, 0x605},     {0x61C, 0x61C},
    {0x6DD, 0x6DD},     {0x70F, 0x70F},     {0x890, 0x891},     {0x8E2, 0x8E2},     {0x115F, 0x1160},
    {0x17B4, 0x17B5},   {0x180B, 0x180F},   {0x200B, 0x200F},   {0x2028, 0x202E},   {0x2060, 0x206F},
    {0x3164, 0x3164},   {0xFE00, 0xFE0F},   {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},   {0xFFF9, 0xFFFB},
    {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
    {0xE0000, 0xE0FFF},
}};

bool isInvisible(char32_t cp) {
  return std::any_of(INVISIBLE.begin(), INVISIBLE.end(), [cp](CodePointRange r) { return cp >= r.first && cp <= r.last; });
}

struct Utf8Char {
  char32_t code_point;
  std::size_t length;
};

// RFC 3629 §3: the character whose UTF-8 sequence starts `text`; nullopt for a byte that does not
// start a well-formed sequence (it is copied as it is, as before).
std::optional<Utf8Char> utf8At(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  char32_t cp = 0;
  if (lead < 0x80) return Utf8Char{lead, 1};
  if (lead >= 0xC2 && lead <= 0xDF) { length = 2; cp = lead & 0x1F; }
  else if (lead >= 0xE0 && lead <= 0xEF) { length = 3; cp = lead & 0x0F; }
  else if (lead >= 0xF0 && lead <= 0xF4) { length = 4; cp = lead & 0x07; }
  else return std::nullopt;
  if (text.size() < length) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  constexpr std::array<char32_t, 5> SHORTEST = {0, 0, 0x80, 0x800, 0x10000};  // overlong below these
  if (cp < SHORTEST[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  return Utf8Char{cp, length};
}

// "<U+202E>", escaped: at least four hex digits, as Unicode writes code points.
void appendCodePointEscape(std::string& out, char32_t cp) {
  static constexpr char HEX[] = "0123456789ABCDEF";
  out += "&lt;U+";
  int digits = 4;
  while (digits < 6 && (cp >> (4 * digits)) != 0) ++digits;
  for (int d = digits - 1; d >= 0; --d) out.push_back(HEX[(cp >> (4 * d)) & 0xF]);
  out += "&gt;";
}

}  // namespace

void appendHtmlEscaped(std::string& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control bytes other than tab/newline would only confuse a reader; show them as U+FFFD.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += "\xEF\xBF\xBD";
        } else if (const auto ch = utf8At(text.substr(i)); ch && isInvisible(ch->code_point)) {
          appendCodePointEscape(out, ch->code_point);  // device text shows what it hides
          i += ch->length;
          continue;
        } else {
          out.push_back(c);
        }
    }
    ++i;
  }
}

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  appendHtmlEscaped(out, text);
  return out;
}

namespace {

// The report's only styling; the document carries its own CSP so that even a
// mis-escaped string could not run script when the file is opened.
constexpr std::string_view STYLE = R"css(
:root{--fg:#1d2430;--muted:#5b6472;--line:#d9dde3;--ind:#1a7f4b;--gen:#b7791f;--none:#c0392b;--unk:#6b7280}
*{box-sizing:border-box}
body{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:24px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:24px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.meta{color:var(--muted);margin-bottom:16px}
.warn{border-left:4px solid var(--gen);background:#fdf6e7;padding:8px 12px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:120px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
th{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
td.mono,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
td.nw{white-space:nowrap;word-break:normal}td.serial{min-width:calc(13ch + 12px)}td.cert{min-width:24ch}td.findings{overflow-wrap:anywhere;min-width:20ch}
.cls{font-weight:600}.cls-individualized{color:var(--ind)}.cls-generic{color:var(--gen)}.cls-none{color:var(--none)}.cls-unknown{color:var(--unk)}
.sev{display:inline-block;border-radius:3px;padding:0 4px;font-size:11px;border:1px solid var(--line);margin:1px 2px 1px 0}
.sev-critical{background:#7f1d1d;color:#fff}.sev-high{background:#c0392b;color:#fff}.sev-medium{background:#f2c94c}
.sev-low{background:#dbeafe}.sev-info{background:#eef0f3}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{font-weight:600}dd{margin:0}
@page{size:A4 landscape;margin:10mm}
@media print{body{margin:0;font-size:10px}td.mono,.mono{font-size:9px}h2{break-after:avoid}tr{break-inside:avoid}}
)css";

std::string str(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  if (v->is_uint64()) return std::to_string(v->as_uint64());
  if (v->is_bool()) return v->as_bool() ? "yes" : "no";
  return {};
}

std::string list(const json::object& o, const char* key) {
  std::string out;
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) continue;
    if (!out.empty()) out += ", ";
    out += std::string(e.as_string());
  }
  return out;
}

void cell(std::string& out, std::string_view text, std::string_view cls = {}) {
  out += cls.empty() ? "<td>" : "<td class=\"" + std::string(cls) + "\">";
  appendHtmlEscaped(out, text);
  out += "</td>";
}

// A list's values one to a line, each kept whole (addresses: a MAC or an IP
// broken across lines is misread on paper).
void linesCell(std::string& out, const json::object& o, const char* key) {
  out += "<td class=\"mono nw\">";
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_array()) {
    bool first = true;
    for (const auto& e : v->as_array()) {
      if (!e.is_string()) continue;
      if (!first) out += "<br>";
      first = false;
      appendHtmlEscaped(out, std::string_view(e.as_string()));
    }
  }
  out += "</td>";
}

// A packet time as date over time of day to the second ("2026-11-26" /
// "20:30:31Z"); the full timestamp stays in the element's datetime and title.
void timeCell(std::string& out, const std::string& iso) {
  out += "<td class=\"mono nw\">";
  const bool shaped = iso.size() >= 20 && iso[10] == 'T' && iso[13] == ':' && iso[16] == ':' && iso.back() == 'Z';
  if (!shaped) {
    appendHtmlEscaped(out, iso);
  } else {
    out += "<time datetime=\"";
    appendHtmlEscaped(out, iso);
    out += "\" title=\"";
    appendHtmlEscaped(out, iso);
    out += "\">";
    appendHtmlEscaped(out, std::string_view(iso).substr(0, 10));
    out += "<br>";
    appendHtmlEscaped(out, std::string_view(iso).substr(11, 8));
    out += "Z</time>";
  }
  out += "</td>";
}

// A class name built from a value only when the value is one we know; never from wire text.
std::string_view knownClass(std::string_view value, std::span<const std::string_view> known) {
  for (auto k : known) {
    if (k == value) return k;
  }
  return "unknown";
}

constexpr std::array<std::string_view, 4> CLASSES = {"individualized", "generic", "none", "unknown"};
constexpr std::array<std::string_view, 5> SEVERITIES = {"critical", "high", "medium", "low", "info"};

}  // namespace

HtmlReportWriter::HtmlReportWriter(std::string generated_iso, std::string filter_text)
    : generated_(std::move(generated_iso)), filter_(std::move(filter_text)) {}

void HtmlReportWriter::begin(std::string& out, const json::object& summary) {
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>provaudit device report</title><style>";
  out += STYLE;
  out += "</style></head><body>\n<h1>provaudit device report</h1><div class=\"meta\">Generated ";
  appendHtmlEscaped(out, generated_);
  out += " &middot; selection: ";
  appendHtmlEscaped(out, filter_);
  out += " &middot; times are packet timestamps (UTC)</div>\n";
  // A report from a partial audit says so before anything else.
  if (const auto* left = summary.if_contains("sightings_left_out"); left != nullptr && left->is_int64() && left->as_int64() > 0) {
    out += "<p class=\"warn\" data-notice=\"audit-limit\">" + std::to_string(left->as_int64()) +
           SIGHTINGS_LEFT_OUT_NOTICE + ".</p>\n";
  }
  out += "<div class=\"cards\">";
  out += "<div class=\"card\">Devices<b>" + std::to_string(summary.contains("devices") && summary.at("devices").is_int64()
                                                              ? summary.at("devices").as_int64()
                                                              : 0) +
         "</b></div>";
  const auto* by_class = summary.if_contains("identity");
  for (auto c : CLASSES) {
    std::int64_t n = 0;
    if (by_class != nullptr && by_class->is_object()) {
      if (const auto* v = by_class->as_object().if_contains(c); v != nullptr && v->is_int64()) n = v->as_int64();
    }
    out += "<div class=\"card cls-" + std::string(c) + "\">" + std::string(c) + "<b>" + std::to_string(n) + "</b></div>";
  }
  out += "</div>\n<h2>Devices</h2><table><thead><tr><th>MAC / id</th><th>IPs</th><th>Identity</th><th>Vendor / model</th>"
         "<th>Firmware</th><th>Serial</th><th>Certificate</th><th>Findings</th><th>First seen</th><th>Last seen</th>"
         "</tr></thead><tbody>\n";
}

void HtmlReportWriter::device(std::string& out, const json::object& d) {
  ++devices_;
  const std::string identity = str(d, "identity");
  const std::string mac = str(d, "mac");
  out += "<tr>";
  cell(out, mac.empty() ? str(d, "id") : mac, mac.empty() ? "mono" : "mono nw");
  linesCell(out, d, "ips");
  out += "<td><span class=\"cls cls-" + std::string(knownClass(identity, CLASSES)) + "\">";
  appendHtmlEscaped(out, identity);
  out += "</span><br>";
  appendHtmlEscaped(out, str(d, "identity_reason"));
  if (const auto* dec = d.if_contains("evidence_decrypted"); dec != nullptr && dec->is_bool() && dec->as_bool()) {
    out += "<br><i data-evidence=\"decrypted\">decrypted</i>";  // read with --keylog / --rsa-key
  }
  out += "</td>";
  cell(out, str(d, "vendor") + (d.contains("model") && d.at("model").is_string() ? " " + str(d, "model") : ""));
  cell(out, str(d, "firmware"));
  cell(out, str(d, "serial"), "mono serial");
  out += "<td class=\"mono cert\">";
  if (const auto* c = d.if_contains("cert"); c != nullptr && c->is_object()) {
    const auto& cert = c->as_object();
    appendHtmlEscaped(out, str(cert, "subject"));
    out += "<br>chain: ";
    appendHtmlEscaped(out, str(cert, "chain"));
    out += "<br>sha256: ";
    appendHtmlEscaped(out, str(cert, "sha256").substr(0, 16));
    out += "&hellip;";
  } else {
    out += "&mdash;";
  }
  out += "</td><td class=\"findings\">";
  if (const auto* f = d.if_contains("findings"); f != nullptr && f->is_array()) {
    for (const auto& e : f->as_array()) {
      if (!e.is_object()) continue;
      appendFinding(out, e.as_object());
    }
  }
  out += "</td>";
  timeCell(out, str(d, "first_seen"));
  timeCell(out, str(d, "last_seen"));
  out += "</tr>\n";
}

void HtmlReportWriter::appendFinding(std::string& out, const json::object& finding) {
  const std::string code = str(finding, "code");
  codes_.insert(code);
  out += "<div><span class=\"sev sev-" + std::string(knownClass(str(finding, "severity"), SEVERITIES)) + "\">";
  appendHtmlEscaped(out, str(finding, "severity"));
  out += "</span><b>";
  appendHtmlEscaped(out, code);
  out += "</b>: ";
  appendHtmlEscaped(out, str(finding, "detail"));
  out += "</div>";
}

void HtmlReportWriter::beginServers(std::string& out) {
  if (devices_ == 0) out += "<tr><td colspan=\"10\">No devices match.</td></tr>";
  out += "</tbody></table>\n<h2>Provisioning servers</h2><table><thead><tr><th>Server</th><th>Requests client cert</th>"
         "<th>TLS versions</th><th>Certificate</th><th>Findings</th><th>Sessions</th><th>Clients</th></tr></thead><tbody>\n";
}

void HtmlReportWriter::server(std::string& out, const json::object& s) {
  ++servers_;
  out += "<tr>";
  cell(out, str(s, "ip") + " port " + str(s, "port"), "mono nw");
  // null: the request could not be seen (TLS 1.3 encrypts it; a cut handshake loses it).
  const auto* asks = s.if_contains("requests_client_cert");
  cell(out, asks != nullptr && asks->is_null() ? "not visible" : str(s, "requests_client_cert"));
  cell(out, list(s, "tls_versions"));
  std::string subject;
  if (const auto* c = s.if_contains("cert"); c != nullptr && c->is_object()) subject = str(c->as_object(), "subject");
  cell(out, subject, "mono");
  out += "<td>";
  if (const auto* f = s.if_contains("findings"); f != nullptr && f->is_array()) {
    for (const auto& e : f->as_array()) {
      if (!e.is_object()) continue;
      appendFinding(out, e.as_object());
    }
  }
  out += "</td>";
  cell(out, str(s, "sessions"));
  cell(out, str(s, "clients"));
  out += "</tr>\n";
}

void HtmlReportWriter::end(std::string& out, std::uint64_t damaged_rows) {
  if (servers_ == 0) out += "<tr><td colspan=\"7\">No servers.</td></tr>";
  out += "</tbody></table>\n";
  if (damaged_rows > 0) {
    out += "<p class=\"warn\" data-notice=\"damaged\"><b>Incomplete:</b> " + counted(damaged_rows, "row", "rows") +
           " of the database could not be read (damaged outside provaudit) and " + (damaged_rows == 1 ? "is" : "are") +
           " left out of this report. A replay of the captures into a new database rebuilds them.</p>\n";
  }
  if (!codes_.empty()) {
    out += "<h2>What the findings mean</h2><dl>";
    for (const auto& code : codes_) {
      out += "<dt>";
      appendHtmlEscaped(out, code);
      out += "</dt><dd>";
      if (const FindingInfo* info = findingInfo(code)) {
        appendHtmlEscaped(out, info->meaning);
        out += " <i>What to do:</i> ";
        appendHtmlEscaped(out, info->action);
      } else {
        out += "No explanation recorded for this code.";
      }
      out += "</dd>";
    }
    out += "</dl>\n";
  }
  out += "</body></html>\n";
}

}  // namespace provaudit::store
