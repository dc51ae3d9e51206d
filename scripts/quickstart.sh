#!/usr/bin/env bash
# The README's first command: installs what is missing, builds the example, trains the
# Shakespeare model on the shipped text with the defaults, then asks it a question.
#
#   scripts/quickstart.sh [QUESTION]
#
# The model goes to model.json in the repository (training resumes from it if it is there;
# delete it to start over). Ctrl+C stops training, saves, and still asks the question.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
question=${1:-What is love?}

bash scripts/install-deps.sh
if [[ ! -f build/build.ninja ]]; then
    meson setup build --buildtype=release >/dev/null
fi
echo "quickstart: building the example (a minute or two the first time)"
meson compile -C build shakespeare >/dev/null

set +e
build/examples/shakespeare train --model model.json
status=$?
set -e
# 0: finished; 130/143: stopped by Ctrl+C or SIGTERM, with the model saved
if [[ $status -ne 0 && $status -ne 130 && $status -ne 143 ]]; then
    exit "$status"
fi
echo
echo "quickstart: shakespeare ask --question \"$question\""
build/examples/shakespeare ask --model model.json --question "$question"
