/* eval.c: the reference evaluator.
 *
 * A direct, unoptimized interpreter of the graph in double precision. It is
 * the ground truth for the tests and for `gradc check`, so it is written to
 * be obviously correct rather than fast: every node gets its own freshly
 * allocated matrix, every loop is the textbook definition of its op, and
 * every shape is checked against its operands before anything is read.
 *
 * Order of work:
 *   1. the vars to compute are every live STEP/ADJOINT var with a
 *      definition, plus (transitively) any step var such a definition reads;
 *      they are computed in dependency order (an explicit-stack DFS, so a
 *      program in the usual order is computed in index order);
 *   2. for one var, the nodes reachable from its definition are collected
 *      (explicit stack, no recursion) and evaluated in increasing id order:
 *      operands always have smaller ids, so each operand is ready when its
 *      user is evaluated, and a node shared within the DAG is computed once;
 *   3. the root's value is copied into vals[v] and the node values freed.
 *
 * Storage is row-major: element (i, j) of an [m, n] matrix is at i*n + j.
 * A malformed graph (operand shapes that do not fit the op, a dependency
 * cycle) is a bug in gradc: eval_prog reports it on stderr and aborts.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

/* ----------------------------------------------------------- small helpers */

static void eval_bug(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void eval_bug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gradc: internal error in eval: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void *eval_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "gradc: out of memory in eval\n");
        abort();
    }
    return p;
}

static void *eval_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "gradc: out of memory in eval\n");
        abort();
    }
    return p;
}

static int64_t rows(Shape s)
{
    return s.dim[0];
}
static int64_t cols(Shape s)
{
    return s.dim[1];
}
static size_t numel(Shape s)
{
    return (size_t)(s.dim[0] * s.dim[1]);
}

static const char *op_name(Op op)
{
    return (op >= 0 && op < OP_COUNT) ? op_info[op].spelling : "?";
}

/* Aborts unless s is a valid rank-2 shape. */
static void check_shape2(Shape s, Op op)
{
    if (s.rank != 2 || s.dim[0] < 1 || s.dim[1] < 1)
        eval_bug("node '%s' has a bad shape: rank %d, [%lld, %lld]", op_name(op), s.rank,
                 (long long)s.dim[0], (long long)s.dim[1]);
}

static void expect(bool ok, const Node *n, const char *what)
{
    if (!ok)
        eval_bug("node '%s' (id %d): %s do not fit", op_name(n->op), n->id, what);
}

/* --------------------------------------------------------- elementwise ops */

/* The numerically stable logistic function: never exp of a large positive
 * argument, so no overflow and no inf/inf. */
static double sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static double apply_unary(Op op, double x, double p)
{
    switch (op) {
    case OP_NEG: return -x;
    case OP_POW: return pow(x, p);
    case OP_SIGMOID: return sigmoid(x);
    case OP_TANH: return tanh(x);
    case OP_RELU: return x <= 0 ? 0.0 : x; /* NaN stays NaN, as np.maximum */
    case OP_EXP: return exp(x);
    case OP_LOG: return log(x);
    case OP_SQRT: return sqrt(x);
    case OP_ABS: return fabs(x);
    case OP_STEP: return x > 0 ? 1.0 : 0.0;
    case OP_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : x == 0 ? 0.0 : x; /* as np.sign */
    case OP_SOFTPLUS: return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); /* stable */
    default: return NAN; /* not reached: callers pass elementwise unary ops */
    }
}

static double apply_binary(Op op, double a, double b)
{
    switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    default: return NAN; /* not reached */
    }
}

/* ------------------------------------------------------------ one node */

