#include "store/device_encoder.h"

#include <algorithm>

#include "common/thread_name.h"
#include "store/json_codec.h"

namespace provaudit::store {

void encodeDevice(const analyze::DeviceRecord& d, EncodedDevice& out) {
  out.report.clear();
  appendDeviceReportText(d, out.report);
  out.detail.clear();
  appendDeviceDetailText(d, out.detail);
  // Everything the rows hold: the two JSON forms, the sighting keys and the
  // servers (a stored hash is compared by the next process too).
  std::uint64_t h = std::hash<std::string>{}(out.report) ^ (std::hash<std::string>{}(out.detail) * 31);
  // (A sighting's time follows from its key.)
  const auto mix = [&h](const std::string& k) { h = (h ^ std::hash<std::string>{}(k)) * 0x100000001b3ULL; };
  for (const auto& s : d.sightings) mix(s.key);
  h = (h ^ d.sightings.size()) * 0x9e3779b97f4a7c15ULL;
  for (const auto& k : d.servers) mix(k);
  h = (h ^ d.servers.size()) * 0x9e3779b97f4a7c15ULL;
  out.hash = h;
}

DeviceEncoder::DeviceEncoder(const std::vector<analyze::DeviceRecord>& devices, bool threaded, EncodeFn encode)
    : devices_(devices), encode_(std::move(encode)), ring_(threaded ? ENCODE_AHEAD : 0) {
  if (threaded) {
    thread_ = std::thread([this] { run(); });
    nameThread(thread_, "pa-encoder");
  }
}

DeviceEncoder::~DeviceEncoder() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::pair<std::size_t, std::size_t> DeviceEncoder::claim(std::size_t most) {
  const std::size_t limit = std::min(devices_.size(), released_.load() + ring_.size());
  const std::size_t from = claimed_;
  const std::size_t to = from < limit ? std::min(limit, from + most) : from;
  claimed_ = to;
  return {from, to};
}

std::size_t DeviceEncoder::freeSlots() const { return released_.load() + ring_.size() - claimed_; }

bool DeviceEncoder::encodeRange(std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) {
    Slot& slot = slotOf(i);
    try {
      encode_(devices_[i], slot.encoded);
    } catch (...) {
      // Kept for the caller's turn at this device (the earliest failure wins):
      // those before it are encoded, or being encoded, by whoever claimed them.
      std::lock_guard lock(mu_);
      if (!error_ || i < error_device_) {
        error_ = std::current_exception();
        error_device_ = i;
      }
      cv_.notify_all();
      return false;
    }
    slot.ready.store(true);
    // The caller sets caller_waits_ under mu_ before it looks at its slot: if
    // it is not set here, the caller will see this slot ready (both atomics
    // sequentially consistent). Locking before notifying closes the gap
    // between its look and its wait.
    if (caller_waits_.load()) {
      std::lock_guard lock(mu_);
      cv_.notify_all();
    }
  }
  return true;
}

void DeviceEncoder::run() {
  for (;;) {
    std::pair<std::size_t, std::size_t> range;
    {
      std::unique_lock lock(mu_);
      if (!stop_ && claimed_ < devices_.size() && freeSlots() == 0) {
        // The ring is full: wait until half of it is free again, one wake-up
        // per ENCODE_AHEAD / 2 devices rather than one per device. The caller
        // stores released_ and then looks at thread_waits_; here it is the
        // other way round (both sequentially consistent): one of the two sees
        // the other's store.
        thread_waits_.store(true);
        cv_.wait(lock, [&] { return stop_ || freeSlots() >= ring_.size() / 2; });
        thread_waits_.store(false);
      }
      if (stop_ || claimed_ >= devices_.size()) return;
      range = claim(ENCODE_CHUNK);
    }
    if (!encodeRange(range.first, range.second)) return;
  }
}

const EncodedDevice& DeviceEncoder::next() {
  if (ring_.empty()) {
    encode_(devices_[taken_++], inline_);
    return inline_;
  }
  // The device handed out last time is done with: its slot is free. The
  // thread is woken only when it sleeps and half the ring is free.
  released_.store(taken_);
  if (thread_waits_.load()) {
    std::lock_guard lock(mu_);
    if (freeSlots() >= ring_.size() / 2) cv_.notify_all();
  }
  Slot& slot = slotOf(taken_);
  const auto failedHere = [&] { return error_ != nullptr && error_device_ == taken_; };
  while (!slot.ready.load()) {
    std::unique_lock lock(mu_);
    if (failedHere()) std::rethrow_exception(error_);
    // Rather than wait, encode a device nobody has started (this one, or one
    // further on; a failure is kept for its turn).
    const auto [from, to] = claim(1);
    if (from != to) {
      lock.unlock();
      encodeRange(from, to);
      continue;
    }
    caller_waits_.store(true);
    cv_.wait(lock, [&] { return slot.ready.load() || failedHere(); });
    caller_waits_.store(false);
  }
  slot.ready.store(false);  // its next device is written only once released_ passes this one
  ++taken_;
  return slot.encoded;
}

}  // namespace provaudit::store
