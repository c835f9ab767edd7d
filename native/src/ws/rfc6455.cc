#include "ws/rfc6455.h"

namespace ringcast::ws {

namespace {
constexpr uint16_t kFirstDefined = 1000;
constexpr uint16_t kLastDefined = 1014;  // 1012-1014 registered with IANA after RFC 6455
constexpr uint16_t kFirstPrivate = 3000;
constexpr uint16_t kLastPrivate = 4999;
constexpr uint16_t kReserved1004 = 1004;
}  // namespace

bool is_valid_close_code(uint16_t code) {
  if (code >= kFirstPrivate && code <= kLastPrivate) return true;
  if (code < kFirstDefined || code > kLastDefined) return false;
  return code != kReserved1004 && code != kCloseNoStatus && code != kCloseAbnormal;
}

}  // namespace ringcast::ws
