#!/usr/bin/python3
"""Tests for check_layers.py: it passes a tree that keeps to its table and names each edge,
link and table row that does not, including an upward include put back into a copy of kiln."""

import os
import shutil
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_layers  # noqa: E402

SOURCE_ROOT = os.environ.get("KILN_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))

DESIGN = textwrap.dedent("""\
    # design

    ## Layout and boundaries

    | library | role | may use |
    | --- | --- | --- |
    | `kiln_base` | helpers | Abseil |
    | `kiln_protocol` | parsers | base |
    | `kiln_plugin` | plugins | sdk, protocol, base |

    ## Next section

    | `kiln_net` | not part of the table | plugin |
    """)


class Tree:
    """A small source tree in a temp dir: docs/design.md and core/<part>/ files."""

    def __init__(self, test):
        self.root = tempfile.mkdtemp(prefix="kiln_layers_")
        test.addCleanup(shutil.rmtree, self.root)

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))

    def part(self, name, deps, files=None):
        self.write(f"core/{name}/CMakeLists.txt",
                   f"kiln_add_library(kiln_{name}\n  SRCS a.cc\n  DEPS {deps} absl::status)\n")
        for rel, text in (files or {}).items():
            self.write(f"core/{name}/{rel}", text)


def clean_tree(test):
    t = Tree(test)
    t.write("docs/design.md", DESIGN)
    t.part("base", "", {"a.h": '#include "absl/status/status.h"\n'})
    t.part("protocol", "kiln_base", {"a.h": '#include "core/base/a.h"\n#include "core/protocol/b.h"\n'})
    t.part("plugin", "kiln::sdk kiln_protocol kiln_base kiln_build_info ${CMAKE_DL_LIBS}",
           {"a.cc": '#include "kiln/kiln.h"\n#include "core/protocol/a.h"\n'
                    '#include "core/build_info.h"\n'})
    return t


class CheckLayersTest(unittest.TestCase):
    def test_a_tree_that_keeps_to_the_table_passes(self):
        t = clean_tree(self)
        self.assertEqual(check_layers.check(t.root), [])
        self.assertEqual(check_layers.main(["check_layers.py", t.root]), 0)

    def test_the_table_is_read_from_its_section_only(self):
        t = clean_tree(self)
        self.assertEqual(check_layers.read_table(t.root),
                         {"base": set(), "protocol": {"base"},
                          "plugin": {"sdk", "protocol", "base"}})

    def test_an_upward_include_fails_naming_file_line_and_edge(self):
        t = clean_tree(self)
        t.write("core/protocol/sub/c.h", '// x\n  #  include "core/plugin/p.h"\n')
        self.assertEqual(check_layers.check(t.root), [
            'core/protocol/sub/c.h:2: kiln_protocol may not use plugin '
            '(#include "core/plugin/p.h"); docs/design.md allows: base'])
        self.assertEqual(check_layers.main(["check_layers.py", t.root]), 1)

    def test_an_sdk_header_outside_the_parts_that_may_use_it_fails(self):
        t = clean_tree(self)
        t.write("core/protocol/d.cc", "#include <kiln/kiln.h>\n")
        errors = check_layers.check(t.root)
        self.assertEqual(len(errors), 1)
        self.assertIn("core/protocol/d.cc:1: kiln_protocol may not use sdk", errors[0])

    def test_a_link_the_table_does_not_allow_fails(self):
        t = clean_tree(self)
        t.part("protocol", "kiln_base kiln_plugin")
        self.assertEqual(check_layers.check(t.root), [
            "core/protocol/CMakeLists.txt: kiln_protocol links plugin, which docs/design.md "
            "does not allow (allows: base)"])

    def test_a_use_the_cmakelists_does_not_link_fails(self):
        t = clean_tree(self)
        t.part("plugin", "kiln::sdk kiln_base")
        self.assertEqual(check_layers.check(t.root), [
            "core/plugin/CMakeLists.txt: docs/design.md says kiln_plugin uses protocol, but its "
            "DEPS do not name it"])

    def test_conditional_or_hidden_links_fail(self):
        t = clean_tree(self)
        t.write("core/protocol/CMakeLists.txt", """\
            set(_deps)
            if(TARGET kiln_base)
              list(APPEND _deps kiln_base)
            endif()
            kiln_add_library(kiln_protocol SRCS a.cc DEPS ${_deps})
            """)
        errors = check_layers.check(t.root)
        self.assertEqual(len(errors), 2, errors)
        self.assertIn("if(TARGET ...)", errors[0])
        self.assertIn("the variable ${_deps}", errors[1])

    def test_parts_and_rows_must_match(self):
        t = clean_tree(self)
        t.part("net", "kiln_base")
        shutil.rmtree(os.path.join(t.root, "core", "base"))
        errors = check_layers.check(t.root)
        self.assertIn("core/net/ is a part but docs/design.md has no row for kiln_net", errors)
        self.assertIn("docs/design.md has a row for kiln_base but there is no "
                      "core/base/CMakeLists.txt", errors)

    def test_a_table_naming_an_unknown_part_or_missing_fails(self):
        t = clean_tree(self)
        t.write("docs/design.md", DESIGN.replace("sdk, protocol, base", "sdk, protocols"))
        self.assertIn("may use 'protocols'", check_layers.check(t.root)[0])
        t.write("docs/design.md", "# design\n")
        self.assertIn('no "## Layout and boundaries" section', check_layers.check(t.root)[0])

    # kiln's own tree.

    def test_kilns_table_keeps_parsers_below_net_and_plugin(self):
        table = check_layers.read_table(SOURCE_ROOT)
        self.assertEqual(table["protocol"], {"base"})
        self.assertNotIn("plugin", table["net"])
        self.assertNotIn("net", table["plugin"])
        self.assertIn("protocol", table["net"])
        self.assertIn("protocol", table["plugin"])

    def test_an_upward_include_put_back_into_kiln_fails(self):
        t = Tree(self)
        shutil.copytree(os.path.join(SOURCE_ROOT, "core"), os.path.join(t.root, "core"))
        t.write("docs/design.md", open(os.path.join(SOURCE_ROOT, "docs", "design.md"),
                                       encoding="utf-8").read())
        self.assertEqual(check_layers.check(t.root), [])
        path = os.path.join(t.root, "core", "protocol", "response_writer.h")
        with open(path, "a", encoding="utf-8") as f:
            f.write('#include "core/plugin/plugin_set.h"\n')
        errors = check_layers.check(t.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertRegex(errors[0], r'^core/protocol/response_writer\.h:\d+: kiln_protocol may '
                                    r'not use plugin \(#include "core/plugin/plugin_set\.h"\)')


if __name__ == "__main__":
    unittest.main()
