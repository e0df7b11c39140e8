/* graph.c: hash-consed node constructors that simplify as they build.
 *
 * Every node is made by intern(): structurally equal nodes (same op,
 * attributes and operand pointers) are one node, so a repeated
 * subexpression is computed once, and node ids follow creation order
 * (operands always have smaller ids: increasing id is a topological order).
 *
 * Simplifications, applied by the constructors (so every pass gets them):
 *   constant folding of elementwise ops, reductions, transposes and
 *     products of constants (folds neither to NaN nor to infinity);
 *   x * 1, 1 * x, x / 1, x + 0, 0 + x, x - 0  -> x   (when no broadcast
 *     widens x); 0 - x -> -x; x * 0, 0 * x, 0 / x, 0 @ x -> zeros
 *     (IEEE: this drops NaN/inf from x, the choice every symbolic
 *     differentiator makes; documented in docs/LANGUAGE.md);
 *   c1 * (c2 * x) -> (c1*c2) * x for scalar constants;
 *   x + x -> 2 * x; a + -b, -b + a -> a - b; a - -b -> a + b; --x -> x; x.T.T -> x; rot180(rot180(x)) -> x; x ^ 1 -> x;
 *   x ^ 0 -> ones; crop(pad(x, p, q), p, q) -> x; pad/crop by 0 -> x;
 *   sum/mean over an axis of length 1 -> x;
 *   log(sigmoid(x)) -> -softplus(-x), log(1 - sigmoid(x)) -> -softplus(x),
 *   log(1 + exp(x)) -> softplus(x)
 *     (numerically stable forms: no log(0) where sigmoid rounds to 0 or 1).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

Shape shape2(int64_t rows, int64_t cols)
{
    Shape s = {0};
    s.rank = 2;
    s.dim[0] = rows;
    s.dim[1] = cols;
    return s;
}

bool shape_eq(Shape a, Shape b)
{
    if (a.rank != b.rank)
        return false;
    for (int i = 0; i < a.rank; i++)
        if (a.dim[i] != b.dim[i])
            return false;
    return true;
}

int64_t shape_numel(Shape s)
{
    int64_t n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= s.dim[i];
    return n;
}

bool shape_is_scalar(Shape s) { return shape_numel(s) == 1; }

const char *shape_str(Arena *a, Shape s)
{
    return arena_printf(a, "[%lld, %lld]", (long long)s.dim[0], (long long)s.dim[1]);
}

Graph *graph_new(Arena *a)
{
    Graph *g = arena_alloc(a, sizeof *g);
    g->arena = a;
    g->table_size = 1024;
    g->table = arena_alloc(a, g->table_size * sizeof *g->table);
    return g;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t node_hash(const Node *n)
{
    uint64_t h = (uint64_t)n->op;
    uint64_t bits;
    memcpy(&bits, &n->value, sizeof bits);
    h = mix(h, bits);
    h = mix(h, (uint64_t)(n->axis + 7));
    h = mix(h, (uint64_t)n->pad[0] * 31 + (uint64_t)n->pad[1]);
    h = mix(h, (uint64_t)n->var);
    h = mix(h, (uint64_t)n->shape.dim[0] * 1000003u + (uint64_t)n->shape.dim[1]);
    for (int i = 0; i < n->nargs; i++)
        h = mix(h, (uint64_t)n->arg[i]->id + 1);
    /* Final avalanche (MurmurHash3's fmix64): the table index is the low
     * bits, and mix() moves high bits down only slowly, so without this
     * constants that differ only in their high bits (2, 3, 4, ... as
     * doubles) all met in one bucket: 10,000 of them took seconds. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static bool node_equal(const Node *a, const Node *b)
{
    return a->op == b->op && a->nargs == b->nargs && shape_eq(a->shape, b->shape) &&
           memcmp(&a->value, &b->value, sizeof a->value) == 0 && a->axis == b->axis &&
           a->pad[0] == b->pad[0] && a->pad[1] == b->pad[1] && a->var == b->var &&
           a->arg[0] == b->arg[0] && a->arg[1] == b->arg[1];
}

static void table_grow(Graph *g)
{
    size_t size = g->table_size * 2;
    Node **table = arena_alloc(g->arena, size * sizeof *table);
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        size_t k = node_hash(n) & (size - 1);
        n->hash_next = table[k];
        table[k] = n;
    }
    g->table = table;
    g->table_size = size;
}

/* Returns the node equal to *t, creating it if it does not exist yet. */
static Node *intern(Graph *g, const Node *t)
{
    size_t k = node_hash(t) & (g->table_size - 1);
    for (Node *n = g->table[k]; n; n = n->hash_next)
        if (node_equal(n, t))
            return n;
    Node *n = arena_alloc(g->arena, sizeof *n);
    *n = *t;
    n->id = g->nnodes;
    g->nodes = arena_grow(g->arena, g->nodes, &g->cap, g->nnodes + 1, sizeof *g->nodes);
    g->nodes[g->nnodes++] = n;
    n->hash_next = g->table[k];
    g->table[k] = n;
    if (++g->table_used * 2 > g->table_size)
        table_grow(g);
    return n;
}

