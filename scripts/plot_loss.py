#!/usr/bin/python3
"""Draws the training log that `shakespeare train` writes beside its model (model.csv) as a PNG:
train and validation loss against iterations (left) and against wall time (right).

    python3 scripts/plot_loss.py model.csv loss.png [--title TEXT]

Needs Debian's python3-matplotlib (scripts/install-deps.sh installs it).
"""
import argparse
import csv
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="the CSV log of a training run")
    ap.add_argument("png", help="the picture to write")
    ap.add_argument("--title", default=None, help="a title (default: the CSV's name)")
    a = ap.parse_args()
    try:
        with open(a.csv, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"plot_loss: {a.csv}: {e.strerror}")
    need = {"iteration", "train_loss", "val_loss", "elapsed_seconds"}
    if not rows or not need.issubset(rows[0]):
        sys.exit(f"plot_loss: {a.csv}: expected a header with {', '.join(sorted(need))} "
                 "and at least one row")
    try:
        it = [int(r["iteration"]) for r in rows]
        train = [float(r["train_loss"]) for r in rows]
        val = [float(r["val_loss"]) for r in rows]
        minutes = [float(r["elapsed_seconds"]) / 60 for r in rows]
    except ValueError as e:
        sys.exit(f"plot_loss: {a.csv}: a row is not numbers: {e}")

    try:
        import matplotlib
    except ImportError:
        sys.exit("plot_loss: matplotlib is missing: install Debian's python3-matplotlib and run "
                 "this script with /usr/bin/python3")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, x, label in ((left, it, "iteration"), (right, minutes, "minutes")):
        ax.plot(x, train, label="train")
        ax.plot(x, val, label="validation")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    left.set_ylabel("cross-entropy (nats per character)")
    left.legend()
    best = min(range(len(val)), key=val.__getitem__)
    right.annotate(f"{val[best]:.3f}", (minutes[best], val[best]), textcoords="offset points",
                   xytext=(0, 8), ha="center")
    fig.suptitle(a.title or a.csv)
    fig.tight_layout()
    fig.savefig(a.png, dpi=100)
    print(f"plot_loss: wrote {a.png} ({len(rows)} points, lowest validation loss {val[best]:.4f} "
          f"at iteration {it[best]})")


if __name__ == "__main__":
    main()
