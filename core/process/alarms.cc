// The alarm subsystem (alarms.h). uWSGI 2.0's core/alarm.c runs the alarms in a thread of the
// master; kiln's master has no threads (it forks), so the same work is non-blocking work in its
// poll loop.
#include "core/process/alarms.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <utility>

#include <re2/re2.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/config/config.h"
#include "core/log/line_observer.h"
#include "core/log/logger.h"
#include "core/process/listen_queue.h"
#include "core/process/master.h"
#include "core/process/signals.h"

namespace kiln::process {
namespace {

// uWSGI's alarm-msg-size default: longer messages are cut.
constexpr size_t kMaxMessage = 8192;
// Alarm commands running at once; beyond that an alarm is logged, not run (a storm of slow
// commands must not fill the process table).
constexpr size_t kMaxCommands = 16;
// Datagrams read per wakeup, so that a flood of matching lines cannot hold the master.
constexpr int kMaxDatagramsPerWakeup = 256;
constexpr int64_t kSecondNs = 1'000'000'000;

// The alarm actions uWSGI's core and plugins offer that kiln does not.
constexpr std::string_view kUnsupportedActions[] = {"signal", "mule", "curl", "xmpp", "mqtt"};

// What the log hook needs, set by Alarms::Start before the fork; every process has its copy.
struct LogRule {
  std::unique_ptr<const RE2> regex;  // RE2 as log-route: linear time on client-controlled lines
  bool negate = false;
  bool has_alarms = false;
};
std::vector<LogRule>* g_rules = nullptr;

std::unique_ptr<const RE2> CompileRule(const std::string& regex) {
  RE2::Options options;
  options.set_log_errors(false);
  return std::make_unique<const RE2>(re2::StringPiece(regex.data(), regex.size()), options);
}
int g_log_fd = -1;
// The master sets it while it runs an action: a `log:` alarm's own line must not raise alarms.
std::atomic<bool> g_quiet{false};

// The log hook: runs on any thread of any process, with the logger's lock held. Only a
// non-blocking send; a full socket drops the match (the master is flooded already).
void OnLogLine(std::string_view line) {
  if (g_quiet.load(std::memory_order_relaxed) || g_rules == nullptr) return;
  for (size_t i = 0; i < g_rules->size(); ++i) {
    const LogRule& rule = (*g_rules)[i];
    if (!RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *rule.regex)) continue;
    if (rule.negate) return;  // not-log-alarm: this line raises nothing after this rule
    char buf[kMaxMessage + 16];
    int n = absl::SNPrintF(buf, sizeof(buf), "%d ", i);
    size_t len = std::min(line.size(), sizeof(buf) - static_cast<size_t>(n));
    std::memcpy(buf + n, line.data(), len);
    (void)send(g_log_fd, buf, static_cast<size_t>(n) + len, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
}

absl::Status InOption(std::string_view option, std::string_view value, const absl::Status& s) {
  return absl::InvalidArgumentError(
      absl::StrFormat("option `%s = %s`: %s", option, value, s.message()));
}

std::string SignalText(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "Segmentation Fault";
    case SIGFPE:
      return "Floating Point Exception";
    default:
      return absl::StrFormat("signal %d", sig);
  }
}

}  // namespace

absl::StatusOr<AlarmSpec> ParseAlarm(std::string_view text) {
  text = base::Sv(absl::StripAsciiWhitespace(base::Av(text)));
  size_t space = text.find(' ');
  size_t colon = space == std::string_view::npos ? space : text.find(':', space + 1);
  if (space == std::string_view::npos || colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        "expected `NAME ACTION:ARGUMENT`, such as `mail cmd:mail -s alarm ops@example.com`");
  }
  AlarmSpec a;
  a.name = std::string(text.substr(0, space));
  a.action = std::string(absl::StripAsciiWhitespace(base::Av(text.substr(space + 1, colon - space - 1))));
  a.arg = std::string(text.substr(colon + 1));
  if (a.action == "cmd" || a.action == "log") {
    if (a.action == "cmd" && a.arg.empty()) {
      return absl::InvalidArgumentError("the `cmd` action needs a command to run");
    }
    return a;
  }
  for (std::string_view u : kUnsupportedActions) {
    if (a.action == u) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the alarm action `%s` is not supported by kiln (it has `cmd` and `log`; `cmd` can "
          "run any notifier, e.g. `cmd:curl -s -d @- https://...`)",
          a.action));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown alarm action `%s` (kiln has `cmd` and `log`)", a.action));
}

