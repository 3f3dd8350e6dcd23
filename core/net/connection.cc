// Connection I/O: non-blocking reads for the event loop; poll()-bounded reads, writev and
// sendfile for handlers. Every send uses MSG_NOSIGNAL, so a vanished client is an EPIPE
// status, never a SIGPIPE.
#include "core/net/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/clock.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"

namespace kiln::net {
namespace {

constexpr size_t kInitialBuffer = 16384;

// One spare first-size read buffer per serving thread: over uwsgi every request is a new
// connection, and a fresh 16 KiB buffer each time cost a malloc and a free that glibc serves
// from its bins, not its per-thread cache.
thread_local std::unique_ptr<char[]> tl_spare_buffer;

void AddressText(const sockaddr_storage& ss, std::string* addr, std::string* port) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    *addr = text;
    *port = absl::StrCat(ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    *addr = text;
    *port = absl::StrCat(ntohs(in6->sin6_port));
  }
}

// sendfile(2) has no MSG_NOSIGNAL: serving threads block SIGPIPE (ServeThread::Run), and the
// one a failed sendfile left pending is taken here so it is never delivered.
void ConsumePendingSigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  const timespec zero = {0, 0};
  while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
  }
}

// What a read that would block returns (callers look at would_block). No message: absl
// allocates a status that has one, and a read that would block is routine (a connection
// accepted before its request arrived).
absl::Status WouldBlock() { return absl::Status(absl::StatusCode::kUnavailable, ""); }

}  // namespace

Connection::Connection(base::UniqueFd fd, Protocol protocol, std::string_view socket_name,
                       size_t max_capacity, const sockaddr_storage* peer, bool tcp)
    : fd_(std::move(fd)),
      protocol_(protocol),
      socket_name_(socket_name),
      local_pending_(tcp),
      tcp_(tcp),
      max_capacity_(max_capacity),
      base_max_capacity_(max_capacity) {
  if (peer != nullptr) AddressText(*peer, &remote_addr_, &remote_port_);
}

void Connection::ResolveLocal() {
  if (!local_pending_) return;
  local_pending_ = false;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd_.Get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    AddressText(ss, &server_name_, &server_port_);
  }
}

std::string Connection::PeerText() const {
  std::string out;
  AppendPeerText(&out);
  return out;
}

void Connection::AppendPeerText(std::string* out) const {
  if (remote_addr_.empty()) {
    out->append("client on ").append(socket_name_);
  } else {
    out->append(remote_addr_).append(":").append(remote_port_);
  }
}

void Connection::SetProxiedPeer(std::string addr, uint16_t port) {
  remote_addr_ = std::move(addr);
  remote_port_ = absl::StrCat(port);
}

void Connection::Consume(size_t n) {
  start_ += std::min(n, size());
  if (start_ == end_) start_ = end_ = 0;
}

void Connection::Cut(size_t offset, size_t n) {
  if (offset >= size()) return;
  n = std::min(n, size() - offset);
  char* at = buf_.get() + start_ + offset;
  std::memmove(at, at + n, size() - offset - n);
  end_ -= n;
}

Connection::~Connection() { RecycleBuffer(); }

void Connection::RecycleBuffer() {
  if (buf_ != nullptr && capacity_ == kInitialBuffer && tl_spare_buffer == nullptr) {
    tl_spare_buffer = std::move(buf_);
  }
  buf_.reset();
}

void Connection::Grow(size_t min_capacity) {
  size_t cap = std::max<size_t>(capacity_ == 0 ? kInitialBuffer : capacity_ * 2, min_capacity);
  cap = std::min(cap, max_capacity_);
  if (cap <= capacity_) return;
  // Not value-initialised: zeroing the buffer cost more than parsing the request it holds.
  std::unique_ptr<char[]> bigger = cap == kInitialBuffer && tl_spare_buffer != nullptr
                                       ? std::move(tl_spare_buffer)
                                       : std::make_unique_for_overwrite<char[]>(cap);
  if (end_ > start_) std::memcpy(bigger.get(), buf_.get() + start_, end_ - start_);
  end_ -= start_;
  start_ = 0;
  RecycleBuffer();
  buf_ = std::move(bigger);
  capacity_ = cap;
}

