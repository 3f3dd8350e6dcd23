// The compiled uWSGI option table against the tsv files it is built from, and the real files'
// options (uwsgi_option_usage.tsv) against the registry: each is a kiln option or a uWSGI
// option kiln reports as not supported, never a typo.
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "core/config/option_registry.h"
#include "core/config/uwsgi_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

// Rows `name<TAB>second column` of a tsv in the source tree, header and comments skipped.
std::map<std::string, std::string> ReadTsv(const std::string& rel) {
  const char* src = std::getenv("KILN_SOURCE_DIR");
  std::ifstream in(std::string(src != nullptr ? src : KILN_TEST_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(in.good()) << rel;
  std::map<std::string, std::string> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    rows.emplace(cols[0], cols.size() > 1 ? cols[1] : "");
  }
  return rows;
}

TEST(UwsgiOptionTable, HoldsEveryNameOfTheTsvFilesWithItsOwner) {
  std::map<std::string, std::string> want = ReadTsv("core/config/uwsgi_option_names.tsv");
  EXPECT_EQ(want.size(), 1058u);  // uWSGI 2.0.21's long option names
  std::map<std::string, std::string> extra = ReadTsv("core/config/uwsgi_option_names_extra.tsv");
  EXPECT_GE(extra.size(), 40u);
  want.insert(extra.begin(), extra.end());
  std::map<std::string, std::string> have;
  for (const UwsgiOption& o : UwsgiOptions()) have.emplace(o.name, o.owner);
  EXPECT_EQ(have, want);
  ASSERT_NE(FindUwsgiOption("master"), nullptr);  // a short-form option (-M), from the extra tsv
  EXPECT_EQ(FindUwsgiOption("gevent")->owner, "gevent");
  EXPECT_EQ(FindUwsgiOption("py-tracebacker")->owner, "python311");
  EXPECT_EQ(FindUwsgiOption("gevnt"), nullptr);
}

// Every option the real files use is one kiln has (core's table here; the python plugin's
// options are checked with the real plugin in kiln_cli_test) or a uWSGI option, which Resolve
// reports as "not supported": none can be taken for a typo.
TEST(UwsgiOptionTable, EveryOptionRealFilesUseIsKnown) {
  const OptionRegistry registry = OptionRegistry::WithCoreOptions();
  std::map<std::string, std::string> used = ReadTsv("tests/unit/config/uwsgi_option_usage.tsv");
  EXPECT_GT(used.size(), 140u);
  for (const auto& [name, files] : used) {
    EXPECT_TRUE(registry.Find(name) != nullptr || FindUwsgiOption(name) != nullptr) << name;
  }
}

TEST(UwsgiOptionTable, ReplacementsNameOnlyWhatKilnHas) {
  EXPECT_THAT(UwsgiReplacement("gevent-monkey-patch"), ::testing::HasSubstr("`threads`"));
  EXPECT_THAT(UwsgiReplacement("evil-reload-on-rss"), ::testing::StartsWith("use `reload-on-rss`"));
  EXPECT_THAT(UwsgiReplacement("http-processes"), ::testing::HasSubstr("no HTTP router"));
  EXPECT_EQ(UwsgiReplacement("honour-stdin"), "");
  // A replacement that names an option names one kiln has.
  const OptionRegistry registry = OptionRegistry::WithCoreOptions();
  for (const UwsgiOption& o : UwsgiOptions()) {
    const std::string text = UwsgiReplacement(o.name);
    if (!text.starts_with("use `")) continue;
    const std::string named = text.substr(5, text.find('`', 5) - 5);
    EXPECT_NE(registry.Find(named), nullptr) << o.name << " -> " << named;
  }
}

}  // namespace
}  // namespace kiln::config
