// Loading through the plugin set: resolution, aliases, autoload, and every refusal, with the
// real test plugins from tests/plugins/.
#include "core/plugin/plugin_set.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/plugin/plugin_test_util.h"

namespace kiln::plugin {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Raw;
using testing::TestPluginDir;

struct Loaded {
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  config::Diagnostics diag;
  absl::StatusOr<std::unique_ptr<PluginSet>> set = absl::UnknownError("not loaded");

  std::string Error() const { return std::string(set.status().message()); }
  std::vector<std::string> Notices() const {
    std::vector<std::string> out;
    for (const config::Diagnostic& d : diag.items()) {
      out.push_back(config::Diagnostics::Format(d));
    }
    return out;
  }
};

std::unique_ptr<Loaded> LoadFrom(const config::RawConfig& raw, std::vector<std::string> dirs) {
  auto l = std::make_unique<Loaded>();
  l->set = PluginSet::LoadWith(raw, l->registry, l->diag, SearchPath{std::move(dirs)});
  return l;
}

std::unique_ptr<Loaded> LoadTest(const config::RawConfig& raw) {
  return LoadFrom(raw, {TestPluginDir()});
}

TEST(PluginSet, LoadsAPluginByNameAndRegistersItsOptions) {
  auto l = LoadTest(Raw({{"plugins", "echo"}}));
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_THAT((*l->set)->Names(), ElementsAre("echo"));
  const config::OptionSpec* spec = l->registry.Find("echo-greeting");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->owner, "echo");
  EXPECT_EQ(spec->default_value, "hello");
  EXPECT_TRUE((*l->set)->HasHandlers());
  EXPECT_THAT((*l->set)->Describe(), ElementsAre("echo 1.2.3, modifier1 0"));
}

TEST(PluginSet, CommaListsAndRepeatedLinesLoadEachPluginOnce) {
  auto l = LoadTest(Raw({{"plugins", "echo, snake"},
                         {"plugin", "echo"},
                         {"plugins", TestPluginDir() + "/echo_plugin.so"}}));
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_THAT((*l->set)->Names(), ElementsAre("echo", "snake"));
}