void Connection::EnsureTailRoom(size_t n) {
  if (capacity_ - end_ >= n) return;
  if (start_ > 0 && capacity_ - (end_ - start_) >= n) {
    std::memmove(buf_.get(), buf_.get() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
    return;
  }
  Grow(end_ - start_ + n);
}

void Connection::Reserve(size_t total) {
  max_capacity_ = std::max(max_capacity_, total + 2048);
  EnsureTailRoom(total > size() ? total - size() : 0);
}

void Connection::EndReserve() {
  max_capacity_ = base_max_capacity_;
  if (capacity_ <= max_capacity_) return;
  if (size() == 0) {
    buf_.reset();
    capacity_ = start_ = end_ = 0;
    return;
  }
  if (size() > max_capacity_) return;  // not expected: Reserve left room for 2 KiB past a body
  const size_t cap = std::max(kInitialBuffer, size());
  auto smaller = std::make_unique_for_overwrite<char[]>(cap);
  std::memcpy(smaller.get(), data(), size());
  end_ = size();
  start_ = 0;
  buf_ = std::move(smaller);
  capacity_ = cap;
}

void Connection::ReleaseBuffer() {
  if (start_ != end_) return;
  RecycleBuffer();
  capacity_ = start_ = end_ = 0;
  head_scanned = 0;
}

absl::StatusOr<size_t> Connection::ReadAvailable(bool* would_block) {
  *would_block = false;
  if (buf_ == nullptr) Grow(0);
  if (end_ == capacity_ && start_ > 0) {
    std::memmove(buf_.get(), buf_.get() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (end_ == capacity_) Grow(0);
  if (end_ == capacity_) return absl::ResourceExhaustedError("read buffer full");
  while (true) {
    ssize_t n = ::read(fd_.Get(), buf_.get() + end_, capacity_ - end_);
    if (n >= 0) {
      end_ += static_cast<size_t>(n);
      return static_cast<size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      return WouldBlock();
    }
    return base::ErrnoError(errno, "read", PeerText());
  }
}

absl::StatusOr<size_t> Connection::ReadAndDiscard(size_t max, bool* would_block) {
  *would_block = false;
  char scratch[16384];
  while (true) {
    ssize_t n = ::read(fd_.Get(), scratch, std::min(max, sizeof(scratch)));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      return WouldBlock();
    }
    return base::ErrnoError(errno, "read", PeerText());
  }
}

absl::Status Connection::WaitFor(short events, absl::Duration timeout) {
  const WaitHook hook = wait_hook_;  // as it was when the wait began
  if (hook.fn == nullptr) return PollFor(events, timeout);
  hook.fn(hook.ctx, 1);
  absl::Status s = PollFor(events, timeout);
  hook.fn(hook.ctx, 0);
  return s;
}

absl::Status Connection::PollFor(short events, absl::Duration timeout) {
  const absl::Time until = base::WallNow() + timeout;
  while (true) {
    pollfd p{fd_.Get(), events, 0};
    int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(until - base::WallNow()));
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1 << 30)));
    if (r > 0) return absl::OkStatus();
    if (r == 0) {
      return absl::DeadlineExceededError(absl::StrCat("timed out after ",
                                                      absl::FormatDuration(timeout),
                                                      " waiting for ", PeerText()));
    }
    if (errno != EINTR) return base::ErrnoError(errno, "poll", PeerText());
  }
}

absl::StatusOr<size_t> Connection::ReadMore(absl::Duration timeout) {
  while (true) {
    bool would_block = false;
    absl::StatusOr<size_t> n = ReadAvailable(&would_block);
    if (!would_block) return n;
    if (absl::Status s = WaitFor(POLLIN, timeout); !s.ok()) return s;
  }
}

absl::StatusOr<size_t> Connection::ReadInto(char* dst, size_t len, absl::Duration timeout) {
  if (len == 0) return 0;
  if (size() > 0) {
    size_t n = std::min(len, size());
    std::memcpy(dst, data(), n);
    Consume(n);
    return n;
  }
  while (true) {
    ssize_t n = ::read(fd_.Get(), dst, len);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return base::ErrnoError(errno, "read", PeerText());
    if (absl::Status s = WaitFor(POLLIN, timeout); !s.ok()) return s;
  }
}

absl::Status Connection::WriteAll(const struct iovec* iov_in, int count, absl::Duration timeout) {
  struct iovec iov[8];
  int n = std::min(count, 8);
  std::copy(iov_in, iov_in + n, iov);
  int first = 0;
  while (first < n) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = static_cast<size_t>(n - first);
    ssize_t w = ::sendmsg(fd_.Get(), &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return base::ErrnoError(errno, "write", PeerText());
      }
      if (absl::Status s = WaitFor(POLLOUT, timeout); !s.ok()) return s;
      continue;
    }
    size_t left = static_cast<size_t>(w);
    while (first < n && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (first < n) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  if (count > 8) return WriteAll(iov_in + 8, count - 8, timeout);
  return absl::OkStatus();
}

absl::Status Connection::WriteAll(std::string_view data, absl::Duration timeout) {
  struct iovec iov = {const_cast<char*>(data.data()), data.size()};
  return WriteAll(&iov, 1, timeout);
}

absl::Status Connection::SendFile(int file_fd, int64_t offset, int64_t length,
                                  absl::Duration timeout) {
  off_t off = offset;
  int64_t left = length;
  while (left > 0) {
    ssize_t w = ::sendfile(fd_.Get(), file_fd, &off, static_cast<size_t>(std::min<int64_t>(
                                                         left, 1 << 30)));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        const int err = errno;
        if (err == EPIPE) ConsumePendingSigpipe();
        return base::ErrnoError(err, "sendfile", PeerText());
      }
      if (absl::Status s = WaitFor(POLLOUT, timeout); !s.ok()) return s;
      continue;
    }
    if (w == 0) {
      return absl::DataLossError(absl::StrCat("sendfile to ", PeerText(), ": the file ended ",
                                              left, " bytes early (truncated while sending?)"));
    }
    left -= w;
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Connection::WriteSome(std::string_view data, bool* would_block) {
  *would_block = false;
  while (true) {
    ssize_t w = ::send(fd_.Get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0) return static_cast<size_t>(w);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      return 0;
    }
    return base::ErrnoError(errno, "write", PeerText());
  }
}

void Connection::SendBestEffort(std::string_view data) {
  (void)::send(fd_.Get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace kiln::net
