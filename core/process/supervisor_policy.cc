// Respawn backoff, harakiri and recycling arithmetic.
#include "core/process/supervisor_policy.h"

namespace kiln::process {

absl::Duration RespawnBackoff::OnExit(absl::Duration uptime) {
  if (uptime >= params_.healthy_uptime) {
    failures_ = 0;
    return absl::ZeroDuration();
  }
  ++failures_;
  absl::Duration delay = params_.first_delay;
  for (int i = 1; i < failures_ && delay < params_.max_delay; ++i) {
    delay *= 2;
  }
  return delay < params_.max_delay ? delay : params_.max_delay;
}

bool HarakiriDue(absl::Duration started, absl::Duration now, absl::Duration limit) {
  if (limit <= absl::ZeroDuration() || started <= absl::ZeroDuration()) {
    return false;
  }
  return now - started >= limit;
}

std::string_view RecycleReasonText(RecycleReason reason) {
  switch (reason) {
    case RecycleReason::kNone:
      return "none";
    case RecycleReason::kMaxRequests:
      return "max-requests reached";
    case RecycleReason::kRss:
      return "reload-on-rss exceeded";
    case RecycleReason::kLifetime:
      return "max-worker-lifetime reached";
    case RecycleReason::kException:
      return "reload-on-exception";
    case RecycleReason::kAddressSpace:
      return "reload-on-as exceeded";
  }
  return "none";
}

RecycleReason ShouldRecycle(const RecycleLimits& limits, uint64_t requests, uint64_t rss_bytes,
                            absl::Duration age, uint64_t vsz_bytes) {
  if (age < limits.min_lifetime) {
    return RecycleReason::kNone;
  }
  if (limits.max_requests > 0 && requests >= limits.max_requests) {
    return RecycleReason::kMaxRequests;
  }
  if (limits.max_rss_bytes > 0 && rss_bytes > limits.max_rss_bytes) {
    return RecycleReason::kRss;
  }
  if (limits.max_vsz_bytes > 0 && vsz_bytes > limits.max_vsz_bytes) {
    return RecycleReason::kAddressSpace;
  }
  if (limits.max_lifetime > absl::ZeroDuration() && age >= limits.max_lifetime) {
    return RecycleReason::kLifetime;
  }
  return RecycleReason::kNone;
}

}  // namespace kiln::process
