#include "store/json_codec.h"

#include <unordered_map>

#include "store/json_out.h"

namespace provaudit::store {
namespace json = boost::json;
using namespace provaudit::analyze;

namespace {

bool endpointFrom(const json::value& v, Endpoint& e) {
  const auto* o = v.if_object();
  if (o == nullptr) return false;
  const auto* ip = o->if_contains("ip");
  const auto* port = o->if_contains("port");
  if (ip == nullptr || !ip->is_string() || port == nullptr || !port->is_int64()) return false;
  auto parsed = IpAddr::parse(std::string(ip->as_string()));
  if (!parsed) return false;
  e.ip = *parsed;
  e.port = static_cast<std::uint16_t>(port->as_int64());
  return true;
}

void writeEndpoint(JsonOut& j, const Endpoint& e) {
  j.beginObject().field("ip", e.ip.str()).field("port", e.port).endObject();
}

void writeMac(JsonOut& j, const std::optional<MacAddr>& mac) {
  if (mac) j.str(mac->str());
  else j.null();
}

void writeFlow(JsonOut& j, const ObservedFlow& f) {
  j.beginObject().field("ts_ns", f.ref.ts_ns).field("frame", f.ref.frame).field("source", f.source).key("client");
  writeEndpoint(j, f.client);
  j.key("server");
  writeEndpoint(j, f.server);
  j.key("client_mac");
  writeMac(j, f.client_mac);
  j.key("server_mac");
  writeMac(j, f.server_mac);
  j.field("vlan", f.vlan).endObject();
}

std::string getStr(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::int64_t getInt(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return 0;
}
bool getBool(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_bool() && v->as_bool();
}
std::optional<MacAddr> getMac(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return MacAddr::parse(std::string(v->as_string()));
}

bool flowFrom(const json::value& v, ObservedFlow& f) {
  const auto* o = v.if_object();
  if (o == nullptr) return false;
  f.ref.ts_ns = getInt(*o, "ts_ns");
  f.ref.frame = static_cast<std::uint64_t>(getInt(*o, "frame"));
  f.source = getStr(*o, "source");
  const auto* c = o->if_contains("client");
  const auto* s = o->if_contains("server");
  if (c == nullptr || s == nullptr || !endpointFrom(*c, f.client) || !endpointFrom(*s, f.server)) return false;
  f.client_mac = getMac(*o, "client_mac");
  f.server_mac = getMac(*o, "server_mac");
  f.vlan = static_cast<std::uint16_t>(getInt(*o, "vlan"));
  return true;
}

void writeChainShas(JsonOut& j, const std::vector<CertPtr>& chain) {
  j.beginArray();
  for (const auto& c : chain) j.str(c->sha256);
  j.endArray();
}

void chainFrom(const json::object& o, const char* k, const CertLookup& certs, std::vector<CertPtr>& out) {
  const auto* v = o.if_contains(k);
  if (v == nullptr || !v->is_array()) return;
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) continue;
    if (auto c = certs(std::string(e.as_string()))) out.push_back(std::move(c));
  }
}

const char* certStateName(ClientCertState s) {
  switch (s) {
    case ClientCertState::Empty: return "empty";
    case ClientCertState::Present: return "present";
    case ClientCertState::RawPublicKey: return "raw-public-key";
    case ClientCertState::NotSent: break;
  }
  return "not-sent";
}

std::string keyText(const CertInfo& c) {
  return c.key_bits > 0 ? c.key_type + " " + std::to_string(c.key_bits) : c.key_type;
}


}  // namespace

