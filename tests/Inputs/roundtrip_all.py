"""roundtrip_all.py GRADC DIR...: the round trip of SPEC section 3 on every
program in DIRs (examples and golden tests) that `gradc grad` accepts.

For each such program P, with D = `gradc grad P` and C = `gradc grad --closed P`:
  - D and C are valid programs: `gradc grad` accepts them again (exit 0);
  - printing is stable: `gradc fmt D` == D and `gradc fmt C` == C;
  - formatting is idempotent: fmt(fmt(P)) == fmt(P).
Fails (exit 1) naming the program and the step on the first difference; also
fails if fewer than 20 programs were checked, so a broken glob cannot pass.
"""
import glob
import os
import subprocess
import sys
import tempfile


def run(args, stdin_file=None):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode < 0:
        raise SystemExit("%s died from signal %d" % (" ".join(args), -p.returncode))
    return p.returncode, p.stdout, p.stderr


def main():
    gradc, dirs = sys.argv[1], sys.argv[2:]
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, text):
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write(text)
            return path

        for d in dirs:
            for prog in sorted(glob.glob(os.path.join(d, "*.grad"))):
                rc, derived, _ = run([gradc, "grad", prog])
                if rc != 0:
                    continue  # a diagnostic test: rejected on purpose
                checked += 1
                _, formatted, _ = run([gradc, "fmt", prog])
                rc, closed, err = run([gradc, "grad", "--closed", prog])
                if rc != 0:
                    print("FAIL %s: grad --closed exits %d: %s" % (prog, rc, err))
                    return 1
                for kind, text in (("derived", derived), ("closed", closed), ("fmt", formatted)):
                    path = write("p.grad", text)
                    rc, again, err = run([gradc, "fmt", path])
                    if rc != 0 or again != text:
                        print("FAIL %s: fmt of the %s program differs (exit %d)\n%s\n--- first\n%s--- again\n%s"
                              % (prog, kind, rc, err, text, again))
                        return 1
                    rc, _, err = run([gradc, "grad", path])
                    if rc != 0:
                        print("FAIL %s: grad rejects the %s program:\n%s\n%s" % (prog, kind, err, text))
                        return 1
    print("round trip: %d programs" % checked)
    return 0 if checked >= 20 else 1


if __name__ == "__main__":
    sys.exit(main())
