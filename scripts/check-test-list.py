#!/usr/bin/env python3
"""Fail when a tests/test_*.cpp file is missing from test_names in tests/meson.build.

meson has no glob, so tests/meson.build names every test file it may build; a file left
off that list would never be compiled, and its test cases would pass by not running.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def main():
    text = (TESTS / "meson.build").read_text(encoding="utf-8")
    block = re.search(r"^test_names\s*=\s*\[(.*?)\]", text, re.DOTALL | re.MULTILINE)
    if block is None:
        print("check-test-list.py: no `test_names = [...]` in tests/meson.build",
              file=sys.stderr)
        return 2
    listed = set(re.findall(r"'([^']+)'", block.group(1)))
    unlisted = sorted(p.stem for p in TESTS.glob("test_*.cpp") if p.stem not in listed)
    for stem in unlisted:
        print("check-test-list.py: tests/{}.cpp is not built: add '{}' to test_names in "
              "tests/meson.build".format(stem, stem), file=sys.stderr)
    if unlisted:
        return 1
    print("check-test-list.py: all {} test files are in tests/meson.build".format(
        len(list(TESTS.glob("test_*.cpp")))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