std::string tlsToText(const TlsObservation& t) {
  std::string out;
  out.reserve(1024);
  JsonOut j(out);
  j.beginObject().key("flow");
  writeFlow(j, t.flow);
  j.field("first_ts_ns", t.first.ts_ns)
      .field("first_frame", t.first.frame)
      .field("sni", t.sni)
      .field("client_max_version", t.client_max_version)
      .field("version", t.version)
      .field("cipher_suite", t.cipher_suite)
      .key("offered_versions")
      .beginArray();
  for (const auto v : t.offered_versions) j.num(static_cast<std::uint64_t>(v));
  j.endArray()
      .field("certificate_requested", t.certificate_requested)
      .field("requested_ca_names", t.requested_ca_names)
      .field("client_cert", certStateName(t.client_cert))
      .field("client_raw_key_sha256", t.client_raw_key_sha256)
      .key("client_chain");
  writeChainShas(j, t.client_chain);
  j.key("server_chain");
  writeChainShas(j, t.server_chain);
  j.field("no_certificate_alert", t.no_certificate_alert)
      .field("resumed", t.resumed)
      .field("tls13", t.tls13)
      .field("renegotiation", t.renegotiation)
      .field("gap", t.gap)
      .field("complete", t.complete)
      .field("server_hello_seen", t.server_hello_seen)
      .field("decrypted", t.decrypted)
      .field("session_id", t.session_id)
      .field("server_session_id", t.server_session_id)
      .field("ticket_offered", t.ticket_offered)
      .field("ticket_sha256", t.ticket_sha256)
      .field("issued_ticket_sha256", t.issued_ticket_sha256)
      .field("ja3", t.ja3)
      .field("ja3_string", t.ja3_string)
      .field("ja4", t.ja4)
      .field("client_cert_frame", t.client_cert_frame)
      .endObject();
  return out;
}

json::object tlsToJson(const TlsObservation& t) { return json::parse(tlsToText(t)).as_object(); }

bool tlsFromJson(const json::value& v, const CertLookup& certs, TlsObservation& t) {
  const auto* o = v.if_object();
  if (o == nullptr) return false;
  const auto* flow = o->if_contains("flow");
  if (flow == nullptr || !flowFrom(*flow, t.flow)) return false;
  t.first.ts_ns = getInt(*o, "first_ts_ns");
  t.first.frame = static_cast<std::uint64_t>(getInt(*o, "first_frame"));
  t.sni = getStr(*o, "sni");
  t.client_max_version = static_cast<std::uint16_t>(getInt(*o, "client_max_version"));
  t.version = static_cast<std::uint16_t>(getInt(*o, "version"));
  t.cipher_suite = static_cast<std::uint16_t>(getInt(*o, "cipher_suite"));
  if (const auto* ov = o->if_contains("offered_versions"); ov != nullptr && ov->is_array()) {
    for (const auto& e : ov->as_array()) {
      if (e.is_int64()) t.offered_versions.push_back(static_cast<std::uint16_t>(e.as_int64()));
    }
  }
  t.certificate_requested = getBool(*o, "certificate_requested");
  if (const auto* ca = o->if_contains("requested_ca_names"); ca != nullptr && ca->is_array()) {
    for (const auto& e : ca->as_array()) {
      if (e.is_string()) t.requested_ca_names.emplace_back(e.as_string());
    }
  }
  const std::string state = getStr(*o, "client_cert");
  t.client_cert = state == "present" ? ClientCertState::Present
                  : state == "empty"          ? ClientCertState::Empty
                  : state == "raw-public-key" ? ClientCertState::RawPublicKey
                                              : ClientCertState::NotSent;
  t.client_raw_key_sha256 = getStr(*o, "client_raw_key_sha256");
  chainFrom(*o, "client_chain", certs, t.client_chain);
  chainFrom(*o, "server_chain", certs, t.server_chain);
  t.no_certificate_alert = getBool(*o, "no_certificate_alert");
  t.resumed = getBool(*o, "resumed");
  t.tls13 = getBool(*o, "tls13");
  t.renegotiation = getBool(*o, "renegotiation");
  t.gap = getBool(*o, "gap");
  t.complete = getBool(*o, "complete");
  t.server_hello_seen = getBool(*o, "server_hello_seen");
  t.decrypted = getBool(*o, "decrypted");
  t.session_id = getStr(*o, "session_id");
  t.server_session_id = getStr(*o, "server_session_id");
  t.ticket_offered = getBool(*o, "ticket_offered");
  t.ticket_sha256 = getStr(*o, "ticket_sha256");
  t.issued_ticket_sha256 = getStr(*o, "issued_ticket_sha256");
  t.ja3 = getStr(*o, "ja3");
  t.ja3_string = getStr(*o, "ja3_string");
  t.ja4 = getStr(*o, "ja4");
  t.client_cert_frame = static_cast<std::uint64_t>(getInt(*o, "client_cert_frame"));
  return true;
}

