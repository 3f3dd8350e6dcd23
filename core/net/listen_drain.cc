// A graceful stop of the whole instance drops nothing the kernel accepted. Every process of
// the instance (the master, each worker, a retiring generation) holds the same listen
// sockets, so closing one descriptor changes nothing, and the queue of connections the kernel
// completed is reset only when the socket itself goes, with the last holder. shutdown(2) acts
// on the socket for every holder at once (checked on Linux 6.x, docs/operations.md):
// - TCP: shutdown(SHUT_RD) of a listening socket disconnects it (tcp_disconnect): what is
//   still queued is reset, a new SYN is answered with RST (the client's connect fails with
//   ECONNREFUSED, which a balancer retries on another host, POSTs too: nothing was sent) and
//   accept(2) fails with EINVAL. So the queue is emptied first, then the socket shut down. To
//   leave no window between the last accept and the shutdown, a socket filter first drops new
//   SYNs (only pure SYNs: the handshakes and requests of connections already under way pass),
//   the queue is emptied for kSettle (a connection whose handshake was done but whose request
//   had not arrived yet, which TCP_DEFER_ACCEPT keeps out of the queue, gets there meanwhile),
//   then the socket is shut down. A client whose SYN was dropped sends it again after 1 s and
//   is refused then. Only a client that completed its handshake and waits longer than kSettle
//   to send its request is reset.
// - unix: shutdown(SHUT_RD) makes new connect(2)s fail with ECONNREFUSED while everything
//   already queued stays acceptable. So the socket is shut down first, then emptied: no race.
#include <errno.h>
#include <linux/filter.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iterator>

#include "core/base/errno_status.h"
#include "core/log/logger.h"
#include "core/net/serve_thread.h"

namespace kiln::net {
namespace {

// How long a stopping TCP listener keeps taking connections already under way (their SYN
// came before the filter) before it is shut down.
constexpr absl::Duration kSettle = absl::Milliseconds(50);

// A classic BPF socket filter that drops TCP segments with SYN set and ACK clear (new
// connections) and keeps everything else. A socket filter on a TCP socket sees the segment
// from its TCP header: byte 13 holds the flags.
bool DropNewSyns(int fd) {
  static sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),        // SYN | ACK
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1),  // SYN alone?
      BPF_STMT(BPF_RET | BPF_K, 0),                     // drop
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),           // keep
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(code)), code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == 0;
}

}  // namespace

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
      if (!DropNewSyns(ls.fd)) {
        log::Warn("stopping: cannot filter new connections on %s (%s); a connection made "
                  "while it is shut down may be reset",
                  ls.name, base::ErrnoText(errno));
      }
      // Blocks this thread for kSettle at most; it is stopping, and the connections it took
      // wait for it no longer than that.
      const absl::Time until = absl::Now() + kSettle;
      for (absl::Time now = absl::Now(); now < until; now = absl::Now()) {
        taken += AcceptQueued(ls);
        pollfd pfd{ls.fd, POLLIN, 0};
        (void)poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(until - now)) + 1);
        if ((pfd.revents & (POLLHUP | POLLERR)) != 0) break;  // another thread shut it down
      }
      taken += AcceptQueued(ls);
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
