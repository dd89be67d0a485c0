// read_floor FILE: provaudit's own capture reader (capture::openCaptureFile)
// in a bare loop, counting packets and captured bytes, touching nothing else.
// Since provaudit stopped reading files through libpcap (session 5), this is
// its real floor; bench/run prints it beside libpcap's (bare_read), which
// stays the floor the targets are stated against. Prints one line:
//   packets N bytes B wire_bytes W seconds S
// Exit status 1 if the file cannot be opened or is damaged.
#include <cstdint>
#include <cstdio>
#include <string>

#include "capture/packet_source.h"
#include "floor_loop.h"

int main(int argc, char** argv) {
  using namespace provaudit::capture;
  if (argc != 2) {
    std::fprintf(stderr, "usage: read_floor FILE\n");
    return 1;
  }
  const double t0 = bench::nowSeconds();
  std::string err;
  auto src = openCaptureFile(argv[1], 0, err);
  if (!src) {
    std::fprintf(stderr, "read_floor: %s\n", err.c_str());
    return 1;
  }
  std::uint64_t packets = 0, bytes = 0, wire = 0;
  RawPacket p;
  ReadStatus st;
  while ((st = src->next(p)) == ReadStatus::Packet) {
    ++packets;
    bytes += p.data.size();
    wire += p.orig_len;
  }
  const double secs = bench::nowSeconds() - t0;
  if (st == ReadStatus::Error) std::fprintf(stderr, "read_floor: %s\n", src->error().c_str());
  bench::printFloorLine(packets, bytes, wire, secs);
  return st == ReadStatus::Error ? 1 : 0;
}
