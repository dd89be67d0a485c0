// Compressed captures (capture/inflater.h): gzip and zstd read as the capture
// inside, cut or corrupt ones up to the damage, other compressions named.
#include <catch2/catch.hpp>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "capture/decoder.h"
#include "capture/inflater.h"
#include "capture/packet_source.h"
#include "capture/pcapng_reader.h"
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

// One zstd frame holding `bytes`, with its content checksum; `window_log`: the
// window the frame declares (0: zstd's choice for the size).
std::vector<std::uint8_t> zstded(const std::vector<std::uint8_t>& bytes, int window_log = 0) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  REQUIRE(c != nullptr);
  REQUIRE_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
  if (window_log != 0) REQUIRE_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log)));
  std::vector<std::uint8_t> out(ZSTD_compressBound(bytes.size()) + 64);
  ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
  ZSTD_outBuffer o{out.data(), out.size(), 0};
  // Fed before it is ended: a frame ended in its first call knows its size and
  // declares a window no larger than that, not the one asked for.
  if (window_log != 0) REQUIRE_FALSE(ZSTD_isError(ZSTD_compressStream2(c, &o, &in, ZSTD_e_continue)));
  while (ZSTD_compressStream2(c, &o, &in, ZSTD_e_end) != 0) REQUIRE(o.pos < o.size);
  out.resize(o.pos);
  ZSTD_freeCCtx(c);
  return out;
}

std::vector<std::uint8_t> compressed(Compression codec, const std::vector<std::uint8_t>& bytes) {
  return codec == Compression::Gzip ? gzipped(bytes) : zstded(bytes);
}
const char* nameOf(Compression codec) { return codec == Compression::Gzip ? "gzip" : "zstd"; }

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

