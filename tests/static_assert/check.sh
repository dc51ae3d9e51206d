#!/usr/bin/env bash
# tests/static_assert/check.sh: a source that must not compile, and the reason it must give.
#
#   check.sh COMPILER SOURCE EXPECTED_TEXT INCLUDE_DIR...
#
# Runs COMPILER -std=c++17 -fsyntax-only on SOURCE with each INCLUDE_DIR on the include path
# and passes (exit 0) only when the compiler fails AND its output contains EXPECTED_TEXT (the
# static_assert's message). COMPILER may be several words ("ccache g++"), as meson's
# cmd_array() joined by spaces. Exit 1 when the source compiles or fails for another reason;
# exit 2 on bad arguments.
set -u

if [[ $# -lt 3 ]]; then
    echo "usage: check.sh COMPILER SOURCE EXPECTED_TEXT INCLUDE_DIR..." >&2
    exit 2
fi
read -r -a compiler <<<"$1"
source=$2
expected=$3
shift 3
if [[ ${#compiler[@]} -eq 0 ]]; then
    echo "check.sh: the compiler is empty" >&2
    exit 2
fi
if [[ ! -f $source ]]; then
    echo "check.sh: no source file $source" >&2
    exit 2
fi
includes=()
for dir in "$@"; do
    includes+=("-I$dir")
done

output=$("${compiler[@]}" -std=c++17 -fsyntax-only "${includes[@]}" "$source" 2>&1)
status=$?
if [[ $status -eq 0 ]]; then
    echo "check.sh: FAIL: $source compiled, but it must fail with \"$expected\""
    exit 1
fi
if [[ $output != *"$expected"* ]]; then
    echo "check.sh: FAIL: $source failed (status $status) without \"$expected\"; the compiler said:"
    echo "$output"
    exit 1
fi
echo "check.sh: ok: $source fails with \"$expected\""
exit 0
