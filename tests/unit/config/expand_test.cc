// Tests of magic variables and reference expansion ($(), @(), %(), arithmetic).
#include "core/config/expand.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/config/test_util.h"

namespace kiln::config {
namespace {

using testing::FixedHost;

MagicContext Ctx(const FixedHost& host) {
  MagicContext ctx;
  ctx.host = &host;
  ctx.file = MagicFile{"/etc/kiln/sites/shop.ini", "sites/shop.ini", "uwsgi"};
  ctx.first = MagicFile{"/etc/kiln/main.conf.ini", "main.conf.ini", "kiln"};
  return ctx;
}

TEST(Magic, FileVariablesDescribeTheConfigFile) {
  FixedHost host;
  std::string unknown;
  EXPECT_EQ(ExpandMagic("%d|%p|%s|%n|%e|%c|%x|%o", Ctx(host), &unknown),
            "/etc/kiln/sites/|/etc/kiln/sites/shop.ini|shop.ini|shop|ini|sites|uwsgi|"
            "sites/shop.ini");
  EXPECT_EQ(ExpandMagic("%0/%1/%2/%3/%4", Ctx(host), &unknown), "etc/kiln/sites/shop.ini/");
  EXPECT_EQ(ExpandMagic("%D %N %X", Ctx(host), &unknown), "/etc/kiln/ main.conf kiln");
  EXPECT_EQ(ExpandMagic("%j", Ctx(host), &unknown).size(), 8u);
  EXPECT_EQ(unknown, "");
}

TEST(Magic, GlobalVariablesComeFromTheHost) {
  FixedHost host;
  std::string unknown;
  EXPECT_EQ(ExpandMagic("%h %k %u %U %g %G %v %t %T 100%%", Ctx(host), &unknown),
            "web1 4 33 www-data 34 www-group /srv/cwd 1700000000 1700000000123456 100%");
  EXPECT_FALSE(ExpandMagic("%V", Ctx(host), &unknown).empty());
}

TEST(Magic, UnknownLetterIsEmptyAndReported) {
  FixedHost host;
  std::string unknown;
  EXPECT_EQ(ExpandMagic("%Y-%m-%d", Ctx(host), &unknown), "--/etc/kiln/sites/");
  EXPECT_EQ(unknown, "Ym");
}

TEST(Magic, LeavesReferencesAndTrailingPercentAlone) {
  FixedHost host;
  std::string unknown;
  EXPECT_EQ(ExpandMagic("%(name) 5%", Ctx(host), &unknown), "%(name) 5%");
}

RefHooks Hooks() {
  RefHooks h;
  h.env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "HOME") return "/root";
    if (n == "INNER") return "HOME";
    return std::nullopt;
  };
  h.file = [](const std::string& p) -> absl::StatusOr<std::string> {
    if (p == "/v") return "1.2";
    return absl::NotFoundError("no " + p);
  };
  h.placeholder = [](const std::string& n) -> std::optional<std::string> {
    if (n == "processes") return "8";
    if (n == "name") return "shop";
    return std::nullopt;
  };
  return h;
}

TEST(Refs, ExpandsEnvFileAndPlaceholders) {
  std::vector<std::string> unresolved;
  auto v = ExpandRefs("$(HOME)/@(/v)/%(name)", Hooks(), &unresolved);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "/root/1.2/shop");
  EXPECT_TRUE(unresolved.empty());
}

TEST(Refs, NestedReferencesExpandInsideFirst) {
  std::vector<std::string> unresolved;
  EXPECT_EQ(*ExpandRefs("$($(INNER))", Hooks(), &unresolved), "/root");
}

TEST(Refs, ArithmeticRunsLeftToRight) {
  std::vector<std::string> unresolved;
  EXPECT_EQ(*ExpandRefs("%(4 * 2)", Hooks(), &unresolved), "8");
  EXPECT_EQ(*ExpandRefs("%(processes + 2 * 3)", Hooks(), &unresolved), "30");
  EXPECT_EQ(*ExpandRefs("%(processes / 3 - 1)", Hooks(), &unresolved), "1");
  EXPECT_EQ(*ExpandRefs("%(processes ++)", Hooks(), &unresolved), "9");
  EXPECT_TRUE(unresolved.empty());
}

TEST(Refs, UnresolvableStaysVerbatim) {
  std::vector<std::string> unresolved;
  EXPECT_EQ(*ExpandRefs("%(nope) $(UNSET) %(1 / 0) %(x", Hooks(), &unresolved),
            "%(nope) $(UNSET) %(1 / 0) %(x");
  EXPECT_THAT(unresolved, ::testing::ElementsAre("%(nope)", "$(UNSET)", "%(1 / 0)"));
}

TEST(Refs, MissingFileIsAnError) {
  std::vector<std::string> unresolved;
  EXPECT_FALSE(ExpandRefs("@(/missing)", Hooks(), &unresolved).ok());
}

TEST(Refs, ReferencedNamesListsPlaceholdersAndOperands) {
  EXPECT_THAT(ReferencedNames("%(a) x %(b * c) %(%(d))"),
              ::testing::IsSupersetOf({"a", "b", "c", "d"}));
}

}  // namespace
}  // namespace kiln::config
