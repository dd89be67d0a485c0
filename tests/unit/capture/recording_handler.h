#pragma once
// Test helper: a StreamHandlerFactory whose handlers record every event.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/byte_reader.h"
#include "common/stream.h"

namespace provaudit::capture::test {

// What the recording handler saw, in order.
struct Event {
  enum Kind { Data, Gap, Close } kind = Data;
  Side side = Side::Client;
  std::string bytes;
  std::uint64_t missing = 0;
  CloseReason why = CloseReason::Fin;
  FlowInfo info;
  PacketRef ref;  // the packet the event came with
};

// A factory whose handlers append to one shared event list; `verdict` decides
// the answer to each data/gap event (Continue by default).
struct Recorder : StreamHandlerFactory {
  std::vector<Event> events;
  int created = 0;
  bool refuse = false;
  std::function<StreamVerdict(const Event&)> verdict;

  struct Handler : StreamHandler {
    Recorder& r;
    explicit Handler(Recorder& rec) : r(rec) {}
    StreamVerdict record(Event e) {
      r.events.push_back(e);
      return r.verdict ? r.verdict(r.events.back()) : StreamVerdict::Continue;
    }
    StreamVerdict onData(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes,
                         const PacketRef& pkt) override {
      return record(Event{Event::Data, side, std::string(asText(bytes)), 0, CloseReason::Fin, flow, pkt});
    }
    StreamVerdict onGap(const FlowInfo& flow, Side side, std::uint64_t missing, const PacketRef& pkt) override {
      return record(Event{Event::Gap, side, "", missing, CloseReason::Fin, flow, pkt});
    }
    void onClose(const FlowInfo& flow, CloseReason why, const PacketRef& pkt) override {
      r.events.push_back(Event{Event::Close, Side::Client, "", 0, why, flow, pkt});
    }
  };
  std::unique_ptr<StreamHandler> create(const FlowInfo&) override {
    ++created;
    if (refuse) return nullptr;
    return std::make_unique<Handler>(*this);
  }

  // Everything delivered for `side`, gaps shown as "[gap N]".
  std::string stream(Side side) const {
    std::string s;
    for (const Event& e : events) {
      if (e.kind == Event::Data && e.side == side) s += e.bytes;
      if (e.kind == Event::Gap && e.side == side) s += "[gap " + std::to_string(e.missing) + "]";
    }
    return s;
  }
  int closes(CloseReason why) const {
    int n = 0;
    for (const Event& e : events) n += e.kind == Event::Close && e.why == why ? 1 : 0;
    return n;
  }
};

}  // namespace provaudit::capture::test
