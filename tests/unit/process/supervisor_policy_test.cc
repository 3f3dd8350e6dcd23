// Pure supervision decisions: backoff, harakiri deadlines, recycling.
#include "core/process/supervisor_policy.h"

#include "gtest/gtest.h"

namespace kiln::process {
namespace {

TEST(RespawnBackoff, RespawnsAHealthyWorkerAtOnce) {
  RespawnBackoff b;
  EXPECT_EQ(b.OnExit(absl::Minutes(5)), absl::ZeroDuration());
  EXPECT_EQ(b.failures(), 0);
}

TEST(RespawnBackoff, DoublesTheDelayForRepeatedQuickDeaths) {
  RespawnBackoff b;
  EXPECT_EQ(b.OnExit(absl::Milliseconds(10)), absl::Milliseconds(250));
  EXPECT_EQ(b.OnExit(absl::Milliseconds(10)), absl::Milliseconds(500));
  EXPECT_EQ(b.OnExit(absl::Milliseconds(10)), absl::Seconds(1));
  EXPECT_EQ(b.OnExit(absl::Milliseconds(10)), absl::Seconds(2));
  EXPECT_EQ(b.failures(), 4);
}

TEST(RespawnBackoff, CapsTheDelay) {
  RespawnBackoff b;
  absl::Duration d;
  for (int i = 0; i < 100; ++i) {
    d = b.OnExit(absl::ZeroDuration());
  }
  EXPECT_EQ(d, absl::Seconds(30));
}

TEST(RespawnBackoff, ResetsAfterAWorkerLivedLongEnough) {
  RespawnBackoff b;
  b.OnExit(absl::Seconds(1));
  b.OnExit(absl::Seconds(1));
  EXPECT_EQ(b.OnExit(absl::Seconds(11)), absl::ZeroDuration());
  EXPECT_EQ(b.OnExit(absl::Seconds(1)), absl::Milliseconds(250));
}

TEST(HarakiriDue, FiresOnlyOnceTheLimitHasPassed) {
  absl::Duration start = absl::Seconds(100);
  EXPECT_FALSE(HarakiriDue(start, start + absl::Seconds(29), absl::Seconds(30)));
  EXPECT_TRUE(HarakiriDue(start, start + absl::Seconds(30), absl::Seconds(30)));
}

TEST(HarakiriDue, IgnoresIdleCoresAndADisabledLimit) {
  EXPECT_FALSE(HarakiriDue(absl::ZeroDuration(), absl::Hours(5), absl::Seconds(1)));
  EXPECT_FALSE(HarakiriDue(absl::Seconds(1), absl::Hours(5), absl::ZeroDuration()));
}

TEST(ShouldRecycle, RecyclesAtMaxRequests) {
  RecycleLimits l{.max_requests = 3};
  EXPECT_EQ(ShouldRecycle(l, 2, 0, absl::ZeroDuration()), RecycleReason::kNone);
  EXPECT_EQ(ShouldRecycle(l, 3, 0, absl::ZeroDuration()), RecycleReason::kMaxRequests);
}

TEST(ShouldRecycle, RecyclesAboveReloadOnRss) {
  RecycleLimits l{.max_rss_bytes = 100 << 20};
  EXPECT_EQ(ShouldRecycle(l, 1, 100 << 20, absl::ZeroDuration()), RecycleReason::kNone);
  EXPECT_EQ(ShouldRecycle(l, 1, (100 << 20) + 1, absl::ZeroDuration()), RecycleReason::kRss);
}

TEST(ShouldRecycle, RecyclesAboveReloadOnAs) {
  RecycleLimits l{.min_lifetime = absl::Seconds(10), .max_vsz_bytes = 100 << 20};
  EXPECT_EQ(ShouldRecycle(l, 1, 0, absl::Seconds(10), 100 << 20), RecycleReason::kNone);
  EXPECT_EQ(ShouldRecycle(l, 1, 0, absl::Seconds(10), (100 << 20) + 1),
            RecycleReason::kAddressSpace);
  EXPECT_EQ(ShouldRecycle(l, 1, 0, absl::Seconds(9), (100 << 20) + 1), RecycleReason::kNone);
}

TEST(ShouldRecycle, RecyclesAtMaxWorkerLifetime) {
  RecycleLimits l{.max_lifetime = absl::Hours(1)};
  EXPECT_EQ(ShouldRecycle(l, 0, 0, absl::Minutes(59)), RecycleReason::kNone);
  EXPECT_EQ(ShouldRecycle(l, 0, 0, absl::Hours(1)), RecycleReason::kLifetime);
}

TEST(ShouldRecycle, WaitsForMinWorkerLifetimeBeforeMaxRequestsOrRss) {
  RecycleLimits l{.max_requests = 3, .max_rss_bytes = 100 << 20,
                  .min_lifetime = absl::Seconds(10)};
  EXPECT_EQ(ShouldRecycle(l, 50, 0, absl::Seconds(9)), RecycleReason::kNone);
  EXPECT_EQ(ShouldRecycle(l, 1, 200 << 20, absl::Seconds(9)), RecycleReason::kNone);
  EXPECT_EQ(ShouldRecycle(l, 50, 0, absl::Seconds(10)), RecycleReason::kMaxRequests);
  EXPECT_EQ(ShouldRecycle(l, 1, 200 << 20, absl::Seconds(11)), RecycleReason::kRss);
}

TEST(ShouldRecycle, DoesNothingWithEveryLimitOff) {
  EXPECT_EQ(ShouldRecycle({}, 1'000'000, uint64_t{1} << 40, absl::Hours(1000)),
            RecycleReason::kNone);
}

}  // namespace
}  // namespace kiln::process
