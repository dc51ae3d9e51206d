#!/usr/bin/env bash
# bench/run.sh: the benchmarks and PyTorch's reference on the same presets, in one run, and a
# table of the ratios.
#
#   bench/run.sh [--repeat N] [--seconds S] [--build DIR] [--text FILE]
#
# Builds DIR (default build-bench: release, -march=native, OpenBLAS when installed), then N
# times over (default 3), one after the other so that a busy machine slows all of them alike:
# training of both presets with 1 thread and with every core, with the configured kernel and
# (when that is BLAS) the header-only one, and PyTorch's reference on both presets. Every
# JSON line goes to DIR/bench-results.jsonl; the table shows medians over the N rounds.
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
if [[ ! -f $build/build.ninja ]]; then
    meson setup "$build" --buildtype=release -Dnative=true >/dev/null
fi
targets=(train_throughput gemm_bench)
header=()
if [[ -n $(meson introspect "$build" --targets | "$python" -c '
import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin) if t["name"].endswith("_header")))') ]]; then
    header=(train_throughput_header gemm_bench_header)
fi
meson compile -C "$build" "${targets[@]}" "${header[@]}" >/dev/null

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
    for bin in "${targets[0]}" "${header[@]:0:1}"; do
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
# the matrix products once, the header-only kernel against OpenBLAS when built with it
round=0
run "$build/bench/gemm_bench"

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
print()
print("| preset | threads | " + " | ".join(f"{k} tok/s" for k in kernels) +
      " | PyTorch tok/s | " + " | ".join(f"{k} / PyTorch" for k in kernels) +
      " | " + " | ".join(f"{k} of peak" for k in kernels) + " | peak RSS MiB | model MiB |")
print("|---" * (5 + 3 * len(kernels)) + "|")
for preset in ("small", "large"):
    pt = torch(preset)
    pt_tps = median([r["tokens_per_second"] for r in pt])
    pt_threads = pt[0]["threads"] if pt else "?"
    for threads in (1, "all"):
        cells, ratios, fracs, rss, model = [], [], [], [], []
        shown = threads
        for k in kernels:
            sel = train(preset, k, threads)
            tps = median([r["tokens_per_second"] for r in sel])
            cells.append(f"{tps:,.0f}")
            ratios.append(f"{tps / pt_tps:.2f}x" if threads == "all" else "")
            fracs.append(f"{median([r['fraction_of_peak'] for r in sel]):.2f}")
            rss += [r["peak_rss_mib"] for r in sel]
            model += [r["model_mib"] for r in sel]
            if sel and threads == "all":
                shown = sel[0]["threads"]
        torch_cell = f"{pt_tps:,.0f} ({pt_threads} thr)" if threads == "all" else ""
        print(f"| {preset} | {shown} | " + " | ".join(cells) + f" | {torch_cell} | " +
              " | ".join(ratios) + " | " + " | ".join(fracs) +
              f" | {median(rss):.0f} | {median(model):.0f} |")
print()
for preset in ("small", "large"):
    for k in kernels:
        one = median([r["tokens_per_second"] for r in train(preset, k, 1)])
        every = median([r["tokens_per_second"] for r in train(preset, k, "all")])
        print(f"scaling {preset} {k}: every core / 1 thread = {every / one:.2f}")
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
print(f"\n(JSON lines: {sys.argv[1]})")
EOF
