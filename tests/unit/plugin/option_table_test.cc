// Plugin option tables (ABI 1.1): the host writes every kind into the plugin's settings before
// on_config_done, aliases join the one registry (help, suggestions, autoload), bad values fail
// with file:line as core options do, and malformed tables are refused at load.
#include "core/plugin/option_table.h"

#include <dlfcn.h>

#include <string>

#include "core/config/help.h"
#include "core/plugin/abi_check.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/plugin/plugin_test_util.h"

namespace kiln::plugin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Raw;
using testing::Server;
using testing::TestPluginDir;

// What the typed test plugin's on_config_done saw in its settings.
std::string TypedPluginSaw() {
  std::string path = TestPluginDir() + "/typed_plugin.so";
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) return "typed plugin not loaded";
  auto seen = reinterpret_cast<const char* (*)()>(::dlsym(lib, "typed_plugin_seen"));
  std::string out = seen == nullptr ? "no typed_plugin_seen" : seen();
  ::dlclose(lib);  // drops the reference RTLD_NOLOAD added; the plugin stays (NODELETE)
  return out;
}

TEST(OptionTable, HostWritesEveryKindBeforeConfigDone) {
  Server s(Raw({{"plugins", "typed"},
                {"tflag", "yes"},
                {"typed-quiet", "off"},
                {"tnum", "42"},
                {"typed-size", "2m"},
                {"tdur", "1500ms"},
                {"tstr", "one"},
                {"typed-string", "two"},
                {"typed-list", "a"},
                {"tlist", "b"},
                {"typed-csv", "x, y,z"},
                {"workers", "3"},
                {"uid", "nobody"}}),
           {TestPluginDir()});
  EXPECT_EQ(TypedPluginSaw(),
            "flag=1 quiet=0 number=42 size=2097152 duration_ms=1500 string=two processes=3 "
            "uid=nobody list=[a|b] csv=[x|y|z]");
}

TEST(OptionTable, UnsetOptionsGetTheirDefaults) {
  Server s(Raw({{"plugins", "typed"}}), {TestPluginDir()});
  EXPECT_EQ(TypedPluginSaw(),
            "flag=0 quiet=1 number=7 size=65536 duration_ms=90000 string=dflt processes=1 uid= "
            "list=[] csv=[]");
}

TEST(OptionTable, ABadValueNamesTheFileAndLineAsForCoreOptions) {
  for (const auto& [key, value, expected] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"tnum", "many", "option `tnum` in app.ini:2: `many` is not a number"},
           {"typed-size", "big", "option `typed-size` in app.ini:2: `big` is not a size"},
           {"tdur", "soon", "option `tdur` in app.ini:2: `soon` is not a number of seconds"}}) {
    config::RawConfig raw = Raw({{"plugins", "typed"}, {key, value}});
    config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
    config::Diagnostics diag;
    auto set = PluginSet::LoadWith(raw, registry, diag, SearchPath{{TestPluginDir()}});
    ASSERT_TRUE(set.ok()) << set.status();
    auto cfg = config::Resolve(raw, registry, (*set)->Providers(), diag);
    ASSERT_FALSE(cfg.ok()) << key;
    EXPECT_THAT(std::string(cfg.status().message()), HasSubstr(expected));
  }
}

TEST(OptionTable, AliasesJoinTheRegistryAndHelpShowsThemOnce) {
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  config::Diagnostics diag;
  auto set = PluginSet::LoadWith(Raw({{"plugins", "typed"}}), registry, diag,
                                 SearchPath{{TestPluginDir()}});
  ASSERT_TRUE(set.ok()) << set.status();
  const config::OptionSpec* spec = registry.Find("typed-count");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->name, "typed-number");
  EXPECT_EQ(spec->owner, "typed");
  EXPECT_EQ(registry.Find("processes")->owner, "core");  // an extern row registers nothing
  EXPECT_EQ(registry.Suggest("typed-cont"), "typed-count");
  std::string help = config::HelpText(registry);
  EXPECT_THAT(help, HasSubstr("--typed-number N"));
  EXPECT_THAT(help, HasSubstr("A number. (number, default 7, alias tnum, typed-count)"));
  EXPECT_THAT(help, Not(HasSubstr("--tnum")));
  EXPECT_THAT(config::OptionsMarkdown(registry), HasSubstr("| `typed-number`<br>`tnum`<br>"));
}

