// How many connections wait in a listen socket's accept queue (what uWSGI's stats call
// `listen_queue` and its backlog cheaper reads). Linux: TCP_INFO for TCP sockets, sock_diag
// for unix sockets. Non-blocking; for the master's loop.
#pragma once

#include <cstdint>
#include <optional>

namespace kiln::process {

struct ListenQueue {
  int64_t length = 0;  // connections accepted by the kernel, not yet by a worker
  int64_t max = 0;     // the socket's backlog (`listen`)
};

// nullopt when the kernel does not say (not a listening socket, sock_diag unavailable).
std::optional<ListenQueue> ReadListenQueue(int fd);

}  // namespace kiln::process
