// ServeOptions read from a real configuration (command-line form), with uWSGI's option names
// and the errors a wrong value gets.
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/option_registry.h"
#include "core/net/serve_loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::net {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<ServeOptions> FromArgs(std::vector<std::string> args) {
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  config::Diagnostics diag;
  auto raw = config::ReadConfig(args, registry, diag);
  if (!raw.ok()) return raw.status();
  auto cfg = config::Resolve(*raw, registry, nullptr, diag);
  if (!cfg.ok()) return cfg.status();
  return ServeOptions::FromConfig(*cfg);
}

TEST(ServeOptions, DefaultsAreUwsgisExceptBufferSize) {
  auto o = FromArgs({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->buffer_size, 65535u);
  EXPECT_EQ(o->socket_timeout, absl::Seconds(4));
  EXPECT_EQ(o->http_timeout, absl::Seconds(60));
  EXPECT_EQ(o->http_keepalive, 1);
  EXPECT_EQ(o->threads, 1);
  EXPECT_FALSE(o->disable_logging);
  EXPECT_TRUE(o->log_format.empty());
}

TEST(ServeOptions, KeepaliveDrainOutlastsNginxAndStaysBelowTheMercy) {
  auto o = FromArgs({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->keepalive_drain, absl::Seconds(15));  // conf/nginx sets keepalive_timeout 10s
  auto capped = FromArgs({"--http-keepalive-drain", "30", "--worker-reload-mercy", "20"});
  ASSERT_TRUE(capped.ok()) << capped.status();
  EXPECT_EQ(capped->keepalive_drain, absl::Seconds(19));
  auto zero = FromArgs({"--http-keepalive-drain", "0"});
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(zero->keepalive_drain, absl::ZeroDuration());
}

TEST(ServeOptions, ReadsEveryOption) {
  auto o = FromArgs({"--buffer-size", "8192", "--limit-post", "1m", "--post-buffering", "4096",
                     "--socket-timeout", "10", "--http-timeout", "5", "--http-keepalive", "0",
                     "--threads", "4", "--disable-logging", "--log-4xx", "--log-5xx",
                     "--memory-report", "--ignore-write-errors", "--disable-write-exception",
                     "--log-format", "%(method) %(uri)", "--static-map", "/s=/tmp",
                     "--static-map", "/t=/usr"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->buffer_size, 8192u);
  EXPECT_EQ(o->limit_post, 1024u * 1024u);
  EXPECT_EQ(o->post_buffering, 4096u);
  EXPECT_EQ(o->socket_timeout, absl::Seconds(10));
  EXPECT_EQ(o->http_timeout, absl::Seconds(5));
  EXPECT_EQ(o->http_keepalive, 0);
  EXPECT_EQ(o->threads, 4);
  EXPECT_TRUE(o->disable_logging && o->log_4xx && o->log_5xx && o->memory_report &&
              o->ignore_write_errors && o->disable_write_exception);
  EXPECT_EQ(o->log_format, "%(method) %(uri)");
  ASSERT_EQ(o->static_maps.size(), 2u);
  EXPECT_EQ(o->static_maps[1], (std::pair<std::string, std::string>("/t", "/usr")));
}

// uWSGI's defaults (30 s, 3 s) and its plural spellings; 0 turns the pings off; a value that
// is negative or not a number of seconds, or a tolerance of zero, stops the start.
TEST(ServeOptions, WebSocketPingFreqAndPongTolerance) {
  auto o = FromArgs({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->websocket_ping_freq, absl::Seconds(30));
  EXPECT_EQ(o->websocket_pong_tolerance, absl::Seconds(3));
  auto plural = FromArgs({"--websockets-ping-freq", "0", "--websockets-pong-tolerance", "500ms"});
  ASSERT_TRUE(plural.ok()) << plural.status();
  EXPECT_EQ(plural->websocket_ping_freq, absl::ZeroDuration());
  EXPECT_EQ(plural->websocket_pong_tolerance, absl::Milliseconds(500));
  for (const char* bad : {"-1", "soon", "10 parsecs"}) {
    auto b = FromArgs({"--websocket-ping-freq", bad});
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_THAT(std::string(b.status().message()), HasSubstr("websocket-ping-freq")) << bad;
  }
  // A uWSGI file's 0 starts, as under uWSGI (whose whole-second clock waits up to 1 s).
  auto zero = FromArgs({"--websocket-pong-tolerance", "0"});
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(zero->websocket_pong_tolerance, absl::Seconds(1));
  auto negative = FromArgs({"--websocket-pong-tolerance", "-1"});
  ASSERT_FALSE(negative.ok());
  EXPECT_THAT(std::string(negative.status().message()), HasSubstr("websocket-pong-tolerance"));
}

TEST(ServeOptions, RefusesABufferSizeNginxCannotFill) {
  auto o = FromArgs({"--buffer-size", "100000"});
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("buffer-size"));
}

TEST(ServeOptions, NamesABadStaticMap) {
  auto no_eq = FromArgs({"--static-map", "/s"});
  ASSERT_FALSE(no_eq.ok());
  EXPECT_THAT(std::string(no_eq.status().message()), HasSubstr("/mountpoint=/directory"));
  auto missing = FromArgs({"--static-map", "/s=/nonexistent/kiln"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/kiln"));
}

}  // namespace
}  // namespace kiln::net