TEST(OptionTable, AutoloadFindsThePluginByAnAlias) {
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  config::Diagnostics diag;
  auto set =
      PluginSet::LoadWith(Raw({{"tstr", "x"}}), registry, diag, SearchPath{{TestPluginDir()}});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT((*set)->Names(), ::testing::ElementsAre("typed"));
}

TEST(OptionTable, PluginInfoListsAliases) {
  auto info = PluginInfo(TestPluginDir() + "/typed_plugin.so");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(*info, HasSubstr("typed-number (number, default 7, alias tnum, typed-count): A "
                               "number.\n"));
  EXPECT_THAT(*info, HasSubstr("options: 9\n"));  // the two extern rows are core's
}

// ---- descriptors built here: what the loader refuses ----

struct Settings {
  int flag;
  int64_t number;
  kiln_str text;
};
Settings g_settings;

const uint8_t kZero[] = {0};

kiln_plugin_desc WithRows(const kiln_option_def* rows, size_t count) {
  kiln_plugin_desc d = {KILN_DESC_HEADER};
  d.build_flags = 0;
  d.kinds = KILN_KIND_HOOK;
  d.name = "rows";
  d.version = "1.0";
  d.option_defs = rows;
  d.option_def_count = count;
  d.option_def_size = sizeof(kiln_option_def);
  d.settings = &g_settings;
  d.settings_size = sizeof(g_settings);
  return d;
}

std::string Refusal(const kiln_plugin_desc& d) {
  absl::Status s = CheckDescriptor(&d, "rows.so", HostAbi());
  return s.ok() ? "accepted" : std::string(s.message());
}

TEST(OptionTableCheck, AcceptsAWellFormedTable) {
  const kiln_option_def rows[] = {
      {"rows-flag", KILN_OPT_FLAG, "", "F.", 0, "rf|rows-f", KILN_FIELD(Settings, flag)},
      {"rows-number", KILN_OPT_NUMBER, "1", "N.", 0, nullptr, KILN_FIELD(Settings, number)},
      {"rows-text", KILN_OPT_STRING, "", "T.", 0, nullptr, KILN_FIELD(Settings, text)}};
  EXPECT_EQ(Refusal(WithRows(rows, 3)), "accepted");
}

TEST(OptionTableCheck, RefusesAFieldOfTheWrongType) {
  const kiln_option_def rows[] = {
      {"rows-number", KILN_OPT_NUMBER, "1", "N.", 0, nullptr, KILN_FIELD(Settings, flag)}};
  EXPECT_THAT(Refusal(WithRows(rows, 1)),
              HasSubstr("option `rows-number` (number) stores into a field of 4 bytes at offset 0; "
                        "its type must be int64_t"));
}

TEST(OptionTableCheck, RefusesAFieldPastTheSettingsStruct) {
  const kiln_option_def rows[] = {
      {"rows-text", KILN_OPT_STRING, "", "T.", 0, nullptr, {sizeof(Settings), sizeof(kiln_str)}}};
  EXPECT_THAT(Refusal(WithRows(rows, 1)), HasSubstr("past the 32-byte settings struct"));
}

TEST(OptionTableCheck, RefusesTwoRowsWritingTheSameField) {
  const kiln_option_def rows[] = {
      {"rows-a", KILN_OPT_NUMBER, "", "A.", 0, nullptr, KILN_FIELD(Settings, number)},
      {"rows-b", KILN_OPT_SIZE, "", "B.", 0, nullptr, KILN_FIELD(Settings, number)}};
  EXPECT_THAT(Refusal(WithRows(rows, 2)), HasSubstr("a field another option also uses"));
}

