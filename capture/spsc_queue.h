#pragma once
// Bounded single-producer single-consumer ring between one capture thread and
// one analysis worker. Slots are allocated once and reused, so buffers inside
// them keep their capacity and steady-state capture allocates nothing. A full
// ring never blocks the producer: the caller drops the packet and the queue
// counts it (drops are never silent: they reach the stats as drops_queue).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace provaudit::capture {

// Keeps the producer's and the consumer's indices on separate cache lines.
inline constexpr std::size_t QUEUE_CACHE_LINE = 64;

template <typename T>
class SpscQueue {
 public:
  // Capacity is rounded up to a power of two (at least 2).
  explicit SpscQueue(std::size_t capacity) {
    std::size_t n = 2;
    while (n < capacity) n <<= 1;
    slots_.resize(n);
    mask_ = n - 1;
  }
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  // Producer: the slot to fill, or nullptr when the ring is full (the drop is
  // counted here). Fill it, then commitPush().
  T* beginPush() {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ > mask_) {
        drops_.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
      }
    }
    return &slots_[tail & mask_];
  }
  // Publishes the slot from beginPush(). Sequentially consistent so that a
  // consumer about to sleep either sees the packet or is seen sleeping (the
  // producer then wakes it; see WorkerPool).
  void commitPush() { tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst); }

  // Consumer: the oldest slot, or nullptr when empty. Use it, then pop().
  T* front() {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_seq_cst);
      if (head == tail_cache_) return nullptr;
    }
    return &slots_[head & mask_];
  }
  void pop() { head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

  // Any thread; approximate while both sides run.
  [[nodiscard]] bool empty() const {
    return head_.load(std::memory_order_seq_cst) == tail_.load(std::memory_order_seq_cst);
  }
  [[nodiscard]] std::size_t size() const {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::size_t capacity() const { return mask_ + 1; }
  // Packets refused because the ring was full; any thread.
  [[nodiscard]] std::uint64_t drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  std::vector<T> slots_;
  std::size_t mask_ = 0;
  alignas(QUEUE_CACHE_LINE) std::atomic<std::size_t> head_{0};  // next slot to consume (consumer writes)
  std::size_t tail_cache_ = 0;                                   // consumer's copy of tail_
  alignas(QUEUE_CACHE_LINE) std::atomic<std::size_t> tail_{0};  // next slot to fill (producer writes)
  std::size_t head_cache_ = 0;                                   // producer's copy of head_
  std::atomic<std::uint64_t> drops_{0};
};

}  // namespace provaudit::capture
