// ServeLoop: owns the per-thread eventfds, the static-map table and the compiled log-format,
// runs the serving threads and stops them.
#include "core/net/serve_loop.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "core/base/check.h"
#include "core/base/strings.h"
#include "core/log/logger.h"
#include "core/log/request_log.h"
#include "core/net/builtin_handler.h"
#include "core/net/serve_thread.h"
#include "core/net/static_files.h"

namespace kiln::net {

ServeLoop::ServeLoop(ServeOptions options, std::vector<ListenSocket> sockets,
                     protocol::Handler* handler, WorkerObserver* observer, int worker_id)
    : options_(std::move(options)),
      sockets_(std::move(sockets)),
      handler_(handler),
      observer_(observer),
      worker_id_(worker_id) {
  if (options_.threads < 1) options_.threads = 1;
  for (ListenSocket& ls : sockets_) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ls.unix_domain = getsockname(ls.fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
                     ss.ss_family == AF_UNIX;
  }
  if (handler_ == nullptr) {
    // The test handler only when asked for: a server with no app must not answer 200.
    if (options_.builtin_handler) {
      builtin_ = std::make_unique<BuiltinHandler>();
    } else {
      builtin_ = std::make_unique<NoAppHandler>();
    }
    handler_ = builtin_.get();
  }
  if (!options_.static_maps.empty()) {
    absl::StatusOr<StaticFiles> files = StaticFiles::Create(options_.static_maps, options_.static_safe,
                                                            options_.static_extras);
    if (files.ok()) {
      statics_ = std::make_unique<StaticFiles>(std::move(*files));
    } else {
      log::Error("%s; static files are not served", base::Sv(files.status().message()));
    }
  }
  if (!options_.log_format.empty()) {
    format_ = std::make_unique<log::LogFormat>(log::LogFormat::Compile(options_.log_format,
                                                                   options_.logformat_strftime));
  }
  for (int i = 0; i < options_.threads; ++i) {
    base::UniqueFd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    KILN_CHECK(fd.Valid(), "eventfd");
    wake_fds_.push_back(std::move(fd));
  }
}

ServeLoop::~ServeLoop() = default;

void ServeLoop::Run() {
  for (int i = 0; i < options_.threads; ++i) {
    threads_.push_back(std::make_unique<ServeThread>(*this, i, wake_fds_[i].Get()));
  }
  running_.store(options_.threads, std::memory_order_relaxed);
  std::vector<std::thread> others;
  for (int i = 1; i < options_.threads; ++i) {
    others.emplace_back([this, i] { threads_[i]->Run(); });
  }
  threads_[0]->Run();
  for (std::thread& t : others) t.join();
  // A handler's own threads may still hold taken-over requests: they stop using them first.
  if (handler_ != nullptr) handler_->ServeThreadsDone();
  threads_.clear();
}

void ServeLoop::Stop(bool graceful, bool drain_listeners) {
  if (graceful && drain_listeners) drain_.store(true);
  if (graceful) {
    int expected = 0;
    stop_.compare_exchange_strong(expected, 1);
  } else {
    stop_.store(2);
  }
  const uint64_t one = 1;
  for (const base::UniqueFd& fd : wake_fds_) {
    (void)!write(fd.Get(), &one, sizeof(one));
  }
}

bool ServeLoop::TakeBodyMemory(uint64_t n) {
  uint64_t held = body_memory_.load(std::memory_order_relaxed);
  do {
    if (n > options_.post_buffering_memory || held > options_.post_buffering_memory - n) {
      return false;
    }
  } while (!body_memory_.compare_exchange_weak(held, held + n, std::memory_order_relaxed));
  return true;
}

uint64_t ServeLoop::requests_served() const { return served_.load(std::memory_order_relaxed); }

}  // namespace kiln::net
