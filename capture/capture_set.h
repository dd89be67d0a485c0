#pragma once
// Several capture files read as one capture. A sensor's capture of a week is
// many files: tcpdump -C / -G, dumpcap's ring buffer and editcap -c cut one
// capture into pieces, and a connection in progress at a cut has its start
// in one piece and its end in the next. Read as captures of their own, every
// handshake across a cut was lost: its second half started mid-stream, its
// client certificate unseen (samples/spa_mixed_tls12.pcap in 7-packet pieces:
// all five devices "unknown", against 2 individualized, 2 generic, 1 none).
//
// So a replay reads its files in the time order of their first packets (the
// shell's glob gives "cap1 cap10 cap2"), and a file that starts where the
// previous one stopped continues it: the flows open at the end of one carry
// on into the next. A file that starts before the previous one ended (another
// sensor's capture of the same time) or long after it is a capture of its
// own, and the previous file's flows end with it, as they always did.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace provaudit::capture {

// How far a file's first packet may precede the previous file's last and
// still continue it: capture on several CPUs stamps packets slightly out of
// order, and a rotation cuts between two such packets.
inline constexpr std::int64_t CAPTURE_CONTINUATION_SLACK_NS = 1'000'000'000;

// Whether a file whose first packet is at `first_ns` continues the capture
// whose last packet was at `last_ns`: it starts no earlier than the slack
// before that, and no later than `idle_timeout_ns` after (by then every flow
// of the previous file would have closed as idle anyway).
[[nodiscard]] bool continuesCapture(std::int64_t last_ns, std::int64_t first_ns, std::int64_t idle_timeout_ns);

// Whether a file whose first packet is at `first_ns` starts before the
// capture whose last packet was at `last_ns` ended (beyond the slack): two
// captures of the same time, such as a tap's two directions captured apart.
[[nodiscard]] bool overlapsCapture(std::int64_t last_ns, std::int64_t first_ns);

// The time of a capture file's first packet; nullopt when it cannot be opened
// or holds no packet (the replay then says why, in its turn).
[[nodiscard]] std::optional<std::int64_t> firstPacketTime(const std::string& path);

struct CaptureFile {
  std::string path;
  std::optional<std::int64_t> first_ns;  // its first packet's time, when known (read ahead of the replay)
};

// `files` in the time order of their first packets, files of equal time (and
// those without a first packet, last) in the order given. Only when every one
// is a regular file (or none at all): standard input ("-"), a pipe or a
// device can be read once only, and then the order given is kept and no
// first packet is known ahead.
[[nodiscard]] std::vector<CaptureFile> inTimeOrder(const std::vector<std::string>& files);

}  // namespace provaudit::capture
