// The audit's device encoder (store/device_encoder.h): whatever the two
// threads' pace, every device comes out once, in order, byte for byte as
// encodeDevice writes it alone; a failure on either thread reaches the caller
// at the device that failed, after all those before it.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/device_encoder.h"
#include "store/json_codec.h"

using namespace provaudit;
using analyze::ClaimSource;
using analyze::DeviceRecord;

namespace {

std::vector<DeviceRecord> fleet(std::size_t n) {
  std::vector<DeviceRecord> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    DeviceRecord& d = out[i];
    d.id = "mac:00:15:65:" + std::to_string(100000 + i);
    d.identity = i % 3 == 0 ? "individualized" : "unknown";
    d.identity_reason = "test";
    // Sizes vary, so that a reused slot's strings shrink and grow.
    d.user_agents = {"Yealink SIP-T46G 28.72.0." + std::to_string(i) + std::string(i % 97 * 7, 'x')};
    const auto ua = std::make_shared<const ClaimSource>(
        ClaimSource{"user-agent", d.user_agents.front(), "yealink-ua", {1'750'000'000'000'000'000 + static_cast<std::int64_t>(i), i, 0}, "a.pcap"});
    d.claims.push_back({"vendor", "Yealink", ua});
    const auto t = static_cast<std::int64_t>(i * 2);
    d.sightings = {{std::to_string(t), t}, {std::to_string(t + 1), t + 1}};
    d.first_seen = d.last_seen = 1'750'000'000'000'000'000 + static_cast<std::int64_t>(i);
    d.sessions = i;
  }
  return out;
}

store::EncodedDevice alone(const DeviceRecord& d) {
  store::EncodedDevice e;
  store::encodeDevice(d, e);
  return e;
}

}  // namespace

TEST_CASE("the encoder hands out every device once, in order, as encodeDevice writes it") {
  const auto devices = fleet(3 * store::ENCODE_AHEAD + 37);
  std::vector<store::EncodedDevice> expected;
  for (const auto& d : devices) expected.push_back(alone(d));
  CHECK(expected.front().report == store::deviceReportText(devices.front()));
  CHECK(expected.front().detail == store::deviceDetailText(devices.front()));

  const bool threaded = GENERATE(false, true);
  // The caller's pace: as fast as it goes, or slower than the thread now and
  // then (the ring fills and the thread waits for half of it).
  const int pause_every = GENERATE(0, 50);
  INFO("threaded " << threaded << ", caller pauses every " << pause_every << " devices");
  store::DeviceEncoder encoder(devices, threaded);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    if (pause_every != 0 && i % static_cast<std::size_t>(pause_every) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const store::EncodedDevice& e = encoder.next();
    INFO("device " << i);
    REQUIRE(e.report == expected[i].report);
    REQUIRE(e.detail == expected[i].detail);
    REQUIRE(e.hash == expected[i].hash);
  }
}

TEST_CASE("a device that fails to encode reaches the caller at its turn, after all before it") {
  const auto devices = fleet(2 * store::ENCODE_AHEAD);
  // Early (the caller may well encode it itself) or late (the thread's, most likely).
  const std::size_t bad = GENERATE(std::size_t{3}, store::ENCODE_AHEAD + 5);
  const bool threaded = GENERATE(false, true);
  INFO("failing device " << bad << ", threaded " << threaded);
  store::DeviceEncoder encoder(devices, threaded, [&](const DeviceRecord& d, store::EncodedDevice& out) {
    if (&d == &devices[bad]) throw std::runtime_error("cannot encode " + d.id);
    store::encodeDevice(d, out);
  });
  for (std::size_t i = 0; i < bad; ++i) {
    INFO("device " << i);
    REQUIRE(encoder.next().report == alone(devices[i]).report);
  }
  CHECK_THROWS_WITH(encoder.next(), "cannot encode " + devices[bad].id);
}  // and the encoder's thread stops with it
