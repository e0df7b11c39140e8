/* ops.c: per op, its shape rule and its adjoint rule, side by side.
 *
 * Every rule in op_adjoint reads: given the output's adjoint dy (and the
 * output y itself where that is cheaper), the contribution to each
 * operand's adjoint, already summed back over broadcast axes. The driver
 * (grad.c) seeds the result with 1, walks the steps backwards and adds the
 * contributions; this file only knows one op at a time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

const OpInfo op_info[OP_COUNT] = {
#define OP_INFO(e, s, n, f) [OP_##e] = {#e, s, n, f},
    GRADC_OPS(OP_INFO)
#undef OP_INFO
};

static void shape_text(char *buf, size_t n, Shape s)
{
    snprintf(buf, n, "[%lld, %lld]", (long long)s.dim[0], (long long)s.dim[1]);
}

/* NumPy broadcasting on 2-D: each dimension equal, or one of them 1. */
static bool broadcast(Shape a, Shape b, Shape *out)
{
    Shape r = shape2(0, 0);
    for (int i = 0; i < 2; i++) {
        if (a.dim[i] == b.dim[i] || b.dim[i] == 1)
            r.dim[i] = a.dim[i];
        else if (a.dim[i] == 1)
            r.dim[i] = b.dim[i];
        else
            return false;
    }
    *out = r;
    return true;
}

bool op_shape(Op op, const OpAttr *at, const Shape *in, Shape *out,
              char *msg, size_t msgsize)
{
    char sa[64], sb[64];
    shape_text(sa, sizeof sa, in[0]);
    if (op_info[op].arity == 2)
        shape_text(sb, sizeof sb, in[1]);
    int64_t r = in[0].dim[0], c = in[0].dim[1];

    switch (op) {
    case OP_VAR:
    case OP_CONST:
        *out = in[0];
        return true;

    /* a + b, a - b, a * b, a / b: NumPy broadcasting */
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
        if (broadcast(in[0], in[1], out))
            return true;
        snprintf(msg, msgsize, "'%s' needs shapes that broadcast: %s %s %s",
                 op_info[op].spelling, sa, op_info[op].spelling, sb);
        return false;

    /* [m,k] @ [k,n] -> [m,n] */
    case OP_MATMUL:
        if (in[0].dim[1] == in[1].dim[0]) {
            *out = shape2(r, in[1].dim[1]);
            return true;
        }
        snprintf(msg, msgsize, "'@' needs matching inner dimensions: %s @ %s",
                 sa, sb);
        return false;

    /* [m,n] -> [n,m] */
    case OP_TRANSPOSE:
        *out = shape2(c, r);
        return true;

    /* elementwise: same shape */
    case OP_NEG: case OP_POW: case OP_SIGMOID: case OP_TANH: case OP_RELU:
    case OP_EXP: case OP_LOG: case OP_SQRT: case OP_ABS: case OP_STEP:
    case OP_SIGN: case OP_SOFTPLUS: case OP_ROT180:
        *out = in[0];
        return true;

    /* sum(a) -> [1,1]; sum(a, axis=0) -> [1,n]; sum(a, axis=1) -> [m,1] */
    case OP_SUM:
    case OP_MEAN:
        if (at->axis == -1)
            *out = shape2(1, 1);
        else if (at->axis == 0)
            *out = shape2(1, c);
        else if (at->axis == 1)
            *out = shape2(r, 1);
        else {
            snprintf(msg, msgsize, "'%s' axis must be 0 or 1, not %d",
                     op_info[op].spelling, at->axis);
            return false;
        }
        return true;

    /* [h,w] conv [kh,kw] -> [h-kh+1, w-kw+1] */
    case OP_CONV:
        if (in[1].dim[0] <= r && in[1].dim[1] <= c) {
            *out = shape2(r - in[1].dim[0] + 1, c - in[1].dim[1] + 1);
            return true;
        }
        snprintf(msg, msgsize,
                 "'conv' needs a kernel no larger than its input: %s conv %s",
                 sa, sb);
        return false;

    /* [h,w] -> [h+2pr, w+2pc] */
    case OP_PAD:
        if (at->pad[0] < 0 || at->pad[1] < 0) {
            snprintf(msg, msgsize, "'pad' amounts must not be negative");
            return false;
        }
        *out = shape2(r + 2 * (int64_t)at->pad[0], c + 2 * (int64_t)at->pad[1]);
        return true;

    /* [h,w] -> [h-2pr, w-2pc] */
    case OP_CROP:
        if (at->pad[0] < 0 || at->pad[1] < 0) {
            snprintf(msg, msgsize, "'crop' amounts must not be negative");
            return false;
        }
        if (2 * (int64_t)at->pad[0] < r && 2 * (int64_t)at->pad[1] < c) {
            *out = shape2(r - 2 * (int64_t)at->pad[0], c - 2 * (int64_t)at->pad[1]);
            return true;
        }
        snprintf(msg, msgsize,
                 "'crop' by %d, %d on every side leaves nothing of %s",
                 at->pad[0], at->pad[1], sa);
        return false;

    case OP_COUNT:
        break;
    }
    snprintf(msg, msgsize, "unknown operation");
    return false;
}

Node *unbroadcast(Graph *g, Node *grad, Shape s)
{
    if (shape_eq(grad->shape, s))
        return grad;
    if (s.dim[0] == 1 && s.dim[1] == 1)
        return g_reduce(g, OP_SUM, grad, -1);
    if (s.dim[0] == 1 && grad->shape.dim[0] != 1)
        grad = g_reduce(g, OP_SUM, grad, 0);
    if (s.dim[1] == 1 && grad->shape.dim[1] != 1)
        grad = g_reduce(g, OP_SUM, grad, 1);
    return grad;
}