static Node tmpl(Op op, Shape s)
{
    Node t;
    memset(&t, 0, sizeof t);
    t.op = op;
    t.shape = s;
    t.axis = -1;
    t.var = -1;
    return t;
}

/* The shape of op applied to a (and b); aborts on a shape error, which the
 * checker rules out before any constructor is called. */
static Shape result_shape(Op op, const OpAttr *at, Node *a, Node *b)
{
    Shape in[2] = {a->shape, b ? b->shape : a->shape}, out;
    char msg[256];
    if (!op_shape(op, at, in, &out, msg, sizeof msg)) {
        fprintf(stderr, "gradc: internal error: %s\n", msg);
        abort();
    }
    return out;
}

Node *g_var(Graph *g, int var, Shape shape)
{
    Node t = tmpl(OP_VAR, shape);
    t.var = var;
    return intern(g, &t);
}

Node *g_const(Graph *g, double value, Shape shape)
{
    Node t = tmpl(OP_CONST, shape);
    t.value = value == 0 ? 0.0 : value; /* one zero: -0.0 becomes 0.0 */
    return intern(g, &t);
}

Node *g_scalar(Graph *g, double value) { return g_const(g, value, shape2(1, 1)); }

bool node_is_const(const Node *n, double v) { return n->op == OP_CONST && n->value == v; }

static bool is_scalar_const(const Node *n)
{
    return n->op == OP_CONST && shape_is_scalar(n->shape);
}

/* Folds one elementwise op on constants; false if the result would not be
 * finite (folds neither NaN nor infinity: those stay visible as code). */
static bool fold(Op op, double a, double b, double p, double *out)
{
    double r;
    switch (op) {
    case OP_ADD: r = a + b; break;
    case OP_SUB: r = a - b; break;
    case OP_MUL: r = a * b; break;
    case OP_DIV: r = a / b; break;
    case OP_NEG: r = -a; break;
    case OP_POW: r = pow(a, p); break;
    case OP_SIGMOID: r = a >= 0 ? 1 / (1 + exp(-a)) : exp(a) / (1 + exp(a)); break;
    case OP_TANH: r = tanh(a); break;
    case OP_RELU: r = a > 0 ? a : 0; break;
    case OP_EXP: r = exp(a); break;
    case OP_LOG: r = log(a); break;
    case OP_SQRT: r = sqrt(a); break;
    case OP_ABS: r = fabs(a); break;
    case OP_STEP: r = a > 0 ? 1 : 0; break;
    case OP_SIGN: r = (a > 0) - (a < 0); break;
    case OP_SOFTPLUS: r = (a > 0 ? a : 0) + log1p(exp(-fabs(a))); break;
    default: return false;
    }
    if (!isfinite(r))
        return false;
    *out = r;
    return true;
}

