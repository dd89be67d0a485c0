// Replays every sample that comes with keys (samples/README.md) through the
// provaudit binary with those keys and checks what decryption reveals: the
// "decrypted" sections of samples/expected/<name>.json, devices that move out
// of unknown with decrypted evidence, and the same User-Agent set as tshark.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace json = boost::json;

namespace {

const std::string SAMPLES = std::string(PROVAUDIT_SOURCE_DIR) + "/samples/";

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// CTest runs test cases in parallel processes: each gets its own folder.
std::string tmpDir() {
  const std::string dir = std::string(PROVAUDIT_TEST_TMP) + "/" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs a shell command, returns its stdout (the command's exit status must be 0).
std::string run(const std::string& cmd) {
  const std::string out = tmpDir() + "/out.txt";
  const int rc = std::system((cmd + " > " + out).c_str());
  REQUIRE(rc == 0);
  return readFile(out);
}

struct Keyed {
  std::string name;  // samples/<name>.pcap, samples/expected/<name>.json
  std::string key_args;
  std::string tshark_args;
};

// The sample's key log, its server's RSA key, or both (ccm).
Keyed keyedSample(const std::string& name) {
  const json::object expected = json::parse(readFile(SAMPLES + "expected/" + name + ".json")).as_object();
  Keyed k{name, "", ""};
  if (const auto* keylog = expected.if_contains("keylog")) {
    const std::string path = SAMPLES + std::string(keylog->as_string());
    k.key_args = "--keylog " + path;
    k.tshark_args = "-o tls.keylog_file:" + path;
  }
  if (const auto* rsa_key = expected.if_contains("rsa_key")) {
    const std::string path = SAMPLES + std::string(rsa_key->as_string());
    k.key_args += " --rsa-key " + path;
    // tshark 4.0: the RSA keys UAT takes "key file","PKCS#11 password".
    k.tshark_args += " -o 'uat:rsa_keys:\"" + path + "\",\"\"'";
  }
  REQUIRE(!k.key_args.empty());
  return k;
}

struct Replayed {
  json::object report;
  std::string devices_table;  // the device rows (with their report and detail JSON) as sqlite3 prints them
  std::string db;
};

Replayed replay(const Keyed& k) {
  const std::string db = tmpDir() + "/" + k.name + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
  run(std::string(PROVAUDIT_BIN) + " replay -q --db " + db + " " + k.key_args + " " + SAMPLES + k.name + ".pcap");
  Replayed r;
  r.db = db;
  r.report = json::parse(run(std::string(PROVAUDIT_BIN) + " report --db " + db + " --format json")).as_object();
  r.devices_table = run("sqlite3 " + db + " 'select * from devices join device_docs using (id)'");
  return r;
}

std::set<std::string> strings(const json::value* v) {
  std::set<std::string> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& s : v->as_array()) out.insert(std::string(s.as_string()));
  return out;
}

const json::object* device(const json::object& report, const std::string& mac) {
  for (const auto& d : report.at("devices").as_array()) {
    if (d.as_object().at("mac").as_string() == mac) return &d.as_object();
  }
  return nullptr;
}

std::set<std::string> tsharkUserAgents(const Keyed& k) {
  const std::string out = run("tshark -r " + SAMPLES + k.name + ".pcap " + k.tshark_args +
                              " -Y http.request -T fields -e http.user_agent 2>/dev/null");
  std::set<std::string> uas;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) uas.insert(line);
  }
  return uas;
}

bool haveTool(const std::string& name) { return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0; }

}  // namespace

