// Test helpers for integration tests: a short temp dir, the real `kiln` binary started with
// arguments and stopped by PID, its captured log, and the HTTP and uwsgi client every test uses.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::testing {

// A directory under /tmp with a short name (unix socket paths are limited to 107 bytes),
// removed with its contents at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes `content` to File(name) (creating the directories `name` names) and returns its path.
  std::string Write(std::string_view name, std::string_view content) const;
  // The whole content of a file ("" when it cannot be read).
  static std::string ReadFile(const std::string& path);
  // Replaces the content of the file at `path` (its directory must exist).
  static void WriteFile(const std::string& path, std::string_view content);

 private:
  std::string path_;
};

// True while `pid` exists and is not a zombie (an orphan reparented to an init that does not
// reap stays a zombie).
bool ProcessAlive(pid_t pid);

// "" when `path` is an executable, else the failure message naming it and the Debian package
// that provides it. What the README's `./dev deps` installs is part of the build: a test that
// needs it fails without it (ASSERT_EQ(MissingTool(...), "")), it never skips.
std::string MissingTool(std::string_view path, std::string_view package);

// In a child just forked to run a server: a process group of its own (so a stop can kill
// the whole group), stdout and stderr appended to `log_path`, stdin from /dev/null. Only
// async-signal-safe calls: the parent may have threads.
void SetUpServerChild(const char* log_path);

// $KILN_BIN, else $KILN_BINARY_DIR/core/kiln, else core/kiln in the build tree holding the
// running test binary, else "kiln".
std::string KilnBinary();

// $KILN_PLUGIN_BUILD_DIR: the directory of the built plugins (kiln's --plugin-dir), "" when
// unset.
std::string PluginDir();

// $KILN_SOURCE_DIR (the repository), else ".".
std::string SourceDir();

// One running kiln. stdout and stderr go to `log_path`. The destructor stops it (SIGKILL to
// its process group after SIGTERM and a short wait), so a failing test leaves nothing behind.
class KilnProcess {
 public:
  KilnProcess(std::vector<std::string> args, std::string log_path);
  ~KilnProcess();
  KilnProcess(const KilnProcess&) = delete;
  KilnProcess& operator=(const KilnProcess&) = delete;

  // Before Start(): an environment variable for kiln.
  void SetEnv(std::string name, std::string value) { env_[std::move(name)] = std::move(value); }
  // Before Start(): hands these listening fds to kiln as systemd socket activation does
  // (fds 3.., LISTEN_FDS, LISTEN_PID).
  void PassListenFds(std::vector<int> fds) { listen_fds_ = std::move(fds); }
  // Starts the binary with `args` (argv[0] is added). False when fork/exec failed.
  bool Start();
  pid_t pid() const { return pid_; }
  // The whole log so far.
  std::string Log() const;
  // Waits until the log contains `needle` `count` times; false on timeout or early exit.
  bool WaitForLog(std::string_view needle, absl::Duration timeout, int count = 1);
  // Sends `sig` to the master.
  void Signal(int sig) const;
  // Waits for the master to exit; its wait status, or nullopt on timeout.
  std::optional<int> WaitExit(absl::Duration timeout);
  bool running() const { return pid_ > 0 && !exited_; }
  // Pids of the workers from "spawned kiln worker N (pid: P" lines, latest per worker id.
  std::map<int, pid_t> WorkerPids() const;

 private:
  std::vector<std::string> args_;
  std::string log_path_;
  std::map<std::string, std::string> env_;
  std::vector<int> listen_fds_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// The one HTTP/uwsgi test client: every integration test talks to kiln through these.
struct Response {
  int status = 0;
  std::string head;      // status line and headers
  std::string body;      // de-chunked when the response was chunked
  bool chunked = false;  // the response said Transfer-Encoding: chunked
};

// Connects to a unix path or host:port. Returns the fd (close-on-exec) or an error.
absl::StatusOr<int> Connect(std::string_view address);
// Sends all of `data` on a connected socket (no SIGPIPE); false when the peer is gone.
bool SendAll(int fd, std::string_view data);
// Reads from a connected socket until the peer closes it, an error, or `idle` passes with
// nothing arriving (SO_RCVTIMEO); closes `fd` and returns what arrived. `error`, when given,
// gets the errno of a read that failed (ECONNRESET, EAGAIN after `idle`), else stays as it was.
std::string ReadAll(int fd, absl::Duration idle = absl::Seconds(10), int* error = nullptr);
// Sends `request` (raw bytes) on a new connection and returns the raw answer, read with
// ReadAll until the server closes; "" when the connection or the send failed.
std::string RawExchange(std::string_view address, std::string_view request,
                        absl::Duration idle = absl::Seconds(10));
// Sends `request` (raw bytes) on a new connection and reads until the server closes, sending
// and reading interleaved. A chunked body is decoded with the core's ChunkedDecoder; one that
// does not end with its last chunk is an error.
absl::StatusOr<Response> Exchange(std::string_view address, std::string_view request,
                                  absl::Duration timeout = absl::Seconds(10));
// The value of header `name` (any case) in r.head, "" when absent.
std::string HeaderOf(const Response& r, std::string_view name);
// One HTTP/1.1 request with Connection: close (Content-Length for a body or a POST).
absl::StatusOr<Response> HttpRequest(std::string_view address, std::string_view method,
                                     std::string_view target, std::string_view body = "",
                                     std::string_view content_type = "",
                                     absl::Duration timeout = absl::Seconds(10));
// GET `target` over HTTP/1.1 with Connection: close.
absl::StatusOr<Response> HttpGet(std::string_view address, std::string_view target,
                                 absl::Duration timeout = absl::Seconds(10));
// Appends one `key`/`value` pair to a uwsgi vars block (16-bit little-endian lengths).
void AppendUwsgiVar(std::string* out, std::string_view key, std::string_view value);
// A GET as nginx's uwsgi_pass sends it (uwsgi_params vars), with `modifier1` as nginx's
// uwsgi_modifier1 sets it.
absl::StatusOr<Response> UwsgiRequest(std::string_view address, uint8_t modifier1,
                                      std::string_view target,
                                      absl::Duration timeout = absl::Seconds(10));
// UwsgiRequest with modifier1 0.
absl::StatusOr<Response> UwsgiGet(std::string_view address, std::string_view target,
                                  absl::Duration timeout = absl::Seconds(10));
// A TCP port on 127.0.0.1 that was free a moment ago (0 when none could be found).
int FreeLoopbackPort();
// Polls until an HTTP GET of "/" answers 200; false after `timeout`.
bool WaitUntilHttpAnswers(std::string_view address, absl::Duration timeout);

// Polls until the file at `path` contains `needle`; false after `timeout`.
bool WaitForFile(const std::string& path, std::string_view needle, absl::Duration timeout);

// True when `needle` occurs in `haystack`.
bool Has(std::string_view haystack, std::string_view needle);
// The non-empty lines of `text`, without their newlines.
std::vector<std::string> Lines(const std::string& text);
// How many lines of `text` contain `needle`.
int CountLines(const std::string& text, std::string_view needle);
// How many times `needle` occurs in `text` (overlapping occurrences count).
int CountOf(std::string_view text, std::string_view needle);
// Polls until the file at `path` has `count` lines that contain `needle`; false after `timeout`.
bool WaitForLines(const std::string& path, std::string_view needle, int count,
                  absl::Duration timeout);

// Sets the modification time of `path` to now + `ahead_s`, creating it when missing (kiln
// compares mtimes of touch-* files, so the step must be visible even on coarse clocks).
void Touch(const std::string& path, int ahead_s);

}  // namespace kiln::testing