/* Computes node n into a new matrix; a[i] are the operand values. */
static double *eval_node(const Node *n, double *const a[2])
{
    Shape o = n->shape;
    check_shape2(o, n->op);
    const int64_t m = rows(o), k = cols(o);
    Shape s0 = n->nargs > 0 ? n->arg[0]->shape : o;
    Shape s1 = n->nargs > 1 ? n->arg[1]->shape : o;
    if (n->nargs > 0)
        check_shape2(s0, n->arg[0]->op);
    if (n->nargs > 1)
        check_shape2(s1, n->arg[1]->op);
    if (n->nargs != op_info[n->op].arity)
        eval_bug("node '%s' has %d operands, expected %d", op_name(n->op), n->nargs,
                 op_info[n->op].arity);

    double *r;
    switch (n->op) {
    case OP_CONST:
        r = eval_xmalloc(numel(o) * sizeof *r);
        for (size_t i = 0; i < numel(o); i++)
            r[i] = n->value;
        return r;

    /* c[i,j] = a[i or 0, j or 0] op b[i or 0, j or 0]: a dimension of 1
     * stretches (NumPy broadcasting on 2-D). */
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
        for (int d = 0; d < 2; d++) {
            int64_t x = s0.dim[d], y = s1.dim[d], z = o.dim[d];
            bool ok = (x == z || x == 1) && (y == z || y == 1) && (z == (x > y ? x : y));
            expect(ok, n, "operands do not broadcast to the result");
        }
        r = eval_xmalloc(numel(o) * sizeof *r);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++) {
                double x =
                    a[0][(rows(s0) == 1 ? 0 : i) * cols(s0) + (cols(s0) == 1 ? 0 : j)];
                double y =
                    a[1][(rows(s1) == 1 ? 0 : i) * cols(s1) + (cols(s1) == 1 ? 0 : j)];
                r[i * k + j] = apply_binary(n->op, x, y);
            }
        return r;

    /* c[i,j] = sum_p a[i,p] * b[p,j] */
    case OP_MATMUL:
        expect(cols(s0) == rows(s1) && rows(s0) == m && cols(s1) == k, n,
               "matmul shapes");
        r = eval_xmalloc(numel(o) * sizeof *r);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++) {
                double acc = 0;
                for (int64_t p = 0; p < cols(s0); p++)
                    acc += a[0][i * cols(s0) + p] * a[1][p * k + j];
                r[i * k + j] = acc;
            }
        return r;

    case OP_NEG:
    case OP_POW:
    case OP_SIGMOID:
    case OP_TANH:
    case OP_RELU:
    case OP_EXP:
    case OP_LOG:
    case OP_SQRT:
    case OP_ABS:
    case OP_STEP:
    case OP_SIGN:
    case OP_SOFTPLUS:
        expect(shape_eq(s0, o), n, "elementwise shapes");
        r = eval_xmalloc(numel(o) * sizeof *r);
        for (size_t i = 0; i < numel(o); i++)
            r[i] = apply_unary(n->op, a[0][i], n->value);
        return r;

    /* c[i,j] = a[j,i] */
    case OP_TRANSPOSE:
        expect(rows(s0) == k && cols(s0) == m, n, "transpose shapes");
        r = eval_xmalloc(numel(o) * sizeof *r);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++)
                r[i * k + j] = a[0][j * m + i];
        return r;

    /* axis -1: [1,1]; axis 0: sum over rows -> [1,n]; axis 1: sum over
     * columns -> [m,1]. MEAN divides by the number of summed elements. */
    case OP_SUM:
    case OP_MEAN: {
        int64_t ir = rows(s0), ic = cols(s0);
        r = eval_xcalloc(numel(o), sizeof *r);
        double count;
        if (n->axis == -1) {
            expect(m == 1 && k == 1, n, "reduction to a scalar");
            for (int64_t i = 0; i < ir * ic; i++)
                r[0] += a[0][i];
            count = (double)(ir * ic);
        } else if (n->axis == 0) {
            expect(m == 1 && k == ic, n, "reduction over axis 0");
            for (int64_t i = 0; i < ir; i++)
                for (int64_t j = 0; j < ic; j++)
                    r[j] += a[0][i * ic + j];
            count = (double)ir;
        } else if (n->axis == 1) {
            expect(m == ir && k == 1, n, "reduction over axis 1");
            for (int64_t i = 0; i < ir; i++)
                for (int64_t j = 0; j < ic; j++)
                    r[i] += a[0][i * ic + j];
            count = (double)ic;
        } else {
            eval_bug("node '%s' has axis %d", op_name(n->op), n->axis);
        }
        if (n->op == OP_MEAN)
            for (size_t i = 0; i < numel(o); i++)
                r[i] /= count;
        return r;
    }

    /* valid 2-D cross-correlation: c[i,j] = sum_{p,q} a[i+p,j+q] * w[p,q] */
    case OP_CONV: {
        int64_t kh = rows(s1), kw = cols(s1), ac = cols(s0);
        expect(m == rows(s0) - kh + 1 && k == ac - kw + 1, n, "conv shapes");
        r = eval_xmalloc(numel(o) * sizeof *r);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++) {
                double acc = 0;
                for (int64_t p = 0; p < kh; p++)
                    for (int64_t q = 0; q < kw; q++)
                        acc += a[0][(i + p) * ac + (j + q)] * a[1][p * kw + q];
                r[i * k + j] = acc;
            }
        return r;
    }

    /* zero padding: pr rows above and below, pc columns left and right */
    case OP_PAD: {
        int64_t pr = n->pad[0], pc = n->pad[1], ic = cols(s0);
        expect(pr >= 0 && pc >= 0 && m == rows(s0) + 2 * pr && k == ic + 2 * pc, n,
               "pad shapes");
        r = eval_xcalloc(numel(o), sizeof *r);
        for (int64_t i = 0; i < rows(s0); i++)
            for (int64_t j = 0; j < ic; j++)
                r[(i + pr) * k + (j + pc)] = a[0][i * ic + j];
        return r;
    }

    /* the inverse of pad: c[i,j] = a[i+pr, j+pc] */
    case OP_CROP: {
        int64_t pr = n->pad[0], pc = n->pad[1], ic = cols(s0);
        expect(pr >= 0 && pc >= 0 && m == rows(s0) - 2 * pr && k == ic - 2 * pc, n,
               "crop shapes");
        r = eval_xmalloc(numel(o) * sizeof *r);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++)
                r[i * k + j] = a[0][(i + pr) * ic + (j + pc)];
        return r;
    }

    /* c[i,j] = a[m-1-i, n-1-j] */
    case OP_ROT180:
        expect(shape_eq(s0, o), n, "rot180 shapes");
        r = eval_xmalloc(numel(o) * sizeof *r);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++)
                r[i * k + j] = a[0][(m - 1 - i) * k + (k - 1 - j)];
        return r;

    case OP_VAR: /* handled by the caller */
    default: eval_bug("cannot evaluate op '%s' (%d)", op_name(n->op), (int)n->op);
    }
}

