// The cheaper algorithms as tables: a run of one-second samples and the decision after each;
// the scoreboard marks and the listen-queue reading they rely on.
#include "core/process/cheaper.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/process/listen_queue.h"
#include "core/process/scoreboard.h"

namespace kiln::process {
namespace {

struct Step {
  CheaperSample sample;
  int spawn = 0;
  bool stop = false;
};

// Feeds the steps in order and checks each decision; the message names the second.
void Feed(const CheaperOptions& o, const std::vector<Step>& steps) {
  auto policy = MakeCheaperPolicy(o);
  for (size_t i = 0; i < steps.size(); ++i) {
    CheaperDecision d = policy->Next(steps[i].sample);
    EXPECT_EQ(d.spawn, steps[i].spawn) << "second " << i + 1;
    EXPECT_EQ(d.stop_one, steps[i].stop) << "second " << i + 1;
    if (d.spawn > 0 || d.stop_one) {
      EXPECT_FALSE(d.why.empty()) << "second " << i + 1;
    }
  }
}

CheaperOptions Opts(CheaperAlgo algo, int min, int max, int overload = 3, int step = 1) {
  CheaperOptions o;
  o.algo = algo;
  o.min = min;
  o.max = max;
  o.initial = min;
  o.overload = overload;
  o.step = step;
  return o;
}

// {active, busy, cheap, busy_percent, queue}
CheaperSample S(int active, int busy, int cheap, int pct = 0, int64_t queue = 0) {
  return CheaperSample{active, busy, cheap, pct, queue};
}

TEST(CheaperSpare, SpawnsOneAfterOverloadSecondsOfAllBusy) {
  // uWSGI: processes 4, cheaper 1: each spawn needs cheaper-overload (3) seconds of every
  // worker busy.
  Feed(Opts(CheaperAlgo::kSpare, 1, 4),
      {{S(1, 1, 3)}, {S(1, 1, 3)}, {S(1, 1, 3), 1},
       {S(2, 2, 2)}, {S(2, 2, 2)}, {S(2, 2, 2), 1},
       {S(3, 3, 1)}, {S(3, 3, 1)}, {S(3, 3, 1), 1},
       {S(4, 4, 0)}, {S(4, 4, 0)}, {S(4, 4, 0)}});  // at the maximum: nothing to spawn
}

TEST(CheaperSpare, StepSpawnsSeveralButNeverMoreThanFreeSlots) {
  Feed(Opts(CheaperAlgo::kSpare, 1, 4, 2, 5), {{S(1, 1, 3)}, {S(1, 1, 3), 3}});
  Feed(Opts(CheaperAlgo::kSpare, 1, 8, 1, 2), {{S(1, 1, 7), 2}, {S(3, 3, 5), 2}});
}

TEST(CheaperSpare, AFreeWorkerLowersTheOverloadCount) {
  Feed(Opts(CheaperAlgo::kSpare, 1, 4),
      {{S(2, 2, 2)}, {S(2, 2, 2)}, {S(2, 1, 2)},  // count 2, then 1
       {S(2, 2, 2)}, {S(2, 2, 2), 1}});            // 2, 3: spawn
}

TEST(CheaperSpare, StopsOneWorkerEveryOverloadSecondsDownToMinimum) {
  Feed(Opts(CheaperAlgo::kSpare, 1, 4),
      {{S(4, 0, 0)}, {S(4, 0, 0)}, {S(4, 0, 0), 0, true},
       {S(3, 0, 1)}, {S(3, 0, 1)}, {S(3, 0, 1), 0, true},
       {S(2, 0, 2)}, {S(2, 0, 2)}, {S(2, 0, 2), 0, true},
       {S(1, 0, 3)}, {S(1, 0, 3)}, {S(1, 0, 3)}, {S(1, 0, 3)}});  // at `cheaper`: stays
}

TEST(CheaperSpare, ExactlyOneSpareWorkerIsStable) {
  Feed(Opts(CheaperAlgo::kSpare, 1, 4, 1),
      {{S(3, 2, 1)}, {S(3, 2, 1)}, {S(3, 2, 1)}, {S(3, 1, 1), 0, true}});
}

TEST(CheaperSpare, OverloadOneReactsEverySecond) {
  // The integration test's setting: one second per step up and down.
  Feed(Opts(CheaperAlgo::kSpare, 1, 4, 1),
      {{S(1, 1, 3), 1}, {S(2, 2, 2), 1}, {S(3, 3, 1), 1}, {S(4, 4, 0)},
       {S(4, 0, 0), 0, true}, {S(3, 0, 1), 0, true}, {S(2, 0, 2), 0, true}, {S(1, 0, 3)}});
}

TEST(CheaperBacklog, FollowsTheListenQueue) {
  Feed(Opts(CheaperAlgo::kBacklog, 1, 4, 3, 2),
      {{S(1, 1, 3, 0, 3)},            // equal to cheaper-overload: nothing
       {S(1, 1, 3, 0, 10), 2},        // longer: step workers
       {S(3, 3, 1, 0, 10), 1},        // never more than the free slots
       {S(4, 4, 0, 0, 10)},           // full
       {S(4, 0, 0, 0, 0), 0, true},   // shorter: one a second
       {S(3, 0, 1, 0, 0), 0, true},
       {S(2, 0, 2, 0, 0), 0, true},
       {S(1, 0, 3, 0, 0)}});          // at `cheaper`
}

CheaperOptions BusynessOpts() {
  CheaperOptions o = Opts(CheaperAlgo::kBusyness, 1, 4, 2);
  o.busyness_multiplier = 2;  // idle for 2 x 2 s before a stop
  o.busyness_penalty = 2;
  o.busyness_backlog_alert = 5;
  o.busyness_backlog_nonzero = 3;
  return o;
}

TEST(CheaperBusyness, SpawnsAboveMaxAndStopsAfterIdleWindows) {
  Feed(BusynessOpts(),
      {{S(1, 1, 3, 90)}, {S(1, 1, 3, 70), 1},     // window average 80% > 50%: spawn
       {S(2, 0, 2, 10)}, {S(2, 0, 2, 10)},        // t=4: below 25%, but a stop waits
       {S(2, 0, 2, 10)}, {S(2, 0, 2, 10), 0, true}});  // 2 x 2 s from the spawn: t=6
}

TEST(CheaperBusyness, BetweenMinAndMaxDelaysTheStop) {
  Feed(BusynessOpts(),
      {{S(2, 1, 2, 30)}, {S(2, 1, 2, 30)},   // t=2: 30% is in band: stop pushed to t=6
       {S(2, 0, 2, 0)}, {S(2, 0, 2, 0)},     // t=4: idle, too early
       {S(2, 0, 2, 0)}, {S(2, 0, 2, 0), 0, true}});  // t=6
}

TEST(CheaperBusyness, RespawnSoonAfterStopAddsThePenalty) {
  CheaperOptions o = BusynessOpts();
  Feed(o, {{S(2, 0, 2, 0)}, {S(2, 0, 2, 0)}, {S(2, 0, 2, 0)}, {S(2, 0, 2, 0), 0, true},  // t=4
          {S(1, 1, 3, 100)}, {S(1, 1, 3, 100), 1},   // t=6: spawned again 2 s later: multi 4
          {S(2, 0, 2, 0)}, {S(2, 0, 2, 0)}, {S(2, 0, 2, 0)}, {S(2, 0, 2, 0)},
          {S(2, 0, 2, 0)}, {S(2, 0, 2, 0)},          // t=12: still waiting (until t=14)
          {S(2, 0, 2, 0)}, {S(2, 0, 2, 0), 0, true}});  // t=14
}

TEST(CheaperBusyness, ListenQueueAboveAlertSpawnsAnEmergencyWorkerAtOnce) {
  // 6 > backlog-alert 5: at once; then a queue of 2 that stays non-empty for
  // backlog-nonzero (3 s, counted between the busyness windows) brings another.
  Feed(BusynessOpts(), {{S(1, 1, 3, 30, 6), 1}, {S(2, 2, 2, 30, 2)}, {S(2, 2, 2, 30, 2)},
                       {S(2, 2, 2, 30, 2)}, {S(2, 2, 2, 30, 2)}, {S(2, 2, 2, 30, 2)},
                       {S(2, 2, 2, 30, 2), 1}});
}

TEST(CheaperBusyness, NoEmergencyWorkerAtTheMaximum) {
  Feed(BusynessOpts(), {{S(4, 4, 0, 0, 50)}, {S(4, 4, 0, 100, 50)}});
}

TEST(CheaperManual, NeverChangesTheCount) {
  Feed(Opts(CheaperAlgo::kManual, 1, 4, 1), {{S(1, 1, 3, 100, 100)}, {S(4, 0, 0)}});
}

TEST(CheaperAlgoNames, ParseAndName) {
  for (const char* name : {"spare", "backlog", "busyness", "manual"}) {
    auto a = ParseCheaperAlgo(name);
    ASSERT_TRUE(a.ok()) << name;
    EXPECT_EQ(CheaperAlgoName(*a), name);
  }
  auto bad = ParseCheaperAlgo("spare3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("spare (the default)"), std::string::npos);
}

// The scoreboard part cheaper mode writes: a slot's cheap mark is its own and is cleared for
// a new worker.
TEST(CheaperScoreboard, CheapMarkIsPerSlotAndClearedForANewWorker) {
  auto sb = Scoreboard::Create(2, 2);
  ASSERT_TRUE(sb.ok());
  sb->worker(1).pid.store(77);
  sb->worker(2).cheap.store(1);
  EXPECT_EQ(sb->worker(1).pid.load(), 77);
  EXPECT_EQ(sb->worker(1).cheap.load(), 0);
  EXPECT_EQ(sb->worker(2).cheap.load(), 1);
  sb->Reset(2);
  EXPECT_EQ(sb->worker(2).cheap.load(), 0);
}

// The listen queue the backlog and busyness algorithms read: connections the kernel accepted
// and no worker has yet, for unix and TCP sockets.

void ExpectQueue(int family) {
  int listener = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string path;
  if (family == AF_UNIX) {
    path = "/tmp/kiln-lq-" + std::to_string(getpid()) + ".sock";
    unlink(path.c_str());
    auto* un = reinterpret_cast<sockaddr_un*>(&addr);
    un->sun_family = AF_UNIX;
    std::snprintf(un->sun_path, sizeof(un->sun_path), "%s", path.c_str());
    len = sizeof(sockaddr_un);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sockaddr_in);
  }
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto empty = ReadListenQueue(listener);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->length, 0);
  EXPECT_EQ(empty->max, 16);
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) {
    int c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(c, reinterpret_cast<sockaddr*>(&addr), len), 0);
    clients.push_back(c);
  }
  auto three = ReadListenQueue(listener);
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(three->length, 3);
  int accepted = accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(ReadListenQueue(listener)->length, 2);
  close(accepted);
  for (int c : clients) {
    close(c);
  }
  close(listener);
  if (!path.empty()) {
    unlink(path.c_str());
  }
}

TEST(ListenQueue, CountsWaitingConnectionsOnUnixSockets) { ExpectQueue(AF_UNIX); }
TEST(ListenQueue, CountsWaitingConnectionsOnTcpSockets) { ExpectQueue(AF_INET); }

}  // namespace
}  // namespace kiln::process
