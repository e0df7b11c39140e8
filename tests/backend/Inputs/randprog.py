#!/usr/bin/env python3
"""randprog.py: random .grad programs for the backend tests.

    randprog.py --seed S --count N --out DIR     writes DIR/p000.grad ...

Each program declares a few inputs (and sometimes data), assigns 2-4
variables built from every op of the language (broadcasting, products,
reductions with and without axis, conv, pad, crop, rot180, transposes,
powers, every elementwise function) and ends in a scalar result, so the
gradients are derived too. Arguments of log, sqrt, division and negative
powers are kept positive and away from zero, and exp sees tanh of its
argument, so values stay finite and the comparison means something.
Deterministic for a seed (Python's own Mersenne Twister, same everywhere).
"""
import argparse
import os
import random


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.vars = []      # (name, shape) usable as operands
        self.decls = []     # (kind, name, shape)
        self.ninputs = 0

    def dim(self):
        return self.r.choice([1, 2, 2, 3, 3, 4])

    def fresh_input(self, shape):
        self.ninputs += 1
        kind = "data" if self.r.random() < 0.2 else "input"
        name = "%s%d" % ("D" if kind == "data" else "X", self.ninputs)
        self.decls.append((kind, name, shape))
        self.vars.append((name, shape))
        return name

    def leaf(self, shape):
        same = [n for n, s in self.vars if s == shape]
        if same and self.r.random() < 0.7:
            return self.r.choice(same)
        if shape == (1, 1) and self.r.random() < 0.3:
            return self.r.choice(["2", "0.5", "3", "1.5"])
        return self.fresh_input(shape)

    def positive(self, e):
        return "(%s * %s + 0.5)" % (e, e)

    def gen(self, shape, depth):
        r = self.r
        m, n = shape
        if depth <= 0 or r.random() < 0.15:
            return self.leaf(shape)
        d = depth - 1
        choices = ["bin", "bin", "bin", "unary", "unary", "matmul", "T", "reduce", "conv",
                   "rot180", "pow"]
        if m >= 3 or n >= 3:
            choices.append("pad")
        choices.append("crop")
        op = r.choice(choices)
        if op == "bin":
            o = r.choice(["+", "-", "*", "/"])
            # each operand: every dimension full, or 1 (broadcast)
            sa = tuple(x if (x == 1 or r.random() < 0.75) else 1 for x in shape)
            sb = tuple(x if (sa[i] == 1 and x > 1) or r.random() < 0.75 else 1
                       for i, x in enumerate(shape))
            a, b = self.gen(sa, d), self.gen(sb, d)
            if o == "/":
                b = self.positive(b)
            return "(%s %s %s)" % (a, o, b)
        if op == "unary":
            f = r.choice(["sigmoid", "tanh", "relu", "exp", "log", "sqrt", "abs", "step",
                          "sign", "softplus", "-"])
            a = self.gen(shape, d)
            if f == "-":
                return "(-%s)" % a
            if f == "exp":
                return "exp(tanh(%s))" % a
            if f in ("log", "sqrt"):
                return "%s(%s)" % (f, self.positive(a))
            return "%s(%s)" % (f, a)
        if op == "pow":
            p = r.choice(["2", "3", "-1", "0.5", "-0.5", "1.5"])
            a = self.gen(shape, d)
            if p not in ("2", "3"):
                a = self.positive(a)
            return "(%s ^ %s)" % (a, p)
        if op == "matmul":
            k = self.dim()
            a, b = self.gen((m, k), d), self.gen((k, n), d)
            return "(%s @ %s)" % (a, b) if r.random() < 0.8 else "dot(%s, %s)" % (a, b)
        if op == "T":
            a = self.gen((n, m), d)
            return "%s.T" % a if r.random() < 0.7 else "transpose(%s)" % a
        if op == "reduce":
            f = r.choice(["sum", "mean"])
            if shape == (1, 1):
                return "%s(%s)" % (f, self.gen((self.dim(), self.dim()), d))
            if m == 1:
                return "%s(%s, axis=0)" % (f, self.gen((self.dim(), n), d))
            if n == 1:
                return "%s(%s, axis=1)" % (f, self.gen((m, self.dim()), d))
            return self.leaf(shape)
        if op == "conv":
            kh, kw = r.choice([1, 2, 2, 3]), r.choice([1, 2, 2, 3])
            a = self.gen((m + kh - 1, n + kw - 1), d)
            w = self.gen((kh, kw), d)
            return "conv(%s, %s)" % (a, w)
        if op == "rot180":
            return "rot180(%s)" % self.gen(shape, d)
        if op == "pad":
            pr = r.randint(0, (m - 1) // 2)
            pc = r.randint(0, (n - 1) // 2)
            a = self.gen((m - 2 * pr, n - 2 * pc), d)
            return "pad(%s, %d, %d)" % (a, pr, pc) if pr != pc or r.random() < 0.5 \
                else "pad(%s, %d)" % (a, pr)
        if op == "crop":
            pr, pc = r.randint(0, 1), r.randint(0, 1)
            a = self.gen((m + 2 * pr, n + 2 * pc), d)
            return "crop(%s, %d, %d)" % (a, pr, pc)
        return self.leaf(shape)

    def program(self):
        r = self.r
        lines = []
        for k in range(r.randint(2, 4)):
            shape = (self.dim(), self.dim())
            e = self.gen(shape, r.randint(2, 4))
            name = "V%d" % (k + 1)
            lines.append("%s = %s" % (name, e))
            self.vars.append((name, shape))
        last, shape = self.vars[-1]
        other = self.gen(shape, 2)
        extra = "".join(" + %s(%s)" % (r.choice(["sum", "mean"]),
                                        nm if r.random() < 0.5 else "tanh(%s)" % nm)
                        for nm, _ in self.vars[-4:-1] if nm.startswith("V"))
        lines.append("L = %s(%s * %s)%s" % (r.choice(["sum", "mean"]), last, other, extra))
        if not any(k == "input" for k, _, _ in self.decls):
            self.decls.append(("input", "Xlast", (2, 2)))
            lines.append("L2 = L + sum(Xlast * Xlast)")
        decl = ["%s %s[%d, %d]" % (k, nm, s[0], s[1]) for k, nm, s in self.decls]
        return "\n".join("%s" % d for d in decl) + "\n" + "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.count):
        g = Gen(random.Random(a.seed * 100003 + i))
        with open(os.path.join(a.out, "p%03d.grad" % i), "w") as f:
            f.write("# random program %d of seed %d\n" % (i, a.seed))
            f.write(g.program())


if __name__ == "__main__":
    main()