/* ------------------------------------------------------------ one var */

typedef struct EvalState {
    const Prog *p;
    double **vals;
    int nnodes;
    double **memo; /* per node id: its value while a def is evaluated */
    bool *owned;   /* memo[id] was allocated here (not a var's storage) */
    int *mark;     /* per node id: stamp of the last def that reached it */
    int stamp;
    const Node **stack, **order; /* nnodes each */
} EvalState;

static int cmp_node_id(const void *x, const void *y)
{
    int a = (*(const Node *const *)x)->id, b = (*(const Node *const *)y)->id;
    return (a > b) - (a < b);
}

/* Collects the nodes reachable from root into st->order, sorted by id;
 * returns their number. */
static int collect(EvalState *st, const Node *root)
{
    int sp = 0, cnt = 0;
    st->stamp++;
    st->stack[sp++] = root;
    if (root->id < 0 || root->id >= st->nnodes)
        eval_bug("node '%s' has id %d outside [0, %d)", op_name(root->op), root->id,
                 st->nnodes);
    st->mark[root->id] = st->stamp;
    while (sp > 0) {
        const Node *n = st->stack[--sp];
        st->order[cnt++] = n;
        for (int i = 0; i < n->nargs && i < 2; i++) {
            const Node *c = n->arg[i];
            if (!c)
                eval_bug("node '%s' (id %d) lacks operand %d", op_name(n->op), n->id, i);
            if (c->id < 0 || c->id >= st->nnodes)
                eval_bug("node '%s' has id %d outside [0, %d)", op_name(c->op), c->id,
                         st->nnodes);
            if (c->id >= n->id)
                eval_bug("operand '%s' has id %d, not below its user's %d",
                         op_name(c->op), c->id, n->id);
            if (st->mark[c->id] != st->stamp) {
                st->mark[c->id] = st->stamp;
                st->stack[sp++] = c;
            }
        }
    }
    qsort(st->order, (size_t)cnt, sizeof *st->order, cmp_node_id);
    return cnt;
}

