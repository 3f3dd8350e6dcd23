// Descriptor checks without dlopen: each refusal has its own message naming both sides.
#include "core/plugin/abi_check.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::plugin {
namespace {

using ::testing::HasSubstr;

const uint8_t kZero[] = {0};
const kiln_option_spec kOptions[] = {{"color", KILN_OPT_STRING, "red", "Paint.", 0}};

kiln_plugin_desc Valid() {
  kiln_plugin_desc d = {KILN_DESC_HEADER};
  d.build_flags = 0;  // as a plain build, whatever this test is built with
  d.kinds = KILN_KIND_HANDLER;
  d.name = "paint";
  d.version = "1.0";
  d.modifier1 = kZero;
  d.modifier1_count = 1;
  d.options = kOptions;
  d.option_count = 1;
  return d;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(AbiCheck, AcceptsAWellFormedDescriptor) {
  kiln_plugin_desc d = Valid();
  EXPECT_TRUE(CheckDescriptor(&d, "/p/paint_plugin.so", HostAbi()).ok());
}

TEST(AbiCheck, RefusesAnotherMajorNamingBoth) {
  kiln_plugin_desc d = Valid();
  d.abi_major = 2;
  absl::Status s = CheckDescriptor(&d, "/p/paint_plugin.so", HostAbi());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(s), HasSubstr("built for ABI 2, this kiln provides 1"));
  EXPECT_THAT(Message(s), HasSubstr("/p/paint_plugin.so"));
}

TEST(AbiCheck, RefusesANewerMinorNamingBothVersions) {
  kiln_plugin_desc d = Valid();
  d.abi_minor = 3;
  HostAbi host;
  host.minor = 1;
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", host)),
              HasSubstr("needs kiln ABI 1.3, this kiln provides 1.1"));
}

TEST(AbiCheck, AcceptsAnOlderMinor) {
  kiln_plugin_desc d = Valid();
  d.abi_minor = 0;
  HostAbi host;
  host.minor = 4;
  EXPECT_TRUE(CheckDescriptor(&d, "x.so", host).ok());
}

TEST(AbiCheck, RefusesAnotherPointerSize) {
  kiln_plugin_desc d = Valid();
  d.pointer_size = 4;
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", HostAbi())),
              HasSubstr("built with pointer size 4 (this kiln: 8)"));
}

TEST(AbiCheck, RefusesASanitizerPluginInAPlainHost) {
  kiln_plugin_desc d = Valid();
  d.build_flags = KILN_BUILD_SANITIZER;
  HostAbi plain;
  plain.sanitizer = false;
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", plain)), HasSubstr("AddressSanitizer"));
  HostAbi asan;
  asan.sanitizer = true;
  EXPECT_TRUE(CheckDescriptor(&d, "x.so", asan).ok());
}

TEST(AbiCheck, RefusesWrongMagicAsNotAKilnPlugin) {
  kiln_plugin_desc d = Valid();
  d.magic = 0xdeadbeef;
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", HostAbi())), HasSubstr("is not a kiln plugin"));
}

TEST(AbiCheck, RefusesATruncatedDescriptor) {
  kiln_plugin_desc d = Valid();
  d.size = 16;
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", HostAbi())), HasSubstr("descriptor is 16 bytes"));
}

TEST(AbiCheck, RefusesANullDescriptor) {
  EXPECT_THAT(Message(CheckDescriptor(nullptr, "x.so", HostAbi())),
              HasSubstr("returned no descriptor"));
}

TEST(AbiCheck, RefusesAnInvalidName) {
  kiln_plugin_desc d = Valid();
  d.name = "Bad Name";
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", HostAbi())), HasSubstr("`Bad Name`"));
}

TEST(AbiCheck, RefusesAHandlerWithoutModifier1) {
  kiln_plugin_desc d = Valid();
  d.modifier1_count = 0;
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", HostAbi())), HasSubstr("lists no modifier1"));
}

TEST(AbiCheck, RefusesAnOptionOfUnknownKind) {
  kiln_option_spec bad[] = {{"color", 42, "", "", 0}};
  kiln_plugin_desc d = Valid();
  d.options = bad;
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", HostAbi())), HasSubstr("unknown kind 42"));
}

TEST(AbiCheck, RefusesAnOptionListedTwice) {
  kiln_option_spec twice[] = {{"color", KILN_OPT_STRING, "", "", 0},
                              {"color", KILN_OPT_FLAG, "", "", 0}};
  kiln_plugin_desc d = Valid();
  d.options = twice;
  d.option_count = 2;
  EXPECT_THAT(Message(CheckDescriptor(&d, "x.so", HostAbi())),
              HasSubstr("option `color` is listed twice"));
}

TEST(AbiCheck, ConflictsNameBothPluginsForADuplicateModifier1) {
  kiln_plugin_desc d = Valid();
  LoadedIdentity other{"lua", "/p/lua_plugin.so", {}, {0}, {}};
  absl::Status s = CheckConflicts(d, "/p/paint_plugin.so", {0}, {other});
  EXPECT_THAT(Message(s),
              HasSubstr("plugin paint claims modifier1 0, already served by plugin lua"));
}

TEST(AbiCheck, ForcedModifierReplacesTheDescriptorsOwn) {
  kiln_plugin_desc d = Valid();
  EXPECT_EQ(ClaimedModifiers(d, -1), std::vector<uint8_t>{0});
  EXPECT_EQ(ClaimedModifiers(d, 6), std::vector<uint8_t>{6});
}

}  // namespace
}  // namespace kiln::plugin
