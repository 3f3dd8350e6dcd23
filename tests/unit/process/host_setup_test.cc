// env/unenv handling and the re-exec binary path.
#include "core/process/host_setup.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace kiln::process {
namespace {

TEST(ApplyEnvironment, SetsAndRemovesVariables) {
  setenv("KILN_TEST_GONE", "x", 1);
  ASSERT_TRUE(ApplyEnvironment({"KILN_TEST_A=1=2", "KILN_TEST_EMPTY"}, {"KILN_TEST_GONE"}).ok());
  EXPECT_STREQ(std::getenv("KILN_TEST_A"), "1=2");
  EXPECT_STREQ(std::getenv("KILN_TEST_EMPTY"), "");
  EXPECT_EQ(std::getenv("KILN_TEST_GONE"), nullptr);
}

TEST(ApplyEnvironment, RejectsAnEntryWithoutAName) {
  auto s = ApplyEnvironment({"=value"}, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("NAME=VALUE"), std::string::npos);
}

TEST(SelfExePath, NamesTheRunningBinary) {
  std::string path = SelfExePath();
  EXPECT_EQ(path.front(), '/');
  EXPECT_NE(path.find("process_unit_test"), std::string::npos);
}

}  // namespace
}  // namespace kiln::process
