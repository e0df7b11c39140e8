#!/usr/bin/env python3
"""npytool.py: .npy files for the backend tests (needs NumPy).

  npytool.py write PATH ROWS COLS V...      a [ROWS, COLS] '<f8' array, row-major
  npytool.py write1d PATH V...              a 1-D '<f8' array
  npytool.py expect PATH ROWS COLS V...     PATH holds exactly this shape and these
                                            values (relative 1e-12, or --rtol R)
  npytool.py bad PATH KIND                  a damaged file: truncated, dtype, shape3d,
                                            fortran, garbage, magic, version, short
"""
import sys

import numpy as np


def main():
    a = sys.argv[1:]
    rtol = 1e-12
    if "--rtol" in a:
        i = a.index("--rtol")
        rtol = float(a[i + 1])
        del a[i:i + 2]
    cmd = a[0]
    if cmd == "write":
        r, c = int(a[2]), int(a[3])
        np.save(a[1], np.array([float(x) for x in a[4:]], dtype="<f8").reshape(r, c))
    elif cmd == "write1d":
        np.save(a[1], np.array([float(x) for x in a[2:]], dtype="<f8"))
    elif cmd == "expect":
        got = np.load(a[1])
        r, c = int(a[2]), int(a[3])
        want = np.array([float(x) for x in a[4:]]).reshape(r, c)
        if got.shape != want.shape:
            sys.exit("%s: shape %s, expected %s" % (a[1], got.shape, want.shape))
        if not np.allclose(got, want, rtol=rtol, atol=1e-300):
            sys.exit("%s:\n%r\nexpected\n%r" % (a[1], got, want))
        print("%s ok" % a[1])
    elif cmd == "bad":
        path, kind = a[1], a[2]
        good = np.arange(4, dtype="<f8").reshape(2, 2)
        if kind == "truncated":
            np.save(path, good)
            data = open(path, "rb").read()
            open(path, "wb").write(data[:-12])
        elif kind == "dtype":
            np.save(path, good.astype("<i8"))
        elif kind == "bigendian":
            np.save(path, good.astype(">f8"))
        elif kind == "shape3d":
            np.save(path, np.zeros((2, 2, 1)))
        elif kind == "shape":
            np.save(path, np.zeros((3, 2)))
        elif kind == "fortran":
            np.save(path, np.asfortranarray(np.array([[1.0, 2.0], [3.0, 4.0]])))
        elif kind == "garbage":
            np.save(path, good)
            data = bytearray(open(path, "rb").read())
            data[10:20] = b"garbage!!!"
            open(path, "wb").write(bytes(data))
        elif kind == "magic":
            open(path, "wb").write(b"this is not a numpy file at all\n")
        elif kind == "version":
            np.save(path, good)
            data = bytearray(open(path, "rb").read())
            data[6] = 9
            open(path, "wb").write(bytes(data))
        elif kind == "short":
            open(path, "wb").write(b"\x93NUM")
        elif kind == "extra":
            np.save(path, good)
            open(path, "ab").write(b"\0" * 8)
        else:
            sys.exit("unknown kind " + kind)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
