#include "capture/interface_reader.h"

#include "capture/decoder.h"
#include "common/thread_name.h"

namespace provaudit::capture {

InterfaceReader::InterfaceReader(std::unique_ptr<LivePacketSource> source, std::size_t producer, WorkerPool& pool)
    : source_(std::move(source)), name_(source_->name()), producer_(producer), pool_(pool) {}

InterfaceReader::~InterfaceReader() {
  stop();
  join();
}

void InterfaceReader::start() {
  thread_ = std::thread([this] { run(); });
  nameThread(thread_, "pa-cap-" + name_);
}

void InterfaceReader::join() {
  if (thread_.joinable()) thread_.join();
}

InterfaceCounters InterfaceReader::snapshot() const {
  std::lock_guard lock(mu_);
  return published_;
}

void InterfaceReader::publish(const InterfaceCounters& c) {
  std::lock_guard lock(mu_);
  published_ = c;
}

void InterfaceReader::run() {
  InterfaceCounters c;
  Decoder decoder(c.anomalies);
  DecodedPacket decoded;
  RawPacket raw;
  auto readStats = [&] {
    c.drops_queue = pool_.queueDrops(producer_);
    if (auto s = source_->stats()) {
      c.drops_kernel = s->kernel_drops;
      c.drops_interface = s->interface_drops;
    }
  };
  auto next_publish = std::chrono::steady_clock::now();
  for (;;) {
    const LiveRead r = source_->nextFor(raw, READER_PUBLISH_INTERVAL);
    if (r == LiveRead::Packet) {
      if (c.packets == 0) c.first_ts_ns = raw.ref.ts_ns;
      ++c.packets;
      c.bytes += raw.orig_len;
      c.last_ts_ns = raw.ref.ts_ns;
      if (decoder.decode(raw, decoded)) {
        ++c.tcp_segments;
        pool_.submit(producer_, decoded, raw);  // a refusal is counted by the ring (drops_queue)
      } else {
        ++c.not_tcp;
      }
    } else if (r == LiveRead::Stopped) {
      break;
    } else if (r == LiveRead::Error) {
      c.error = source_->error();
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_publish) {
      decoder.expireFragments(c.last_ts_ns);
      readStats();
      publish(c);
      next_publish = now + READER_PUBLISH_INTERVAL;
    }
  }
  decoder.finish();  // datagrams still missing fragments when capture stopped: counted
  readStats();
  c.finished = true;
  publish(c);
}

}  // namespace provaudit::capture
