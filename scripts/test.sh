#!/usr/bin/env bash
# Build tinyformer in build-test/ and run every test. The last line printed is
# "N passed, M failed" (doctest cases, plus one for each other meson test); the exit status
# is non-zero when anything failed. Arguments go to `meson setup`:
#
#   scripts/test.sh                     release build, OpenBLAS when installed
#   scripts/test.sh -Dblas=disabled     the header-only matrix kernel instead
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
build=build-test

# A step that stops the run before any test counts as one failed test.
stop() {
    echo "test.sh: $1" >&2
    echo "0 passed, 1 failed"
    exit 1
}

bash scripts/install-deps.sh </dev/null || stop "installing the Debian packages failed"

if [[ -f $build/meson-private/coredata.dat ]]; then
    setup=(meson setup --reconfigure "$build" "$@")
else
    setup=(meson setup "$build" "$@")
fi
echo "test.sh: ${setup[*]}"
setup_log=$(mktemp)
trap 'rm -f "$setup_log"' EXIT
if ! "${setup[@]}" >"$setup_log" 2>&1; then
    cat "$setup_log" >&2
    stop "meson setup failed"
fi
grep -E '^ +(blas|native|buildtype) *:' "$setup_log"

echo "test.sh: meson compile -C $build"
meson compile -C "$build" || stop "the build failed"

echo "test.sh: meson test -C $build --print-errorlogs"
meson test -C "$build" --print-errorlogs
echo
python3 scripts/count-tests.py "$build/meson-logs/testlog.json"
