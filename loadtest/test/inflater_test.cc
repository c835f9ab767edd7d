#include <string>
#include <vector>

#include "check.h"
#include "frame_parser.h"
#include "handshake.h"
#include "inflater.h"

using namespace loadgen;

namespace {

struct Flags : FrameSink {
  std::vector<bool> compressed;
  void on_message(Opcode, const uint8_t*, size_t, bool z) override { compressed.push_back(z); }
  void on_control(Opcode, const uint8_t*, size_t) override {}
};

}  // namespace

// RFC 7692 section 7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00.
TEST(inflater_inflates_the_rfc_example_twice_without_context) {
  Inflater z;
  const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  std::vector<uint8_t> out;
  for (int i = 0; i < 2; i++) {
    CHECK(z.inflate(hello, sizeof hello, out));
    CHECK(std::string(out.begin(), out.end()) == "Hello");
  }
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
  CHECK(!z.inflate(junk, sizeof junk, out));
  CHECK(z.inflate(hello, sizeof hello, out));  // usable again after corrupt input
}

TEST(inflater_refuses_output_past_its_bound) {
  Inflater z(4);
  const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  std::vector<uint8_t> out;
  CHECK(!z.inflate(hello, sizeof hello, out));
}

TEST(rsv1_is_allowed_only_after_negotiation_and_only_on_first_frames) {
  Flags f;
  const uint8_t compressed[] = {0xc1, 0x01, 0x00};
  CHECK(FrameParser().feed(compressed, sizeof compressed, f) == ParseStatus::ReservedBits);
  FrameParser p;
  p.allow_compressed();
  CHECK(p.feed(compressed, sizeof compressed, f) == ParseStatus::Ok);
  const uint8_t fragmented[] = {0x41, 0x01, 0x00, 0x80, 0x01, 0x00, 0x81, 0x01, 0x41};
  CHECK(p.feed(fragmented, sizeof fragmented, f) == ParseStatus::Ok);
  CHECK(f.compressed.size() == 3 && f.compressed[0] && f.compressed[1] && !f.compressed[2]);
  const uint8_t rsv1_ping[] = {0xc9, 0x00};
  CHECK(p.feed(rsv1_ping, sizeof rsv1_ping, f) == ParseStatus::ReservedBits);
}

TEST(the_deflate_offer_and_answer_are_recognised) {
  std::string req = build_upgrade_request("h:1", "/ws", "k", kDeflateOffer);
  CHECK(req.find("\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover") != std::string::npos);
  std::string yes = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n";
  std::string no = "HTTP/1.1 101 Switching Protocols\r\nX-Note: permessage-deflate\r\n\r\n";
  CHECK(offers_deflate(yes.data(), yes.size()));
  CHECK(!offers_deflate(no.data(), no.size()));
}
