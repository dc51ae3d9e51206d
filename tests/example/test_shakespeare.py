#!/usr/bin/env python3
"""The shakespeare example as a user meets it: started as a process, signalled, fed bad input.

Usage: test_shakespeare.py PATH_TO_SHAKESPEARE_BINARY
Prints one line per check and a closing "N passed, M failed"; exits 1 if any check failed.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def run(args, stdin=None, cwd=None, timeout=300):
    return subprocess.run([BIN] + args, input=stdin, capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def train_until_logged(args, cwd, sig):
    """Starts training, waits for its first log line, sends sig; returns (code, seconds, out)."""
    p = subprocess.Popen([BIN, "train"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=cwd)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.startswith("iter "):
            break
    t0 = time.monotonic()
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    return p.returncode, time.monotonic() - t0, "".join(lines) + out + err


def main():
    with tempfile.TemporaryDirectory() as d:
        model = os.path.join(d, "m.json")
        # a short run makes the model the other checks use
        r = run(["train", "--model", model, "--iters", "20", "--eval-every", "10",
                 "--checkpoint-every", "10"])
        check("train: a short run exits 0", r.returncode == 0, r.stderr)
        check("train: logs every --eval-every iterations",
              r.stdout.count("iter ") == 2 and "val " in r.stdout, r.stdout)
        check("train: writes the model, its best copy and the CSV log",
              all(os.path.exists(os.path.join(d, f)) for f in ("m.json", "m.best.json", "m.csv")),
              os.listdir(d))
        with open(os.path.join(d, "m.csv")) as f:
            rows = f.read().splitlines()
        check("train: one CSV row per log", len(rows) == 3 and rows[0].startswith("iteration,"),
              rows)

        r = run(["info", "--model", model])
        check("info: describes the file", r.returncode == 0 and "iterations: 20" in r.stdout,
              r.stdout + r.stderr)

        r = run(["ask", "--model", model, "--max-chars", "50"],
                stdin="What is love?\n\nWho art thou?\n")
        check("ask: piped questions are each answered, exit 0",
              r.returncode == 0 and r.stdout.count("JULIET:") == 2, r.stdout + r.stderr)
        r = run(["--mode=ask", "--model", model, "--question", "Is it 4 o'clock? 🙂",
                 "--max-chars", "20"])
        check("ask: --mode=ask works and unknown characters are dropped with a warning",
              r.returncode == 0 and "dropped" in r.stderr and "'4'" in r.stderr, r.stderr)
        a = run(["ask", "--model", model, "--question", "Speak", "--seed", "3"])
        b = run(["ask", "--model", model, "--question", "Speak", "--seed", "3"])
        check("ask: one seed gives one answer", a.stdout == b.stdout and a.stdout, a.stdout)

        r = run(["sample", "--model", model, "--prompt", "ROMEO:", "--num-samples", "2",
                 "--max-chars", "30"])
        check("sample: two samples, speed on stderr",
              r.returncode == 0 and r.stdout.count("ROMEO:") >= 2 and "characters/s" in r.stderr,
              r.stdout + r.stderr)

        for flags, what in [(["--temperature", "-1"], "negative temperature"),
                            (["--top-p", "0"], "top-p 0"), (["--top-p", "1.5"], "top-p 1.5"),
                            (["--top-k", "-1"], "negative top-k"), (["--bogus"], "unknown flag")]:
            r = run(["ask", "--model", model, "--question", "Hi"] + flags)
            check(f"ask: {what} is a usage error, exit 2",
                  r.returncode == 2 and r.stderr.strip() != "", r.stderr)
        # numbers out of range: the range in the message, exit 2, nothing written
        for flags, want in [(["--batch", "100000"], "from 1 to 1024"),
                            (["--iters", "0"], "from 1 to"), (["--lr", "nan"], "(0, "),
                            (["--seed", "-1"], "whole number"),
                            (["--iters", "99999999999999999999"], "whole number")]:
            out = os.path.join(d, "range.json")
            r = run(["train", "--model", out] + flags)
            check(f"train: {' '.join(flags)} is refused with its range, exit 2",
                  r.returncode == 2 and want in r.stderr and not os.path.exists(out), r.stderr)
        # a directory as the model file: found before training, even with --fresh
        folder = os.path.join(d, "folder.json")
        os.mkdir(folder)
        r = run(["train", "--model", folder, "--fresh", "--iters", "5"])
        check("train: a directory as --model is refused before training, exit 2",
              r.returncode == 2 and "is a directory" in r.stderr and "iter " not in r.stdout
              and not os.path.exists(os.path.join(d, "folder.csv")), r.stdout + r.stderr)
        # a piped line that is not UTF-8 is skipped; the lines around it are answered
        p = subprocess.run([BIN, "ask", "--model", model, "--max-chars", "10"],
                           input=b"Hi there\n\xff\xfe bad\nWho art thou?\n",
                           capture_output=True, timeout=300)
        err = p.stderr.decode("utf-8", "replace")
        check("ask: a piped line that is not UTF-8 is skipped, the others answered, exit 2",
              p.returncode == 2 and p.stdout.decode("utf-8", "replace").count("JULIET:") == 2
              and "line 2 of standard input" in err, err)

        r = run(["ask", "--model", os.path.join(d, "none.json"), "--question", "Hi"])
        check("ask: a missing model says how to train one, exit 2",
              r.returncode == 2 and "shakespeare train" in r.stderr, r.stderr)

        # a damaged file: one clear line, exit 2
        damaged = os.path.join(d, "damaged.json")
        with open(model) as f:
            text = f.read()
        with open(damaged, "w") as f:
            f.write(text[: len(text) // 2])
        r = run(["info", "--model", damaged])
        check("info: a damaged file prints one line and exits 2",
              r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr)

        # bad training data: a message, exit 2, nothing written
        bad = {
            "missing": None,
            "empty": b"",
            "invalid UTF-8": b"To be, or not\xff to be" * 100,
            "too short": b"To be, or not to be",
            "too many characters": bytes(range(32, 127)) * 20,
        }
        for what, content in bad.items():
            data = os.path.join(d, "bad.txt")
            if os.path.exists(data):
                os.remove(data)
            if content is not None:
                with open(data, "wb") as f:
                    f.write(content)
            out = os.path.join(d, "bad-model.json")
            r = run(["train", "--data", data, "--model", out, "--iters", "5"])
            check(f"train: {what} data is refused with a message and no file",
                  r.returncode == 2 and "bad.txt" in r.stderr and not os.path.exists(out)
                  and not os.path.exists(os.path.join(d, "bad-model.csv")), r.stderr)

        # a model for another preset is refused and left untouched
        before = open(model, "rb").read()
        r = run(["train", "--model", model, "--preset", "medium", "--iters", "1"])
        check("train: a file of another preset is refused and left as it is",
              r.returncode == 2 and "preset" in r.stderr and open(model, "rb").read() == before,
              r.stderr)

        # Ctrl+C and SIGTERM: stop after the step, save, exit 130 / 143
        for sig, code in [(signal.SIGINT, 130), (signal.SIGTERM, 143)]:
            path = os.path.join(d, f"sig{code}.json")
            rc, seconds, out = train_until_logged(
                ["--model", path, "--iters", "100000", "--eval-every", "2"], d, sig)
            check(f"train: {sig.name} exits {code} within a few seconds",
                  rc == code and seconds < 10, f"rc {rc} after {seconds:.1f} s\n{out}")
            r = run(["info", "--model", path])
            check(f"train: the model saved on {sig.name} loads", r.returncode == 0, r.stderr)

        # resume: a second run goes on from the first
        r = run(["train", "--model", model, "--iters", "10", "--eval-every", "10"])
        check("train: resuming continues from the file's iteration",
              r.returncode == 0 and "resuming at iteration 20" in r.stdout
              and "iter     30" in r.stdout, r.stdout + r.stderr)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
