// Every User-Agent of domain.md §2.1 and §3.2 (and the SIP negatives) against
// the bundled rules: vendor / model / firmware / serial / MAC as expected.
#include <catch2/catch.hpp>

#include <string>
#include <tuple>
#include <vector>

#include "analyze/rules.h"
#include "bundled_rules.h"

using provaudit::analyze::Claims;
using provaudit::analyze::RULES_MAX_MATCH_INPUT;
using provaudit::analyze::test::bundledRules;
using provaudit::analyze::test::macText;
using provaudit::analyze::test::orNone;
using provaudit::analyze::test::text;

namespace {

struct UaCase {
  std::string ua;
  const char* vendor;    // nullptr: no claim expected
  const char* model;
  const char* firmware;
  const char* serial;
  const char* mac;       // "aa:bb:cc:dd:ee:ff"
};

const std::vector<UaCase>& uaCases() {
  static const std::vector<UaCase> cases{
      // --- domain.md §2.1: Cisco / Linksys / Sipura SPA (HTTP form, with ids) ---
      // 88:01:2B is no vendor OUI, so the single 12-hex id is the (Sipura-style) serial.
      {"Linksys/SPA-2102-2.0.5 (88012BA01234)", "Cisco", "SPA-2102", "2.0.5", "88012BA01234", nullptr},
      {"Linksys/SPA-942-6.1.5(a) (88019FA42805)", "Cisco", "SPA-942", "6.1.5(a)", "88019FA42805", nullptr},
      {"Linksys/SPA-962-6.1.5(a) (4MM00F903042)", "Cisco", "SPA-962", "6.1.5(a)", "4MM00F903042", nullptr},
      // First group MAC (88:43:E1 is Cisco), second serial.
      {"Cisco/SPA501G-7.4.4 (8843E157DDCC)(CBT141100HR)", "Cisco", "SPA501G", "7.4.4", "CBT141100HR",
       "88:43:e1:57:dd:cc"},
      {"Cisco/SPA508G-7.4.8a (0002FDFF2103)(CBT141400UK)", "Cisco", "SPA508G", "7.4.8a", "CBT141400UK",
       "00:02:fd:ff:21:03"},
      {"Cisco/SPA525G-7.4.7 (CBT141900G7)", "Cisco", "SPA525G", "7.4.7", "CBT141900G7", nullptr},
      {"Cisco/SPA504G-7.4.9c (001565000000)(CCQ162306EA)", "Cisco", "SPA504G", "7.4.9c", "CCQ162306EA",
       "00:15:65:00:00:00"},
      // Synthetic id; 88:75:5A is not a listed OUI (Cisco's is 88:75:56): a serial.
      {"Cisco/SPA112-1.4.1(SR5) (88755A000001)", "Cisco", "SPA112", "1.4.1(SR5)", "88755A000001", nullptr},
      // MPP: the guide's "serial" is a MAC by OUI (00:56:2B Cisco).
      {"Cisco-CP-8841-3PCC/11.0 (00562b043615)", "Cisco", "CP-8841-3PCC", "11.0", nullptr, "00:56:2b:04:36:15"},
      // Every Cisco Systems block counts (rules/oui_cisco.toml), not a selection: 70:70:8B,
      // F4:AC:C1 and 00:00:0C were taken for serials before.
      {"Cisco-CP-8851-3PCC/12.0.1 (70708b0a85a1)", "Cisco", "CP-8851-3PCC", "12.0.1", nullptr, "70:70:8b:0a:85:a1"},
      {"Cisco/SPA112-1.4.1(SR5) (F4ACC1000001)", "Cisco", "SPA112", "1.4.1(SR5)", nullptr, "f4:ac:c1:00:00:01"},
      {"Cisco/SPA122-1.4.1(SR5) (00000C123456)", "Cisco", "SPA122", "1.4.1(SR5)", nullptr, "00:00:0c:12:34:56"},
      // domain.md §7 test data.
      {"Linksys/SPA-962-5.1.5 (88012BA01234)", "Cisco", "SPA-962", "5.1.5", "88012BA01234", nullptr},
      {"Cisco/SPA112-1.4.1(SR5) (CCQ00000001)", "Cisco", "SPA112", "1.4.1(SR5)", "CCQ00000001", nullptr},
      // Two ids: the position decides (first MAC, second serial), even when the OUI is not a listed one.
      {"Linksys/SPA8000-6.1.12 (88012BA01234)(CBT000000AA)", "Cisco", "SPA8000", "6.1.12", "CBT000000AA",
       "88:01:2b:a0:12:34"},

      // --- SIP short forms (domain.md §2.1): vendor/model/firmware, never a serial ---
      {"Cisco/SPA122-1.4.1(SR5)", "Cisco", "SPA122", "1.4.1(SR5)", nullptr, nullptr},
      {"Cisco/SPA303-7.4.8a", "Cisco", "SPA303", "7.4.8a", nullptr, nullptr},
      {"Cisco/SPA504G-7.6.2c", "Cisco", "SPA504G", "7.6.2c", nullptr, nullptr},
      {"Linksys/SPA2102-5.2.10", "Cisco", "SPA2102", "5.2.10", nullptr, nullptr},
      {"Linksys/PAP2T-5.1.6(LS)", "Cisco", "PAP2T", "5.1.6(LS)", nullptr, nullptr},
      {"Linksys/SPA3102-5.1.10(GW)", "Cisco", "SPA3102", "5.1.10(GW)", nullptr, nullptr},
      {"Sipura/SPA2002-3.1.2(a)", "Cisco", "SPA2002", "3.1.2(a)", nullptr, nullptr},
      {"Sipura/SPA941-4.1.8", "Cisco", "SPA941", "4.1.8", nullptr, nullptr},
      {"OBIHAI/OBi202-3.2.2.5921", "Obihai", "OBi202", "3.2.2.5921", nullptr, nullptr},
      {"Grandstream HT802 1.0.17.5", "Grandstream", "HT802", "1.0.17.5", nullptr, nullptr},
      {"snomPA1/8.7.3.19", "Snom", "PA1", "8.7.3.19", nullptr, nullptr},
      {"Yealink SIP-T54W 96.85.0.5", "Yealink", "SIP-T54W", "96.85.0.5", nullptr, nullptr},
      {"PolycomVVX-VVX_410-UA/5.9.0.9373", "Polycom", "VVX_410", "5.9.0.9373", nullptr, nullptr},

      // --- domain.md §3.2, rows 1-29 ---
      {"Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "Yealink", "SIP-T46G", "28.72.0.1", nullptr,
       "00:15:65:4a:a9:37"},
      {"Yealink SIP-T19P_E2 53.80.0.3 00:15:65:4c:4c:26", "Yealink", "SIP-T19P_E2", "53.80.0.3", nullptr,
       "00:15:65:4c:4c:26"},
      {"yealink SIP-T28P 2.70.0.140 00:15:65:13:ae:0b", "Yealink", "SIP-T28P", "2.70.0.140", nullptr,
       "00:15:65:13:ae:0b"},
      {"Yealink SIP VP-T49G 51.80.0.10 00:15:65:9b:5a:44", "Yealink", "SIP VP-T49G", "51.80.0.10", nullptr,
       "00:15:65:9b:5a:44"},
      {"Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0", "Yealink", "T46G", "28.71.0.81", nullptr, nullptr},  // no MAC
      {"W52P 25.30.0.2 00:15:65:44:b3:7c", "Yealink", "W52P", "25.30.0.2", nullptr, "00:15:65:44:b3:7c"},
      {"FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application", "Polycom", "VVX_400", "4.1.4.7430",
       nullptr, nullptr},
      {"FileTransport PolycomSoundPointIP-SPIP_335-UA/3.2.1.0078", "Polycom", "SPIP_335", "3.2.1.0078", nullptr,
       nullptr},
      {"FileTransport PolycomSoundStationIP-SSIP_6000-UA/5.0.3.1667 Type/Updater", "Polycom", "SSIP_6000",
       "5.0.3.1667", nullptr, nullptr},
      {"Grandstream Model HW GXP1628 SW 1.0.4.138 DevId c074ad2bd859", "Grandstream", "GXP1628", "1.0.4.138",
       nullptr, "c0:74:ad:2b:d8:59"},
      {"Grandstream Model HW HT801 V1.1A SW 1.0.17.5 DevId c074ad273a10", "Grandstream", "HT801", "1.0.17.5",
       nullptr, "c0:74:ad:27:3a:10"},
      {"Grandstream GXP2000 (gxp2000e.bin:1.2.5.3/boot55e.bin:1.1.6.9) DevId 000b822726c8", "Grandstream",
       "GXP2000", "1.2.5.3", nullptr, "00:0b:82:27:26:c8"},
      {"Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35 1.1.5-IFX-05.01.12 000413741767)", "Snom", "710", "8.7.5.35",
       nullptr, "00:04:13:74:17:67"},
      {"Mozilla/4.0 (compatible; snom320-SIP 7.3.30 1.1.3-u)", "Snom", "320", "7.3.30", nullptr, nullptr},
      {"Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)", "Snom",
       "D785", "10.1.33.33", nullptr, "00:04:13:92:2d:24"},
      {"Mozilla/4.0 (compatible; snom lid 3605)", "Snom", nullptr, nullptr, nullptr, nullptr},
      {"Fanvil X4 2.10.2.6887 0c383e07e16c", "Fanvil", "X4", "2.10.2.6887", nullptr, "0c:38:3e:07:e1:6c"},
      {"Fanvil X6U Pro 0.0.10 0c383e2cd782", "Fanvil", "X6U Pro", "0.0.10", nullptr, "0c:38:3e:2c:d7:82"},
      {"Aastra6731i MAC:00-08-5D-23-74-29 V:3.2.0.70-SIP", "Mitel", "6731i", "3.2.0.70", nullptr,
       "00:08:5d:23:74:29"},
      {"Mitel6920 MAC:14-00-E9-1F-03-EA V:6.4.0.140-SIP", "Mitel", "6920", "6.4.0.140", nullptr, "14:00:e9:1f:03:ea"},
      {"Mozilla/4.0 (compatible; MSIE 6.0) AVAYA/J179-4.1.3.0.6 (MAC:c81fea83e85a)", "Avaya", "J179", "4.1.3.0.6",
       nullptr, "c8:1f:ea:83:e8:5a"},
      {std::string("AVAYA/SIP12x0\x17/04.00.04.00"), "Avaya", "SIP12x0", "04.00.04.00", nullptr, nullptr},
      {"Gigaset N870 IP PRO/83.V2.43.0+build.5f0a106;7C2F80XXXXXX;Handset=250", "Gigaset", "N870 IP PRO",
       "83.V2.43.0+build.5f0a106", nullptr, nullptr},  // MAC masked in the doc
      {"N510 IP PRO/42.245.00.000.000;7C2F804DF9A9", "Gigaset", "N510 IP PRO", "42.245.00.000.000", nullptr,
       "7c:2f:80:4d:f9:a9"},
      {"Panasonic_KX-UT113/01.133 (0080f0c8c381)", "Panasonic", "KX-UT113", "01.133", nullptr, "00:80:f0:c8:c3:81"},
      {"Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9", "Htek", "UC903", "2.0.4.2", nullptr, "00:1f:c1:1c:22:a9"},
      {"THOMSON ST2030 hw5 fw2.72 00-14-7F-E1-47-B3", "Technicolor", "ST2030", "2.72", nullptr, "00:14:7f:e1:47:b3"},
      // Patton's "Serial" is its MAC (00:A0:BA is Patton's OUI).
      {"SmartNode (Model:SN4112/JS/EUI; Serial:00A0BA08933C; Software Version:R6.2 2012-09-11 H323 SIP FXS FXO; "
       "Hardware Version:4.4)",
       "Patton", "SN4112/JS/EUI", "R6.2", nullptr, "00:a0:ba:08:93:3c"},
      {"Mozilla/4.0 (compatible; AudioCodes; MP-112;6.60A.253.002;00908F1DD0D3;prov.ini)", "AudioCodes", "MP-112",
       "6.60A.253.002", nullptr, "00:90:8f:1d:d0:d3"},
      {"MyWorld-Mediant;7.00.200.001(00908F1DD0D3)", "AudioCodes", nullptr, "7.00.200.001", nullptr,
       "00:90:8f:1d:d0:d3"},

      // --- no rule ---
      {"curl/7.88.1", nullptr, nullptr, nullptr, nullptr, nullptr},
      {"", nullptr, nullptr, nullptr, nullptr, nullptr},
  };
  return cases;
}

}  // namespace

