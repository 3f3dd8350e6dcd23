// The cheaper algorithms: each keeps its counters between calls; one call is one second.
#include "core/process/cheaper.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace kiln::process {
namespace {

// uWSGI's spare: every second in which all workers are busy raises an overload count, a second
// with a free worker lowers it; at `cheaper-overload` up to `cheaper-step` workers are
// spawned. With the count at 0 and more than one worker free, one worker is stopped every
// `cheaper-overload` seconds, down to `cheaper`.
class Spare : public CheaperPolicy {
 public:
  explicit Spare(const CheaperOptions& o) : o_(o) {}
  CheaperDecision Next(const CheaperSample& s) override {
    if (s.busy < s.active) {
      if (overload_ > 0) {
        --overload_;
      }
    } else {
      ++overload_;
      idle_ = 0;
    }
    if (overload_ >= o_.overload) {
      overload_ = 0;
      int k = std::min(s.cheap, o_.step);
      if (k == 0) {
        return {};
      }
      return {k, false,
              absl::StrFormat("all %d worker(s) busy for %d s (cheaper-overload)", s.active,
                              o_.overload)};
    }
    if (overload_ != 0) {
      return {};
    }
    if (s.active > s.busy && s.active - s.busy == 1) {
      return {};  // stable: exactly one spare worker
    }
    ++idle_;
    if (s.active > o_.min && idle_ % o_.overload == 0) {
      return {0, true,
              absl::StrFormat("%d of %d worker(s) idle for %d s", s.active - s.busy, s.active,
                              o_.overload)};
    }
    return {};
  }

 private:
  const CheaperOptions o_;
  int overload_ = 0;
  int64_t idle_ = 0;
};

// uWSGI's backlog: more workers while the listen queue is longer than `cheaper-overload`,
// fewer (one a second) while it is shorter.
class Backlog : public CheaperPolicy {
 public:
  explicit Backlog(const CheaperOptions& o) : o_(o) {}
  CheaperDecision Next(const CheaperSample& s) override {
    if (s.queue > o_.overload) {
      int k = std::min(s.cheap, o_.step);
      if (k == 0) {
        return {};
      }
      return {k, false,
              absl::StrFormat("%d connection(s) in the listen queue (cheaper-overload %d)",
                              s.queue, o_.overload)};
    }
    if (s.queue < o_.overload && s.active > o_.min) {
      return {0, true,
              absl::StrFormat("%d connection(s) in the listen queue (cheaper-overload %d)",
                              s.queue, o_.overload)};
    }
    return {};
  }

 private:
  const CheaperOptions o_;
};

// uWSGI's busyness plugin: every `cheaper-overload` seconds the average share of time the
// workers were busy is compared with cheaper-busyness-min/max. Above max: spawn. Below min for
// `cheaper-overload` x multiplier seconds: stop one; a worker spawned again soon after one was
// stopped raises the multiplier by the penalty. A listen queue above backlog-alert (checked
// every second), or non-empty for backlog-nonzero seconds, spawns emergency workers, which are
// stopped after `cheaper-overload` x backlog-multiplier seconds of low load.
class Busyness : public CheaperPolicy {
 public:
  explicit Busyness(const CheaperOptions& o)
      : o_(o), multi_(o.busyness_multiplier), min_multi_(o.busyness_multiplier) {
    SetNextCheap();
  }

  CheaperDecision Next(const CheaperSample& s) override {
    ++t_;
    window_sum_ += s.busy_percent;
    ++window_n_;
    if (t_ - tcheck_ >= o_.overload) {
      tcheck_ = t_;
      int64_t avg = window_sum_ / window_n_;
      window_sum_ = 0;
      window_n_ = 0;
      return Evaluate(s, avg);
    }
    if (s.cheap > 0 && s.queue > o_.busyness_backlog_alert) {
      return Emergency(s);
    }
    if (s.queue > 0) {
      if (!backlog_nonzero_) {
        backlog_nonzero_ = true;
        backlog_since_ = t_;
      } else if (s.cheap > 0 && t_ - backlog_since_ >= o_.busyness_backlog_nonzero) {
        backlog_since_ = t_;
        return Emergency(s);
      }
    } else {
      backlog_nonzero_ = false;
    }
    return {};
  }