TEST_CASE("decrypt e2e: every keyed sample reveals its expected User-Agents and URLs", "[decrypt_e2e]") {
  for (const std::string name :
       {"tls13", "tls12_keylog", "renegotiation", "tls10_rsa", "tls12_rsa", "resumed_rsa", "ccm", "tls13_pha",
        "tls13_early", "psk12"}) {
    SECTION(name) {
      const Keyed k = keyedSample(name);
      const Replayed r = replay(k);
      const json::object expected = json::parse(readFile(SAMPLES + "expected/" + name + ".json")).as_object();
      std::set<std::string> all_uas;
      for (const auto& dv : r.report.at("devices").as_array()) {
        const auto uas = strings(dv.as_object().if_contains("user_agents"));
        all_uas.insert(uas.begin(), uas.end());
      }
      for (const auto& ev : expected.at("devices").as_array()) {
        const json::object& e = ev.as_object();
        const auto* dec = e.if_contains("decrypted");
        if (dec == nullptr) continue;
        const std::string mac(e.at("mac").as_string());
        INFO(name << " " << mac);
        const json::object* got = device(r.report, mac);
        REQUIRE(got != nullptr);
        const auto got_uas = strings(got->if_contains("user_agents"));
        for (const auto& ua : strings(dec->as_object().if_contains("user_agents"))) CHECK(got_uas.count(ua) == 1);
        const auto got_urls = strings(got->if_contains("urls"));
        for (const auto& url : strings(dec->as_object().if_contains("urls"))) CHECK(got_urls.count(url) == 1);
        if (dec->as_object().contains("cert")) {
          // The certificate was only visible decrypted: the device leaves unknown.
          CHECK(e.at("identity").as_string() == "unknown");
          CHECK(got->at("identity").as_string() == "individualized");
          CHECK(r.devices_table.find("\"evidence_decrypted\":true") != std::string::npos);
          const auto serial = dec->as_object().at("cert").as_object().at("serial");
          CHECK(got->at("serial").as_string() == serial.as_string());
        }
      }
      if (haveTool("tshark")) {
        CHECK(tsharkUserAgents(k) == all_uas);
      } else {
        WARN("tshark not installed: cross-check skipped");
      }
    }
  }
}

TEST_CASE("decrypt e2e: without keys nothing inside TLS is seen", "[decrypt_e2e]") {
  const Keyed k{"tls13", "", ""};
  const Replayed r = replay(k);
  const json::object* got = device(r.report, "00:56:2b:08:85:01");
  REQUIRE(got != nullptr);
  CHECK(got->at("identity").as_string() == "unknown");
  CHECK(strings(got->if_contains("user_agents")).empty());
}

namespace {

// How often the replay into `db` counted the anomaly `name`.
long anomalyCount(const std::string& db, const std::string& name) {
  return std::stol(
      run("sqlite3 " + db + " \"SELECT coalesce(sum(count), 0) FROM source_anomalies WHERE name = '" + name + "'\""));
}

// Every anomaly the replay into `db` counted, by name ("" when none).
std::string anomalies(const std::string& db) {
  return run("sqlite3 " + db + " \"SELECT name || '=' || sum(count) FROM source_anomalies GROUP BY name\"");
}

// The lines tshark prints for `fields` of the packets `filter` selects (empty lines left out).
std::set<std::string> tsharkLines(const Keyed& k, const std::string& filter, const std::string& fields) {
  const std::string out = run("tshark -r " + SAMPLES + k.name + ".pcap " + k.tshark_args + " -Y '" + filter +
                              "' -T fields " + fields + " 2>/dev/null");
  std::set<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.insert(line);
  }
  return lines;
}

}  // namespace

TEST_CASE("decrypt e2e: resumed TLS_RSA sessions decrypt with the server key, as tshark decrypts them",
          "[decrypt_e2e]") {
  // resumed_rsa.pcap: every resumed connection stayed encrypted
  // (decrypt_missing_handshake): the resyncs' URLs were missing.
  const Keyed k = keyedSample("resumed_rsa");
  const Replayed r = replay(k);
  // The SPA-2102 resumed by session ID (TLS 1.0), the SPA112 by ticket (TLS 1.2).
  for (const auto& [mac, resync] : {std::pair{"00:0e:08:23:10:01", "/resync-spa000e08231001.cfg"},
                                    std::pair{"00:0e:08:23:10:02", "/resync-spa000e08231002.cfg"}}) {
    INFO(mac);
    const json::object* got = device(r.report, mac);
    REQUIRE(got != nullptr);
    CHECK(strings(got->if_contains("urls")).count(resync) == 1);
  }
  // The SPA-3102's full handshake ran before the capture: its resumption
  // cannot be decrypted, and says why.
  const json::object* late = device(r.report, "00:0e:08:23:10:03");
  REQUIRE(late != nullptr);
  CHECK(strings(late->if_contains("urls")).empty());
  CHECK(anomalyCount(r.db, "decrypt_resumed_session_unknown") == 1);
  CHECK(anomalyCount(r.db, "decrypt_missing_handshake") == 0);
  if (haveTool("tshark")) {
    const std::string uris = run("tshark -r " + SAMPLES + k.name + ".pcap " + k.tshark_args +
                                 " -Y http.request -T fields -e http.request.uri 2>/dev/null");
    CHECK(uris.find("/resync-spa000e08231001.cfg") != std::string::npos);
    CHECK(uris.find("/resync-spa000e08231002.cfg") != std::string::npos);
    CHECK(uris.find("/resync-spa000e08231003.cfg") == std::string::npos);
  } else {
    WARN("tshark not installed: cross-check skipped");
  }
}

