"""malformed.py OUTDIR: writes the hostile inputs of issue 2 into OUTDIR.

empty.grad          an empty file (no variable: an error)
nul.grad            NUL bytes only
nul_mid.grad        a valid program with a NUL byte in a statement
unterminated.grad   a '(' never closed
nest10k.grad        10,000 nested parentheses (beyond the limit: an error)
nest1k.grad         1,000 nested parentheses (valid)
line100k.grad       a 100 KB line: a+a+...  (beyond the nesting limit: an error)
neg20k.grad         20,000 unary minus signs
stmts5k.grad        5,000 chained statements (valid)
"""
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


write("empty.grad", b"")
write("nul.grad", b"\0" * 1000)
write("nul_mid.grad", b"input A[2, 2]\nL = sum(A\0)\n")
write("unterminated.grad", "input A[2, 2]\nL = sum((A * 2)\n")
write("nest10k.grad", "input A[2, 2]\nL = sum(" + "(" * 10000 + "A" + ")" * 10000 + ")\n")
write("nest1k.grad", "input A[2, 2]\nL = sum(" + "(" * 1000 + "A" + ")" * 1000 + ")\n")
write("line100k.grad", "input A[2, 2]\nL = sum(A" + "+A" * 50000 + ")\n")
write("neg20k.grad", "input A[2, 2]\nL = sum(" + "-" * 20000 + "A)\n")
write("stmts5k.grad", "input A[2, 2]\nx0 = A\n"
      + "".join("x%d = tanh(x%d) * 0.5 + A\n" % (i, i - 1) for i in range(1, 5000))
      + "L = sum(x4999)\n")
