#!/usr/bin/python3
"""Checks that core/'s parts use only the parts docs/design.md allows (as Chromium's checkdeps).

kiln_add_library puts the whole source root on every part's include path, so an include that
crosses the layers the wrong way compiles and links (through whatever links both). This check
makes the "may use" column of the table in docs/design.md ("Layout and boundaries") the rule:

  - every `#include "core/<part>/..."` in core/<p>/ names <p> itself or a part <p> may use, and
    an SDK header (`kiln/...`) appears only in a part that may use `sdk`;
  - the kiln_* (and kiln::sdk) dependencies written in core/<p>/CMakeLists.txt are exactly the
    ones the table lists, written out literally (no `if(TARGET ...)`, no variables), so what a
    part links is what the table says;
  - every directory core/<p>/ with a CMakeLists.txt has a row, and every row a directory.

`core/build_info.h` (generated build facts, depending on nothing) is outside the layers.
The table is read from the doc itself, so the doc and the check cannot drift apart.

Usage: check_layers.py [SOURCE_ROOT]   (default: the tree this file is in). Exit 0 when clean,
1 with one line per violation otherwise.
"""

import os
import re
import sys

DESIGN_DOC = os.path.join("docs", "design.md")
TABLE_HEADING = "## Layout and boundaries"
# Words in the "may use" column that are not core parts.
EXTERNAL = {"abseil"}
SDK = "sdk"
OUTSIDE_LAYERS = {"core/build_info.h"}

ROW_RE = re.compile(r"^\|\s*`kiln_([a-z_]+)`\s*\|[^|]*\|([^|]*)\|\s*$")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]((?:core|kiln)/[^">]+)[">]')
LIBRARY_RE = re.compile(r"kiln_add_library\(\s*kiln_([a-z_]+)\b(.*?)\)", re.S)


class LayerError(Exception):
    pass


def read_table(root):
    """Returns {part: set of parts (and 'sdk') it may use} from docs/design.md."""
    path = os.path.join(root, DESIGN_DOC)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise LayerError(f"{DESIGN_DOC}: cannot read the layer table: {e.strerror}")
    try:
        start = lines.index(TABLE_HEADING)
    except ValueError:
        raise LayerError(f'{DESIGN_DOC}: no "{TABLE_HEADING}" section holding the layer table')
    table = {}
    for number, line in enumerate(lines[start + 1:], start + 2):
        if line.startswith("## "):
            break
        m = ROW_RE.match(line)
        if not m:
            continue
        part = m.group(1)
        if part in table:
            raise LayerError(f"{DESIGN_DOC}:{number}: kiln_{part} has two rows")
        uses = set()
        for word in m.group(2).split(","):
            word = word.strip().strip("`").lower()
            if word.startswith("kiln_"):
                word = word[len("kiln_"):]
            if word and word not in EXTERNAL:
                uses.add(word)
        table[part] = uses
    if not table:
        raise LayerError(f'{DESIGN_DOC}: no "| `kiln_<part>` | role | may use |" rows under '
                         f'"{TABLE_HEADING}"')
    for part, uses in table.items():
        for used in uses:
            if used != SDK and used not in table:
                raise LayerError(f"{DESIGN_DOC}: kiln_{part} may use '{used}', which is neither "
                                 f"a part in the table nor sdk or Abseil")
    return table


def core_parts(root):
    core = os.path.join(root, "core")
    return sorted(d for d in os.listdir(core)
                  if os.path.isfile(os.path.join(core, d, "CMakeLists.txt")))


def linked_parts(root, part):
    """The parts (and 'sdk') kiln_<part>'s kiln_add_library lists under DEPS, or an error."""
    rel = os.path.join("core", part, "CMakeLists.txt")
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        text = f.read()
    errors = []
    if re.search(r"if\s*\(\s*TARGET\b", text):
        errors.append(f"{rel}: links depend on if(TARGET ...); list every dependency "
                      f"unconditionally")
    libraries = {m.group(1): m.group(2) for m in LIBRARY_RE.finditer(text)}
    if part not in libraries:
        errors.append(f"{rel}: no kiln_add_library(kiln_{part} ...)")
        return set(), errors
    args = re.sub(r"#[^\n]*", "", libraries[part])
    deps_at = re.search(r"\bDEPS\b", args)
    tokens = args[deps_at.end():].split() if deps_at else []
    linked = set()
    for token in tokens:
        if token.startswith("${") and not token.startswith("${CMAKE_"):
            errors.append(f"{rel}: DEPS holds the variable {token}; write the parts out so the "
                          f"check (and a reader) can see them")
        elif token == "kiln::sdk":
            linked.add(SDK)
        elif token.startswith("kiln_") and token != "kiln_build_info":
            linked.add(token[len("kiln_"):])
    return linked, errors


def includes(root, part):
    """Yields (relative path, line number, included path) for core/ and SDK includes."""
    base = os.path.join(root, "core", part)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith((".h", ".cc", ".h.in", ".cc.in")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE_RE.match(line)
                    if m:
                        yield rel, number, m.group(1)


def check(root):
    """Returns the list of violations (empty when the tree keeps to the table)."""
    try:
        table = read_table(root)
    except LayerError as e:
        return [str(e)]
    errors = []
    parts = core_parts(root)
    for part in parts:
        if part not in table:
            errors.append(f"core/{part}/ is a part but {DESIGN_DOC} has no row for kiln_{part}")
    for part in sorted(table):
        if part not in parts:
            errors.append(f"{DESIGN_DOC} has a row for kiln_{part} but there is no "
                          f"core/{part}/CMakeLists.txt")
    for part in parts:
        if part not in table:
            continue
        allowed = table[part]
        shown = ", ".join(sorted(allowed)) or "nothing"
        for rel, number, included in includes(root, part):
            if included in OUTSIDE_LAYERS:
                continue
            if included.startswith("kiln/"):
                used = SDK
            else:
                pieces = included.split("/")
                if len(pieces) < 3:
                    errors.append(f'{rel}:{number}: #include "{included}" is in no part')
                    continue
                used = pieces[1]
            if used == part or used in allowed:
                continue
            errors.append(f'{rel}:{number}: kiln_{part} may not use {used} '
                          f'(#include "{included}"); {DESIGN_DOC} allows: {shown}')
        linked, link_errors = linked_parts(root, part)
        errors.extend(link_errors)
        if link_errors:
            continue
        rel = os.path.join("core", part, "CMakeLists.txt")
        for used in sorted(linked - allowed):
            errors.append(f"{rel}: kiln_{part} links {used}, which {DESIGN_DOC} does not allow "
                          f"(allows: {shown})")
        for used in sorted(allowed - linked):
            errors.append(f"{rel}: {DESIGN_DOC} says kiln_{part} uses {used}, but its DEPS "
                          f"do not name it")
    return errors


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    errors = check(root)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} layering violation(s); the allowed edges are the 'may use' column "
              f"of {DESIGN_DOC}, \"{TABLE_HEADING}\"")
        return 1
    print(f"core/ keeps to the layers in {DESIGN_DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
