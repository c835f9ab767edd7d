#include "options.h"

#include <cstdlib>
#include <cstring>

namespace loadgen {
namespace {

bool parse_count(const char* s, size_t& out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (!*s || *end || s[0] == '-') return false;
  out = size_t(v);
  return true;
}

bool parse_seconds(const char* s, double& out) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (!*s || *end || v < 0) return false;
  out = v;
  return true;
}

bool parse_enum(const std::string& flag, const char* v, Options& o) {
  if (flag == "--mode") {
    if (!std::strcmp(v, "closed"))
      o.mode = Mode::Closed;
    else if (!std::strcmp(v, "open"))
      o.mode = Mode::Open;
    else if (!std::strcmp(v, "idle"))
      o.mode = Mode::Idle;
    else
      return false;
    return true;
  }
  if (!std::strcmp(v, "query"))
    o.subscribe = SubscribeVia::Query;
  else if (!std::strcmp(v, "op"))
    o.subscribe = SubscribeVia::Op;
  else if (!std::strcmp(v, "both"))
    o.subscribe = SubscribeVia::Both;
  else
    return false;
  return true;
}

bool apply(const std::string& flag, const char* v, Options& o) {
  size_t n = 0;
  if (flag == "--url") {
    o.url = v;
    return std::strncmp(v, "ws://", 5) == 0;
  }
  if (flag == "--publish-url") {
    o.publish_url = v;
    return std::strncmp(v, "ws://", 5) == 0;
  }
  if (flag == "--topic-prefix") {
    o.topic_prefix = v;
    return *v != 0;
  }
  if (flag == "--mode" || flag == "--subscribe") return parse_enum(flag, v, o);
  if (flag == "--subscribers") return parse_count(v, o.subscribers);
  if (flag == "--publishers") return parse_count(v, o.publishers);
  if (flag == "--topics") return parse_count(v, o.topics) && o.topics > 0;
  if (flag == "--size") return parse_count(v, o.size);
  if (flag == "--window") return parse_count(v, o.window) && o.window > 0;
  if (flag == "--batch") return parse_count(v, o.batch) && o.batch > 0;
  if (flag == "--connect-concurrency")
    return parse_count(v, o.connect_concurrency) && o.connect_concurrency > 0;
  if (flag == "--server-pid") {
    bool ok = parse_count(v, n) && n > 0;
    o.server_pid = int(n);
    return ok;
  }
  if (flag == "--source-ips") {
    bool ok = parse_count(v, n) && n <= 254;
    o.source_ips = int(n);
    return ok;
  }
  if (flag == "--rate") return parse_seconds(v, o.rate) && o.rate > 0;
  if (flag == "--connect-timeout") return parse_seconds(v, o.connect_timeout);
  if (flag == "--subscribe-timeout") return parse_seconds(v, o.subscribe_timeout);
  if (flag == "--warmup") return parse_seconds(v, o.warmup);
  if (flag == "--duration") return parse_seconds(v, o.duration) && o.duration > 0;
  if (flag == "--drain-timeout") return parse_seconds(v, o.drain_timeout);
  if (flag == "--deflate") {
    o.deflate = !std::strcmp(v, "on");
    return o.deflate || !std::strcmp(v, "off");
  }
  if (flag == "--payload") {
    o.chat = !std::strcmp(v, "chat");
    return o.chat || !std::strcmp(v, "pad");
  }
  if (flag == "--hold") return parse_seconds(v, o.hold);
  if (flag == "--publish-timeout") return parse_seconds(v, o.publish_timeout) && o.publish_timeout > 0;
  return false;
}

}  // namespace

const char* mode_name(Mode m) { return m == Mode::Closed ? "closed" : m == Mode::Open ? "open" : "idle"; }

const char* subscribe_name(SubscribeVia s) {
  return s == SubscribeVia::Query ? "query" : s == SubscribeVia::Op ? "op" : "both";
}

const char* usage() {
  return "usage: ringcast-loadgen --url ws://HOST:PORT/PATH [flags]\n"
         "  --mode closed|open|idle (closed)  closed: --window publishes in flight per publisher;\n"
         "                            open: --rate publishes/s; idle: hold connections --hold s\n"
         "  --publish-url ws://...  publishers connect here instead of --url (subscribers stay):\n"
         "                            one node's publishes delivered by another's subscribers\n"
         "  --subscribers N (1000)  --publishers P (1)  --topics T (1)  --size BYTES (64)\n"
         "  --window W (16)  --rate R (1000)  --batch K publishes per write (1)\n"
         "  --subscribe query|op|both  ?topics= at upgrade, a sub op, or both; ready on ack (op)\n"
         "  --warmup S (2)  --duration S (10)  --drain-timeout S (10)  --hold S (10)\n"
         "  --connect-timeout S (60)  --subscribe-timeout S (30)  --publish-timeout S (5)\n"
         "  --connect-concurrency N (256)  --source-ips N (254 on loopback, else 0)\n"
         "  --topic-prefix NAME (bench)  --quiet (no progress lines)\n"
         "  --deflate on|off (off)  offer permessage-deflate and inflate what comes compressed\n"
         "  --payload pad|chat (pad)  data padded with x, or chat-like JSON (compresses ~4x)\n"
         "  --server-pid PID  also report that local process's CPU per delivery (from /proc)\n"
         "Progress lines, '#phase NAME' markers and a closing summary line go to stderr; the\n"
         "JSON summary to stdout. Ctrl-C ends the load early (a second one ends the drain) and\n"
         "still prints both.\n";
}

bool parse_options(int argc, char** argv, Options& o, std::string& error) {
  for (int i = 1; i < argc; i++) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      o.help = true;
      return true;
    }
    if (flag == "--quiet") {
      o.progress = false;
      continue;
    }
    std::string value;
    size_t eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      error = "flag " + flag + " needs a value";
      return false;
    }
    if (!apply(flag, value.c_str(), o)) {
      error = "bad flag or value: " + flag + " " + value;
      return false;
    }
  }
  if (o.mode != Mode::Idle && o.publishers == 0) {
    error = "--publishers must be at least 1 outside idle mode";
    return false;
  }
  return true;
}

}  // namespace loadgen
