#pragma once
// Encodes an audit's devices (their report and detail JSON and the row hash),
// in order, on a thread of its own while the caller writes them. In a large
// audit the JSON costs more than the SQL (1 GB corpus, 24k devices: 0.6 s
// against 0.47 s), so a caller whose next device is not ready encodes one
// that nobody has started yet rather than wait: the encoding splits between
// the two.
//
// The two threads meet rarely (bench/RESULTS.md, session 7): each encoding is
// written into a slot of a ring whose strings are reused from device to device
// (before, each document was allocated on the encoding thread and freed on the
// writer's, every free taking the other thread's malloc arena lock: 20k futex
// calls in the 1 GB corpus's last audit); the thread claims devices in chunks
// under the lock, a slot says it is ready through an atomic flag, and each
// side wakes the other only when it is asleep.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "analyze/audit.h"

namespace provaudit::store {

struct EncodedDevice {
  std::string report, detail;  // device_docs.report and .detail
  std::uint64_t hash = 0;      // devices.row_hash: everything the device's rows hold
};

// Fills `out` (its strings are cleared first, their capacity kept).
void encodeDevice(const analyze::DeviceRecord& d, EncodedDevice& out);

// How far the encoding may run ahead of the caller (slots in the ring; bounds the memory).
inline constexpr std::size_t ENCODE_AHEAD = 256;
// Devices the thread claims at a time.
inline constexpr std::size_t ENCODE_CHUNK = 16;

class DeviceEncoder {
 public:
  using EncodeFn = std::function<void(const analyze::DeviceRecord&, EncodedDevice&)>;
  // `threaded` false: each device is encoded by next() itself.
  DeviceEncoder(const std::vector<analyze::DeviceRecord>& devices, bool threaded, EncodeFn encode = encodeDevice);
  ~DeviceEncoder();
  DeviceEncoder(const DeviceEncoder&) = delete;
  DeviceEncoder& operator=(const DeviceEncoder&) = delete;

  // The next device's encoding, valid until the next call; rethrows what the
  // encoding failed with (on either thread).
  const EncodedDevice& next();

 private:
  struct Slot {
    EncodedDevice encoded;
    std::atomic<bool> ready{false};
  };
  Slot& slotOf(std::size_t device) { return ring_[device % ring_.size()]; }
  // Claims up to `most` devices nobody has started, within ENCODE_AHEAD of the
  // caller's last released one; returns [from, to). mu_ held.
  std::pair<std::size_t, std::size_t> claim(std::size_t most);
  std::size_t freeSlots() const;  // slots neither claimed nor held by the caller; mu_ held
  // Encodes devices [from, to) into their slots and marks them ready; mu_ not
  // held. False when one failed (kept in error_ for its turn): the rest of
  // the range is left.
  bool encodeRange(std::size_t from, std::size_t to);
  void run();

  const std::vector<analyze::DeviceRecord>& devices_;
  const EncodeFn encode_;
  std::vector<Slot> ring_;
  EncodedDevice inline_;       // the unthreaded encoder's one slot
  std::size_t taken_ = 0;      // devices handed to the caller (caller only)
  std::mutex mu_;
  std::condition_variable cv_;
  // Under mu_:
  std::size_t claimed_ = 0;    // devices the thread or the caller started
  bool stop_ = false;
  std::exception_ptr error_;    // the earliest device's failure,
  std::size_t error_device_ = 0;  // and that device
  std::atomic<bool> caller_waits_{false};  // set under mu_; read by the thread without it
  std::atomic<bool> thread_waits_{false};  // set under mu_; read by the caller without it
  std::atomic<std::size_t> released_{0};  // devices the caller is done with: their slots are free (caller writes)
  std::thread thread_;
};

}  // namespace provaudit::store