TEST(PluginSet, NotFoundListsEveryPathTriedAndWhereItWasNamed) {
  auto l = LoadFrom(Raw({{"socket", "/x"}, {"plugins", "nosuch"}}), {"/opt/a", "/opt/b"});
  ASSERT_FALSE(l->set.ok());
  EXPECT_EQ(l->set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(l->Error(), HasSubstr("plugin `nosuch` (app.ini:2) not found; tried:"));
  EXPECT_THAT(l->Error(), HasSubstr("\n  /opt/a/nosuch_plugin.so\n  /opt/b/nosuch_plugin.so"));
}

TEST(PluginSet, NotFoundSuggestsACloseInstalledName) {
  auto l = LoadTest(Raw({{"plugins", "ecko"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("did you mean `echo`?"));
}

TEST(PluginSet, RefusesAPluginBuiltForAnotherMajor) {
  auto l = LoadTest(Raw({{"plugins", "abi_major2"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_EQ(l->set.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l->Error(), HasSubstr("built for ABI 2, this kiln provides 1"));
}

TEST(PluginSet, RefusesAPluginNeedingANewerMinor) {
  auto l = LoadTest(Raw({{"plugins", "abi_too_new"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr(absl::StrFormat(
                              "needs kiln ABI %d.%d, this kiln provides %d.%d", KILN_ABI_MAJOR,
                              KILN_ABI_MINOR + 1, KILN_ABI_MAJOR, KILN_ABI_MINOR)));
}

TEST(PluginSet, RefusesAFileWithoutTheQuerySymbol) {
  auto l = LoadTest(Raw({{"plugins", "missing_symbol"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("plugin `missing_symbol` (app.ini:1)"));
  EXPECT_THAT(l->Error(), HasSubstr("is not a kiln plugin (no symbol kiln_plugin_query_v1)"));
}

TEST(PluginSet, RefusesADescriptorWithBadMagic) {
  auto l = LoadTest(Raw({{"plugins", "bad_magic"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("is not a kiln plugin (descriptor magic 0x12345678"));
}

TEST(PluginSet, RefusesAUwsgiPluginWithItsOwnMessage) {
  auto l = LoadTest(Raw({{"plugins", "python39"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("a uWSGI plugin (it exports python39_plugin), not a kiln"));
}

TEST(PluginSet, UwsgiPluginRefusalPointsAtKilnsOwnPlugin) {
  auto l = LoadTest(Raw({{"plugins", "snake39"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("a uWSGI plugin (it exports snake39_plugin)"));
  EXPECT_THAT(l->Error(), HasSubstr("(found at " + TestPluginDir() + "/snake_plugin.so)"));
}

TEST(PluginSet, RefusesADuplicateModifier1NamingBothPlugins) {
  auto l = LoadTest(Raw({{"plugins", "echo, dup_modifier"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("plugin dup_modifier claims modifier1 0, already served by "
                                    "plugin echo"));
}

TEST(PluginSet, ForcedModifier1SettlesADuplicate) {
  auto l = LoadTest(Raw({{"plugins", "echo, 7:dup_modifier"}}));
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_THAT((*l->set)->Describe(),
              ElementsAre("echo 1.2.3, modifier1 0", "dup_modifier 0, modifier1 7"));
}

TEST(PluginSet, RefusesAModifier1OutOfRange) {
  auto l = LoadTest(Raw({{"plugins", "300:echo"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("modifier1 300 is out of range (0..255)"));
}

TEST(PluginSet, RefusesForcingAModifier1OnANonHandler) {
  auto l = LoadTest(Raw({{"plugins", "0:dup_option"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("does not serve requests"));
}

TEST(PluginSet, RefusesAnOptionAnotherPluginDefines) {
  auto l = LoadTest(Raw({{"plugins", "echo"}, {"plugins", "dup_option"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("option `echo-greeting` of plugin dup_option is already "
                                    "defined by plugin echo"));
}

TEST(PluginSet, RefusesAnOptionCoreDefines) {
  auto l = std::make_unique<Loaded>();
  config::OptionSpec spec;
  spec.name = "echo-greeting";
  ASSERT_TRUE(l->registry.Add(spec).ok());
  l->set = PluginSet::LoadWith(Raw({{"plugins", "echo"}}), l->registry, l->diag,
                               SearchPath{{TestPluginDir()}});
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("is already defined by core"));
}

TEST(PluginSet, InitFailureStopsStartupWithThePluginsMessage) {
  auto l = LoadTest(Raw({{"plugins", "init_fails"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("failed to initialise: the frobnicator is missing"));
}

TEST(PluginSet, ExactAliasReachesThePluginQuietly) {
  auto l = LoadTest(Raw({{"plugins", "snake3"}}));
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_THAT((*l->set)->Names(), ElementsAre("snake"));
  EXPECT_TRUE(l->Notices().empty());
}

TEST(PluginSet, VersionedAliasOfAnotherVersionGetsOneNotice) {
  auto l = LoadTest(Raw({{"plugins", "snake36, snake3, snake"}}));
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_THAT((*l->set)->Names(), ElementsAre("snake"));
  ASSERT_EQ(l->Notices().size(), 1u);
  EXPECT_THAT(l->Notices()[0],
              HasSubstr("`snake36` is served by kiln's snake plugin, which embeds snake 3.11.2"));
}

TEST(PluginSet, VersionedAliasOfTheEmbeddedVersionIsQuiet) {
  auto l = LoadTest(Raw({{"plugins", "snake311"}}));
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_TRUE(l->Notices().empty());
}

TEST(PluginSet, AutoloadsThePluginProvidingAnOptionWithOneNotice) {
  auto l = LoadTest(Raw({{"processes", "2"}, {"echo-shout", "true"}, {"echo-greeting", "x"}}));
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_THAT((*l->set)->Names(), ElementsAre("echo"));
  ASSERT_EQ(l->Notices().size(), 1u);
  EXPECT_THAT(l->Notices()[0], HasSubstr("plugin echo loaded for \"echo-shout\" (app.ini:2)"));
}

TEST(PluginSet, AutoloadRefusesAnOptionSeveralInstalledPluginsProvide) {
  auto l = LoadTest(Raw({{"echo-greeting", "hi"}}));
  ASSERT_FALSE(l->set.ok());
  EXPECT_THAT(l->Error(), HasSubstr("option `echo-greeting` (app.ini:1) is provided by several "
                                    "installed plugins (dup_option, echo)"));
}

TEST(PluginSet, AutoloadFalseLoadsNothing) {
  auto l = LoadTest(Raw({{"autoload", "false"}, {"echo-shout", "true"}}));
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_TRUE((*l->set)->Names().empty());
}

TEST(PluginSet, AutoloadsTheLoggerSchemeProvider) {
  auto l =
      LoadFrom(Raw({{"logger", "file:/tmp/kiln-never-opened.log"}}), {testing::BuildPluginDir()});
  ASSERT_TRUE(l->set.ok()) << l->set.status();
  EXPECT_THAT((*l->set)->Names(), ElementsAre("logfile"));
  ASSERT_EQ(l->Notices().size(), 1u);
  EXPECT_THAT(l->Notices()[0], HasSubstr("plugin logfile loaded for \"logger = file:"));
  EXPECT_NE((*l->set)->LoggerSchemes().Find("file"), nullptr);
}

TEST(PluginSet, ProvidersNameInstalledPluginsNotYetLoaded) {
  auto l = LoadTest(Raw({{"autoload", "false"}}));
  ASSERT_TRUE(l->set.ok());
  config::ProviderLookup providers = (*l->set)->Providers();
  EXPECT_EQ(providers("echo-shout"), "echo");
  EXPECT_EQ(providers("echo-greeting"), "dup_option or echo");
  EXPECT_EQ(providers("no-such-option"), "");
}

TEST(PluginSet, PluginInfoPrintsTheDescriptor) {
  absl::StatusOr<std::string> info = PluginInfo(TestPluginDir() + "/echo_plugin.so");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(*info, HasSubstr("name: echo\n"));
  EXPECT_THAT(*info, HasSubstr("version: 1.2.3\n"));
  EXPECT_THAT(*info, HasSubstr("modifier1: 0\n"));
  EXPECT_THAT(*info, HasSubstr("echo-greeting (string, default hello): First word"));
}

TEST(PluginSet, PluginInfoRefusesWhatTheLoaderRefuses) {
  absl::StatusOr<std::string> info = PluginInfo(TestPluginDir() + "/abi_major2_plugin.so");
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("built for ABI 2"));
}

}  // namespace
}  // namespace kiln::plugin
