#!/usr/bin/env python3
"""run_all.py GRADC DIR [ARGS...]: runs `GRADC ARGS... FILE` on every DIR/*.grad
(ARGS default: run --reference) and prints one line per failure and a
summary; exits 1 if any run failed (a non-zero status or a crash)."""
import glob
import os
import subprocess
import sys


def main():
    gradc, d = sys.argv[1], sys.argv[2]
    args = sys.argv[3:] or ["run", "--reference"]
    files = sorted(glob.glob(os.path.join(d, "*.grad")))
    bad = 0
    for f in files:
        p = subprocess.run([gradc] + args + [f], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if p.returncode != 0:
            bad += 1
            print("FAIL %s (status %d)" % (f, p.returncode))
            sys.stdout.write(p.stderr.decode(errors="replace")[-2000:])
    print("%d programs, %d failed" % (len(files), bad))
    sys.exit(1 if bad or not files else 0)


if __name__ == "__main__":
    main()
