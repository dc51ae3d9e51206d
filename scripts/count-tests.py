#!/usr/bin/env python3
"""Count test cases from a meson test log; the last line printed is "N passed, M failed".

    python3 scripts/count-tests.py build-test/meson-logs/testlog.json

A doctest executable counts its test cases (from doctest's summary line), a script that
ends its output with its own "N passed, M failed" counts those, and any other meson test
counts as one. A test that fails without a failure in its counts (a crash, a sanitizer
report at exit) counts one failure more. Exits 1 when anything failed.
"""

import json
import re
import sys

SUMMARY_RE = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|"
                        r"\s*(\d+) failed\s*\|\s*(\d+) skipped")
OWN_COUNTS_RE = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
PASSING = {"OK", "EXPECTEDFAIL"}


def count(test):
    """(passed, failed, how) for one entry of testlog.json."""
    result = test.get("result", "ERROR")
    if result == "SKIP":
        return 0, 0, "skipped"
    output = ANSI_RE.sub("", (test.get("stdout") or "") + (test.get("stderr") or ""))
    doctest = SUMMARY_RE.findall(output)
    own = OWN_COUNTS_RE.findall(output)
    if doctest:
        _, passed, failed, _ = (int(n) for n in doctest[-1])
        how = "{} (doctest)".format(result)
    elif own:
        passed, failed = (int(n) for n in own[-1])
        how = "{} (its own counts)".format(result)
    else:
        ok = result in PASSING
        return int(ok), int(not ok), result
    if result not in PASSING and failed == 0:
        failed += 1
    return passed, failed, how


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as log:
            tests = [json.loads(line) for line in log if line.strip()]
    except (OSError, ValueError) as e:
        print("count-tests.py: cannot read {}: {}".format(sys.argv[1], e), file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    total_passed = total_failed = 0
    width = max((len(t.get("name", "")) for t in tests), default=0)
    for test in tests:
        passed, failed, how = count(test)
        total_passed += passed
        total_failed += failed
        print("  {:<{}}  {:>4} passed {:>3} failed  {}".format(
            test.get("name", "?"), width, passed, failed, how))
    if not tests:
        print("count-tests.py: no tests ran", file=sys.stderr)
        total_failed += 1
    print("{} passed, {} failed".format(total_passed, total_failed))
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
