#!/usr/bin/env bash
# bench/run.sh: the benchmarks and PyTorch's reference on the same presets, in one run, and a
# table of the ratios.
#
#   bench/run.sh [--repeat N] [--seconds S] [--build DIR] [--text FILE]
#
# Builds DIR (default build-bench: release, -march=native, OpenBLAS when installed), then N
# times over (default 3), one after the other so that a busy machine slows all of them alike:
# training of both presets with 1 thread and with every core, with the configured kernel and
# (when that is BLAS) the header-only one, and PyTorch's reference on both presets. Then once
# each: the matrix products (gemm_bench), generation and model files when those benchmarks
# exist. Every JSON line goes to DIR/bench-results.jsonl; the tables show medians over the N
# rounds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

repeat=3
seconds=10
build=build-bench
text=data/tinyshakespeare.txt
while [[ $# -gt 0 ]]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --text) text=$2; shift 2 ;;
        *) echo "usage: bench/run.sh [--repeat N] [--seconds S] [--build DIR] [--text FILE]" >&2
           exit 2 ;;
    esac
done

# Debian's python3-torch lives in the system interpreter
python=/usr/bin/python3
torch_reference=../shared/bench/torch_reference.py
if ! "$python" -c 'import torch' 2>/dev/null; then
    echo "run.sh: $python cannot import torch (apt-get install python3-torch)" >&2
    exit 1
fi
[[ -f $torch_reference ]] || { echo "run.sh: $torch_reference not found" >&2; exit 1; }
[[ -f $text ]] || { echo "run.sh: $text not found" >&2; exit 1; }

# the build, benchmarks only
if [[ -f $build/build.ninja ]]; then
    meson setup --reconfigure "$build" >/dev/null
else
    meson setup "$build" --buildtype=release -Dnative=true >/dev/null
fi
# the benchmark programs this build has: NAME, and NAME_header when NAME uses BLAS
built=$(meson introspect "$build" --targets | "$python" -c '
import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin) if t["subproject"] is None
               and t["defined_in"].endswith("bench/meson.build")))')
has() { [[ " $built " == *" $1 "* ]]; }
targets=(train_throughput)
has train_throughput_header && targets+=(train_throughput_header)
# shellcheck disable=SC2086  # the names are single words
meson compile -C "$build" $built >/dev/null

out=$build/bench-results.jsonl
: >"$out"
# the machine, once
"$python" - "$out" <<'EOF'
import json, os, platform, subprocess, sys
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
              if l.startswith("model name")), platform.processor())
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo")
              if l.startswith("flags")), [])
simd = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                     text=True).stdout.strip()
line = {"bench": "machine", "cpu": model, "cores": os.cpu_count(), "simd": simd,
        "linux": platform.release(), "commit": rev}
open(sys.argv[1], "a").write(json.dumps(line) + "\n")
EOF

