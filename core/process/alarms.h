// uWSGI's alarm subsystem in the master: `alarm = NAME ACTION:ARG` names an alarm (actions
// `cmd`, run a shell command with the message on its stdin, and `log`, write it to the log),
// and the triggers raise it: a worker killed by SIGSEGV or SIGFPE (alarm-segfault), a listen
// queue found full (alarm-listen-queue), a log line matching a regex (log-alarm, checked in the
// process that writes the line and sent to the master over a datagram socket). The same
// message raises the same alarm at most once per alarm-freq. Everything runs in the master's
// poll loop: a command is forked, fed through a pipe written without blocking, and reaped by
// the master's waitpid loop.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/base/unique_fd.h"

namespace kiln::config {
class Config;
}

namespace kiln::process {

class Master;
struct BoundSocket;

struct AlarmSpec {
  std::string name;
  std::string action;  // "cmd" or "log"
  std::string arg;
};

struct LogAlarmSpec {
  std::vector<std::string> alarms;  // indexes into AlarmOptions::alarms, by name
  std::string regex;
  bool negate = false;  // not-log-alarm: a match stops the rules after it
};

struct AlarmOptions {
  std::vector<AlarmSpec> alarms;
  std::vector<LogAlarmSpec> log_alarms;  // in configuration order
  std::vector<std::string> segfault;      // alarm names
  std::vector<std::string> listen_queue;  // alarm names
  absl::Duration freq = absl::Seconds(3);

  bool empty() const { return alarms.empty(); }
};

// Reads alarm, alarm-freq, alarm-segfault, alarm-listen-queue, log-alarm and not-log-alarm.
// An unknown action, an unknown alarm name or a bad regex is an error naming the option.
absl::StatusOr<AlarmOptions> ReadAlarmOptions(const config::Config& cfg);

// Splits `NAME ACTION:ARG` (exposed for tests).
absl::StatusOr<AlarmSpec> ParseAlarm(std::string_view text);

class Alarms {
 public:
  // Compiles the log-alarm rules, opens the socket the log hook writes to and installs the hook
  // (before the workers are forked: they inherit both). Null when no alarm is configured.
  static absl::StatusOr<std::unique_ptr<Alarms>> Start(const AlarmOptions& options,
                                                       Master& master);
  ~Alarms();
  Alarms(const Alarms&) = delete;
  Alarms& operator=(const Alarms&) = delete;

  // A worker ended with `status`: alarm-segfault when a SIGSEGV or SIGFPE killed it.
  void OnWorkerExit(int id, pid_t pid, int status);
  // Once a second: alarm-listen-queue for each socket whose accept queue is full.
  void Tick(int64_t now_ns, const std::vector<BoundSocket>& sockets);
  // True when `pid` was an alarm command (the master's reaper asks).
  bool OnExit(pid_t pid);

  // Raises alarm `name` with `message` (subject to alarm-freq). Public for the triggers above.
  void Raise(const std::string& name, std::string_view message);

 private:
  struct Instance {
    AlarmSpec spec;
    std::string last_message;
    int64_t last_run_ns = -1;
  };
  Alarms(const AlarmOptions& options, Master& master);
  void OnLogDatagrams();
  void Run(Instance& instance, std::string_view message);
  void RunCommand(const Instance& instance, std::string_view message);

  Master& master_;
  absl::Duration freq_;
  std::map<std::string, Instance> instances_;
  std::vector<LogAlarmSpec> log_alarms_;
  std::vector<std::string> segfault_;
  std::vector<std::string> listen_queue_;
  base::UniqueFd read_end_;  // log-alarm matches from every process
  std::set<pid_t> commands_;  // running alarm commands
  int64_t next_queue_check_ns_ = 0;
};

}  // namespace kiln::process