TEST_CASE("decrypt e2e: AES-CCM, AES-CCM_8 and Camellia suites are named and decrypted", "[decrypt_e2e]") {
  // ccm.pcap: the servers' suites printed in hex (0xc09c) and every session
  // stayed encrypted, decrypt_unsupported_suite.
  const Keyed k = keyedSample("ccm");
  const Replayed r = replay(k);
  CHECK(anomalyCount(r.db, "decrypt_unsupported_suite") == 0);
  // Each handshake's suite, as the device detail names it.
  for (const char* name : {"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256", "TLS_RSA_WITH_AES_128_CCM",
                           "TLS_RSA_WITH_AES_256_CCM_8", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
                           "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256", "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"}) {
    INFO(name);
    CHECK(r.devices_table.find("\"cipher\":\"" + std::string(name) + "\"") != std::string::npos);
  }
  CHECK(r.devices_table.find("\"cipher\":\"0x") == std::string::npos);
}

TEST_CASE("decrypt e2e: TLS 1.3 early data, accepted and refused, reads every request tshark reads",
          "[decrypt_e2e][early]") {
  // tls13_early.pcap: the early application_data record before the
  // ServerHello stopped the resumed session's decryption
  // (decrypt_missing_handshake): neither the early request nor the one after
  // the handshake was read.
  const Keyed k = keyedSample("tls13_early");
  const Replayed r = replay(k);
  const json::object* got = device(r.report, "00:0e:08:0e:00:20");
  REQUIRE(got != nullptr);
  const std::set<std::string> want{"/spa000e080e0020.cfg", "/early.cfg", "/spa962.cfg", "/spa962-refused.cfg"};
  CHECK(strings(got->if_contains("urls")) == want);
  CHECK(anomalyCount(r.db, "decrypt_missing_handshake") == 0);
  CHECK(anomalyCount(r.db, "decrypt_early_data_no_key") == 0);
  CHECK(anomalyCount(r.db, "tls_decrypt_bad_record_mac") == 0);
  if (haveTool("tshark")) {
    const std::string uris = run("tshark -r " + SAMPLES + k.name + ".pcap " + k.tshark_args +
                                 " -Y http.request -T fields -e http.request.uri 2>/dev/null");
    std::set<std::string> tshark_uris;
    std::istringstream lines(uris);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) tshark_uris.insert(line);
    }
    CHECK(tshark_uris == want);
    CHECK(tsharkUserAgents(k) == strings(got->if_contains("user_agents")));
  }
  {
    // The key log without the early secrets: the early requests are not
    // made up, the others are read, and why is said.
    const std::string keys = tmpDir() + "/tls13_early-no-early.keylog";
    run("grep -v CLIENT_EARLY_TRAFFIC_SECRET " + SAMPLES + "tls13_early.keylog > " + keys + "; echo");
    const Replayed n = replay(Keyed{"tls13_early", "--keylog " + keys, ""});
    const json::object* dev = device(n.report, "00:0e:08:0e:00:20");
    REQUIRE(dev != nullptr);
    CHECK(strings(dev->if_contains("urls")) ==
          std::set<std::string>{"/spa000e080e0020.cfg", "/spa962.cfg", "/spa962-refused.cfg"});
    CHECK(anomalyCount(n.db, "decrypt_early_data_no_key") == 2);
    CHECK(anomalyCount(n.db, "decrypt_missing_handshake") == 0);
  }
  {
    // No keys: nothing inside TLS is seen.
    const Replayed n = replay(Keyed{"tls13_early", "", ""});
    const json::object* dev = device(n.report, "00:0e:08:0e:00:20");
    REQUIRE(dev != nullptr);
    CHECK(strings(dev->if_contains("urls")).empty());
    CHECK(strings(dev->if_contains("user_agents")).empty());
  }
}

