#include "binding/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <string>

namespace ringcast::binding {
namespace {

// The fd argument as an int: a TypeError (and false) unless it is an integral number; a
// negative one is let through for the syscall to answer -EBADF.
bool FdArg(const Napi::CallbackInfo& info, const char* fn, int* fd) {
  Napi::Value v = info.Length() > 0 ? info[0] : info.Env().Undefined();
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(std::trunc(d) == d && d >= -1 && d <= 0x7fffffff)) {
    Napi::TypeError::New(info.Env(), std::string(fn) + "(fd): fd must be an integer")
        .ThrowAsJavaScriptException();
    return false;
  }
  *fd = static_cast<int>(d);
  return true;
}

}  // namespace

Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int fd;
  if (!FdArg(info, "dupFd", &fd)) return info.Env().Undefined();
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd;
  if (!FdArg(info, "closeFd", &fd)) return info.Env().Undefined();
  // Linux releases the fd even when close() fails (EINTR included): never retry.
  return Napi::Number::New(info.Env(), close(fd) < 0 ? -errno : 0);
}

}  // namespace ringcast::binding
