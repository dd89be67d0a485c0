// gzip-compressed captures (capture/gzip_inflater.h): read as the capture
// inside, cut or corrupt ones up to the damage, other compressions named.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <algorithm>
#include <string>
#include <vector>

#include "capture/decoder.h"
#include "capture/gzip_inflater.h"
#include "capture/packet_source.h"
#include "capture_files.h"
#include "pcap_builder.h"
#include "pcapng_builder.h"

using namespace provaudit;
using namespace provaudit::capture;
using namespace provaudit::capture::test;

namespace {

constexpr std::size_t PCAP_FILE_HEADER = 24, PCAP_RECORD_HEADER = 16;

// One gzip member holding `bytes` (zlib's deflate with gzip framing).
std::vector<std::uint8_t> gzipped(const std::vector<std::uint8_t>& bytes) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<std::uint8_t> out(deflateBound(&z, static_cast<uLong>(bytes.size())));
  z.next_in = const_cast<Bytef*>(bytes.data());  // zlib's API is not const; deflate does not write it
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A classic pcap of `n` records, each `size` bytes of its own pseudo-random
// content (so that compression leaves the file large enough to span chunks).
std::vector<std::uint8_t> bigPcap(int n, std::size_t size) {
  PcapWriter w(false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE);
  std::uint32_t x = 12345;
  for (int i = 0; i < n; ++i) {
    std::string payload(size, '\0');
    for (char& c : payload) {
      x = x * 1103515245 + 12345;
      c = static_cast<char>(x >> 24);
    }
    w.record(1'700'000'000 + static_cast<std::uint32_t>(i), 0, payload);
  }
  return w.out.data();
}

Read readFile(const TempFile& file, std::string& err, std::unique_ptr<PacketSource>* keep = nullptr) {
  auto src = openCaptureFile(file.str(), 3, err);
  REQUIRE(src);
  Read r = readAll(*src);
  if (keep != nullptr) *keep = std::move(src);
  return r;
}

void samePackets(const Read& a, const Read& b, std::size_t n) {
  REQUIRE(a.packets.size() >= n);
  REQUIRE(b.packets.size() >= n);
  for (std::size_t i = 0; i < n; ++i) {
    INFO("packet " << i);
    CHECK(a.data[i] == b.data[i]);
    CHECK(a.packets[i].ref.ts_ns == b.packets[i].ref.ts_ns);
    CHECK(a.packets[i].ref.frame == b.packets[i].ref.frame);
    CHECK(a.packets[i].ref.source == b.packets[i].ref.source);
    CHECK(a.packets[i].linktype == b.packets[i].linktype);
    CHECK(a.packets[i].orig_len == b.packets[i].orig_len);
  }
}

}  // namespace

TEST_CASE("gzip-compressed pcap and pcapng read as the files inside, with the compressed file's progress") {
  PcapngBuilder ng;
  ng.idb(LINKTYPE_ETHERNET).idb(LINKTYPE_RAW, InterfaceOptions().resolution(TSRESOL_NANO));
  for (int i = 0; i < 300; ++i) ng.epb(static_cast<std::uint32_t>(i % 2), 1'700'000'000'000'000ULL + i, "packet " + std::to_string(i));
  const std::vector<std::vector<std::uint8_t>> captures = {bigPcap(1500, 900), ng.data()};
  for (const auto& plain_bytes : captures) {
    TempFile plain("plain.cap"), packed("packed.cap.gz");
    plain.write(plain_bytes);
    const std::vector<std::uint8_t> gz = gzipped(plain_bytes);
    packed.write(gz);
    std::string err;
    const Read want = readFile(plain, err);
    std::unique_ptr<PacketSource> src;
    const Read got = readFile(packed, err, &src);
    INFO(src->error());
    CHECK(got.last == ReadStatus::End);
    REQUIRE(got.packets.size() == want.packets.size());
    samePackets(got, want, want.packets.size());
    CHECK(src->name() == packed.str());
    CHECK(src->totalBytes() == gz.size());
    CHECK(src->bytesRead() == gz.size());
  }
}

TEST_CASE("gzip members one after another read as one capture; bytes after the last are ignored") {
  const std::vector<std::uint8_t> bytes = bigPcap(400, 700);
  const std::size_t half = bytes.size() / 2 + 13;  // in the middle of a record
  std::vector<std::uint8_t> joined = gzipped({bytes.begin(), bytes.begin() + static_cast<long>(half)});
  const auto second = gzipped({bytes.begin() + static_cast<long>(half), bytes.end()});
  joined.insert(joined.end(), second.begin(), second.end());
  const std::string junk = "trailing bytes, not a gzip member";
  joined.insert(joined.end(), junk.begin(), junk.end());
  TempFile plain("members.pcap"), packed("members.pcap.gz");
  plain.write(bytes);
  packed.write(joined);
  std::string err;
  const Read want = readFile(plain, err);
  const Read got = readFile(packed, err);
  CHECK(got.last == ReadStatus::End);
  REQUIRE(got.packets.size() == want.packets.size());
  samePackets(got, want, want.packets.size());
}

TEST_CASE("a cut or corrupt gzip file: every packet that inflated whole, then one line that says why") {
  const std::vector<std::uint8_t> bytes = bigPcap(1000, 800);
  const std::vector<std::uint8_t> gz = gzipped(bytes);
  TempFile plain("damaged.pcap");
  plain.write(bytes);
  std::string err;
  const Read want = readFile(plain, err);
  struct Damage {
    const char* what;
    std::vector<std::uint8_t> file;
    const char* says;
  };
  std::vector<std::uint8_t> cut(gz.begin(), gz.begin() + static_cast<long>(gz.size() * 6 / 10));
  std::vector<std::uint8_t> corrupt = gz;
  for (std::size_t i = gz.size() / 2; i < gz.size() / 2 + 64; ++i) corrupt[i] ^= 0x5a;
  std::vector<std::uint8_t> bad_check = gz;
  bad_check[gz.size() - 6] ^= 0x01;  // the CRC-32 in the trailer: every packet inflates, the check fails
  for (const Damage& d : {Damage{"cut", cut, "ends in the middle of a gzip member"},
                          Damage{"corrupt", corrupt, "corrupt gzip data"},
                          Damage{"bad CRC", bad_check, "corrupt gzip data (incorrect data check)"}}) {
    INFO(d.what);
    TempFile packed("damaged.pcap.gz");
    packed.write(d.file);
    std::unique_ptr<PacketSource> src;
    const Read got = readFile(packed, err, &src);
    CHECK(got.last == ReadStatus::Error);
    const std::string msg = src->error();
    INFO(msg);
    CHECK(msg.find(packed.str() + ": ") == 0);
    CHECK(msg.find(d.says) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(got.packets.size() <= want.packets.size());
    const std::string what = d.what;
    if (what == "corrupt") {
      // Deflate finds damage only where it breaks the format: bytes inflated from the damaged
      // region before that may be wrong (gzip -d writes them too). The records wholly before it
      // come out intact. The data is random, so deflate stored it: compressed and inflated
      // offsets differ by the headers only (a 1 KiB margin here).
      const std::size_t intact = (gz.size() / 2 - 1024 - PCAP_FILE_HEADER) / (PCAP_RECORD_HEADER + 800);
      CHECK(got.packets.size() >= intact);
      samePackets(got, want, std::min(intact, got.packets.size()));
    } else {
      samePackets(got, want, got.packets.size());  // a cut or a bad check: every packet is the capture's own
      if (what == "bad CRC") CHECK(got.packets.size() == want.packets.size());
      if (what == "cut") CHECK(got.packets.size() > want.packets.size() / 2);
    }
    RawPacket p;
    CHECK(src->next(p) == ReadStatus::Error);  // stays failed
  }
}

TEST_CASE("a gzip source closed early stops its thread (no hang, no leak)") {
  TempFile packed("early.pcap.gz");
  packed.write(gzipped(bigPcap(6000, 1400)));  // ~8 MB inflated: far more than the socket holds
  for (int i = 0; i < 20; ++i) {
    std::string err;
    auto src = openCaptureFile(packed.str(), 0, err);
    REQUIRE(src);
    RawPacket p;
    for (int k = 0; k < i; ++k) REQUIRE(src->next(p) == ReadStatus::Packet);
  }  // each destroyed with its inflater blocked on a full socket
  SUCCEED();
}

TEST_CASE("other compressions are named, with the way to read them; gzip inside gzip is not a capture") {
  const struct {
    std::vector<std::uint8_t> magic;
    const char* name;
  } others[] = {{{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}, "zstd"},
                {{0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 0}, "xz"},
                {{0x04, 0x22, 0x4d, 0x18, 0, 0, 0, 0}, "lz4"},
                {{'B', 'Z', 'h', '9', '1', 'A', 'Y', '&'}, "bzip2"}};
  for (const auto& o : others) {
    TempFile file("other.pcap.x");
    file.write(o.magic);
    std::string err;
    CHECK_FALSE(openCaptureFile(file.str(), 0, err));
    INFO(err);
    CHECK(err.find(file.str() + ": compressed with " + o.name) == 0);
    CHECK(err.find("| provaudit replay -") != std::string::npos);
    CHECK(err.find('\n') == std::string::npos);
  }
  TempFile twice("twice.pcap.gz.gz");
  twice.write(gzipped(gzipped(bigPcap(3, 100))));
  std::string err;
  CHECK_FALSE(openCaptureFile(twice.str(), 0, err));
  INFO(err);
  CHECK(err.find(twice.str() + ": not a pcap or pcapng capture file") == 0);
  CHECK(err.find('\n') == std::string::npos);
}

TEST_CASE("an empty gzip member is an empty capture: a one-line error") {
  TempFile packed("empty.pcap.gz");
  packed.write(gzipped({}));
  std::string err;
  CHECK_FALSE(openCaptureFile(packed.str(), 0, err));
  INFO(err);
  CHECK(err.find(packed.str() + ": ") == 0);
  CHECK(err.find('\n') == std::string::npos);
}