 private:
  CheaperDecision Evaluate(const CheaperSample& s, int64_t avg) {
    if (avg > o_.busyness_max) {
      tolerance_ = 0;
      int k = std::min(s.cheap, o_.step);
      if (k == 0) {
        return {};
      }
      last_action_ = kSpawned;
      if (last_cheaped_ >= 0 && (t_ - last_cheaped_) / o_.overload <= multi_) {
        multi_ += o_.busyness_penalty;  // stopped and needed again too soon
      } else {
        DecreaseMulti();
      }
      SetNextCheap();
      return {k, false,
              absl::StrFormat("%d s average busyness is at %d%% (cheaper-busyness-max %d%%)",
                              o_.overload, avg, o_.busyness_max)};
    }
    if (s.cheap > 0 && s.queue > o_.busyness_backlog_alert) {
      return Emergency(s);
    }
    if (avg < o_.busyness_min) {
      if (s.active <= 1) {
        return {};
      }
      tolerance_ = 0;
      if (s.active > o_.min && t_ >= next_cheap_) {
        if (last_action_ == kCheaped) {
          DecreaseMulti();
        }
        SetNextCheap();
        last_cheaped_ = t_;
        last_action_ = kCheaped;
        if (emergency_ > 0) {
          --emergency_;
        }
        return {0, true,
                absl::StrFormat("%d s average busyness is at %d%% (cheaper-busyness-min %d%%)",
                                o_.overload, avg, o_.busyness_min)};
      }
      return {};
    }
    if (s.active <= 1) {
      return {};
    }
    if (emergency_ > 0) {
      --emergency_;
    }
    // Between min and max: three such windows in a row restart the idle timer; fewer only
    // push it back by one window, so a short spike does not count as idle time.
    if (++tolerance_ >= 3) {
      SetNextCheap();
    } else {
      next_cheap_ += o_.overload;
    }
    return {};
  }

  CheaperDecision Emergency(const CheaperSample& s) {
    multi_ = min_multi_;
    last_action_ = kSpawned;
    int k = std::min(s.cheap, o_.busyness_backlog_step);
    SetNextCheap();
    if (k == 0) {
      return {};
    }
    emergency_ += k;
    return {k, false,
            absl::StrFormat("%d request(s) in the listen queue: %d emergency worker(s)", s.queue,
                            k)};
  }

  void SetNextCheap() {
    next_cheap_ = t_ + static_cast<int64_t>(o_.overload) *
                           (emergency_ > 0 ? o_.busyness_backlog_multiplier : multi_);
  }
  void DecreaseMulti() {
    if (multi_ > min_multi_) {
      --multi_;
    }
  }

  enum Action { kNone, kSpawned, kCheaped };
  const CheaperOptions o_;
  int64_t t_ = 0;  // seconds since start (one per call)
  int64_t tcheck_ = 0;
  int64_t window_sum_ = 0;
  int64_t window_n_ = 0;
  int64_t next_cheap_ = 0;
  int64_t last_cheaped_ = -1;  // never
  int64_t multi_;
  int64_t min_multi_;
  Action last_action_ = kNone;
  int tolerance_ = 0;
  int emergency_ = 0;
  bool backlog_nonzero_ = false;
  int64_t backlog_since_ = 0;
};

// manual: the count changes only through the master FIFO's `+` and `-`.
class Manual : public CheaperPolicy {
 public:
  CheaperDecision Next(const CheaperSample&) override { return {}; }
};

}  // namespace

absl::StatusOr<CheaperAlgo> ParseCheaperAlgo(std::string_view name) {
  for (CheaperAlgo a :
       {CheaperAlgo::kSpare, CheaperAlgo::kBacklog, CheaperAlgo::kBusyness, CheaperAlgo::kManual}) {
    if (name == CheaperAlgoName(a)) {
      return a;
    }
  }
  return absl::InvalidArgumentError(
      "unknown cheaper algorithm; kiln has spare (the default), backlog, busyness and manual");
}

std::string_view CheaperAlgoName(CheaperAlgo algo) {
  switch (algo) {
    case CheaperAlgo::kSpare:
      return "spare";
    case CheaperAlgo::kBacklog:
      return "backlog";
    case CheaperAlgo::kBusyness:
      return "busyness";
    case CheaperAlgo::kManual:
      return "manual";
  }
  return "spare";
}

std::unique_ptr<CheaperPolicy> MakeCheaperPolicy(const CheaperOptions& options) {
  switch (options.algo) {
    case CheaperAlgo::kSpare:
      return std::make_unique<Spare>(options);
    case CheaperAlgo::kBacklog:
      return std::make_unique<Backlog>(options);
    case CheaperAlgo::kBusyness:
      return std::make_unique<Busyness>(options);
    case CheaperAlgo::kManual:
      return std::make_unique<Manual>();
  }
  return std::make_unique<Spare>(options);
}

std::string DescribeCheaper(const CheaperOptions& o) {
  std::string out = absl::StrFormat(
      "cheaper mode (%s): %d to %d workers, %d at start, step %d, overload %d",
      CheaperAlgoName(o.algo), o.min, o.max, o.initial, o.step, o.overload);
  if (o.algo == CheaperAlgo::kBusyness) {
    absl::StrAppendFormat(&out,
                          "; busyness min %d%% max %d%% multiplier %d penalty %d, backlog alert "
                          "%d step %d multiplier %d nonzero %d s",
                          o.busyness_min, o.busyness_max, o.busyness_multiplier,
                          o.busyness_penalty, o.busyness_backlog_alert, o.busyness_backlog_step,
                          o.busyness_backlog_multiplier, o.busyness_backlog_nonzero);
  }
  return out;
}

}  // namespace kiln::process