TEST_CASE("rules: User-Agents of domain.md §2.1 and §3.2 give the expected claims") {
  const auto& rules = bundledRules();
  for (const UaCase& c : uaCases()) {
    CAPTURE(c.ua);
    const Claims got = rules.matchUserAgent(c.ua);
    CAPTURE(got.rule);
    CHECK(text(got.vendor) == orNone(c.vendor));
    CHECK(text(got.model) == orNone(c.model));
    CHECK(text(got.firmware) == orNone(c.firmware));
    CHECK(text(got.serial) == orNone(c.serial));
    CHECK(macText(got) == (c.mac ? std::string(c.mac) : std::string()));
    CHECK(got.rule.empty() == (c.vendor == nullptr));
  }
}

TEST_CASE("rules: a firmware version with a suffix (_rc1, -beta, .b2) is kept whole") {
  const auto& rules = bundledRules();
  // {User-Agent, firmware, MAC or ""}: the rest of each User-Agent is read as without the suffix.
  const std::vector<std::tuple<std::string, const char*, const char*>> cases{
      {"Cisco-CP-8861-3PCC/11.3.7(MPP)_rc1 (00562B043616)", "11.3.7(MPP)_rc1", "00:56:2b:04:36:16"},
      {"Cisco-CP-8841-3PCC/11.0.1-beta (00562b043615)", "11.0.1-beta", "00:56:2b:04:36:15"},
      {"Cisco/SPA112-1.4.1(SR5)_rc1 (F4ACC1000001)", "1.4.1(SR5)_rc1", "f4:ac:c1:00:00:01"},
      {"Cisco/SPA112-1.4.1(SR5)_rc1", "1.4.1(SR5)_rc1", ""},
      {"Yealink SIP-T46G 28.72.0.1_rc1 00:15:65:4a:a9:37", "28.72.0.1_rc1", "00:15:65:4a:a9:37"},
      {"W52P 25.30.0.2.b2 00:15:65:44:b3:7c", "25.30.0.2.b2", "00:15:65:44:b3:7c"},
      {"FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430-beta Type/Application", "4.1.4.7430-beta", ""},
      {"Grandstream Model HW GXP1628 SW 1.0.4.138_rc1 DevId c074ad2bd859", "1.0.4.138_rc1", "c0:74:ad:2b:d8:59"},
      {"Grandstream GXP2000 (gxp2000e.bin:1.2.5.3b2/boot55e.bin:1.1.6.9) DevId 000b822726c8", "1.2.5.3b2",
       "00:0b:82:27:26:c8"},
      {"Grandstream HT802 1.0.17.5-beta", "1.0.17.5-beta", ""},
      {"Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35.b2 1.1.5-IFX-05.01.12 000413741767)", "8.7.5.35.b2",
       "00:04:13:74:17:67"},
      {"snomPA1/8.7.3.19-beta", "8.7.3.19-beta", ""},
      {"Fanvil X6U Pro 0.0.10_rc1 0c383e2cd782", "0.0.10_rc1", "0c:38:3e:2c:d7:82"},
      {"Aastra6731i MAC:00-08-5D-23-74-29 V:3.2.0.70-beta-SIP", "3.2.0.70-beta", "00:08:5d:23:74:29"},
      {"Mozilla/4.0 (compatible; MSIE 6.0) AVAYA/J179-4.1.3.0.6_rc1 (MAC:c81fea83e85a)", "4.1.3.0.6_rc1",
       "c8:1f:ea:83:e8:5a"},
      {std::string("AVAYA/SIP12x0\x17/04.00.04.00-beta"), "04.00.04.00-beta", ""},
      {"Htek UC903 2.0.4.2_rc1 00:1f:c1:1c:22:a9", "2.0.4.2_rc1", "00:1f:c1:1c:22:a9"},
      {"THOMSON ST2030 hw5 fw2.72.b2 00-14-7F-E1-47-B3", "2.72.b2", "00:14:7f:e1:47:b3"},
      {"MyWorld-Mediant;7.00.200.001_rc1(00908F1DD0D3)", "7.00.200.001_rc1", "00:90:8f:1d:d0:d3"},
      {"OBIHAI/OBi202-3.2.2.5921-beta", "3.2.2.5921-beta", ""},
  };
  for (const auto& [ua, firmware, mac] : cases) {
    CAPTURE(ua);
    const Claims c = rules.matchUserAgent(ua);
    CAPTURE(c.rule);
    CHECK(text(c.firmware) == firmware);
    CHECK(macText(c) == mac);
  }
}

