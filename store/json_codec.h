#pragma once
// JSON forms: observations as stored in sightings (round-trip), and devices /
// servers exactly as the report contract in design.md names them.
#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "analyze/audit.h"
#include "analyze/observation.h"

namespace provaudit::store {

using CertLookup = std::function<analyze::CertPtr(const std::string& sha256)>;

// As stored (sightings.data), JSON text; the object forms are the same text parsed.
std::string tlsToText(const analyze::TlsObservation& t);
std::string httpToText(const analyze::HttpObservation& h);
boost::json::object tlsToJson(const analyze::TlsObservation& t);
boost::json::object httpToJson(const analyze::HttpObservation& h);
// Never throw on a malformed stored row: return false (the caller counts it).
bool tlsFromJson(const boost::json::value& v, const CertLookup& certs, analyze::TlsObservation& out);
bool httpFromJson(const boost::json::value& v, analyze::HttpObservation& out);
// How far a stored TLS sighting (its JSON text) read its handshake
// (analyze::readDepth); nullopt when the text does not parse.
std::optional<analyze::HandshakeReadDepth> storedReadDepth(std::string_view tls_text);

// Report contract objects (design.md "Report JSON"), as JSON text.
std::string deviceReportText(const analyze::DeviceRecord& d);
void appendDeviceReportText(const analyze::DeviceRecord& d, std::string& out);  // the same, after `out`'s text
std::string serverReportText(const analyze::ServerRecord& s);
// What the dashboard shows beyond the contract: claims with their origin, the
// handshake history, the chain as sent, explanations.
boost::json::object deviceDetailJson(const analyze::DeviceRecord& d);
// The same as stored (device_docs.detail), as JSON text: each claim names its
// origin, evidence, rule and packet by index ("from") into "claim_sources",
// the texts the claims were read from, each once. expandStoredDetail gives
// the dashboard's form back; a document stored before claim_sources passes as it is.
std::string deviceDetailText(const analyze::DeviceRecord& d);
void appendDeviceDetailText(const analyze::DeviceRecord& d, std::string& out);  // the same, after `out`'s text
void expandStoredDetail(boost::json::object& detail);

}  // namespace provaudit::store
