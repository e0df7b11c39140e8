"""extremes.py GRADC TMPDIR: values and gradients at inputs of magnitude 1000.

For each program, `gradc run --set x=... --out DIR` must give a finite result
and finite gradients equal to PyTorch's within 1e-12 (|a - b| <= 1e-12 *
max(1, |b|)). The reference numbers below were computed once with PyTorch
2.x in float64 (torch.sigmoid, torch.tanh, torch.exp, and, where the naive
PyTorch expression itself gives -inf or NaN, the stable functions PyTorch
users call instead: F.logsigmoid(x) for log(sigmoid(x)), F.logsigmoid(-x)
for log(1 - sigmoid(x)), F.softplus(x) for log(1 + exp(x))). The script that
produced them is in the comment at the end of this file.
"""
import os
import subprocess
import sys

import numpy as np

X = [1000.0, -1000.0, 745.0, -745.0, 30.0, -30.0, 0.5, 0.0]

CASES = {
    "sigmoid": ("sum(sigmoid(x))", 4.1224593312018545,
                [0.0, 0.0, 0.0, 0.0, 9.348077867342945e-14, 9.357622968838423e-14,
                 0.2350037122015945, 0.25]),
    "log_sigmoid": ("sum(log(sigmoid(x)))", -1776.16722416474,
                    [0.0, 1.0, 5e-324, 1.0, 9.3576229688393e-14, 0.9999999999999064,
                     0.37754066879814546, 0.5]),
    "log_1m_sigmoid": ("sum(log(1 - sigmoid(x)))", -1776.66722416474,
                       [-1.0, -0.0, -1.0, -5e-324, -0.9999999999999064, -9.3576229688393e-14,
                        -0.6224593312018545, -0.5]),
    "log_1p_exp": ("sum(log(1 + exp(x)))", 1776.66722416474,
                   [1.0, 0.0, 1.0, 5e-324, 1.0, 9.3576229688393e-14, 0.6224593312018546, 0.5]),
    "tanh": ("sum(tanh(x))", 0.4621171572600098,
             [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.7864477329659274, 1.0]),
    "exp_neg_sq": ("sum(exp(-x * x / 1000000))", 5.882075261238575,
                   [-0.0007357588823428847, 0.0007357588823428847, -0.0008553462852582603,
                    0.0008553462852582603, -5.9946024292711646e-05, 5.9946024292711646e-05,
                    -9.999997500000312e-07, -0.0]),
    "sigmoid_tanh": ("sum(sigmoid(tanh(x) * 1000))", 4.5,
                     [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 250.0]),
}


def close(a, b):
    return np.isfinite(a) and abs(a - b) <= 1e-12 * max(1.0, abs(b))


def main():
    gradc, tmp = sys.argv[1], sys.argv[2]
    os.makedirs(tmp, exist_ok=True)
    xpath = os.path.join(tmp, "x.npy")
    np.save(xpath, np.array([X]))
    failed = 0
    for name, (expr, want_l, want_g) in CASES.items():
        src = os.path.join(tmp, name + ".grad")
        with open(src, "w") as f:
            f.write("input x[1, %d]\nL = %s\n" % (len(X), expr))
        out = os.path.join(tmp, name)
        p = subprocess.run([gradc, "run", src, "--set", "x=" + xpath, "--out", out],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print("FAIL %s: gradc run exits %d\n%s" % (name, p.returncode, p.stderr))
            failed += 1
            continue
        got_l = float(np.load(os.path.join(out, "L.npy"))[0, 0])
        got_g = np.load(os.path.join(out, "grad", "x.npy"))[0]
        bad = [i for i in range(len(X)) if not close(got_g[i], want_g[i])]
        if not close(got_l, want_l) or bad:
            print("FAIL %s: L = %r (PyTorch %r); dx differs at %s: %r vs %r"
                  % (name, got_l, want_l, bad, [got_g[i] for i in bad], [want_g[i] for i in bad]))
            failed += 1
        else:
            print("ok %s" % name)
    print("%d of %d programs match PyTorch" % (len(CASES) - failed, len(CASES)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

# The reference numbers (torch 2.x, float64):
#   import torch
#   xs = [1000.0, -1000.0, 745.0, -745.0, 30.0, -30.0, 0.5, 0.0]
#   F = torch.nn.functional
#   for f in (lambda x: torch.sigmoid(x).sum(), lambda x: F.logsigmoid(x).sum(),
#             lambda x: F.logsigmoid(-x).sum(), lambda x: F.softplus(x).sum(),
#             lambda x: torch.tanh(x).sum(), lambda x: torch.exp(-x * x / 1e6).sum(),
#             lambda x: torch.sigmoid(torch.tanh(x) * 1000).sum()):
#       x = torch.tensor([xs], dtype=torch.float64, requires_grad=True)
#       L = f(x); L.backward(); print(repr(L.item()), x.grad[0].tolist())
