// A graceful stop of the whole instance drops nothing the kernel accepted. Every process of
// the instance (the master, each worker, a retiring generation) holds the same listen
// sockets, so closing one descriptor changes nothing, and the queue of connections the kernel
// completed is reset only when the socket itself goes, with the last holder. shutdown(2) acts
// on the socket for every holder at once (checked on Linux 6.x, docs/operations.md):
// - TCP: shutdown(SHUT_RD) of a listening socket disconnects it (tcp_disconnect): what is
//   still queued is reset, a new SYN is answered with RST (the client's connect fails with
//   ECONNREFUSED, which a balancer retries on another host, POSTs too: nothing was sent) and
//   accept(2) fails with EINVAL. So the queue is emptied first, then the socket shut down.
// - unix: shutdown(SHUT_RD) makes new connect(2)s fail with ECONNREFUSED while everything
//   already queued stays acceptable. So the socket is shut down first, then emptied: no race.
// The TCP window that remains: a connection completed between the last accept and the
// shutdown (microseconds), or one whose request has not arrived yet (TCP_DEFER_ACCEPT keeps it
// out of the accept queue until it has) is reset.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/errno_status.h"
#include "core/log/logger.h"
#include "core/net/serve_thread.h"

namespace kiln::net {

int ServeThread::AcceptQueued(const ListenSocket& ls) {
  int taken = 0;
  while (true) {
    sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    const int fd = accept4(ls.fd, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                           SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      // EAGAIN: the queue is empty; EINVAL: a TCP socket another thread shut down already.
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINVAL) {
        log::Error("stopping: accept on %s: %s; connections still queued there are lost",
                   ls.name, base::ErrnoText(errno));
      }
      return taken;
    }
    // Not read here: each is served in turn by the event loop, its request read when epoll
    // reports it (Sweep reads one whose deadline passed while this thread was busy).
    Register(Adopt(fd, ls, peer_len > 0 ? &peer : nullptr, absl::Now()));
    ++taken;
  }
}

void ServeThread::DrainListeners() {
  for (const ListenSocket& ls : loop_.sockets_) {
    int taken = 0;
    if (ls.tcp) {
      taken = AcceptQueued(ls);
      (void)::shutdown(ls.fd, SHUT_RD);  // ENOTCONN: another thread was first
      taken += AcceptQueued(ls);
    } else {
      (void)::shutdown(ls.fd, SHUT_RD);
      taken = AcceptQueued(ls);
    }
    if (taken > 0) {
      log::Notice("worker %d (pid: %d): stopping: serving %d connection(s) queued on %s; new "
                  "ones are refused",
                  loop_.worker_id_, pid_, taken, ls.name);
    }
  }
}

}  // namespace kiln::net
