// The emperor's state as uWSGI's emperor stats document (the same keys, so tools written for
// uWSGI's emperor read it), and the `emperor-stats` server that writes one document per
// connection from the emperor's poll loop without ever blocking it.
// EmperorStatsJson is the whole document: an HTTP front (the stats server's HTTP side) serves
// the same string.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/unique_fd.h"

namespace kiln::emperor {

struct VassalStats {
  std::string id;  // the file's name
  pid_t pid = 0;   // 0 while not running
  // Unix seconds, 0 for never.
  int64_t born = 0;
  int64_t last_mod = 0;
  int64_t last_heartbeat = 0;
  bool loyal = false;
  bool ready = false;
  bool accepting = false;
  int64_t last_loyal = 0;
  int64_t last_ready = 0;
  int64_t last_accepting = 0;
  int64_t first_run = 0;
  int64_t last_run = 0;
  int64_t cursed = 0;  // when it was asked to stop
  uid_t uid = 0;
  gid_t gid = 0;
  std::string monitor;  // the `emperor` source that found it
  int respawns = 0;
};

struct BlacklistStats {
  std::string id;
  int64_t throttle_level = 0;  // current delay before the next attempt, milliseconds
  int attempt = 0;
  int64_t first_attempt = 0;
  int64_t last_attempt = 0;
};

struct EmperorStats {
  std::string version;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string cwd;
  std::vector<std::string> emperor;  // the sources
  bool tyrant = false;
  int64_t throttle_level = 0;  // the highest blacklist delay, milliseconds
  std::vector<VassalStats> vassals;
  std::vector<BlacklistStats> blacklist;
};

// Pure: the JSON document, keys as uWSGI 2.0 writes them (booleans as 0/1, times as unix
// seconds), strings escaped per RFC 8259.
std::string EmperorStatsJson(const EmperorStats& s);

// The listening side. Accepts, queues the document and writes it as the socket takes it;
// a client that reads nothing for 5 s is dropped, and at most 64 are served at once.
class StatsServer {
 public:
  // `address`: host:port (IPv4, or [v6]:port) or a unix socket path (an existing socket
  // file there is replaced, never another kind of file).
  absl::Status Open(const std::string& address);
  bool open() const { return static_cast<bool>(listen_); }
  // Appends the descriptors to poll; OnPoll takes them back (same order) after poll.
  void AddPollFds(std::vector<pollfd>* fds) const;
  // `doc` is asked for only when a client connected.
  template <typename DocFn>
  void OnPoll(const pollfd* fds, int64_t now_ns, DocFn doc) {
    if (!listen_) return;
    Flush(fds + 1, now_ns);  // the clients polled, before new ones join
    if (fds[0].revents & POLLIN) Accept(now_ns, doc());
  }
  void Close();

 private:
  struct Client {
    base::UniqueFd fd;
    std::string out;
    size_t sent = 0;
    int64_t deadline_ns = 0;
  };
  void Accept(int64_t now_ns, const std::string& doc);
  void Flush(const pollfd* fds, int64_t now_ns);

  base::UniqueFd listen_;
  std::string unix_path_;  // removed at Close
  std::vector<Client> clients_;
};

}  // namespace kiln::emperor