/* Evaluates the definition of var v into vals[v]; every var it reads has
 * been computed already. */
static void eval_var(EvalState *st, int v)
{
    const Var *var = &st->p->vars[v];
    int cnt = collect(st, var->def);
    for (int t = 0; t < cnt; t++) {
        const Node *n = st->order[t];
        if (n->op == OP_VAR) {
            if (n->var < 0 || n->var >= st->p->nvars)
                eval_bug("VAR node names var %d of %d", n->var, st->p->nvars);
            if (!shape_eq(n->shape, st->p->vars[n->var].shape))
                eval_bug("VAR node of '%s' has the wrong shape",
                         st->p->vars[n->var].name);
            st->memo[n->id] = st->vals[n->var];
            st->owned[n->id] = false;
        } else {
            double *args[2] = {NULL, NULL};
            for (int i = 0; i < n->nargs; i++)
                args[i] = st->memo[n->arg[i]->id];
            st->memo[n->id] = eval_node(n, args);
            st->owned[n->id] = true;
        }
    }
    if (!shape_eq(var->def->shape, var->shape))
        eval_bug("the definition of '%s' does not have its shape", var->name);
    memcpy(st->vals[v], st->memo[var->def->id], numel(var->shape) * sizeof(double));
    for (int t = 0; t < cnt; t++) {
        int id = st->order[t]->id;
        if (st->owned[id])
            free(st->memo[id]);
        st->memo[id] = NULL;
        st->owned[id] = false;
    }
}

/* Appends to deps the distinct vars read by v's definition. */
static int var_deps(EvalState *st, int v, int *deps)
{
    int cnt = collect(st, st->p->vars[v].def), nd = 0;
    for (int t = 0; t < cnt; t++)
        if (st->order[t]->op == OP_VAR)
            deps[nd++] = st->order[t]->var;
    return nd;
}

static bool computable(const Var *v)
{
    return (v->kind == VAR_STEP || v->kind == VAR_ADJOINT) && v->def != NULL;
}

void eval_prog(const Prog *p, double **vals)
{
    EvalState st = {0};
    st.p = p;
    st.vals = vals;
    st.nnodes = p->g ? p->g->nnodes : 0;
    size_t nn = (size_t)st.nnodes;
    st.memo = eval_xcalloc(nn, sizeof *st.memo);
    st.owned = eval_xcalloc(nn, sizeof *st.owned);
    st.mark = eval_xcalloc(nn, sizeof *st.mark);
    st.stack = eval_xcalloc(nn, sizeof *st.stack);
    st.order = eval_xcalloc(nn, sizeof *st.order);

    /* state: 0 not visited, 1 on the DFS stack, 2 computed (or an input) */
    int nv = p->nvars;
    int *state = eval_xcalloc((size_t)nv, sizeof *state);
    int *vstack = eval_xcalloc((size_t)nv, sizeof *vstack);
    int *deps = eval_xcalloc(nn, sizeof *deps);
    for (int v = 0; v < nv; v++)
        if (!computable(&p->vars[v]))
            state[v] = 2;

    for (int root = 0; root < nv; root++) {
        if (state[root] != 0 || p->vars[root].dead)
            continue;
        int sp = 0;
        vstack[sp++] = root;
        state[root] = 1;
        while (sp > 0) {
            int v = vstack[sp - 1];
            /* push the first dependency not yet computed, if any */
            int nd = var_deps(&st, v, deps), pushed = 0;
            for (int i = 0; i < nd && !pushed; i++) {
                int u = deps[i];
                if (u < 0 || u >= nv)
                    eval_bug("'%s' reads var %d of %d", p->vars[v].name, u, nv);
                if (state[u] == 1)
                    eval_bug("'%s' depends on itself", p->vars[v].name);
                if (state[u] == 0) {
                    state[u] = 1;
                    vstack[sp++] = u;
                    pushed = 1;
                }
            }
            if (pushed)
                continue;
            eval_var(&st, v);
            state[v] = 2;
            sp--;
        }
    }

    free(deps);
    free(vstack);
    free(state);
    free(st.order);
    free(st.stack);
    free(st.mark);
    free(st.owned);
    free(st.memo);
}
