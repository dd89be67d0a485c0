#pragma once
// Several capture files read as one capture. A sensor's capture of a week is
// many files: tcpdump -C / -G, dumpcap's ring buffer and editcap -c cut one
// capture into pieces, and a connection in progress at a cut has its start
// in one piece and its end in the next. Read as captures of their own, every
// handshake across a cut was lost: its second half started mid-stream, its
// client certificate unseen (samples/spa_mixed_tls12.pcap in 7-packet pieces:
// all five devices "unknown", against 2 individualized, 2 generic, 1 none).
//
// So a replay reads its files as one capture, in the time order of their
// first packets (the shell's glob gives "cap1 cap10 cap2"): files that
// overlap in time are read merged, packet by packet in time order (a tap's
// two directions captured into two files: read apart, the server's half of
// every handshake, its version, certificate and certificate request, was
// lost to the clients'), and a file that starts after the last one ended,
// within the flows' idle timeout, continues it: the flows open at its end
// carry on. A file that starts later than that begins a capture of its own.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace provaudit::capture {

// Files read merged at once at most: each holds its read buffer (1 MiB, and
// an inflating thread when compressed) and a descriptor. A tap's two ports, a
// rotation's overlap or a few sensors' captures of the same hours fit; past
// that, a file waits for one of them to end and is read late, its packets out
// of time order (said once).
inline constexpr std::size_t MAX_MERGED_FILES = 16;

// Whether a file whose first packet is at `first_ns` continues the capture
// whose last packet was at `last_ns` (a file that starts earlier overlaps it
// and is read merged with it): it starts no later than `idle_timeout_ns`
// after, by when every flow of the capture would have closed as idle anyway.
[[nodiscard]] bool continuesCapture(std::int64_t last_ns, std::int64_t first_ns, std::int64_t idle_timeout_ns);

// The time of a capture file's first packet; nullopt when it cannot be opened
// or holds no packet (the replay then says why, in its turn).
[[nodiscard]] std::optional<std::int64_t> firstPacketTime(const std::string& path);

// A directory given to a replay (a sensor's capture directory, a week of
// rotated files, perhaps a subdirectory a day): the capture files in it and
// in its subdirectories, by path (a replay then orders them by their first
// packets). Hidden files and directories (".name": a partial download, a
// snapshot) are not read; symbolic links to directories are not followed.
struct DirectoryCaptures {
  std::vector<std::string> captures;  // files whose first bytes announce a capture (hasCaptureMagic)
  std::vector<std::string> left_out;  // other files, and subdirectories that cannot be read (with why), by path
};
[[nodiscard]] DirectoryCaptures capturesIn(const std::string& dir);

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
