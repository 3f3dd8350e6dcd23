// For the tests of cheaper mode, the master FIFO and chain reloads: the master's children as
// the kernel sees them (sampled from /proc), a client loop that counts failed requests, and
// a writer for the master FIFO.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/types.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/lib/kiln_process.h"

namespace kiln::testing {

// The pids whose parent is `parent` (from /proc/<pid>/stat), zombies excluded.
inline std::set<pid_t> ChildPids(pid_t parent) {
  std::set<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) {
    return out;
  }
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') {
      continue;
    }
    std::ifstream f("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    if (!std::getline(f, line)) {
      continue;
    }
    size_t paren = line.rfind(')');  // the name may hold spaces and parentheses
    if (paren == std::string::npos) {
      continue;
    }
    std::istringstream rest(line.substr(paren + 2));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z') {
      out.insert(static_cast<pid_t>(pid));
    }
  }
  closedir(d);
  return out;
}

// ChildPids(parent) once it has `n` members (workers still forking are waited for); what it
// last saw when `timeout` passes first.
inline std::set<pid_t> WaitForChildren(pid_t parent, size_t n, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  std::set<pid_t> seen = ChildPids(parent);
  while (seen.size() != n && absl::Now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    seen = ChildPids(parent);
  }
  return seen;
}

// Requests back to back from one thread until stopped; counts the outcomes.
class ClientLoop {
 public:
  explicit ClientLoop(std::string address, std::string target = "/")
      : address_(std::move(address)), target_(std::move(target)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        auto r = HttpGet(address_, target_, absl::Seconds(20));
        if (r.ok() && r->status == 200) {
          ok_.fetch_add(1);
          std::lock_guard<std::mutex> lock(mu_);
          last_body_ = r->body;
        } else {
          failed_.fetch_add(1);
          std::lock_guard<std::mutex> lock(mu_);
          last_error_ = r.ok() ? "status " + std::to_string(r->status) : r.status().ToString();
        }
      }
    });
  }
  ~ClientLoop() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  int ok() const { return ok_.load(); }
  int failed() const { return failed_.load(); }
  std::string last_error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_error_;
  }
  std::string last_body() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_body_;
  }

 private:
  std::string address_;
  std::string target_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  mutable std::mutex mu_;
  std::string last_error_;
  std::string last_body_;
  std::thread thread_;
};

// Samples the number of the master's children every `period` until stopped.
class ChildSampler {
 public:
  ChildSampler(pid_t master, std::chrono::milliseconds period) {
    thread_ = std::thread([this, master, period] {
      while (!stop_.load()) {
        int n = static_cast<int>(ChildPids(master).size());
        {
          std::lock_guard<std::mutex> lock(mu_);
          samples_.push_back(n);
        }
        std::this_thread::sleep_for(period);
      }
    });
  }
  ~ChildSampler() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  std::vector<int> samples() const {
    std::lock_guard<std::mutex> lock(mu_);
    return samples_;
  }
  int last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return samples_.empty() ? -1 : samples_.back();
  }

 private:
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<int> samples_;
  std::thread thread_;
};

// Writes `commands` into the FIFO as an operator's `echo x > fifo` does.
inline bool FifoSend(const std::string& path, std::string_view commands) {
  int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  bool ok = write(fd, commands.data(), commands.size()) == static_cast<ssize_t>(commands.size());
  close(fd);
  return ok;
}

}  // namespace kiln::testing
