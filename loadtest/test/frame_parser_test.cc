#include <string>
#include <vector>

#include "check.h"
#include "frame_parser.h"
#include "frame_writer.h"

using namespace loadgen;

namespace {

struct Recorder : FrameSink {
  std::vector<std::string> events;
  void on_message(Opcode op, const uint8_t* d, size_t n, bool) override {
    events.push_back(std::to_string(int(op)) + ":" + std::string(reinterpret_cast<const char*>(d), n));
  }
  void on_control(Opcode op, const uint8_t* d, size_t n) override {
    events.push_back("c" + std::to_string(int(op)) + ":" + std::string(reinterpret_cast<const char*>(d), n));
  }
};

std::vector<uint8_t> hex(const char* s) {
  std::vector<uint8_t> out;
  auto val = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (; s[0] && s[1]; s += 2) {
    while (*s == ' ') s++;
    out.push_back(uint8_t(val(s[0]) << 4 | val(s[1])));
  }
  return out;
}

// Feeds the stream cut into pieces of the given sizes (the last piece takes the rest).
std::vector<std::string> parse_in_pieces(const std::vector<uint8_t>& bytes, std::vector<size_t> cuts) {
  FrameParser p;
  Recorder r;
  size_t off = 0;
  for (size_t cut : cuts) {
    if (off + cut > bytes.size()) break;
    CHECK(p.feed(bytes.data() + off, cut, r) == ParseStatus::Ok);
    off += cut;
  }
  CHECK(p.feed(bytes.data() + off, bytes.size() - off, r) == ParseStatus::Ok);
  CHECK(p.buffered() == 0);
  return r.events;
}

}  // namespace

// "Hello" unmasked (RFC 6455 section 5.7), a ping, then "Hel" + "lo" as two fragments.
static const char* kStream = "810548656c6c6f 8900 010348656c 80026c6f";

TEST(frames_in_one_read_come_out_in_order) {
  auto events = parse_in_pieces(hex(kStream), {});
  CHECK(events.size() == 3);
  CHECK(events[0] == "1:Hello" && events[1] == "c9:" && events[2] == "1:Hello");
}

TEST(frames_split_at_every_byte_boundary_parse_the_same) {
  auto bytes = hex(kStream);
  auto whole = parse_in_pieces(bytes, {});
  for (size_t cut = 1; cut < bytes.size(); cut++) CHECK(parse_in_pieces(bytes, {cut}) == whole);
  std::vector<size_t> ones(bytes.size(), 1);
  CHECK(parse_in_pieces(bytes, ones) == whole);
}

TEST(extended_lengths_16_and_64_bit_split_anywhere) {
  std::string big(70000, 'x'), mid(300, 'y');
  std::vector<uint8_t> bytes = {0x81, 126, 0x01, 0x2c};  // 300
  bytes.insert(bytes.end(), mid.begin(), mid.end());
  const uint8_t head64[] = {0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70};  // 70000
  bytes.insert(bytes.end(), head64, head64 + 10);
  bytes.insert(bytes.end(), big.begin(), big.end());
  for (size_t cut : {1, 3, 4, 5, 303, 304, 306, 313, 314, 40000}) {
    auto events = parse_in_pieces(bytes, {cut, 7, 1});
    CHECK(events.size() == 2);
    CHECK(events.size() == 2 && events[0] == "1:" + mid && events[1] == "2:" + big);
  }
}

TEST(protocol_violations_are_reported) {
  Recorder r;
  auto masked = hex("818137fa213d7f");
  CHECK(FrameParser().feed(masked.data(), masked.size(), r) == ParseStatus::MaskedFrame);
  auto rsv = hex("c100");
  CHECK(FrameParser().feed(rsv.data(), rsv.size(), r) == ParseStatus::ReservedBits);
  auto op3 = hex("8300");
  CHECK(FrameParser().feed(op3.data(), op3.size(), r) == ParseStatus::BadOpcode);
  auto lone_cont = hex("8000");
  CHECK(FrameParser().feed(lone_cont.data(), lone_cont.size(), r) == ParseStatus::BadContinuation);
  auto frag_ping = hex("0900");
  CHECK(FrameParser().feed(frag_ping.data(), frag_ping.size(), r) == ParseStatus::BadControlFrame);
  auto huge = hex("827f0000000100000000");
  CHECK(FrameParser(1 << 20).feed(huge.data(), huge.size(), r) == ParseStatus::TooLarge);
}

TEST(client_frames_are_masked_and_unmask_to_the_payload) {
  std::string out;
  append_client_frame(out, Opcode::Text, "Hello", 5, 0x37fa213d);
  // RFC 6455 section 5.7: a masked "Hello" with key 37 fa 21 3d.
  auto want = hex("818537fa213d7f9f4d5158");
  CHECK(out == std::string(want.begin(), want.end()));
  std::string payload(1000, 'z');
  out.clear();
  append_client_frame(out, Opcode::Binary, payload.data(), payload.size(), 0x01020304);
  CHECK(out.size() == 4 + 4 + 1000);
  CHECK(uint8_t(out[1]) == (0x80 | 126) && uint8_t(out[2]) == 0x03 && uint8_t(out[3]) == 0xe8);
  const uint8_t key[4] = {1, 2, 3, 4};
  apply_mask(reinterpret_cast<uint8_t*>(&out[8]), 1000, key);
  CHECK(out.substr(8) == payload);
}

TEST(mixed_sizes_cut_into_random_reads_parse_the_same) {
  // Frames of 0 B to 70 KB back to back, cut at pseudo-random points from 1 B to 300 KB:
  // exercises completing a carried frame and handing back the bytes that follow it.
  std::vector<uint8_t> bytes;
  std::vector<std::string> want;
  uint32_t x = 12345;
  auto next = [&x]() { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return x; };
  for (int i = 0; i < 200; i++) {
    size_t n = next() % 4 == 0 ? next() % 70000 : next() % 300;
    std::string payload(n, char('a' + i % 26));
    bytes.push_back(0x81);
    if (n < 126) {
      bytes.push_back(uint8_t(n));
    } else if (n <= 0xffff) {
      bytes.insert(bytes.end(), {126, uint8_t(n >> 8), uint8_t(n)});
    } else {
      bytes.insert(bytes.end(), {127, 0, 0, 0, 0, 0, uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)});
    }
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    want.push_back("1:" + payload);
  }
  for (int round = 0; round < 20; round++) {
    std::vector<size_t> cuts;
    for (size_t total = 0; total < bytes.size();) {
      size_t cut = 1 + next() % (round % 2 ? 20 : 300000);
      cuts.push_back(cut);
      total += cut;
    }
    CHECK(parse_in_pieces(bytes, cuts) == want);
  }
}
