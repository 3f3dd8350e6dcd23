#include "core/base/edit_distance.h"

#include "gtest/gtest.h"

namespace kiln::base {
namespace {

TEST(EditDistance, CountsATranspositionAsOneEdit) {
  EXPECT_EQ(EditDistance("vaccum", "vacuum"), 1u);
  EXPECT_EQ(EditDistance("master", "master"), 0u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("proceses", "processes"), 1u);
}

TEST(Suggest, FindsTheTyposRealFilesCarry) {
  std::vector<std::string_view> opts = {"vacuum", "chmod-socket", "max-requests", "master",
                                        "processes", "socket"};
  EXPECT_EQ(Suggest("vaccum", opts), "vacuum");
  EXPECT_EQ(Suggest("chmod-sock", opts), "chmod-socket");
  EXPECT_EQ(Suggest("maximum-requests", opts), "max-requests");
  EXPECT_EQ(Suggest("procesess", opts), "processes");
}

TEST(Suggest, OffersNothingForUnrelatedNames) {
  std::vector<std::string_view> opts = {"vacuum", "master", "socket"};
  EXPECT_EQ(Suggest("app_config_path", opts), "");
  EXPECT_EQ(Suggest("x", opts), "");
}

}  // namespace
}  // namespace kiln::base
