"""expect_exit.py N CMD [ARGS...]: run CMD; succeed iff it exits with status N.

A crash (death by a signal, e.g. a sanitizer's abort) is always a failure, as
with LLVM's `not`. CMD's output passes through, so it can be piped to FileCheck.
"""
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: expect_exit.py N CMD [ARGS...]\n")
        return 2
    want = int(sys.argv[1])
    sys.stdout.flush()
    got = subprocess.call(sys.argv[2:])
    if got < 0:
        sys.stderr.write("expect_exit: %s died from signal %d\n" % (sys.argv[2], -got))
        return 1
    if got != want:
        sys.stderr.write("expect_exit: %s exited with status %d, expected %d\n"
                         % (sys.argv[2], got, want))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
