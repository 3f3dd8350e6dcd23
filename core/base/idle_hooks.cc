#include "core/base/idle_hooks.h"

#include <utility>
#include <vector>

namespace kiln::base {
namespace {

struct IdleHook {
  void (*fn)(void* ctx);
  void* ctx;
};

// This thread's pending functions, and the ones being run (swapped, so a function that adds
// itself again runs at the next RunIdleHooks, not in this one). Vectors that keep their
// capacity: after the first requests, nothing here allocates.
thread_local std::vector<IdleHook> t_hooks;
thread_local std::vector<IdleHook> t_running;

}  // namespace

void AddIdleHook(void (*fn)(void* ctx), void* ctx) {
  if (fn == nullptr) return;
  for (IdleHook& h : t_hooks) {
    if (h.fn == fn) {
      h.ctx = ctx;
      return;
    }
  }
  t_hooks.push_back({fn, ctx});
}

void RunIdleHooks() {
  if (t_hooks.empty()) return;
  t_running.swap(t_hooks);
  for (const IdleHook& h : t_running) h.fn(h.ctx);
  t_running.clear();
}

}  // namespace kiln::base
