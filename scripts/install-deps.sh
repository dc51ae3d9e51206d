#!/usr/bin/env bash
# Install the Debian 12 packages that tinyformer builds and tests with, when missing.
# Does nothing (and prints nothing) when all are there; uses sudo unless run as root.
set -euo pipefail

packages=(
    g++ meson ninja-build pkg-config python3
    libxtensor-dev xtl-dev libxsimd-dev nlohmann-json3-dev
    doctest-dev libcli11-dev libopenblas-dev
)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
        echo "install-deps: not root and no sudo; install these as root: ${missing[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
