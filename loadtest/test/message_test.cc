#include <cstring>
#include <string>

#include "check.h"
#include "handshake.h"
#include "publish_message.h"
#include "server_message.h"
#include "sha1.h"

using namespace loadgen;

static bool scan(const std::string& s, ServerMessage& m) { return scan_server_message(s.data(), s.size(), m); }

TEST(publish_data_has_the_requested_size_and_fixed_width_fields) {
  PublishMessage pm("bench-0", 64);
  const std::string a = pm.build(5, 1);
  const std::string b = pm.build(123456789, 987654);
  CHECK(a.size() == b.size());
  size_t start = b.find("\"data\":") + 7, end = b.find(",\"id\":");
  CHECK(end - start == 64);
  CHECK(pm.data_bytes() == 64);
  CHECK(b.find("\"t\":1000000123456789") != std::string::npos);
  CHECK(b.find("\"id\":1000987654}") != std::string::npos);
  CHECK(PublishMessage("t", 1).data_bytes() == PublishMessage::min_data_bytes());
}

TEST(server_msg_yields_seq_stamp_and_serial_in_any_key_order) {
  PublishMessage pm("bench-0", 64);
  std::string pub = pm.build(42, 7);
  std::string data = pub.substr(pub.find("\"data\":") + 7);
  data = data.substr(0, data.find(",\"id\":"));
  ServerMessage m;
  CHECK(scan("{\"op\":\"msg\",\"topic\":\"bench-0\",\"seq\":17,\"data\":" + data + "}", m));
  CHECK(m.kind == ServerMessage::Msg && m.seq == 17 && m.has_stamp);
  CHECK(m.sent_ns - PublishMessage::kStampBase == 42 && m.serial - PublishMessage::kSerialBase == 7);
  CHECK(scan("{\"data\":" + data + ", \"seq\": 18, \"topic\":\"bench-0\", \"op\": \"msg\"}", m));
  CHECK(m.seq == 18 && m.has_stamp);
}

TEST(server_ack_and_err_yield_the_request_id) {
  ServerMessage m;
  CHECK(scan("{\"op\":\"ack\",\"id\":1,\"seq\":0,\"epoch\":\"x\"}", m));
  CHECK(m.kind == ServerMessage::Ack && m.has_id && m.id == 1);
  CHECK(scan("{\"op\":\"err\",\"id\":1000000005,\"code\":\"bad_topic\",\"msg\":\"no\"}", m));
  CHECK(m.kind == ServerMessage::Err && m.id == 1000000005);
  CHECK(!scan("{\"hello\":1}", m));
  CHECK(!scan("{\"op\":\"msg\",\"topic\":\"a\"}", m));
}

TEST(handshake_accepts_a_correct_101_and_keeps_the_bytes_after_it) {
  std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  std::string resp = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                     "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: "
                     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  resp += std::string("\x81\x00", 2);  // an empty text frame right behind the head
  HandshakeResult r = check_upgrade_response(resp.data(), resp.size() - 10, websocket_accept(key));
  CHECK(r.state == HandshakeResult::Incomplete);
  r = check_upgrade_response(resp.data(), resp.size(), websocket_accept(key));
  CHECK(r.state == HandshakeResult::Accepted);
  CHECK(r.header_bytes == resp.size() - 2);
}

TEST(handshake_rejects_wrong_status_or_accept) {
  std::string accept = websocket_accept("dGhlIHNhbXBsZSBub25jZQ==");
  std::string not_found = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
  HandshakeResult r = check_upgrade_response(not_found.data(), not_found.size(), accept);
  CHECK(r.state == HandshakeResult::Rejected && r.error.find("404") != std::string::npos);
  std::string bad = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
  r = check_upgrade_response(bad.data(), bad.size(), accept);
  CHECK(r.state == HandshakeResult::Rejected && r.error.find("Accept") != std::string::npos);
}

TEST(upgrade_request_carries_key_version_and_target) {
  std::string req = build_upgrade_request("127.0.0.1:8080", "/ws?topics=bench-0", make_websocket_key(3));
  CHECK(req.rfind("GET /ws?topics=bench-0 HTTP/1.1\r\n", 0) == 0);
  CHECK(req.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
  CHECK(make_websocket_key(3).size() == 24 && make_websocket_key(3) != make_websocket_key(4));
}