std::string httpToText(const HttpObservation& h) {
  std::string out;
  JsonOut j(out);
  j.beginObject().key("flow");
  writeFlow(j, h.flow);
  j.field("over_tls", h.over_tls)
      .field("method", h.method)
      .field("uri", h.uri)
      .field("host", h.host)
      .field("user_agent", h.user_agent)
      .field("body", h.body)
      .field("stream_offset", h.stream_offset)
      .endObject();
  return out;
}

json::object httpToJson(const HttpObservation& h) { return json::parse(httpToText(h)).as_object(); }

std::optional<analyze::HandshakeReadDepth> storedReadDepth(std::string_view tls_text) {
  boost::system::error_code ec;
  const json::value v = json::parse(tls_text, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (o == nullptr) return std::nullopt;
  const auto flag = [o](const char* name) {
    const json::value* f = o->if_contains(name);
    return f != nullptr && f->is_bool() && f->get_bool();
  };
  const json::value* cert = o->if_contains("client_cert");
  const bool answered = cert != nullptr && cert->is_string() && !cert->get_string().empty() &&
                        cert->get_string() != certStateName(ClientCertState::NotSent);
  return analyze::HandshakeReadDepth{flag("decrypted"),        answered || flag("no_certificate_alert"),
                                     flag("certificate_requested"), flag("complete"),
                                     flag("server_hello_seen"), flag("gap")};
}

bool httpFromJson(const json::value& v, HttpObservation& h) {
  const auto* o = v.if_object();
  if (o == nullptr) return false;
  const auto* flow = o->if_contains("flow");
  if (flow == nullptr || !flowFrom(*flow, h.flow)) return false;
  h.over_tls = getBool(*o, "over_tls");
  h.method = getStr(*o, "method");
  h.uri = getStr(*o, "uri");
  h.host = getStr(*o, "host");
  h.user_agent = getStr(*o, "user_agent");
  h.body = getStr(*o, "body");
  h.stream_offset = static_cast<std::uint64_t>(getInt(*o, "stream_offset"));
  return true;
}

namespace {

void writeCert(JsonOut& j, const CertVerdict& v) {
  const CertInfo& c = *v.cert;
  j.beginObject()
      .field("sha256", c.sha256)
      .field("subject", c.subject_text)
      .field("issuer", c.issuer_text)
      .field("serial_number", c.serial_number)
      .field("not_before", isoTimeSeconds(c.not_before))
      .field("not_after", isoTimeSeconds(c.not_after))
      .field("key", keyText(c))
      .field("signature", c.signature)
      .field("chain", v.chain)
      .field("product", v.product)
      .field("serial", v.serial);
  j.key("mac");
  writeMac(j, v.mac);
  j.endObject();
}

void writeFindings(JsonOut& j, const std::vector<Finding>& findings) {
  j.beginArray();
  for (const auto& f : findings) {
    j.beginObject().field("code", f.code).field("severity", f.severity).field("detail", f.detail).endObject();
  }
  j.endArray();
}

}  // namespace

namespace {
// Only for a device or server that sent more distinct values than its lists
// keep (analyze::DEVICE_LIST_MAX): how many more, per list.
void writeOmitted(JsonOut& j, const std::map<std::string, std::uint64_t>& omitted) {
  if (omitted.empty()) return;
  static constexpr JsonOut::Key LISTS[] = {"ccert", "ips", "ja3", "ja4", "requested_ca_names", "sni", "urls", "user_agents"};
  j.key("omitted").beginObject();
  for (const JsonOut::Key& list : LISTS) {
    if (const auto it = omitted.find(std::string(list.text())); it != omitted.end()) j.field(list, it->second);
  }
  j.endObject();
}
}  // namespace

std::string deviceReportText(const DeviceRecord& d) {
  std::string out;
  out.reserve(1024);
  appendDeviceReportText(d, out);
  return out;
}

void appendDeviceReportText(const DeviceRecord& d, std::string& out) {
  JsonOut j(out);
  j.beginObject().field("id", d.id).key("mac");
  writeMac(j, d.mac);
  j.field("ips", d.ips)
      .field("identity", d.identity)
      .field("identity_reason", d.identity_reason)
      .field("evidence_decrypted", d.evidence_decrypted)  // the deciding evidence came from decrypted records
      .field("vendor", d.vendor)
      .field("model", d.model)
      .field("firmware", d.firmware)
      .field("serial", d.serial)
      .key("cert");
  if (d.cert) writeCert(j, *d.cert);
  else j.null();
  j.field("user_agents", d.user_agents).field("urls", d.urls);
  j.key("tls").beginObject().field("versions", d.tls_versions).field("ja4", d.ja4).endObject();
  j.key("findings");
  writeFindings(j, d.findings);
  j.field("first_seen", isoTime(d.first_seen))
      .field("last_seen", isoTime(d.last_seen))
      .field("sessions", d.sessions);
  writeOmitted(j, d.omitted);
  j.endObject();
}

std::string serverReportText(const ServerRecord& s) {
  std::string out;
  JsonOut j(out);
  j.beginObject().field("ip", s.endpoint.ip.str()).field("port", s.endpoint.port).key("requests_client_cert");
  // null when every handshake hid the answer (TLS 1.3 encrypts CertificateRequest)
  if (s.requests_client_cert || s.cert_request_visible || !s.tls) j.boolean(s.requests_client_cert);
  else j.null();
  j.field("tls_versions", s.tls_versions).key("cert");
  if (s.cert) writeCert(j, *s.cert);
  else j.null();
  j.key("findings");
  writeFindings(j, s.findings);
  j.field("sni", s.sni)
      .field("requested_ca_names", s.requested_ca_names)
      .field("cipher_suites", s.cipher_suites)
      .field("first_seen", isoTime(s.first_seen))
      .field("last_seen", isoTime(s.last_seen))
      .field("sessions", s.sessions)
      .field("clients", s.clients);
  writeOmitted(j, s.omitted);
  j.endObject();
  return out;
}

std::string deviceDetailText(const DeviceRecord& d) {
  std::string out;
  out.reserve(2048);
  appendDeviceDetailText(d, out);
  return out;
}

void appendDeviceDetailText(const DeviceRecord& d, std::string& out) {
  JsonOut j(out);
  j.beginObject();
  // Each text the claims were read from once (a User-Agent gives four
  // claims): half the bytes of a detail document, and of its encoding.
  // At most DEVICE_LIST_MAX texts of each origin: the claims read from
  // further ones (a device sending thousands of User-Agents) are counted.
  std::vector<const ClaimRecord*> sources;
  std::unordered_map<const ClaimSource*, std::uint64_t> source_index;
  std::unordered_map<std::string_view, std::size_t> per_origin;
  std::uint64_t omitted = 0;
  j.key("claims").beginArray();
  for (const auto& c : d.claims) {
    auto it = source_index.find(c.from.get());
    if (it == source_index.end()) {
      if (++per_origin[c.origin()] > analyze::DEVICE_LIST_MAX) {
        ++omitted;
        continue;
      }
      it = source_index.emplace(c.from.get(), sources.size()).first;
      sources.push_back(&c);
    }
    j.beginObject().field("field", c.field).field("value", c.value).field("from", it->second).endObject();
  }
  j.endArray();
  if (omitted != 0) j.field("claims_omitted", omitted);
  j.key("handshakes").beginArray();
  for (const auto& h : d.handshakes) {
    j.beginObject()
        .field("time", isoTime(h.ts_ns))
        .field("source", h.source)
        .field("frame", h.frame)
        .field("client", h.client.str())
        .field("server", h.server.str())
        .field("version", h.version != 0 ? analyze::versionName(h.version) : std::string())
        .field("cipher", h.version != 0 ? analyze::cipherSuiteName(h.cipher_suite) : std::string())
        .field("sni", h.sni)
        .field("outcome", h.outcome)
        .field("reason", h.reason)
        .field("cert_sha256", h.cert_sha256)
        .field("ja3", h.ja3)
        .field("ja4", h.ja4)
        .field("decrypted", h.decrypted)
        .field("gap", h.gap)
        .key("resumes");
    if (h.resumes_ts_ns != 0) {
      j.beginObject()
          .field("time", isoTime(h.resumes_ts_ns))
          .field("frame", h.resumes_frame)
          .field("source", h.resumes_source)
          .endObject();
    } else {
      j.null();
    }
    j.endObject();
  }
  j.endArray();
  if (d.handshakes_omitted != 0) j.field("handshakes_omitted", d.handshakes_omitted);  // between the first and the last
  if (d.cert) j.field("chain_error", d.cert->chain_error);
  j.key("chain_sent").beginArray();
  if (d.cert) {
    for (const auto& c : d.cert->chain_sent) {
      j.beginObject()
          .field("sha256", c->sha256)
          .field("subject", c->subject_text)
          .field("issuer", c->issuer_text)
          .field("not_before", isoTimeSeconds(c->not_before))
          .field("not_after", isoTimeSeconds(c->not_after))
          .field("key", keyText(*c))
          .field("signature", c->signature)
          .endObject();
    }
  }
  j.endArray();
  j.field("ja3", d.ja3)
      .field("sni", d.sni)
      .field("ccert", d.ccert)
      .field("mac_from_wire", d.mac_from_wire)
      .field("http_requests", d.http_requests)
      .field("evidence_decrypted", d.evidence_decrypted);
  j.key("claim_sources").beginArray();  // last: expandStoredDetail removes it
  for (const ClaimRecord* c : sources) {
    const PacketRef& ref = c->ref();
    j.beginObject().field("origin", c->origin()).field("evidence", c->evidence()).field("rule", c->rule()).key("time");
    if (ref.ts_ns != 0) j.str(isoTime(ref.ts_ns));
    else j.null();
    j.field("frame", ref.frame).field("source", c->source()).endObject();
  }
  j.endArray().endObject();
}

void expandStoredDetail(json::object& detail) {
  const json::value* sources_value = detail.if_contains("claim_sources");
  json::value* claims_value = detail.if_contains("claims");
  if (sources_value == nullptr || !sources_value->is_array() || claims_value == nullptr || !claims_value->is_array()) {
    return;  // written before claim_sources (claims complete already), or not ours
  }
  const json::array& sources = sources_value->get_array();
  json::array claims;
  for (const json::value& stored : claims_value->get_array()) {
    const json::object* c = stored.if_object();
    if (c == nullptr) continue;
    json::object full{{"field", c->contains("field") ? c->at("field") : json::value(nullptr)},
                      {"value", c->contains("value") ? c->at("value") : json::value(nullptr)}};
    // Parsed back from text, the index is an int64; built in memory, a uint64.
    const json::value* from = c->if_contains("from");
    boost::system::error_code ec;
    const auto i = from != nullptr ? from->to_number<std::uint64_t>(ec) : 0;
    if (from != nullptr && !ec && i < sources.size() && sources[i].is_object()) {
      for (const auto& [key, value] : sources[i].get_object()) full[key] = value;
    }
    claims.push_back(std::move(full));
  }
  *claims_value = std::move(claims);
  detail.stable_erase("claim_sources");
}

json::object deviceDetailJson(const DeviceRecord& d) {
  json::object o = json::parse(deviceDetailText(d)).as_object();
  expandStoredDetail(o);
  return o;
}

}  // namespace provaudit::store