absl::StatusOr<AlarmOptions> ReadAlarmOptions(const config::Config& cfg) {
  AlarmOptions o;
  o.freq = cfg.GetDuration("alarm-freq");
  std::set<std::string> names;
  for (const std::string& text : cfg.GetList("alarm")) {
    auto a = ParseAlarm(text);
    if (!a.ok()) return InOption("alarm", text, a.status());
    if (!names.insert(a->name).second) {
      return InOption("alarm", text, absl::InvalidArgumentError(absl::StrFormat(
                                         "an alarm named `%s` exists already", a->name)));
    }
    o.alarms.push_back(std::move(*a));
  }
  auto known = [&](std::string_view option, const std::string& text,
                   const std::string& name) -> absl::Status {
    if (names.count(name) != 0) return absl::OkStatus();
    return InOption(option, text, absl::InvalidArgumentError(absl::StrFormat(
                                      "no `alarm` is named `%s`", name)));
  };
  for (const char* option : {"alarm-segfault", "alarm-listen-queue"}) {
    for (const std::string& text : cfg.GetList(option)) {
      std::string name(absl::StripAsciiWhitespace(text));
      if (absl::Status s = known(option, text, name); !s.ok()) return s;
      (std::string_view(option) == "alarm-segfault" ? o.segfault : o.listen_queue)
          .push_back(name);
    }
  }
  // log-alarm and not-log-alarm keep their relative order: a not-log-alarm stops the rules
  // after it. The registry keeps each list apart, so the negations go first, as a line that
  // should raise nothing should not raise the earlier alarms either.
  for (const char* option : {"not-log-alarm", "log-alarm"}) {
    for (const std::string& text : cfg.GetList(option)) {
      std::string_view t = base::Sv(absl::StripAsciiWhitespace(text));
      size_t space = t.find(' ');
      if (space == std::string_view::npos) {
        return InOption(option, text,
                        absl::InvalidArgumentError("expected `NAME[,NAME...] REGEX`"));
      }
      LogAlarmSpec rule;
      rule.negate = std::string_view(option) == "not-log-alarm";
      rule.regex = std::string(absl::StripLeadingAsciiWhitespace(base::Av(t.substr(space + 1))));
      for (absl::string_view n : absl::StrSplit(base::Av(t.substr(0, space)), ',', absl::SkipEmpty())) {
        if (absl::Status s = known(option, text, std::string(n)); !s.ok()) return s;
        rule.alarms.emplace_back(n);
      }
      if (std::unique_ptr<const RE2> check = CompileRule(rule.regex); !check->ok()) {
        return InOption(option, text, absl::InvalidArgumentError(absl::StrFormat(
                                          "bad regular expression: %s", check->error())));
      }
      o.log_alarms.push_back(std::move(rule));
    }
  }
  const bool triggers = !o.log_alarms.empty() || !o.segfault.empty() || !o.listen_queue.empty();
  // kiln runs a master with `master = true` or more than one process (docs/decisions.md 35).
  if ((!o.alarms.empty() || triggers) && !cfg.GetFlag("master") &&
      cfg.GetNumber("processes") <= 1) {
    return absl::InvalidArgumentError(
        "the alarm options need `master = true`: the master raises the alarms (as uWSGI)");
  }
  return o;
}

Alarms::Alarms(const AlarmOptions& options, Master& master)
    : master_(master),
      freq_(options.freq),
      log_alarms_(options.log_alarms),
      segfault_(options.segfault),
      listen_queue_(options.listen_queue) {
  for (const AlarmSpec& a : options.alarms) {
    instances_[a.name].spec = a;
  }
}

absl::StatusOr<std::unique_ptr<Alarms>> Alarms::Start(const AlarmOptions& options,
                                                      Master& master) {
  if (options.empty()) return nullptr;
  std::unique_ptr<Alarms> alarms(new Alarms(options, master));
  if (!options.log_alarms.empty()) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) {
      return base::ErrnoError(errno, "socketpair", "log-alarm");
    }
    alarms->read_end_ = base::UniqueFd(fds[0]);
    g_log_fd = fds[1];  // every process writes to it for the rest of its life
    auto* rules = new std::vector<LogRule>;
    for (const LogAlarmSpec& spec : options.log_alarms) {
      rules->push_back(LogRule{CompileRule(spec.regex), spec.negate, !spec.alarms.empty()});
    }
    delete g_rules;
    g_rules = rules;
    log::SetLineObserver(OnLogLine);
    Alarms* self = alarms.get();
    master.Watch(alarms->read_end_.Get(), POLLIN, [self](short) { self->OnLogDatagrams(); });
  }
  std::vector<std::string> names;
  for (const auto& [name, instance] : alarms->instances_) {
    names.push_back(absl::StrFormat("%s (%s)", name, instance.spec.action));
  }
  log::Notice("alarms: %s; alarm-freq %s", absl::StrJoin(names, ", "),
              absl::FormatDuration(options.freq));
  return alarms;
}

