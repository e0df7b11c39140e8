"""closed_depth.py GRADC OUTDIR: `gradc grad --closed` near the nesting limit.

For each template statement (one use of the previous variable per
statement, so the closed forms grow in depth, not in size), finds by
bisection the number of statements N at which --closed stops printing, and
checks both sides of the boundary:
  - with N - 1 statements --closed exits 0 and what it prints is accepted
    by `gradc grad` (the text is within the nesting limit);
  - with N statements it exits 1 saying the closed form is nested too
    deeply (never a crash, never text that does not parse back).
Prints one line per template and "closed depth: K templates, F failed".
"""
import os
import subprocess
import sys

TEMPLATES = [
    # name, declarations, statement (%(y)s: the new name, %(x)s: the
    # previous). Only `exp` has an input (B, whose gradient is as deep as the
    # result); elsewhere the result alone is printed, whatever its operations.
    ("exp", "data A[1, 1]\ninput B[1, 1]", "%(y)s = exp(%(x)s)"),
    ("negscale", "data A[2, 2], B[2, 2]", "%(y)s = -(%(x)s - B) * -3"),
    ("powparen", "data A[1, 1], B[1, 1]", "%(y)s = (B - %(x)s) ^ 3"),
    ("transpose", "data A[2, 3], B[2, 2]", "%(y)s = (%(x)s.T @ B).T"),
    ("calls", "data A[2, 3], B[2, 3]", "%(y)s = pad(crop(mean(%(x)s, axis=1) * B, 0, 1), 0, 1)"),
    ("division", "data A[1, 1], B[1, 1]", "%(y)s = B / (1 + %(x)s ^ 2)"),
    ("negconst", "data A[2, 2]", "%(y)s = -2 * ones(2, 2) - %(x)s"),
]


def program(decls, stmt, n):
    lines = [decls, "x0 = A"]
    for i in range(1, n + 1):
        lines.append(stmt % {"y": "x%d" % i, "x": "x%d" % (i - 1)})
    lines.append("L = sum(x%d) * B" % n if "input B" in decls else "L = sum(x%d)" % n)
    return "\n".join(lines) + "\n"


def run(args):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode < 0:
        raise SystemExit("FAIL %s died from signal %d" % (" ".join(args), -p.returncode))
    return p.returncode, p.stdout, p.stderr


def main():
    gradc, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    failed = 0
    for name, decls, stmt in TEMPLATES:
        path = os.path.join(out, name + ".grad")

        def closed(n):
            with open(path, "w") as f:
                f.write(program(decls, stmt, n))
            rc, text, err = run([gradc, "grad", "--closed", path])
            if rc not in (0, 1):
                raise SystemExit("FAIL %s n=%d: exit %d\n%s" % (name, n, rc, err))
            return rc, text, err

        lo, hi = 1, 1  # closed(lo) prints, closed(hi) does not
        while closed(hi)[0] == 0:
            lo, hi = hi, hi * 2
            if hi > 20000:
                raise SystemExit("FAIL %s: --closed never refuses" % name)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if closed(mid)[0] == 0:
                lo = mid
            else:
                hi = mid
        rc, text, err = closed(hi)
        ok = "nested more than 5000 levels deep" in err
        if not ok:
            print("FAIL %s n=%d: refused for another reason: %s" % (name, hi, err.strip()))
            failed += 1
            continue
        rc, text, err = closed(lo)
        back = os.path.join(out, name + ".closed.grad")
        with open(back, "w") as f:
            f.write(text)
        rc2, _, err2 = run([gradc, "grad", back])
        if rc != 0 or rc2 != 0:
            print("FAIL %s n=%d: the closed program is not accepted again:\n%s"
                  % (name, lo, err2.strip()[:400]))
            failed += 1
            continue
        print("%s: --closed prints up to %d statements and reads back" % (name, lo))
    print("closed depth: %d templates, %d failed" % (len(TEMPLATES), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
