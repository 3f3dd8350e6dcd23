// Helpers for log tests: a temp directory removed afterwards, file contents, a capturing sink.
#pragma once

#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/log/logger.h"
#include "gtest/gtest.h"

namespace kiln::log::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-log-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf " + dir_;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

// Records lines; optionally fails every write.
class CaptureSink : public Sink {
 public:
  explicit CaptureSink(std::vector<std::string>* lines, bool fail = false)
      : lines_(lines), fail_(fail) {}
  void Write(std::string_view line) override {
    if (fail_) {
      RecordFailure("No space left on device");
      return;
    }
    lines_->emplace_back(line);
  }
  std::string Describe() const override { return "capture"; }

 private:
  std::vector<std::string>* lines_;
  bool fail_;
};

}  // namespace kiln::log::testing
