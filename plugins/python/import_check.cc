// The master's check of the apps that will run in sub-interpreters: each is imported in a
// sub-interpreter of a short-lived child process, which reports tracebacks through a pipe. The
// master itself never makes (nor has to end) a sub-interpreter, and forks nothing left over.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "py_runtime.h"

namespace kiln::python {
namespace {

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The child: one record per app ("F <index> <length>\n<traceback>" for a failure), then "D\n".
[[noreturn]] void RunChecks(const std::vector<const App*>& apps, int fd) {
  PyOS_AfterFork_Child();  // this thread holds the GIL, as in a worker
  ForgetSubInterpreters();
  PyThreadState* main = PyThreadState_Get();
  std::string out;
  for (size_t i = 0; i < apps.size(); ++i) {
    std::string traceback;
    Interp* in = NewAppInterpreter(main, &traceback);
    if (in != nullptr) {
      PyObject* callable = ImportApp(*apps[i], &traceback);
      if (callable != nullptr) traceback.clear();
      SwitchToMain(main);  // the interpreter is left as it is: the process ends here
    }
    if (!traceback.empty()) {
      out += "F " + std::to_string(i) + " " + std::to_string(traceback.size()) + "\n" + traceback;
    }
  }
  out += "D\n";
  ::_exit(WriteAll(fd, out) ? 0 : 1);
}

// Parses the child's report into `failures`; false when it is cut short.
bool ParseReport(const std::string& report, std::vector<std::string>* failures) {
  size_t pos = 0;
  while (pos < report.size()) {
    if (report.compare(pos, 2, "D\n") == 0) return true;
    size_t index = 0, length = 0;
    int used = 0;
    if (std::sscanf(report.c_str() + pos, "F %zu %zu\n%n", &index, &length, &used) != 2 ||
        used == 0 || index >= failures->size() || pos + used + length > report.size()) {
      return false;
    }
    (*failures)[index] = report.substr(pos + used, length);
    pos += used + length;
  }
  return false;
}

}  // namespace

std::vector<std::string> CheckImportsInChild(const std::vector<const App*>& apps) {
  std::vector<std::string> failures(apps.size());
  auto fail_all = [&](const std::string& why) {
    for (std::string& f : failures) f = why;
    return failures;
  };
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return fail_all(std::string("cannot check the app: pipe2: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return fail_all(std::string("cannot check the app: fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    ::close(fds[0]);
    RunChecks(apps, fds[1]);
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  Py_BEGIN_ALLOW_THREADS
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(buf, static_cast<size_t>(n));
  }
  Py_END_ALLOW_THREADS
  ::close(fds[0]);
  int status = 0;
  pid_t waited;
  do {
    waited = ::waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (!ParseReport(report, &failures)) {
    std::string how = "ended before reporting";
    if (waited == pid && WIFSIGNALED(status)) {
      how = "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
            strsignal(WTERMSIG(status)) + ")";
    } else if (waited == pid && WIFEXITED(status)) {
      how = "exited with code " + std::to_string(WEXITSTATUS(status)) + " before reporting";
    }
    return fail_all("the process importing the app in a sub-interpreter " + how +
                    " (a C extension that crashes in sub-interpreters? try single-interpreter)");
  }
  return failures;
}

}  // namespace kiln::python
