// The serving thread's idle hooks (core/base/idle_hooks.h, the SDK's thread_idle_hook): each
// recorded function runs once at the next RunIdleHooks, on the thread that recorded it.
#include "core/base/idle_hooks.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace kiln::base {
namespace {

void Append(void* ctx) { static_cast<std::string*>(ctx)->push_back('a'); }
void AppendB(void* ctx) { static_cast<std::string*>(ctx)->push_back('b'); }

TEST(IdleHooks, EachRunsOnceAtTheNextRunInTheOrderFirstAdded) {
  std::string seen, other;
  AddIdleHook(AppendB, &seen);
  AddIdleHook(Append, &seen);
  AddIdleHook(AppendB, &other);  // the same function again: the new context, its old place
  RunIdleHooks();
  EXPECT_EQ(seen, "a");
  EXPECT_EQ(other, "b");
  RunIdleHooks();  // forgotten once run
  EXPECT_EQ(seen + other, "ab");
}

// A function that records itself again while it runs (once here) runs at the next
// RunIdleHooks, not in the same one.
void AddsItselfAgainOnce(void* ctx) {
  auto* seen = static_cast<std::string*>(ctx);
  seen->push_back('x');
  if (seen->size() == 1) AddIdleHook(AddsItselfAgainOnce, ctx);
}

TEST(IdleHooks, AFunctionAddedWhileTheyRunWaitsForTheNextRun) {
  std::string seen;
  AddIdleHook(AddsItselfAgainOnce, &seen);
  AddIdleHook(nullptr, nullptr);  // ignored
  RunIdleHooks();
  EXPECT_EQ(seen, "x");
  RunIdleHooks();
  EXPECT_EQ(seen, "xx");
  RunIdleHooks();  // nothing left
  EXPECT_EQ(seen, "xx");
}

TEST(IdleHooks, AreKeptPerThread) {
  std::string seen;
  AddIdleHook(Append, &seen);
  std::thread([] { RunIdleHooks(); }).join();  // another thread has none of this one's
  EXPECT_EQ(seen, "");
  RunIdleHooks();
  EXPECT_EQ(seen, "a");
}

}  // namespace
}  // namespace kiln::base
