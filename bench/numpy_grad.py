#!/usr/bin/env python3
"""numpy_grad.py: the same forward and backward passes as gradc's _grad for
the document's examples, written by hand in NumPy (the idiomatic way: one
array expression per step). Prints "NAME ns_per_call" per example.

    numpy_grad.py [SECONDS] [NAME...]
"""
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv(a, w):
    return np.einsum("ijpq,pq->ij", sliding_window_view(a, w.shape), w)


def elementwise(A, B):
    C = A * B
    L = C.sum()
    dC = np.ones((2, 2))
    return L, B * dC, A * dC


def matmul(A, B):
    C = A @ B
    L = C.sum()
    dC = np.ones((2, 2))
    return L, dC @ B.T, A.T @ dC


def sigmoid(Z):
    A = 1 / (1 + np.exp(-Z))
    L = A.sum()
    return L, A * (1 - A) * np.ones((2, 2))


def bias(W, A, b):
    C = W @ A + b
    L = C.sum()
    dC = np.ones((3, 2))
    return L, dC @ A.T, W.T @ dC, dC.sum(axis=1, keepdims=True)


def conv_ex(A, W):
    C = conv(A, W)
    L = C.sum()
    dC = np.ones((2, 2))
    return L, conv(np.pad(dC, 1), W[::-1, ::-1]), conv(A, dC)


def seed_conv(A, W, B):
    C = conv(A, W)
    t2 = 1 / (1 + np.exp(-(C * B)))
    L = t2.sum()
    dt1 = t2 * (1 - t2)
    dC = B * dt1
    return L, conv(np.pad(dC, 1), W[::-1, ::-1]), conv(A, dC), C * dt1


def mlp(X, Y, W1, b1, W2, b2):
    H = np.tanh(W1 @ X + b1)
    P = 1 / (1 + np.exp(-(W2 @ H + b2)))
    L = -np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P))
    D2 = (P - Y) / Y.shape[1]
    dW2 = D2 @ H.T
    db2 = D2.sum(axis=1, keepdims=True)
    D1 = (1 - H * H) * (W2.T @ D2)
    return L, D1 @ X.T, D1.sum(axis=1, keepdims=True), dW2, db2


r = np.random.default_rng(0)
EXAMPLES = {
    "elementwise": (elementwise, [(2, 2), (2, 2)]),
    "matmul": (matmul, [(2, 2), (2, 2)]),
    "sigmoid": (sigmoid, [(2, 2)]),
    "bias": (bias, [(3, 2), (2, 2), (3, 1)]),
    "conv": (conv_ex, [(3, 3), (2, 2)]),
    "seed_conv": (seed_conv, [(3, 3), (2, 2), (2, 2)]),
    "mlp": (mlp, [(4, 8), (1, 8), (16, 4), (16, 1), (1, 16), (1, 1)]),
}


def main():
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    names = sys.argv[2:] or list(EXAMPLES)
    for name in names:
        f, shapes = EXAMPLES[name]
        args = [r.uniform(-1, 1, s) for s in shapes]
        if name == "mlp":
            args[1] = (args[1] > 0).astype(float)
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                f(*args)
            if time.perf_counter() - t0 > 0.02:
                break
            n *= 2
        best, end = 1e30, time.perf_counter() + budget
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            for _ in range(n):
                f(*args)
            best = min(best, (time.perf_counter() - t0) / n)
        print("%s %.1f" % (name, best * 1e9))


if __name__ == "__main__":
    main()
