// bare_read FILE: the practical floor for reading a capture. libpcap's
// pcap_open_offline + pcap_next_ex loop, counting packets and captured bytes,
// touching nothing else. Prints one line:
//   packets N bytes B wire_bytes W seconds S
// Exit status 1 if the file cannot be opened or is damaged.
#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>

#include "floor_loop.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bare_read FILE\n");
    return 1;
  }
  char errbuf[PCAP_ERRBUF_SIZE];
  const double t0 = bench::nowSeconds();
  pcap_t* p = pcap_open_offline(argv[1], errbuf);
  if (p == nullptr) {
    std::fprintf(stderr, "bare_read: %s\n", errbuf);
    return 1;
  }
  std::uint64_t packets = 0, bytes = 0, wire = 0;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
    ++packets;
    bytes += hdr->caplen;
    wire += hdr->len;
  }
  const double secs = bench::nowSeconds() - t0;
  int status = 0;
  if (rc == PCAP_ERROR) {
    std::fprintf(stderr, "bare_read: %s\n", pcap_geterr(p));
    status = 1;
  }
  pcap_close(p);
  bench::printFloorLine(packets, bytes, wire, secs);
  return status;
}