TEST_CASE("decrypt e2e: TLS 1.2 pre-shared-key suites read with the key log, as tshark reads them", "[decrypt_e2e][psk]") {
  // psk12.pcap: an SPA122 authenticated by a PSK over PSK (AES-128-GCM),
  // ECDHE_PSK (ChaCha20-Poly1305), DHE_PSK (AES-256-CBC), PSK (NULL) and
  // RSA_PSK (AES-256-GCM). The suites printed in hex and, with the key log,
  // every encrypted session counted decrypt_unsupported_suite: only the NULL
  // suite's request, readable on the wire, was seen; tshark read all five.
  REQUIRE(haveTool("tshark"));
  const std::string mac = "00:0e:08:18:49:40";
  const std::set<std::string> want_urls{"/spa000e08184940.cfg", "/spa122.cfg", "/init_000e08184940.xml",
                                        "/spa122-null.cfg", "/spa122-rsapsk.cfg"};
  const Keyed k = keyedSample("psk12");
  {
    const Replayed r = replay(k);
    const json::object* got = device(r.report, mac);
    REQUIRE(got != nullptr);
    // Requests: exactly what tshark reads with the same key log.
    const auto tshark_urls = tsharkLines(k, "http.request", "-e http.request.uri");
    CHECK(tshark_urls == want_urls);
    CHECK(strings(got->if_contains("urls")) == tshark_urls);
    CHECK(strings(got->if_contains("user_agents")) == tsharkUserAgents(k));
    CHECK(strings(got->if_contains("user_agents")) ==
          std::set<std::string>{"Cisco/SPA122-1.4.1(SR5) (000E08184940)(CCQ18490040)"});
    // No certificate either way, none asked (RFC 4279 §2): the wire cannot tell.
    CHECK(got->at("identity").as_string() == "unknown");
    CHECK(got->at("identity_reason").as_string() == "not-requested");
    // Each handshake's suite named as tshark names it ("Cipher Suite: NAME (0x....)").
    const std::string verbose = run("tshark -r " + SAMPLES + "psk12.pcap -Y tls.handshake.type==2 -V 2>/dev/null");
    std::set<std::string> tshark_suites;
    for (std::size_t at = verbose.find("Cipher Suite: "); at != std::string::npos;
         at = verbose.find("Cipher Suite: ", at + 1)) {
      const std::size_t from = at + std::string("Cipher Suite: ").size();
      tshark_suites.insert(verbose.substr(from, verbose.find(" (0x", from) - from));
    }
    CHECK(tshark_suites ==
          std::set<std::string>{"TLS_PSK_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
                                "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384", "TLS_PSK_WITH_NULL_SHA256",
                                "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384"});
    for (const auto& name : tshark_suites) {
      INFO(name);
      CHECK(r.devices_table.find("\"cipher\":\"" + name + "\"") != std::string::npos);
    }
    CHECK(r.devices_table.find("\"cipher\":\"0x") == std::string::npos);
    // The NULL suite is weak; the others are not named in the finding.
    std::string weak;
    for (const auto& f : got->at("findings").as_array()) {
      if (f.as_object().at("code").as_string() == "weak-cipher") weak = f.as_object().at("detail").as_string().c_str();
    }
    INFO(weak);
    CHECK(weak.find("TLS_PSK_WITH_NULL_SHA256") != std::string::npos);
    CHECK(weak.find("AES") == std::string::npos);
    CHECK(weak.find("CHACHA20") == std::string::npos);
    // Valid traffic: nothing counted.
    CHECK(anomalies(r.db).empty());
  }
  {
    // Without keys only the NULL suite's request is seen, as tshark sees it.
    const Replayed n = replay(Keyed{"psk12", "", ""});
    const json::object* dev = device(n.report, mac);
    REQUIRE(dev != nullptr);
    const auto clear_urls = tsharkLines(Keyed{"psk12", "", ""}, "http.request", "-e http.request.uri");
    CHECK(clear_urls == std::set<std::string>{"/spa122-null.cfg"});
    CHECK(strings(dev->if_contains("urls")) == clear_urls);
    CHECK(anomalies(n.db).empty());
  }
  {
    // The server's RSA key alone: RSA_PSK's premaster secret holds the PSK
    // too (RFC 4279 §4), so no session opens, and each says why.
    const std::string key = SAMPLES + "pki/server.key";
    const Keyed rsa{"psk12", "--rsa-key " + key, "-o 'uat:rsa_keys:\"" + key + "\",\"\"'"};
    const Replayed n = replay(rsa);
    const json::object* dev = device(n.report, mac);
    REQUIRE(dev != nullptr);
    const auto tshark_urls = tsharkLines(rsa, "http.request", "-e http.request.uri");
    CHECK(tshark_urls == std::set<std::string>{"/spa122-null.cfg"});
    CHECK(strings(dev->if_contains("urls")) == tshark_urls);
    CHECK(anomalyCount(n.db, "decrypt_psk_with_rsa_key_only") == 4);
    CHECK(anomalies(n.db) == "decrypt_psk_with_rsa_key_only=4\n");
  }
}
