"""limits.py GRADC OUTDIR: programs of about a megabyte that once took
gradc quadratic time or memory, each run with a time limit.

For each case: writes OUTDIR/NAME.grad, runs `gradc grad [OPTIONS]` on it
with stdout and stderr to files, and fails (exit 1) if gradc dies from a
signal, exits with another status than expected, takes longer than
LIMIT_S seconds of wall time, or (when not under a sanitizer) has a peak
resident size above LIMIT_MB. Prints one line per case:
    NAME OPTIONS: exit N, T s, M MB
The limits are far above what a linear gradc needs (about a second and a
few hundred MB, optimized) and far below what the quadratic versions took. A case whose NAME ends in .out runs gradc on
the output of an earlier case.
"""
import os
import subprocess
import sys
import time

LIMIT_S = 60
LIMIT_MB = 1500


def chain(n):
    # one long dependency chain: every statement uses the previous one
    return ("input A[4, 4], B[4, 4]\nx0 = A\n"
            + "".join("x%d = tanh(x%d @ B) * 0.5 + A\n" % (i, i - 1) for i in range(1, n))
            + "L = sum(x%d)\n" % (n - 1))


def consts(n):
    # n distinct constants: hash-consing put them all in one bucket
    return ("input A[2, 2]\n"
            + "".join("y%d = sigmoid(A * %d)\n" % (k, k + 2) for k in range(n))
            + "L = sum(y0)\n")


def decls(n):
    # n inputs on one line, n - 1 of them unused: a warning each, every
    # one of which searched the whole line and wrote it byte by byte
    return "input " + ", ".join("A%d[2, 2]" % k for k in range(n)) + "\nL = sum(A0)\n"


def uses(n):
    # one variable used n times: its adjoint was a chain of n additions,
    # too deep to parse back (and to print, for large n)
    lines = ["input A[2, 2]", "x = sigmoid(A)"]
    lines += ["y%d = x * %d" % (i, i + 2) for i in range(n)]
    level, k = ["y%d" % i for i in range(n)], 0
    while len(level) > 1:
        nxt = []
        for j in range(0, len(level) - 1, 2):
            lines.append("z%d = %s + %s" % (k, level[j], level[j + 1]))
            nxt.append("z%d" % k)
            k += 1
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    lines.append("L = sum(%s)" % level[0])
    return "\n".join(lines) + "\n"


def deep_steps(n, per):
    # statements that nest `per` calls each: the closed form is n * per deep
    return ("data A[1, 1]\ninput B[1, 1]\nx0 = A\n"
            + "".join("x%d = %sx%d%s\n" % (i, "exp(" * per, i - 1, ")" * per)
                      for i in range(1, n))
            + "L = x%d * B\n" % (n - 1))


CASES = [
    # name, text, options, expected exit status
    ("chain28k", lambda: chain(28000), [], 0),
    ("chain28k", None, ["--closed"], 1),  # the closed form is too large: an error
    ("consts60k", lambda: consts(60000), [], 0),
    ("decls60k", lambda: decls(60000), [], 0),
    ("decls60k", None, ["--closed"], 0),
    ("uses20k", lambda: uses(20000), [], 0),
    ("uses20k.steps.out", None, [], 0),  # the derived program reads back
    ("uses20k", None, ["--closed"], 0),
    ("deep3700x50", lambda: deep_steps(3700, 50), [], 0),
    ("deep3700x50", None, ["--closed"], 1),  # nested too deeply: an error
    ("deep3700x50", None, ["--latex", "--closed"], 1),
]


def main():
    gradc, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    sanitized = any(v in os.environ for v in ("ASAN_OPTIONS", "UBSAN_OPTIONS"))
    failed = 0
    for name, make, opts, want in CASES:
        path = os.path.join(out, name if name.endswith(".out") else name + ".grad")
        if make:
            with open(path, "w") as f:
                f.write(make())
        tag = "-".join(o.lstrip("-") for o in opts) or "steps"
        with open(os.path.join(out, "%s.%s.out" % (name, tag)), "wb") as so, \
                open(os.path.join(out, "%s.%s.err" % (name, tag)), "wb") as se:
            t0 = time.monotonic()
            p = subprocess.Popen([gradc, "grad", path] + opts, stdout=so, stderr=se)
            timed_out = False
            while True:  # wait4: the peak RSS of this child alone
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - t0 > LIMIT_S:
                    p.kill()
                    pid, status, ru = os.wait4(p.pid, 0)
                    timed_out = True
                    break
                time.sleep(0.01)
            dt = time.monotonic() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
        if timed_out:
            print("FAIL %s %s: more than %d s" % (name, " ".join(opts), LIMIT_S))
            failed += 1
            continue
        mb = ru.ru_maxrss / 1024
        line = "%s %s: exit %d, %.2f s, %d MB" % (name, " ".join(opts), p.returncode, dt, mb)
        if p.returncode < 0:
            print("FAIL " + line + " (signal %d)" % -p.returncode)
            failed += 1
        elif p.returncode != want:
            print("FAIL " + line + " (expected exit %d)" % want)
            failed += 1
        elif not sanitized and mb > LIMIT_MB:
            print("FAIL " + line + " (more than %d MB)" % LIMIT_MB)
            failed += 1
        else:
            print(line)
    print("limits: %d cases, %d failed" % (len(CASES), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
