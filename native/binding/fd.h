#pragma once
#include <napi.h>

namespace ringcast::binding {
// dupFd(fd) -> new fd (close-on-exec) or -errno: the acceptor's copy of a Node socket's fd, which
// survives the socket's destroy() and is handed to a worker's RingServer.adopt().
Napi::Value DupFd(const Napi::CallbackInfo& info);
// closeFd(fd) -> 0 or -errno: for a dupFd() copy that could not be handed over.
Napi::Value CloseFd(const Napi::CallbackInfo& info);
}  // namespace ringcast::binding
