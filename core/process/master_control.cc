// The master's adaptive and operator-driven parts: cheaper mode (the policy in cheaper.cc
// decides, this file samples the scoreboard and spawns or stops), the master FIFO's commands,
// pause, reloading the workers only, and chain reloads.
#include <poll.h>
#include <signal.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "core/log/logger.h"
#include "core/log/rotate.h"
#include "core/process/listen_queue.h"
#include "core/process/master.h"

namespace kiln::process {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;

int64_t Ns(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

}  // namespace

// ---- cheaper mode

// Without cheaper mode every slot is filled at start; with it, `cheaper-initial` are and the
// rest are marked cheap (empty until the load needs them).
int Master::InitialWorkers() {
  const CheaperOptions& c = o_.cheaper;
  if (!c.enabled()) {
    return o_.processes;
  }
  cheaper_ = MakeCheaperPolicy(c);
  busy_ticks_.assign(slots_.size(), 0);
  next_cheaper_ns_ = MonotonicNanos() + kSecondNs;
  for (int id = c.initial + 1; id <= o_.processes; ++id) {
    slots_[static_cast<size_t>(id)].cheap = true;
    scoreboard_.worker(id).cheap.store(1);
  }
  log::Notice("%s", DescribeCheaper(c));
  return c.initial;
}

// Every tick records which workers are busy (busyness needs the share of the second); once a
// second the policy gets the sample. Nothing while paused, reloading or stopping (uWSGI).
void Master::CheckCheaper(int64_t now) {
  if (cheaper_ == nullptr || paused_ || check_pid_ != 0 || !chain_.empty() ||
      chain_current_ != 0) {
    return;
  }
  ++sample_ticks_;
  CheaperSample sample;
  int64_t busy_ticks = 0;
  for (size_t id = 1; id < slots_.size(); ++id) {
    const Slot& slot = slots_[id];
    if (slot.pid == 0 && !slot.cheap) {
      continue;  // waiting to respawn: neither active nor free
    }
    if (slot.pid == 0 || slot.cheap) {
      sample.cheap += slot.pid == 0 ? 1 : 0;
      continue;
    }
    ++sample.active;
    auto snap = scoreboard_.Snapshot(static_cast<int>(id));
    if (snap && snap->busy) {
      ++sample.busy;
      ++busy_ticks_[id];
    }
    busy_ticks += busy_ticks_[id];
  }
  if (now < next_cheaper_ns_) {
    return;
  }
  next_cheaper_ns_ = now + kSecondNs;
  if (sample.active > 0 && sample_ticks_ > 0) {
    sample.busy_percent = static_cast<int>(busy_ticks * 100 / (sample.active * sample_ticks_));
  }
  for (const BoundSocket& s : *p_.sockets) {
    if (auto q = ReadListenQueue(s.fd.Get())) {
      sample.queue += q->length;
    }
  }
  std::fill(busy_ticks_.begin(), busy_ticks_.end(), 0);
  sample_ticks_ = 0;
  if (o_.cheaper.busyness_verbose) {
    log::Notice("cheaper: %d active, %d busy, %d%% busy, listen queue %d", sample.active,
                sample.busy, sample.busy_percent, sample.queue);
  }
  CheaperDecision d = cheaper_->Next(sample);
  if (d.spawn > 0) {
    SpawnCheap(d.spawn, d.why);
  } else if (d.stop_one) {
    CheapOne(d.why);
  }
}

void Master::SpawnCheap(int count, const std::string& why) {
  for (size_t id = 1; id < slots_.size() && count > 0; ++id) {
    if (slots_[id].cheap && slots_[id].pid == 0) {
      log::Notice("cheaper: %s: spawning worker %d", why, id);
      SpawnWorker(static_cast<int>(id));
      --count;
    }
  }
}

// Stops the idle worker that has run longest, gracefully: it stops accepting and exits once
// its requests are answered, so nobody's request fails. false when every worker is busy.
bool Master::CheapOne(const std::string& why) {
  size_t oldest = 0;
  for (size_t id = 1; id < slots_.size(); ++id) {
    const Slot& slot = slots_[id];
    if (slot.pid == 0 || slot.cheap || slot.stopping) {
      continue;
    }
    auto snap = scoreboard_.Snapshot(static_cast<int>(id));
    if (!snap || snap->busy || snap->state != WorkerState::kReady) {
      continue;
    }
    if (oldest == 0 || slot.born_ns < slots_[oldest].born_ns) {
      oldest = id;
    }
  }
  if (oldest == 0) {
    return false;
  }
  Slot& slot = slots_[oldest];
  log::Notice("cheaper: %s: stopping worker %d (pid: %d) gracefully", why, oldest, slot.pid);
  slot.cheap = true;
  slot.stopping = true;
  slot.reason = "cheaper";
  slot.kill_at_ns = MonotonicNanos() + Ns(o_.worker_reload_mercy);
  scoreboard_.worker(static_cast<int>(oldest)).cheap.store(1);
  kill(slot.pid, SIGTERM);
  return true;
}

// ---- the master FIFO

void Master::OnFifoReadable() {
  int before = p_.fifo->fd();
  std::string commands = p_.fifo->ReadCommands();
  if (p_.fifo->fd() != before) {  // a digit made another FIFO active
    Unwatch(before);
    Watch(p_.fifo->fd(), POLLIN, [this](short) { OnFifoReadable(); });
  }
  for (char c : commands) {
    OnFifoCommand(c);
  }
}

// uWSGI's letters (MasterFIFO.rst); each logs what it does.
void Master::OnFifoCommand(char c) {
  if (phase_ != Phase::kRunning && c != 'Q') {
    log::Notice("master FIFO: `%c` ignored: the server is stopping", c);
    return;
  }
  switch (c) {
    case 'r':
      BeginReload("master FIFO `r`");
      break;
    case 'R':
      brutal_reload_ = true;
      BeginReload("master FIFO `R`");
      break;
    case 'q':
      BeginStop(/*graceful=*/true, "master FIFO `q`");
      break;
    case 'Q':
      BeginStop(/*graceful=*/false, "master FIFO `Q`");
      break;
    case 'c':
      BeginChainReload("master FIFO `c`");
      break;
    case 'w':
      ReloadWorkers("master FIFO `w`");
      break;
    case 'l':
      log::ReopenEverywhere();
      log::Notice("master FIFO `l`: log files reopened");
      break;
    case 'L':
      RotateLogs();
      break;
    case 'p':
      SetPaused(!paused_);
      break;
    case 's':
      LogStats();
      break;
    case '+':
    case '-':
      if (cheaper_ == nullptr) {
        log::Warn("master FIFO `%c`: cheaper mode is off (`cheaper` is not set)", c);
      } else if (c == '+') {
        SpawnCheap(1, "master FIFO `+`");
      } else if (!CheapOne("master FIFO `-`")) {
        log::Notice("master FIFO `-`: no idle worker above `cheaper` to stop");
      }
      break;
    default:
      log::Warn("master FIFO: unknown command `%c` (known: r R q Q c w l L p s + - 0-9)", c);
  }
}

// `L`: rotate every non-empty log file now (as log-maxsize would), and every process reopens.
void Master::RotateLogs() {
  int renamed = log::RotateNow();
  log::Notice("master FIFO `L`: %d log file(s) rotated", renamed);
}

// `p`: the workers are stopped with SIGSTOP (as uWSGI suspends them): nothing is accepted,
// connections wait in the listen queue, and SIGCONT resumes exactly where they were.
void Master::SetPaused(bool paused) {
  if (paused == paused_) {
    return;
  }
  paused_ = paused;
  if (instance_.state() != InstanceState::kStopping) {  // /ready reads it
    instance_.set_state(paused ? InstanceState::kPaused : InstanceState::kRunning);
  }
  int sig = paused ? SIGSTOP : SIGCONT;
  for (size_t id = 1; id < slots_.size(); ++id) {
    if (slots_[id].pid != 0) {
      kill(slots_[id].pid, sig);
    }
  }
  for (const Retiring& r : retiring_) {
    kill(r.pid, sig);
  }
  log::Notice(paused ? "paused: the workers accept nothing; connections wait in the listen queue"
                     : "resumed: the workers accept again");
}

// `w`: every worker finishes its requests and is replaced, all at once; the master is not
// re-executed. With lazy-apps the new workers load the application again.
void Master::ReloadWorkers(const char* why) {
  log::Notice("%s: reloading the workers gracefully", why);
  int64_t now = MonotonicNanos();
  for (size_t id = 1; id < slots_.size(); ++id) {
    Slot& slot = slots_[id];
    if (slot.pid == 0 || slot.cheap || slot.stopping) {
      continue;
    }
    slot.stopping = true;
    slot.reason = why;
    slot.kill_at_ns = now + Ns(o_.worker_reload_mercy);
    kill(slot.pid, SIGTERM);
  }
}

// ---- chain reload

// With lazy-apps each worker loads the application after fork, so replacing the workers one
// at a time brings the new code. Without it the workers are forks of the master's loaded
// application: a new worker would run the old code, so kiln reloads the whole server instead,
// which also keeps every old worker serving until the new generation is ready
// (docs/decisions.md).
void Master::BeginChainReload(const char* why) {
  if (!o_.lazy_apps) {
    log::Notice(
        "%s: chain reload without lazy-apps: the workers share the master's application, so "
        "the whole server reloads (the old workers serve until the new ones are ready)",
        why);
    BeginReload(why);
    return;
  }
  if (!chain_.empty() || chain_current_ != 0) {
    log::Warn("%s: a chain reload is already running; ignored", why);
    return;
  }
  for (size_t id = 1; id < slots_.size(); ++id) {
    if (slots_[id].pid != 0 && !slots_[id].cheap) {
      chain_.push_back(static_cast<int>(id));
    }
  }
  log::Notice("%s: chain reload: replacing %d worker(s) one at a time", why, chain_.size());
  CheckChainReload(MonotonicNanos());
}

// One worker at a time: the next old worker is asked to stop only once the previous one's
// successor is running and ready (accepting).
void Master::CheckChainReload(int64_t now) {
  if (chain_current_ != 0) {
    const Slot& slot = slots_[static_cast<size_t>(chain_current_)];
    auto state = static_cast<WorkerState>(scoreboard_.worker(chain_current_).state.load());
    if (slot.pid == 0 || slot.stopping || state != WorkerState::kReady) {
      return;
    }
    log::Notice("chain reload: worker %d (pid: %d) is ready", chain_current_, slot.pid);
    chain_current_ = 0;
    if (chain_.empty()) {
      log::Notice("chain reload: every worker replaced");
    }
  }
  while (!chain_.empty()) {
    int id = chain_.front();
    chain_.pop_front();
    Slot& slot = slots_[static_cast<size_t>(id)];
    if (slot.pid == 0 || slot.cheap) {
      continue;  // gone meanwhile: its next worker loads the new code anyway
    }
    if (!slot.stopping) {
      slot.stopping = true;
      slot.reason = "chain reload";
      slot.kill_at_ns = now + Ns(o_.worker_reload_mercy);
      kill(slot.pid, SIGTERM);
    }
    chain_current_ = id;
    return;
  }
}

}  // namespace kiln::process
