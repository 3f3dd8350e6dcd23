// Creating listen sockets: socket/bind/listen with the configured backlog, chmod/chown of unix
// socket files, the stale-socket check, and the vacuum at final exit. Every fd is
// close-on-exec. Knows nothing of protocols or processes.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/base/unique_fd.h"
#include "core/net/address.h"

namespace kiln::net {

struct ListenOptions {
  int backlog = 100;               // `listen`
  std::optional<mode_t> mode;      // `chmod-socket`, unix sockets only
  std::optional<uid_t> owner_uid;  // `chown-socket`, unix sockets only
  std::optional<gid_t> owner_gid;
  bool reuse_port = false;  // `reuse-port`, TCP sockets only
  bool defer_accept = true;  // false with `no-defer-accept`
};

// Binds and listens on `address`. A unix socket file already at the path is removed only
// when nothing accepts connections on it (docs/decisions.md 13); a live one, like a taken TCP
// port, is an error naming the address. The fd is close-on-exec and non-blocking.
absl::StatusOr<base::UniqueFd> Listen(const Address& address, const ListenOptions& options);

// Applies chmod/chown to a bound unix socket file (no-op for other kinds).
absl::Status ApplySocketOwnership(const Address& address, const ListenOptions& options);

// The address a socket is bound to (reads back the real port after binding port 0).
absl::StatusOr<Address> BoundAddress(int fd);

// True when `fd` is a listening stream socket.
bool IsListeningSocket(int fd);

// TCP_DEFER_ACCEPT on a TCP listen socket: accept(2) returns a connection once its first
// bytes have arrived, so a worker never holds a connection whose request is still to come
// (and cannot lose it if the worker dies while running app code). Best effort. `on` false
// (`no-defer-accept`) clears it, also on a socket inherited with it set.
void DeferAccept(int fd, bool on = true);

// Reads `chmod-socket`: a bare flag ("", "true", "1") means 0666, otherwise octal digits
// ("660", "0660"). Errors say what was expected.
absl::StatusOr<mode_t> ParseSocketMode(std::string_view text);

// Removes a unix socket file at final exit when it is still the socket we bound (same
// inode recorded by Listen or, after a re-exec, read from the inherited fd). Returns false
// when nothing was removed.
bool VacuumUnixSocket(const Address& address, int fd);

}  // namespace kiln::net