// A classic pcap of `n` records of `size` zero bytes each.
std::vector<std::uint8_t> zeroPcap(int n, std::size_t size) {
  PcapWriter w(false, PCAP_MAGIC_MICRO, LINKTYPE_ETHERNET_FILE);
  for (int i = 0; i < n; ++i) w.record(1'700'000'000 + static_cast<std::uint32_t>(i), 0, std::string(size, '\0'));
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

// Reads `packed` to its end and checks it gives `want`'s packets; the source, for more checks.
std::unique_ptr<PacketSource> readsAs(const TempFile& packed, const Read& want) {
  std::string err;
  std::unique_ptr<PacketSource> src;
  const Read got = readFile(packed, err, &src);
  INFO(src->error());
  CHECK(got.last == ReadStatus::End);
  REQUIRE(got.packets.size() == want.packets.size());
  samePackets(got, want, want.packets.size());
  return src;
}

}  // namespace

TEST_CASE("gzip- and zstd-compressed pcap and pcapng read as the files inside, with the compressed file's progress") {
  PcapngBuilder ng;
  ng.idb(LINKTYPE_ETHERNET).idb(LINKTYPE_RAW, InterfaceOptions().resolution(TSRESOL_NANO));
  for (int i = 0; i < 300; ++i) ng.epb(static_cast<std::uint32_t>(i % 2), 1'700'000'000'000'000ULL + i, "packet " + std::to_string(i));
  // Random records (compressed as large as they are, several chunks), and
  // zeros: a few compressed bytes that inflate to far more than one output chunk.
  const std::vector<std::vector<std::uint8_t>> captures = {bigPcap(1500, 900), ng.data(), zeroPcap(400, 60000)};
  for (const Compression codec : {Compression::Gzip, Compression::Zstd}) {
    for (const auto& plain_bytes : captures) {
      INFO(nameOf(codec) << ", " << plain_bytes.size() << " bytes");
      TempFile plain("plain.cap"), packed("packed.cap.z");
      plain.write(plain_bytes);
      const std::vector<std::uint8_t> file = compressed(codec, plain_bytes);
      packed.write(file);
      std::string err;
      const Read want = readFile(plain, err);
      const auto src = readsAs(packed, want);
      CHECK(src->name() == packed.str());
      CHECK(src->totalBytes() == file.size());
      CHECK(src->bytesRead() == file.size());
    }
  }
}

TEST_CASE("gzip members and zstd frames one after another read as one capture") {
  const std::vector<std::uint8_t> bytes = bigPcap(400, 700);
  const std::size_t half = bytes.size() / 2 + 13;  // in the middle of a record
  const std::vector<std::uint8_t> first(bytes.begin(), bytes.begin() + static_cast<long>(half));
  const std::vector<std::uint8_t> rest(bytes.begin() + static_cast<long>(half), bytes.end());
  TempFile plain("members.pcap");
  plain.write(bytes);
  std::string err;
  const Read want = readFile(plain, err);
  for (const Compression codec : {Compression::Gzip, Compression::Zstd}) {
    INFO(nameOf(codec));
    std::vector<std::uint8_t> joined = compressed(codec, first);
    if (codec == Compression::Zstd) {
      // A skippable frame between the two (RFC 8878 §3.1.2): magic 0x184D2A50, length 4, four bytes.
      const std::vector<std::uint8_t> skippable = {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 'n', 'o', 't', 'e'};
      joined.insert(joined.end(), skippable.begin(), skippable.end());
    }
    const auto second = compressed(codec, rest);
    joined.insert(joined.end(), second.begin(), second.end());
    if (codec == Compression::Gzip) {  // gzip -d ignores what follows the last member
      const std::string junk = "trailing bytes, not a gzip member";
      joined.insert(joined.end(), junk.begin(), junk.end());
    }
    TempFile packed("members.pcap.z");
    packed.write(joined);
    (void)readsAs(packed, want);
  }
}

TEST_CASE("a zstd file that begins with a skippable frame (as pzstd writes) reads as the capture inside") {
  const std::vector<std::uint8_t> bytes = bigPcap(60, 300);
  TempFile plain("skip.pcap");
  plain.write(bytes);
  std::string err;
  const Read want = readFile(plain, err);
  for (const std::uint8_t last_nibble : {0x0, 0x7, 0xf}) {
    INFO(int(last_nibble));
    std::vector<std::uint8_t> file = {
        static_cast<std::uint8_t>(0x50 | last_nibble), 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i'};
    const auto frame = compressed(Compression::Zstd, bytes);
    file.insert(file.end(), frame.begin(), frame.end());
    TempFile packed("skip.pcap.zst");
    packed.write(file);
    CHECK(hasCaptureMagic(packed.str()));
    (void)readsAs(packed, want);
  }
  // A skippable-looking first byte with another magic after it is not zstd.
  TempFile other("skip-not.pcap");
  other.write(std::vector<std::uint8_t>{0x50, 0x2a, 0x4d, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(!hasCaptureMagic(other.str()));
}

TEST_CASE("a cut or corrupt compressed file: every packet that inflated whole, then one line that says why") {
  const std::vector<std::uint8_t> bytes = bigPcap(1000, 800);
  TempFile plain("damaged.pcap");
  plain.write(bytes);
  std::string err;
  const Read want = readFile(plain, err);
  struct Damage {
    std::string what;
    std::vector<std::uint8_t> file;
    std::string says;
    std::size_t corrupt_at = 0;  // compressed offset where the damage starts (0: none in the data)
  };
  for (const Compression codec : {Compression::Gzip, Compression::Zstd}) {
    const std::vector<std::uint8_t> packed_bytes = compressed(codec, bytes);
    const std::string name = nameOf(codec);
    std::vector<std::uint8_t> cut(packed_bytes.begin(), packed_bytes.begin() + static_cast<long>(packed_bytes.size() * 6 / 10));
    std::vector<std::uint8_t> corrupt = packed_bytes;
    for (std::size_t i = packed_bytes.size() / 2; i < packed_bytes.size() / 2 + 64; ++i) corrupt[i] ^= 0x5a;
    std::vector<std::uint8_t> bad_check = packed_bytes;
    // The check at the end (gzip's CRC-32 and length, zstd's content checksum): every packet inflates, the check fails.
    bad_check[packed_bytes.size() - (codec == Compression::Gzip ? 6 : 2)] ^= 0x01;
    // Corrupt data: zlib finds it in the block it breaks; zstd's stored blocks carry no check of
    // their own, so the damage shows first as a record the pcap reader refuses (said in its words),
    // and the reading stops there.
    const std::string corrupt_says = codec == Compression::Gzip ? "corrupt gzip data" : "bad record at byte offset";
    for (const Damage& d : {Damage{"cut", cut, "ends in the middle of a " + name + (codec == Compression::Gzip ? " member" : " frame")},
                            Damage{"corrupt", corrupt, corrupt_says, packed_bytes.size() / 2},
                            Damage{"bad check", bad_check, "corrupt " + name + " data ("}}) {
      INFO(name << ", " << d.what);
      TempFile packed("damaged.pcap.z");
      packed.write(d.file);
      std::unique_ptr<PacketSource> src;
      const Read got = readFile(packed, err, &src);
      CHECK(got.last == ReadStatus::Error);
      const std::string msg = src->error();
      INFO(msg);
      CHECK(msg.find(packed.str() + ": ") == 0);
      CHECK(msg.find(d.says) != std::string::npos);
      CHECK(msg.find('\n') == std::string::npos);
      if (codec == Compression::Zstd && d.what == "bad check") {
        // zstd does not say where in the bytes it was given it found the damage (it consumes
        // none then): the message names those bytes, and the damaged one is among them.
        std::smatch m;
        REQUIRE(std::regex_search(msg, m, std::regex("in compressed bytes ([0-9]+) to ([0-9]+)")));
        const std::size_t from = std::stoull(m[1].str()), to = std::stoull(m[2].str());
        const std::size_t damaged = packed_bytes.size() - 2;
        CHECK(from <= damaged);
        CHECK(damaged < to);
        CHECK(to == packed_bytes.size());
        CHECK(to - from <= INFLATE_IN_CHUNK);  // not the whole file: this file is several chunks
        CHECK(packed_bytes.size() > 2 * INFLATE_IN_CHUNK);
      }
      CHECK(got.packets.size() <= want.packets.size());
      if (d.corrupt_at != 0) {
        // A decoder finds damage only where it breaks the format: bytes inflated from the damaged
        // region before that may be wrong (gzip -d writes them too). The records wholly before it
        // come out intact. The data is random, so both stored it: compressed and inflated offsets
        // differ by the headers only (a 1 KiB margin here).
        const std::size_t intact = (d.corrupt_at - 1024 - PCAP_FILE_HEADER) / (PCAP_RECORD_HEADER + 800);
        CHECK(got.packets.size() >= intact);
        samePackets(got, want, std::min(intact, got.packets.size()));
      } else {
        samePackets(got, want, got.packets.size());  // a cut or a bad check: every packet is the capture's own
        // zlib hands out the last block before it checks the CRC; zstd checks its frame's checksum
        // before it hands out the last block (at most 128 KiB: 161 of these records).
        if (d.what == "bad check" && codec == Compression::Gzip) CHECK(got.packets.size() == want.packets.size());
        if (d.what == "bad check" && codec == Compression::Zstd) {
          CHECK(got.packets.size() + (128 * 1024) / (PCAP_RECORD_HEADER + 800) + 1 >= want.packets.size());
        }
        if (d.what == "cut") CHECK(got.packets.size() > want.packets.size() / 2);
      }
      RawPacket p;
      CHECK(src->next(p) == ReadStatus::Error);  // stays failed
    }
  }
}

TEST_CASE("a compressed source closed early stops its thread (no hang, no leak)") {
  const std::vector<std::uint8_t> bytes = bigPcap(6000, 1400);  // ~8 MB inflated: far more than the socket holds
  for (const Compression codec : {Compression::Gzip, Compression::Zstd}) {
    TempFile packed("early.pcap.z");
    packed.write(compressed(codec, bytes));
    for (int i = 0; i < 20; ++i) {
      std::string err;
      auto src = openCaptureFile(packed.str(), 0, err);
      REQUIRE(src);
      RawPacket p;
      for (int k = 0; k < i; ++k) REQUIRE(src->next(p) == ReadStatus::Packet);
    }  // each destroyed with its inflater blocked on a full socket
  }
  SUCCEED();
}

TEST_CASE("a zstd frame that asks for a window past ZSTD_WINDOW_LOG_MAX is refused in one line, with the pipe to use") {
  TempFile packed("long.pcap.zst");
  packed.write(zstded(bigPcap(10, 100), ZSTD_WINDOW_LOG_MAX + 2));
  std::string err;
  CHECK_FALSE(openCaptureFile(packed.str(), 0, err));  // nothing inflates: the capture's header is not there
  INFO(err);
  CHECK(err.find(packed.str() + ": the zstd frame needs a window larger than 32 MiB") == 0);
  CHECK(err.find("| provaudit replay -") != std::string::npos);
  CHECK(err.find('\n') == std::string::npos);
}

TEST_CASE("other compressions are named, with the way to read them; compressed twice is not a capture") {
  const struct {
    std::vector<std::uint8_t> magic;
    const char* name;
  } others[] = {{{0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 0}, "xz"},
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
  for (const Compression outer : {Compression::Gzip, Compression::Zstd}) {
    for (const Compression inner : {Compression::Gzip, Compression::Zstd}) {
      TempFile twice("twice.pcap.z.z");
      twice.write(compressed(outer, compressed(inner, bigPcap(3, 100))));
      std::string err;
      CHECK_FALSE(openCaptureFile(twice.str(), 0, err));
      INFO(err);
      CHECK(err.find(twice.str() + ": not a pcap or pcapng capture file") == 0);
      CHECK(err.find('\n') == std::string::npos);
    }
  }
}

TEST_CASE("an empty gzip member or zstd frame is an empty capture: a one-line error") {
  for (const Compression codec : {Compression::Gzip, Compression::Zstd}) {
    TempFile packed("empty.pcap.z");
    packed.write(compressed(codec, {}));
    std::string err;
    CHECK_FALSE(openCaptureFile(packed.str(), 0, err));
    INFO(err);
    CHECK(err.find(packed.str() + ": ") == 0);
    CHECK(err.find('\n') == std::string::npos);
  }
}

TEST_CASE("pcapng DSB: in a gzip-compressed pcapng, handed up the same") {
  PcapngBuilder f;
  f.idb(LINKTYPE_ETHERNET).dsb(PCAPNG_SECRETS_TLS_KEY_LOG, "k\n").epb(0, 1, "p");
  TempFile file("dsb.pcapng.gz");
  file.write(gzipped(f.data()));
  std::string err;
  auto src = openCaptureFile(file.str(), 0, err);
  REQUIRE(src);
  std::vector<std::string> got;
  src->setSecretsHandler([&got](const CaptureSecrets& s) { got.emplace_back(asText(s.data)); });
  const Read r = readAll(*src);
  CHECK(r.data == std::vector<std::string>{"p"});
  CHECK(got == std::vector<std::string>{"k\n"});
}
