// The host's logging entry for plugins (kiln_host_api.log_write): a multi-line message (a
// traceback) keeps its lines, but only the first reads as a record; request data smuggled
// into a later line cannot pass for a line of its own.
#include <string>
#include <vector>

#include "core/log/logger.h"
#include "core/plugin/host_api.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"

namespace kiln::plugin {
namespace {

using ::testing::ElementsAre;

class HostLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<log::Sink>> s;
    s.push_back(std::make_unique<log::testing::CaptureSink>(&lines_));
    log::SetServerSinks(std::move(s));
  }
  void TearDown() override { log::SetServerSinks({}); }
  void Write(kiln_log_level level, std::string_view text) {
    HostApi()->log_write(nullptr, level, kiln_str{text.data(), text.size()});
  }
  std::vector<std::string> lines_;
};

TEST_F(HostLogTest, ContinuationLinesAreMarkedAndControlBytesEscaped) {
  Write(KILN_LOG_ERROR,
        "error in WSGI app `app:app` for GET /raise\n[pid: 99|app: 0|req: 1/1] FORGED\r:\n"
        "Traceback (most recent call last):\n  File \"app.py\", line 3\x1b[8m\n");
  EXPECT_THAT(lines_, ElementsAre("error: plugin: error in WSGI app `app:app` for GET /raise\n",
                                  "error: plugin| [pid: 99|app: 0|req: 1/1] FORGED\\x0d:\n",
                                  "error: plugin| Traceback (most recent call last):\n",
                                  "error: plugin|   File \"app.py\", line 3\\x1b[8m\n"));
}

TEST_F(HostLogTest, OneLineMessagesAreUnchanged) {
  Write(KILN_LOG_INFO, "app ready\n");
  EXPECT_THAT(lines_, ElementsAre("plugin: app ready\n"));
}

}  // namespace
}  // namespace kiln::plugin