void op_adjoint(Graph *g, const Node *n, Node *y, Node *dy, Node *d[2])
{
    Node *a = n->arg[0], *b = n->arg[1];
    d[0] = d[1] = NULL;

    switch (n->op) {
    case OP_VAR:
    case OP_CONST:
        return;

    /* C = A + B:  dA = dC,  dB = dC  (each summed over its broadcast axes) */
    case OP_ADD:
        d[0] = dy;
        d[1] = dy;
        break;

    /* C = A - B:  dA = dC,  dB = -dC */
    case OP_SUB:
        d[0] = dy;
        d[1] = g_neg(g, dy);
        break;

    /* C = A * B:  dA = B * dC,  dB = A * dC */
    case OP_MUL:
        d[0] = g_mul(g, b, dy);
        d[1] = g_mul(g, a, dy);
        break;

    /* C = A / B:  dA = dC / B,  dB = -(A * dC / B^2) */
    case OP_DIV:
        d[0] = g_div(g, dy, b);
        d[1] = g_neg(g, g_div(g, g_mul(g, a, dy), g_pow(g, b, 2)));
        break;

    /* C = A @ B:  dA = dC @ B.T,  dB = A.T @ dC */
    case OP_MATMUL:
        d[0] = g_binary(g, OP_MATMUL, dy, g_t(g, b));
        d[1] = g_binary(g, OP_MATMUL, g_t(g, a), dy);
        return; /* no broadcasting */

    /* C = -A:  dA = -dC */
    case OP_NEG:
        d[0] = g_neg(g, dy);
        break;

    /* C = A^p:  dA = p * A^(p-1) * dC */
    case OP_POW:
        d[0] = g_mul(g, g_mul(g, g_scalar(g, n->value), g_pow(g, a, n->value - 1)), dy);
        break;

    /* C = A.T:  dA = dC.T */
    case OP_TRANSPOSE:
        d[0] = g_t(g, dy);
        break;

    /* S = sigmoid(Z):  dZ = S * (1 - S) * dS */
    case OP_SIGMOID:
        d[0] = g_mul(g, g_mul(g, y, g_sub(g, g_scalar(g, 1), y)), dy);
        break;

    /* T = tanh(Z):  dZ = (1 - T^2) * dT */
    case OP_TANH:
        d[0] = g_mul(g, g_sub(g, g_scalar(g, 1), g_pow(g, y, 2)), dy);
        break;

    /* R = relu(Z):  dZ = step(Z) * dR */
    case OP_RELU:
        d[0] = g_mul(g, g_unary(g, OP_STEP, a), dy);
        break;

    /* E = exp(Z):  dZ = E * dE */
    case OP_EXP:
        d[0] = g_mul(g, y, dy);
        break;

    /* Y = log(X):  dX = dY / X */
    case OP_LOG:
        d[0] = g_div(g, dy, a);
        break;

    /* Y = sqrt(X):  dX = dY / (2 * Y) */
    case OP_SQRT:
        d[0] = g_div(g, dy, g_mul(g, g_scalar(g, 2), y));
        break;

    /* Y = abs(X):  dX = sign(X) * dY */
    case OP_ABS:
        d[0] = g_mul(g, g_unary(g, OP_SIGN, a), dy);
        break;

    /* Y = softplus(X) = log(1 + exp(X)):  dX = sigmoid(X) * dY */
    case OP_SOFTPLUS:
        d[0] = g_mul(g, g_unary(g, OP_SIGMOID, a), dy);
        break;

    /* step, sign: derivative zero wherever it exists */
    case OP_STEP:
    case OP_SIGN:
        return;

    /* L = sum(X):  dX = ones(r, c) * dL  (over one axis: dL broadcast back) */
    case OP_SUM:
        d[0] = g_mul(g, g_const(g, 1, a->shape), dy);
        return;

    /* M = mean(X):  dX = ones(r, c) * dM / N, N the count averaged over */
    case OP_MEAN: {
        int64_t cnt = n->axis == -1 ? shape_numel(a->shape)
                                    : a->shape.dim[n->axis];
        d[0] = g_div(g, g_mul(g, g_const(g, 1, a->shape), dy), g_scalar(g, (double)cnt));
        return;
    }

    /* C = conv(A, W), W [kh,kw]:
     *   dW = conv(A, dC),  dA = conv(pad(dC, kh-1, kw-1), rot180(W)) */
    case OP_CONV: {
        int kh = (int)b->shape.dim[0], kw = (int)b->shape.dim[1];
        d[0] = g_binary(g, OP_CONV, g_pad(g, OP_PAD, dy, kh - 1, kw - 1),
                        g_unary(g, OP_ROT180, b));
        d[1] = g_binary(g, OP_CONV, a, dy);
        return;
    }

    /* P = pad(A, pr, pc):  dA = crop(dP, pr, pc) */
    case OP_PAD:
        d[0] = g_pad(g, OP_CROP, dy, n->pad[0], n->pad[1]);
        return;

    /* P = crop(A, pr, pc):  dA = pad(dP, pr, pc) */
    case OP_CROP:
        d[0] = g_pad(g, OP_PAD, dy, n->pad[0], n->pad[1]);
        return;

    /* R = rot180(A):  dA = rot180(dR) */
    case OP_ROT180:
        d[0] = g_unary(g, OP_ROT180, dy);
        return;

    case OP_COUNT:
        return;
    }
    /* elementwise ops: undo broadcasting */
    for (int i = 0; i < n->nargs; i++)
        if (d[i])
            d[i] = unbroadcast(g, d[i], n->arg[i]->shape);
}