Alarms::~Alarms() {
  if (read_end_) {
    log::SetLineObserver(nullptr);
    master_.Unwatch(read_end_.Get());
  }
}

void Alarms::OnLogDatagrams() {
  char buf[kMaxMessage + 16];
  for (int i = 0; i < kMaxDatagramsPerWakeup; ++i) {
    ssize_t n = recv(read_end_.Get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) return;
    std::string_view d(buf, static_cast<size_t>(n));
    size_t space = d.find(' ');
    size_t index = 0;
    if (space == std::string_view::npos ||
        std::from_chars(d.data(), d.data() + space, index).ec != std::errc() ||
        index >= log_alarms_.size()) {
      continue;
    }
    for (const std::string& name : log_alarms_[index].alarms) {
      Raise(name, d.substr(space + 1));
    }
  }
}

void Alarms::OnWorkerExit(int id, pid_t pid, int status) {
  if (segfault_.empty() || !WIFSIGNALED(status) ||
      (WTERMSIG(status) != SIGSEGV && WTERMSIG(status) != SIGFPE)) {
    return;
  }
  std::string message = absl::StrFormat("worker %d (pid: %d) got %s (killed by signal %d)", id,
                                        pid, SignalText(WTERMSIG(status)), WTERMSIG(status));
  for (const std::string& name : segfault_) Raise(name, message);
}

void Alarms::Tick(int64_t now_ns, const std::vector<BoundSocket>& sockets) {
  if (listen_queue_.empty() || now_ns < next_queue_check_ns_) return;
  next_queue_check_ns_ = now_ns + kSecondNs;  // uWSGI's master checks once a second
  for (const BoundSocket& s : sockets) {
    auto q = ReadListenQueue(s.fd.Get());
    if (!q || q->length <= 0 || q->length < q->max) continue;
    std::string message =
        absl::StrFormat("listen queue of socket \"%s\" (fd: %d) full !!! (%d/%d)",
                        s.bound.ToString(), s.fd.Get(), q->length, q->max);
    log::Warn("*** %s ***", message);
    for (const std::string& name : listen_queue_) Raise(name, message);
  }
}

bool Alarms::OnExit(pid_t pid) { return commands_.erase(pid) != 0; }

void Alarms::Raise(const std::string& name, std::string_view message) {
  auto it = instances_.find(name);
  if (it == instances_.end()) return;  // names were checked when the options were read
  if (message.size() > kMaxMessage) message = message.substr(0, kMaxMessage);
  Instance& instance = it->second;
  const int64_t now = MonotonicNanos();
  // uWSGI's anti-loop: the same message as last time raises the alarm again only after
  // alarm-freq; a different message raises it at once.
  if (instance.last_run_ns >= 0 && message == instance.last_message &&
      now - instance.last_run_ns < absl::ToInt64Nanoseconds(freq_)) {
    return;
  }
  instance.last_run_ns = now;
  instance.last_message.assign(message);
  g_quiet.store(true, std::memory_order_relaxed);
  Run(instance, message);
  g_quiet.store(false, std::memory_order_relaxed);
}

void Alarms::Run(Instance& instance, std::string_view message) {
  if (instance.spec.action == "log") {
    log::Warn("ALARM: %s%s", instance.spec.arg.empty() ? "" : instance.spec.arg + " ", message);
    return;
  }
  RunCommand(instance, message);
}

// The command reads the message on its stdin: a pipe filled before the fork and closed, so the
// master never waits for the command to read (the message fits the pipe; a longer write is cut
// rather than waited for).
void Alarms::RunCommand(const Instance& instance, std::string_view message) {
  if (commands_.size() >= kMaxCommands) {
    log::Error("alarm %s: %d alarm commands still running; not running `%s` for: %s",
               instance.spec.name, commands_.size(), instance.spec.arg, message);
    return;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    log::Error("alarm %s: pipe: %s", instance.spec.name, base::ErrnoText(errno));
    return;
  }
  base::UniqueFd in(p[0]);
  base::UniqueFd out(p[1]);
  fcntl(out.Get(), F_SETFL, O_NONBLOCK);
  std::string text(message);
  if (text.empty() || text.back() != '\n') text.push_back('\n');
  (void)write(out.Get(), text.data(), text.size());
  out.Reset();
  pid_t pid = fork();
  if (pid < 0) {
    log::Error("alarm %s: cannot fork: %s", instance.spec.name, base::ErrnoText(errno));
    return;
  }
  if (pid == 0) {
    ResetSignalsForChild();
    if (dup2(in.Get(), STDIN_FILENO) < 0) _exit(127);
    execl("/bin/sh", "sh", "-c", instance.spec.arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  commands_.insert(pid);
  log::Notice("alarm %s: running `%s` (pid: %d)", instance.spec.name, instance.spec.arg, pid);
}

}  // namespace kiln::process