run() {  # a command whose JSON lines go to $out, each tagged with the round
    "$@" | while IFS= read -r line; do
        [[ $line == \{* ]] && echo "${line%\}}, \"round\": $round}" >>"$out"
    done
}

for ((round = 1; round <= repeat; ++round)); do
    echo "run.sh: round $round of $repeat" >&2
    for bin in "${targets[@]}"; do
        for preset in small large; do
            for threads in 1 all; do
                run "$build/bench/$bin" --preset "$preset" --threads "$threads" \
                    --seconds "$seconds"
            done
        done
    done
    run "$python" "$torch_reference" --text "$text"
    run "$python" "$torch_reference" --text "$text" --block 256 --embed 384 --heads 6 \
        --layers 6 --batch 8 --steps 10 --warmup 2
done
# once each: the matrix products (the header-only kernel against OpenBLAS when built with
# it), generation and model files
round=0
has gemm_bench && run "$build/bench/gemm_bench"
has generate_throughput && run "$build/bench/generate_throughput"
has model_file_bench && run "$build/bench/model_file_bench"

"$python" - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
machine = next(r for r in rows if r.get("bench") == "machine")
print(f"machine: {machine['cpu']}, {machine['cores']} cores ({machine['simd']}), "
      f"Linux {machine['linux']}, commit {machine['commit']}")
def median(values):
    return statistics.median(values) if values else float("nan")
def train(preset, kernel, threads):
    sel = [r for r in rows if r.get("bench") == "train" and r["preset"] == preset
           and r["kernel"] == kernel and (r["threads"] == threads or threads == "all"
           and r["threads"] > 1)]
    return sel
def torch(preset):
    block = 64 if preset == "small" else 256
    return [r for r in rows if r.get("peer", "").startswith("pytorch")
            and r["config"]["block"] == block]
kernels = [k for k in ("header", "blas") if any(r.get("kernel") == k for r in rows
                                                 if r.get("bench") == "train")]
def col(sel, key):
    return median([r[key] for r in sel])
print()
print("Training, tokens per second (wall clock), medians of the rounds:")
print()
print("| preset | threads | " + " | ".join(f"{k}" for k in kernels) + " | PyTorch | " +
      " | ".join(f"{k} / PyTorch" for k in kernels) + " | " +
      " | ".join(f"{k} of peak" for k in kernels) + " |")
print("|---" * (3 + 3 * len(kernels)) + "|")
for preset in ("small", "large"):
    pt = torch(preset)
    pt_tps = median([r["tokens_per_second"] for r in pt])
    pt_threads = pt[0]["threads"] if pt else "?"
    for threads in (1, "all"):
        sels = [train(preset, k, threads) for k in kernels]
        shown = next((s[0]["threads"] for s in sels if s), threads)
        cells = [f"{col(s, 'tokens_per_second'):,.0f}" for s in sels]
        ratios = [f"{col(s, 'tokens_per_second') / pt_tps:.2f}x" if threads == "all" else ""
                  for s in sels]
        fracs = [f"{col(s, 'fraction_of_peak'):.2f}" for s in sels]
        torch_cell = f"{pt_tps:,.0f} ({pt_threads} thread)" if threads == "all" else ""
        print(f"| {preset} | {shown} | " + " | ".join(cells) + f" | {torch_cell} | " +
              " | ".join(ratios) + " | " + " | ".join(fracs) + " |")
print()
for preset in ("small", "large"):
    for k in kernels:
        one = col(train(preset, k, 1), "tokens_per_second")
        every = col(train(preset, k, "all"), "tokens_per_second")
        print(f"scaling {preset} {k}: every core / 1 thread = {every / one:.2f}")
starts = [r["start_join_us"] for r in rows if r.get("bench") == "threads"]
if starts:
    print(f"thread start and join: {median(starts):.0f} us, four times per step")
print()
print("Per CPU-second of the process (what the code does with the cores it gets), and memory:")
print()
print("| preset | threads | kernel | tokens / CPU-s | of peak | peak RSS MiB | model MiB "
      "(params + grads + moments + activations) |")
print("|---" * 7 + "|")
for preset in ("small", "large"):
    for threads in (1, "all"):
        for k in kernels:
            sel = train(preset, k, threads)
            if not sel:
                continue
            parts = " + ".join(f"{col(sel, key):.0f}" for key in
                               ("params_mib", "grads_mib", "moments_mib", "activations_mib"))
            print(f"| {preset} | {sel[0]['threads']} | {k} | "
                  f"{col(sel, 'tokens_per_cpu_second'):,.0f} | "
                  f"{col(sel, 'cpu_fraction_of_peak'):.2f} | {col(sel, 'peak_rss_mib'):.0f} | "
                  f"{col(sel, 'model_mib'):.0f} ({parts}) |")
gemm = [r for r in rows if r.get("bench") == "gemm"]
if gemm:
    print()
    has_blas = "blas_gflops" in gemm[0]
    print("| product | op | M | N | K | header GFLOP/s |" +
          (" OpenBLAS GFLOP/s | header / OpenBLAS |" if has_blas else ""))
    print("|---" * (6 + 2 * has_blas) + "|")
    for r in gemm:
        line = (f"| {r['shape']} | {r['op']} | {r['M']} | {r['N']} | {r['K']} | "
                f"{r['header_gflops']:.1f} |")
        if has_blas:
            line += f" {r['blas_gflops']:.1f} | {r['header_over_blas']:.2f} |"
        print(line)
other = [r for r in rows if r.get("bench") not in (None, "machine", "train", "threads", "gemm")]
if other:
    print()
    for r in other:
        print("  ".join(f"{k}: {v}" for k, v in r.items() if k != "round"))
print(f"\n(JSON lines: {sys.argv[1]})")
EOF
