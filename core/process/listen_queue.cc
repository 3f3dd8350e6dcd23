// Accept-queue lengths from the kernel: TCP_INFO (tcpi_unacked is the accept queue of a
// listening socket, tcpi_sacked its limit) or a sock_diag request for one unix socket inode
// (UDIAG_SHOW_RQLEN: the receive queue of a listener is its pending connections).
#include "core/process/listen_queue.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "core/base/unique_fd.h"

namespace kiln::process {
namespace {

std::optional<ListenQueue> UnixQueue(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return std::nullopt;
  }
  base::UniqueFd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG));
  if (!nl) {
    return std::nullopt;
  }
  struct {
    nlmsghdr hdr;
    unix_diag_req req;
  } msg{};
  msg.hdr.nlmsg_len = sizeof(msg);
  msg.hdr.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.hdr.nlmsg_flags = NLM_F_REQUEST;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = ~0u;
  msg.req.udiag_ino = static_cast<unsigned>(st.st_ino);
  msg.req.udiag_show = UDIAG_SHOW_RQLEN;
  msg.req.udiag_cookie[0] = ~0u;
  msg.req.udiag_cookie[1] = ~0u;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(nl.Get(), &msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) < 0) {
    return std::nullopt;
  }
  // The kernel answers while handling sendto: the reply is queued already.
  alignas(nlmsghdr) char buf[1024];
  ssize_t n = recv(nl.Get(), buf, sizeof(buf), MSG_DONTWAIT);
  if (n <= 0) {
    return std::nullopt;
  }
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  if (!NLMSG_OK(h, static_cast<unsigned>(n)) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY) {
    return std::nullopt;
  }
  auto* m = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
  int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
  for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(a) >= sizeof(unix_diag_rqlen)) {
      unix_diag_rqlen q;
      std::memcpy(&q, RTA_DATA(a), sizeof(q));
      return ListenQueue{q.udiag_rqueue, q.udiag_wqueue};
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ListenQueue> ReadListenQueue(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return std::nullopt;
  }
  if (addr.ss_family == AF_UNIX) {
    return UnixQueue(fd);
  }
  tcp_info info{};
  socklen_t info_len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &info_len) != 0) {
    return std::nullopt;
  }
  return ListenQueue{info.tcpi_unacked, info.tcpi_sacked};
}

}  // namespace kiln::process