Node *g_binary(Graph *g, Op op, Node *a, Node *b)
{
    OpAttr at = {.axis = -1};
    Shape s = result_shape(op, &at, a, b);
    bool a_full = shape_eq(a->shape, s), b_full = shape_eq(b->shape, s);
    double v;

    if (op_info[op].flags & OPF_ELEMWISE) {
        if (a->op == OP_CONST && b->op == OP_CONST && fold(op, a->value, b->value, 0, &v))
            return g_const(g, v, s);
        switch (op) {
        case OP_ADD:
            if (node_is_const(a, 0) && b_full) return b;
            if (node_is_const(b, 0) && a_full) return a;
            if (a == b) return g_mul(g, g_scalar(g, 2), a);
            if (b->op == OP_NEG) return g_sub(g, a, b->arg[0]);
            if (a->op == OP_NEG) return g_sub(g, b, a->arg[0]);
            break;
        case OP_SUB:
            if (node_is_const(b, 0) && a_full) return a;
            if (node_is_const(a, 0) && b_full) return g_neg(g, b);
            if (b->op == OP_NEG) return g_add(g, a, b->arg[0]);
            break;
        case OP_MUL:
            if (node_is_const(a, 1) && b_full) return b;
            if (node_is_const(b, 1) && a_full) return a;
            if (node_is_const(a, 0) || node_is_const(b, 0)) return g_const(g, 0, s);
            if (node_is_const(a, -1) && b_full) return g_neg(g, b);
            if (node_is_const(b, -1) && a_full) return g_neg(g, a);
            /* c1 * (c2 * x) -> (c1*c2) * x */
            if (is_scalar_const(a) && b->op == OP_MUL && is_scalar_const(b->arg[0]) &&
                fold(OP_MUL, a->value, b->arg[0]->value, 0, &v))
                return g_mul(g, g_scalar(g, v), b->arg[1]);
            break;
        case OP_DIV:
            if (node_is_const(b, 1) && a_full) return a;
            if (node_is_const(a, 0)) return g_const(g, 0, s);
            break;
        default:
            break;
        }
    } else if (op == OP_MATMUL) {
        if (node_is_const(a, 0) || node_is_const(b, 0))
            return g_const(g, 0, s);
        if (a->op == OP_CONST && b->op == OP_CONST &&
            fold(OP_MUL, a->value * b->value, (double)a->shape.dim[1], 0, &v))
            return g_const(g, v, s);
    } else if (op == OP_CONV) {
        if (node_is_const(a, 0) || node_is_const(b, 0))
            return g_const(g, 0, s);
    }
    Node t = tmpl(op, s);
    t.nargs = 2;
    t.arg[0] = a;
    t.arg[1] = b;
    return intern(g, &t);
}

Node *g_unary(Graph *g, Op op, Node *a)
{
    OpAttr at = {.axis = -1};
    Shape s = result_shape(op, &at, a, NULL);
    double v;

    if (a->op == OP_CONST) {
        if (op == OP_TRANSPOSE || op == OP_ROT180)
            return g_const(g, a->value, s);
        if (fold(op, a->value, 0, 0, &v))
            return g_const(g, v, s);
    }
    if (op == OP_NEG && a->op == OP_NEG)
        return a->arg[0];
    /* log(sigmoid(x)) = -softplus(-x); log(1 - sigmoid(x)) = -softplus(x):
     * finite (and exact) where the log of a rounded sigmoid is -inf */
    if (op == OP_LOG && a->op == OP_SIGMOID)
        return g_neg(g, g_unary(g, OP_SOFTPLUS, g_neg(g, a->arg[0])));
    /* log(1 + exp(x)) = softplus(x), finite where exp(x) overflows */
    if (op == OP_LOG && a->op == OP_ADD) {
        Node *l = a->arg[0], *r = a->arg[1];
        if (node_is_const(r, 1) && l->op == OP_EXP) {
            Node *t = l; l = r; r = t;
        }
        if (node_is_const(l, 1) && shape_is_scalar(l->shape) && r->op == OP_EXP)
            return g_unary(g, OP_SOFTPLUS, r->arg[0]);
    }
    if (op == OP_LOG && a->op == OP_SUB && node_is_const(a->arg[0], 1) &&
        a->arg[1]->op == OP_SIGMOID && shape_eq(a->shape, a->arg[1]->shape))
        return g_neg(g, g_unary(g, OP_SOFTPLUS, a->arg[1]->arg[0]));
    if (op == OP_TRANSPOSE && a->op == OP_TRANSPOSE)
        return a->arg[0];
    if (op == OP_ROT180 && a->op == OP_ROT180)
        return a->arg[0];
    Node t = tmpl(op, s);
    t.nargs = 1;
    t.arg[0] = a;
    return intern(g, &t);
}

