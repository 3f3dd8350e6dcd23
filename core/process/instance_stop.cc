// InstanceStop: the shared state page and the drain-delay timer.
#include "core/process/instance_stop.h"

#include <sys/mman.h>

#include <new>

#include "core/base/check.h"

namespace kiln::process {

const char* InstanceStateName(InstanceState s) {
  switch (s) {
    case InstanceState::kRunning:
      return "running";
    case InstanceState::kStopping:
      return "stopping";
    case InstanceState::kPaused:
      return "paused";
    case InstanceState::kReloading:
      return "reloading";
  }
  return "unknown";
}

InstanceStop::InstanceStop() {
  void* page = mmap(nullptr, sizeof(std::atomic<int32_t>), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  KILN_CHECK(page != MAP_FAILED, "cannot map the instance state");
  state_ = new (page) std::atomic<int32_t>(static_cast<int32_t>(InstanceState::kRunning));
}

InstanceStop::~InstanceStop() { munmap(state_, sizeof(std::atomic<int32_t>)); }

InstanceState InstanceStop::state() const { return static_cast<InstanceState>(state_->load()); }

void InstanceStop::set_state(InstanceState s) { state_->store(static_cast<int32_t>(s)); }

bool InstanceStop::Begin(int64_t now_ns, absl::Duration delay) {
  set_state(InstanceState::kStopping);
  signal_at_ns_ = 0;  // an immediate stop during a drain-delay ends the delay
  if (delay <= absl::ZeroDuration()) return true;
  signal_at_ns_ = now_ns + absl::ToInt64Nanoseconds(delay);
  return false;
}

bool InstanceStop::DelayOver(int64_t now_ns) {
  if (signal_at_ns_ == 0 || now_ns < signal_at_ns_) return false;
  signal_at_ns_ = 0;
  return true;
}

}  // namespace kiln::process