TEST_CASE("rules: the brand as sent is not kept as vendor") {
  const auto& rules = bundledRules();
  CHECK(text(rules.matchUserAgent("Sipura/SPA941-4.1.8").vendor) == "Cisco");
  CHECK(text(rules.matchUserAgent("Linksys/SPA2102-5.2.10").vendor) == "Cisco");
  CHECK(text(rules.matchUserAgent("Aastra6731i MAC:00-08-5D-23-74-29 V:3.2.0.70-SIP").vendor) == "Mitel");
}

TEST_CASE("rules: a SIP-form User-Agent never yields a serial or a MAC") {
  const auto& rules = bundledRules();
  for (const char* ua : {"Cisco/SPA122-1.4.1(SR5)", "Linksys/PAP2T-5.1.6(LS)", "Sipura/SPA2002-3.1.2(a)",
                         "Yealink SIP-T54W 96.85.0.5", "Grandstream HT802 1.0.17.5"}) {
    CAPTURE(ua);
    const Claims c = rules.matchUserAgent(ua);
    CHECK_FALSE(c.serial);
    CHECK_FALSE(c.mac);
  }
}

TEST_CASE("rules: all-zero and multicast MACs are never claimed") {
  const auto& rules = bundledRules();
  CHECK_FALSE(rules.matchUserAgent("Yealink SIP-T46G 28.72.0.1 00:00:00:00:00:00").mac);
  CHECK_FALSE(rules.matchUserAgent("Yealink SIP-T46G 28.72.0.1 01:00:5e:00:00:01").mac);
  CHECK(rules.matchUserAgent("Yealink SIP-T46G 28.72.0.1 01:00:5e:00:00:01").model);  // the rest still claimed
}

TEST_CASE("rules: hostile 64 KiB User-Agents of parentheses and control bytes return") {
  const auto& rules = bundledRules();
  std::string parens(64 * 1024, '(');
  std::string controls;
  for (std::size_t i = 0; i < 64 * 1024; ++i) controls.push_back(static_cast<char>(i % 32));
  std::string mixed = "Cisco/SPA-" + std::string(64 * 1024, '-') + "1" + std::string(1000, '(');
  std::string yealink = "Yealink " + std::string(64 * 1024, ' ') + "1.2.3.4";
  for (const std::string* s : {&parens, &controls, &mixed, &yealink}) {
    (void)rules.matchUserAgent(*s);
    (void)rules.matchUrl(*s);
    (void)rules.matchPostBody(*s);
  }
  // Beyond RULES_MAX_MATCH_INPUT nothing is looked at.
  const std::string late = std::string(RULES_MAX_MATCH_INPUT, ' ') + "Linksys/SPA-2102-2.0.5 (88012BA01234)";
  CHECK(rules.matchUserAgent(late).empty());
  SUCCEED();
}