Node *g_pow(Graph *g, Node *a, double p)
{
    double v;
    if (p == 1)
        return a;
    if (p == 0)
        return g_const(g, 1, a->shape);
    if (a->op == OP_CONST && fold(OP_POW, a->value, 0, p, &v))
        return g_const(g, v, a->shape);
    Node t = tmpl(OP_POW, a->shape);
    t.nargs = 1;
    t.arg[0] = a;
    t.value = p;
    return intern(g, &t);
}

Node *g_reduce(Graph *g, Op op, Node *a, int axis)
{
    OpAttr at = {.axis = axis};
    Shape s = result_shape(op, &at, a, NULL);
    double v;

    if (shape_eq(s, a->shape))
        return a; /* over an axis of length 1 (or of a [1, 1]) */
    if (a->op == OP_CONST) {
        double n = (double)(shape_numel(a->shape) / shape_numel(s));
        if (op == OP_MEAN)
            return g_const(g, a->value, s);
        if (fold(OP_MUL, a->value, n, 0, &v))
            return g_const(g, v, s);
    }
    Node t = tmpl(op, s);
    t.nargs = 1;
    t.arg[0] = a;
    t.axis = axis;
    return intern(g, &t);
}

Node *g_pad(Graph *g, Op op, Node *a, int pr, int pc)
{
    OpAttr at = {.axis = -1, .pad = {pr, pc}};
    Shape s = result_shape(op, &at, a, NULL);

    if (pr == 0 && pc == 0)
        return a;
    if (op == OP_CROP && a->op == OP_PAD && a->pad[0] == pr && a->pad[1] == pc)
        return a->arg[0];
    if (a->op == OP_CONST && (op == OP_CROP || a->value == 0))
        return g_const(g, a->value, s);
    Node t = tmpl(op, s);
    t.nargs = 1;
    t.arg[0] = a;
    t.pad[0] = pr;
    t.pad[1] = pc;
    return intern(g, &t);
}

Node *g_rebuild(Graph *g, const Node *n, Node *a, Node *b)
{
    switch (n->op) {
    case OP_VAR:
    case OP_CONST:
        return (Node *)n;
    case OP_POW:
        return g_pow(g, a, n->value);
    case OP_SUM:
    case OP_MEAN:
        return g_reduce(g, n->op, a, n->axis);
    case OP_PAD:
    case OP_CROP:
        return g_pad(g, n->op, a, n->pad[0], n->pad[1]);
    default:
        return n->nargs == 2 ? g_binary(g, n->op, a, b) : g_unary(g, n->op, a);
    }
}

Node *g_add(Graph *g, Node *a, Node *b) { return g_binary(g, OP_ADD, a, b); }
Node *g_sub(Graph *g, Node *a, Node *b) { return g_binary(g, OP_SUB, a, b); }
Node *g_mul(Graph *g, Node *a, Node *b) { return g_binary(g, OP_MUL, a, b); }
Node *g_div(Graph *g, Node *a, Node *b) { return g_binary(g, OP_DIV, a, b); }
Node *g_neg(Graph *g, Node *a) { return g_unary(g, OP_NEG, a); }
Node *g_t(Graph *g, Node *a) { return g_unary(g, OP_TRANSPOSE, a); }

void node_walk(Graph *g, Node *root, void (*fn)(Node *n, void *ctx), void *ctx)
{
    node_walk_pruned(g, root, NULL, fn, ctx);
}

void node_walk_pruned(Graph *g, Node *root, bool (*skip)(Node *n, void *ctx),
                      void (*fn)(Node *n, void *ctx), void *ctx)
{
    /* An explicit stack of (node, next operand to visit). */
    struct Frame { Node *n; int next; } *stack = NULL;
    int cap = 0, top = 0;
    unsigned epoch = ++g->epoch;

    stack = arena_grow(g->arena, stack, &cap, 16, sizeof *stack);
    root->mark = epoch;
    if (skip && skip(root, ctx))
        return;
    stack[top++] = (struct Frame){root, 0};
    while (top > 0) {
        struct Frame *f = &stack[top - 1];
        if (f->next < f->n->nargs) {
            Node *a = f->n->arg[f->next++];
            if (a->mark != epoch) {
                a->mark = epoch;
                if (skip && skip(a, ctx))
                    continue;
                stack = arena_grow(g->arena, stack, &cap, top + 1, sizeof *stack);
                stack[top++] = (struct Frame){a, 0};
            }
            continue;
        }
        top--;
        fn(f->n, ctx);
    }
}