TEST(OptionTableCheck, RefusesADestinationWithoutSettings) {
  const kiln_option_def rows[] = {
      {"rows-flag", KILN_OPT_FLAG, "", "F.", 0, nullptr, KILN_FIELD(Settings, flag)}};
  kiln_plugin_desc d = WithRows(rows, 1);
  d.settings = nullptr;
  d.settings_size = 0;
  EXPECT_THAT(Refusal(d), HasSubstr("gives no settings struct"));
}

TEST(OptionTableCheck, RefusesA11TableInA10Descriptor) {
  const kiln_option_def rows[] = {{"rows-x", KILN_OPT_FLAG, "", "X.", 0, nullptr, KILN_NO_FIELD}};
  kiln_plugin_desc d = WithRows(rows, 1);
  d.abi_minor = 0;
  EXPECT_THAT(Refusal(d),
              HasSubstr("lists option_defs or settings (ABI 1.1) but declares ABI 1.0"));
}

TEST(OptionTableCheck, RefusesAShortRowSize) {
  const kiln_option_def rows[] = {{"rows-x", KILN_OPT_FLAG, "", "X.", 0, nullptr, KILN_NO_FIELD}};
  kiln_plugin_desc d = WithRows(rows, 1);
  d.option_def_size = sizeof(kiln_option_spec);
  EXPECT_THAT(Refusal(d), HasSubstr("option_def_size is 40"));
}

TEST(OptionTableCheck, RefusesDuplicateAndEmptyAliases) {
  const kiln_option_spec old_rows[] = {{"rows-old", KILN_OPT_FLAG, "", "O.", 0}};
  const kiln_option_def rows[] = {
      {"rows-x", KILN_OPT_FLAG, "", "X.", 0, "rows-old", KILN_NO_FIELD}};
  kiln_plugin_desc d = WithRows(rows, 1);
  d.options = old_rows;
  d.option_count = 1;
  EXPECT_THAT(Refusal(d), HasSubstr("alias `rows-old` of option `rows-x` is listed twice"));
  const kiln_option_def empty[] = {{"rows-x", KILN_OPT_FLAG, "", "X.", 0, "a||b", KILN_NO_FIELD}};
  EXPECT_THAT(Refusal(WithRows(empty, 1)), HasSubstr("empty or invalid alias in \"a||b\""));
}

TEST(OptionTableCheck, RefusesAnExternRowWithHelp) {
  const kiln_option_def rows[] = {{"processes", KILN_OPT_NUMBER, nullptr, "Mine.", KILN_OPTF_EXTERN,
                                   nullptr, KILN_FIELD(Settings, number)}};
  EXPECT_THAT(Refusal(WithRows(rows, 1)), HasSubstr("extern option `processes` has a default"));
}

TEST(OptionTableCheck, ExternRowsMustNameAKnownOptionOfTheSameKind) {
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  const kiln_option_def wrong_kind[] = {{"processes", KILN_OPT_STRING, nullptr, nullptr,
                                         KILN_OPTF_EXTERN, nullptr, KILN_FIELD(Settings, text)}};
  EXPECT_THAT(std::string(CheckExternOptions(WithRows(wrong_kind, 1), registry).message()),
              HasSubstr("reads option `processes` as a string, but core defines it as a number"));
  const kiln_option_def unknown[] = {{"no-such-option", KILN_OPT_FLAG, nullptr, nullptr,
                                      KILN_OPTF_EXTERN, nullptr, KILN_FIELD(Settings, flag)}};
  EXPECT_THAT(std::string(CheckExternOptions(WithRows(unknown, 1), registry).message()),
              HasSubstr("reads option `no-such-option` (an extern row), which neither core"));
}

TEST(OptionTableCheck, A10DescriptorHasNoRowsToRead) {
  kiln_plugin_desc d = WithRows(nullptr, 0);
  d.size = offsetof(kiln_plugin_desc, option_defs);               // as a plugin built with SDK 1.0
  d.option_defs = reinterpret_cast<const kiln_option_def*>(0x1);  // not there: never read
  d.option_def_count = 5;
  EXPECT_TRUE(OptionDefs(d).empty());
  EXPECT_EQ(Refusal(d), "accepted");
}

}  // namespace
}  // namespace kiln::plugin
