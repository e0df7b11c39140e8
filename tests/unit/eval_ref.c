/* eval_ref.c: the reference evaluator against hand-computed values.
 *
 * Part 1 builds graphs node by node (no graph.c constructors, so nothing is
 * folded or simplified on the way) and checks eval_prog on every op with
 * values worked out by hand: conv of a 3x3 by a 2x2, matmul, reductions,
 * broadcasting, pad/crop/rot180, every elementwise function, a shared DAG
 * node, and steps listed out of dependency order.
 * Part 2 runs small programs through the real front end and checks the
 * evaluated values (the same hand-computed numbers).
 *
 * Exit status 0 when every check passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_harness.h"
#include "gradc.h"

static int failures, checks;

#define CHECK(cond, ...)                                            \
    do {                                                            \
        checks++;                                                   \
        if (!(cond)) {                                              \
            failures++;                                             \
            fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                           \
            fputc('\n', stderr);                                    \
        }                                                           \
    } while (0)

/* ------------------------------------------------- hand-built graphs */

#define MAXN 256

typedef struct Hand {
    Arena *arena;
    Prog *p;
    Graph g; /* our own node table: ids are dense, in creation order */
    Node nodes[MAXN];
    Node *ptrs[MAXN];
} Hand;

static void hand_init(Hand *h)
{
    memset(h, 0, sizeof *h);
    h->arena = arena_new();
    h->p = prog_new(h->arena);
    h->g.arena = h->arena;
    h->g.nodes = h->ptrs;
    h->g.nnodes = 0;
    h->p->g = &h->g;
}

static void hand_free(Hand *h)
{
    arena_free(h->arena);
}

static Node *mk(Hand *h, Op op, int r, int c, Node *a, Node *b)
{
    if (h->g.nnodes >= MAXN)
        abort();
    Node *n = &h->nodes[h->g.nnodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->id = h->g.nnodes;
    n->shape = shape2(r, c);
    n->arg[0] = a;
    n->arg[1] = b;
    n->nargs = b ? 2 : a ? 1 : 0;
    n->axis = -1;
    h->ptrs[h->g.nnodes++] = n;
    return n;
}

static Node *mkvar(Hand *h, int var)
{
    Shape s = h->p->vars[var].shape;
    Node *n = mk(h, OP_VAR, (int)s.dim[0], (int)s.dim[1], NULL, NULL);
    n->var = var;
    return n;
}

static int input(Hand *h, const char *name, int r, int c)
{
    return prog_add_var(h->p, name, VAR_INPUT, shape2(r, c), NULL, (Span){0});
}

static int step(Hand *h, const char *name, Node *def)
{
    return prog_add_var(h->p, name, VAR_STEP, def->shape, def, (Span){0});
}

/* Evaluates h's program with the given input values (NULL-terminated list
 * of (var, data) pairs are copied in); returns the value array (caller
 * frees with free_vals). */
static double **eval_hand(Hand *h, const double *const *inputs)
{
    Prog *p = h->p;
    double **vals = calloc((size_t)p->nvars, sizeof *vals);
    for (int v = 0; v < p->nvars; v++) {
        size_t n = (size_t)shape_numel(p->vars[v].shape);
        vals[v] = malloc(n * sizeof(double));
        for (size_t j = 0; j < n; j++)
            vals[v][j] = NAN; /* must be written */
        if (p->vars[v].kind == VAR_INPUT && inputs[v])
            memcpy(vals[v], inputs[v], n * sizeof(double));
    }
    eval_prog(p, vals);
    return vals;
}

static void free_vals(Hand *h, double **vals)
{
    for (int v = 0; v < h->p->nvars; v++)
        free(vals[v]);
    free(vals);
}

static void expect_vals(const char *what, const double *got, const double *want, int n,
                        double tol)
{
    for (int i = 0; i < n; i++) {
        bool ok =
            got[i] == want[i] || fabs(got[i] - want[i]) <= tol * fmax(1.0, fabs(want[i]));
        CHECK(ok, "%s: element %d is %.17g, expected %.17g", what, i, got[i], want[i]);
        if (!ok)
            return;
    }
}

static void test_hand(void)
{
    Hand h;
    hand_init(&h);
    /* inputs */
    int A = input(&h, "A", 3, 3);   /* [1 2 3; 4 5 6; 7 8 9] */
    int W = input(&h, "W", 2, 2);   /* [1 2; 3 4] */
    int M = input(&h, "M", 2, 2);   /* [5 6; 7 8] */
    int R = input(&h, "R", 1, 2);   /* [10 20] */
    int C = input(&h, "C", 2, 1);   /* [10; 20] */
    int S = input(&h, "S", 1, 1);   /* [2] */
    int U = input(&h, "U", 2, 3);   /* [1 2 3; 4 5 6] */
    int E = input(&h, "E", 1, 12);  /* unary arguments */
    int R3 = input(&h, "R3", 1, 3); /* [1 2 3] */
    int C2 = input(&h, "C2", 2, 1); /* [1; 2] */
    const double a[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[] = {1, 2, 3, 4},
                 m[] = {5, 6, 7, 8}, r[] = {10, 20}, c[] = {10, 20}, s[] = {2},
                 u[] = {1, 2, 3, 4, 5, 6}, r3[] = {1, 2, 3}, c2[] = {1, 2};
    const double e[] = {0, -800, 800, -1, 2, 1, 4, -3, 0.5, -0.25, 0, 3};

    Node *nA = mkvar(&h, A), *nW = mkvar(&h, W), *nM = mkvar(&h, M);
    Node *nR = mkvar(&h, R), *nC = mkvar(&h, C), *nS = mkvar(&h, S);
    Node *nU = mkvar(&h, U), *nE = mkvar(&h, E);
    Node *nR3 = mkvar(&h, R3), *nC2 = mkvar(&h, C2);

    /* conv: c[i,j] = sum_{p,q} a[i+p,j+q] w[p,q]
     *   c00 = 1*1 + 2*2 + 4*3 + 5*4 = 37, c01 = 2+6+15+24 = 47,
     *   c10 = 4+10+21+32 = 67,           c11 = 5+12+24+36 = 77 */
    int conv = step(&h, "conv", mk(&h, OP_CONV, 2, 2, nA, nW));
    /* conv by a 1x3 kernel [1 2 3] over A: rows . [1 2 3] = [14; 32; 50] */
    int conv13 = step(&h, "conv13", mk(&h, OP_CONV, 3, 1, nA, nR3));
    /* conv by a [3,3] kernel equal to A itself: sum a^2 = 285 */
    int conv33 = step(&h, "conv33", mk(&h, OP_CONV, 1, 1, nA, nA));
    /* matmul [1 2; 3 4] @ [5 6; 7 8] = [19 22; 43 50] */
    int mm = step(&h, "mm", mk(&h, OP_MATMUL, 2, 2, nW, nM));
    /* [2,3] @ [3,3]: [1 2 3;4 5 6] @ A = [30 36 42; 66 81 96] */
    int mm2 = step(&h, "mm2", mk(&h, OP_MATMUL, 2, 3, nU, nA));
    /* transpose of U: [1 4; 2 5; 3 6] */
    int tr = step(&h, "tr", mk(&h, OP_TRANSPOSE, 3, 2, nU, NULL));
    /* reductions of A */
    Node *sa = mk(&h, OP_SUM, 1, 1, nA, NULL);
    int sum_all = step(&h, "sum_all", sa); /* 45 */
    Node *s0 = mk(&h, OP_SUM, 1, 3, nA, NULL);
    s0->axis = 0;
    int sum0 = step(&h, "sum0", s0); /* 12 15 18 */
    Node *s1 = mk(&h, OP_SUM, 3, 1, nA, NULL);
    s1->axis = 1;
    int sum1 = step(&h, "sum1", s1);                                      /* 6 15 24 */
    int mean_all = step(&h, "mean_all", mk(&h, OP_MEAN, 1, 1, nU, NULL)); /* 3.5 */
    Node *m0 = mk(&h, OP_MEAN, 1, 3, nU, NULL);
    m0->axis = 0;
    int mean0 = step(&h, "mean0", m0); /* 2.5 3.5 4.5 */
    Node *m1 = mk(&h, OP_MEAN, 2, 1, nU, NULL);
    m1->axis = 1;
    int mean1 = step(&h, "mean1", m1); /* 2; 5 */
    /* broadcasting: W + R = [11 22; 13 24]; W + C = [11 12; 23 24];
     * W * S = [2 4 6 8]; R3 - C2 = [0 1 2; -1 0 1]; W / R = [.1 .1; .3 .2];
     * S - W = [1 0 -1 -2]; C / W = [10 5; 6.666.. 5] */
    int add_r = step(&h, "add_r", mk(&h, OP_ADD, 2, 2, nW, nR));
    int add_c = step(&h, "add_c", mk(&h, OP_ADD, 2, 2, nW, nC));
    int mul_s = step(&h, "mul_s", mk(&h, OP_MUL, 2, 2, nW, nS));
    int sub_rc = step(&h, "sub_rc", mk(&h, OP_SUB, 2, 3, nR3, nC2));
    int div_r = step(&h, "div_r", mk(&h, OP_DIV, 2, 2, nW, nR));
    int sub_s = step(&h, "sub_s", mk(&h, OP_SUB, 2, 2, nS, nW));
    int div_c = step(&h, "div_c", mk(&h, OP_DIV, 2, 2, nC, nW));
    /* pad / crop / rot180 */
    Node *pd = mk(&h, OP_PAD, 4, 2, nW, NULL);
    pd->pad[0] = 1;
    pd->pad[1] = 0;
    int pad10 = step(&h, "pad10", pd); /* [0 0; 1 2; 3 4; 0 0] */
    Node *pd2 = mk(&h, OP_PAD, 2, 4, nW, NULL);
    pd2->pad[0] = 0;
    pd2->pad[1] = 1;
    int pad01 = step(&h, "pad01", pd2); /* [0 1 2 0; 0 3 4 0] */
    Node *pd3 = mk(&h, OP_PAD, 3, 3, nS, NULL);
    pd3->pad[0] = 1;
    pd3->pad[1] = 1;
    int pad11 = step(&h, "pad11", pd3); /* 0 0 0; 0 2 0; 0 0 0 */
    Node *cr = mk(&h, OP_CROP, 1, 1, nA, NULL);
    cr->pad[0] = 1;
    cr->pad[1] = 1;
    int crop11 = step(&h, "crop11", cr); /* [5] */
    Node *cr2 = mk(&h, OP_CROP, 1, 3, nA, NULL);
    cr2->pad[0] = 1;
    cr2->pad[1] = 0;
    int crop10 = step(&h, "crop10", cr2);                         /* [4 5 6] */
    int rot = step(&h, "rot", mk(&h, OP_ROT180, 2, 3, nU, NULL)); /* 6 5 4;3 2 1 */
    /* constants */
    Node *k = mk(&h, OP_CONST, 2, 3, NULL, NULL);
    k->value = -1.5;
    int cst = step(&h, "cst", k);
    /* elementwise unary ops over E = [0 -800 800 -1 2 1 4 -3 .5 -.25 0 3] */
    static const Op un[] = {OP_NEG, OP_SIGMOID, OP_TANH, OP_RELU,
                            OP_EXP, OP_ABS,     OP_STEP, OP_SIGN};
    int unv[8];
    for (int i = 0; i < 8; i++)
        unv[i] = step(&h, op_info[un[i]].spelling, mk(&h, un[i], 1, 12, nE, NULL));
    /* log, sqrt, pow on W = [1 2 3 4] */
    int lg = step(&h, "lg", mk(&h, OP_LOG, 2, 2, nW, NULL));
    int sq = step(&h, "sq", mk(&h, OP_SQRT, 2, 2, nW, NULL));
    double pw[] = {2, 3, -1, 0.5, 0};
    int pwv[5];
    for (int i = 0; i < 5; i++) {
        Node *n = mk(&h, OP_POW, 2, 2, nW, NULL);
        n->value = pw[i];
        char name[16];
        snprintf(name, sizeof name, "pow%d", i);
        pwv[i] = step(&h, arena_strdup(h.arena, name), n);
    }
    /* a shared DAG node: (W + M) * (W + M) = [36 64; 100 144], and
     * ((W+M)*(W+M)) - (W+M) = [30 56; 90 132] */
    Node *wm = mk(&h, OP_ADD, 2, 2, nW, nM);
    Node *sq2 = mk(&h, OP_MUL, 2, 2, wm, wm);
    int dag = step(&h, "dag", mk(&h, OP_SUB, 2, 2, sq2, wm));
    /* steps reading steps, listed out of order: late = early2 + 1 is defined
     * before early2 = mm * 2 (eval must compute early2 first) */
    int late_idx = h.p->nvars; /* late is the next var */
    int early_idx = late_idx + 1;
    Node *early_ref = mk(&h, OP_VAR, 2, 2, NULL, NULL);
    early_ref->var = early_idx;
    Node *one = mk(&h, OP_CONST, 1, 1, NULL, NULL);
    one->value = 1;
    int late = step(&h, "late", mk(&h, OP_ADD, 2, 2, early_ref, one));
    Node *two = mk(&h, OP_CONST, 1, 1, NULL, NULL);
    two->value = 2;
    int early2 = step(&h, "early2", mk(&h, OP_MUL, 2, 2, mkvar(&h, mm), two));
    CHECK(late == late_idx && early2 == early_idx, "var indexes as planned");
    /* a dead step must not be computed (its value stays NaN) */
    int dead = step(&h, "dead", mk(&h, OP_NEG, 2, 2, nW, NULL));
    h.p->vars[dead].dead = true;

    const double *in[64] = {0};
    in[A] = a;
    in[W] = w;
    in[M] = m;
    in[R] = r;
    in[C] = c;
    in[S] = s;
    in[U] = u;
    in[E] = e;
    in[R3] = r3;
    in[C2] = c2;
    double **v = eval_hand(&h, in);

    expect_vals("conv", v[conv], (double[]){37, 47, 67, 77}, 4, 0);
    expect_vals("conv 1x3", v[conv13], (double[]){14, 32, 50}, 3, 0);
    expect_vals("conv 3x3", v[conv33], (double[]){285}, 1, 0);
    expect_vals("matmul", v[mm], (double[]){19, 22, 43, 50}, 4, 0);
    expect_vals("matmul 2x3", v[mm2], (double[]){30, 36, 42, 66, 81, 96}, 6, 0);
    expect_vals("transpose", v[tr], (double[]){1, 4, 2, 5, 3, 6}, 6, 0);
    expect_vals("sum", v[sum_all], (double[]){45}, 1, 0);
    expect_vals("sum axis 0", v[sum0], (double[]){12, 15, 18}, 3, 0);
    expect_vals("sum axis 1", v[sum1], (double[]){6, 15, 24}, 3, 0);
    expect_vals("mean", v[mean_all], (double[]){3.5}, 1, 0);
    expect_vals("mean axis 0", v[mean0], (double[]){2.5, 3.5, 4.5}, 3, 0);
    expect_vals("mean axis 1", v[mean1], (double[]){2, 5}, 2, 0);
    expect_vals("W + R", v[add_r], (double[]){11, 22, 13, 24}, 4, 0);
    expect_vals("W + C", v[add_c], (double[]){11, 12, 23, 24}, 4, 0);
    expect_vals("W * S", v[mul_s], (double[]){2, 4, 6, 8}, 4, 0);
    expect_vals("R3 - C2", v[sub_rc], (double[]){0, 1, 2, -1, 0, 1}, 6, 0);
    expect_vals("W / R", v[div_r], (double[]){0.1, 0.1, 0.3, 0.2}, 4, 1e-15);
    expect_vals("S - W", v[sub_s], (double[]){1, 0, -1, -2}, 4, 0);
    expect_vals("C / W", v[div_c], (double[]){10, 5, 20.0 / 3, 5}, 4, 1e-15);
    expect_vals("pad 1 0", v[pad10], (double[]){0, 0, 1, 2, 3, 4, 0, 0}, 8, 0);
    expect_vals("pad 0 1", v[pad01], (double[]){0, 1, 2, 0, 0, 3, 4, 0}, 8, 0);
    expect_vals("pad 1 1", v[pad11], (double[]){0, 0, 0, 0, 2, 0, 0, 0, 0}, 9, 0);
    expect_vals("crop 1 1", v[crop11], (double[]){5}, 1, 0);
    expect_vals("crop 1 0", v[crop10], (double[]){4, 5, 6}, 3, 0);
    expect_vals("rot180", v[rot], (double[]){6, 5, 4, 3, 2, 1}, 6, 0);
    expect_vals("const", v[cst], (double[]){-1.5, -1.5, -1.5, -1.5, -1.5, -1.5}, 6, 0);
    /* E = [0 -800 800 -1 2 1 4 -3 .5 -.25 0 3] */
    double neg[12], sig[12], th[12], relu[12], ex[12], ab[12], st[12], sg[12];
    for (int i = 0; i < 12; i++) {
        neg[i] = -e[i];
        th[i] = tanh(e[i]);
        relu[i] = e[i] > 0 ? e[i] : 0;
        ex[i] = exp(e[i]);
        ab[i] = e[i] < 0 ? -e[i] : e[i];
        st[i] = e[i] > 0 ? 1 : 0;
        sg[i] = e[i] > 0 ? 1 : e[i] < 0 ? -1 : 0;
    }
    /* sigmoid by the textbook formula (fine here: exp(800) = inf gives
     * 1/inf = 0, not NaN) */
    for (int i = 0; i < 12; i++)
        sig[i] = 1 / (1 + exp(-e[i]));
    expect_vals("neg", v[unv[0]], neg, 12, 0);
    expect_vals("sigmoid", v[unv[1]], sig, 12, 1e-15);
    CHECK(v[unv[1]][1] >= 0 && v[unv[1]][1] < 1e-300, "sigmoid(-800) = %g", v[unv[1]][1]);
    expect_vals("tanh", v[unv[2]], th, 12, 0);
    expect_vals("relu", v[unv[3]], relu, 12, 0);
    expect_vals("exp", v[unv[4]], ex, 12, 0);
    expect_vals("abs", v[unv[5]], ab, 12, 0);
    expect_vals("step", v[unv[6]], st, 12, 0);
    expect_vals("sign", v[unv[7]], sg, 12, 0);
    expect_vals("log", v[lg], (double[]){0, log(2), log(3), log(4)}, 4, 0);
    expect_vals("sqrt", v[sq], (double[]){1, sqrt(2), sqrt(3), 2}, 4, 0);
    expect_vals("^2", v[pwv[0]], (double[]){1, 4, 9, 16}, 4, 0);
    expect_vals("^3", v[pwv[1]], (double[]){1, 8, 27, 64}, 4, 0);
    expect_vals("^-1", v[pwv[2]], (double[]){1, 0.5, 1.0 / 3, 0.25}, 4, 1e-15);
    expect_vals("^0.5", v[pwv[3]], (double[]){1, sqrt(2), sqrt(3), 2}, 4, 1e-15);
    expect_vals("^0", v[pwv[4]], (double[]){1, 1, 1, 1}, 4, 0);
    expect_vals("dag", v[dag], (double[]){30, 56, 90, 132}, 4, 0);
    expect_vals("early2", v[early2], (double[]){38, 44, 86, 100}, 4, 0);
    expect_vals("late", v[late], (double[]){39, 45, 87, 101}, 4, 0);
    CHECK(isnan(v[dead][0]), "a dead step was computed");
    /* inputs are not written */
    expect_vals("input A unchanged", v[A], a, 9, 0);
    free_vals(&h, v);
    hand_free(&h);
}

/* ------------------------------------------------ through the front end */

/* Parses text, evaluates it with the given inputs (by name) and checks the
 * var named `want_var`. */
typedef struct NamedVal {
    const char *name;
    const double *val;
} NamedVal;

static void eval_text(const char *what, const char *text, const NamedVal *ins,
                      const char *want_var, const double *want, int n)
{
    GcProgram gp;
    if (!gc_load(&gp, what, text, strlen(text))) {
        CHECK(false, "%s: the front end rejected the program:\n%s%s", what, text,
              gp.diag ? gp.diag : "");
        gc_free(&gp);
        return;
    }
    Prog *p = gp.p;
    double **vals = calloc((size_t)p->nvars, sizeof *vals);
    for (int v = 0; v < p->nvars; v++)
        vals[v] = calloc((size_t)shape_numel(p->vars[v].shape), sizeof(double));
    for (const NamedVal *nv = ins; nv->name; nv++) {
        int v = prog_find(p, nv->name);
        CHECK(v >= 0, "%s: no input %s", what, nv->name);
        if (v >= 0)
            memcpy(vals[v], nv->val,
                   (size_t)shape_numel(p->vars[v].shape) * sizeof(double));
    }
    eval_prog(p, vals);
    int w = prog_find(p, want_var);
    CHECK(w >= 0, "%s: no var %s", what, want_var);
    if (w >= 0) {
        CHECK(shape_numel(p->vars[w].shape) == n, "%s: %s has %lld elements", what,
              want_var, (long long)shape_numel(p->vars[w].shape));
        if (shape_numel(p->vars[w].shape) == n)
            expect_vals(what, vals[w], want, n, 1e-14);
    }
    for (int v = 0; v < p->nvars; v++)
        free(vals[v]);
    free(vals);
    gc_free(&gp);
}

static void test_text(void)
{
    const double a[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[] = {1, 2, 3, 4},
                 m[] = {5, 6, 7, 8}, b[] = {1, -1, 0.5, 2};
    eval_text("conv", "input A[3, 3], W[2, 2]\nC = conv(A, W)\n",
              (NamedVal[]){{"A", a}, {"W", w}, {0, 0}}, "C", (double[]){37, 47, 67, 77},
              4);
    eval_text("matmul", "input A[2,2], B[2,2]; C = A @ B",
              (NamedVal[]){{"A", w}, {"B", m}, {0, 0}}, "C", (double[]){19, 22, 43, 50},
              4);
    eval_text("sum axis", "input A[3,3]\nS = sum(A, axis=0)\nT = sum(A, 1)\n",
              (NamedVal[]){{"A", a}, {0, 0}}, "S", (double[]){12, 15, 18}, 3);
    eval_text("sum axis 1", "input A[3,3]\nS = sum(A, axis=0)\nT = sum(A, 1)\n",
              (NamedVal[]){{"A", a}, {0, 0}}, "T", (double[]){6, 15, 24}, 3);
    eval_text("precedence", "input A[2,2]\nC = -A ^ 2 + 2 * A.T\n",
              (NamedVal[]){{"A", w}, {0, 0}}, "C",
              (double[]){-1 + 2, -4 + 6, -9 + 4, -16 + 8}, 4);
    /* seed_conv: L = sum(sigmoid(conv(A, W) * B)) with conv = 37 47 67 77 */
    double l = 0;
    const double cv[] = {37, 47, 67, 77};
    for (int i = 0; i < 4; i++)
        l += 1 / (1 + exp(-cv[i] * b[i]));
    eval_text("seed_conv",
              "# seed_conv\ninput A[3, 3], W[2, 2], B[2, 2]\n"
              "C = conv(A, W)\nL = sum(sigmoid(C * B))\n",
              (NamedVal[]){{"A", a}, {"W", w}, {"B", b}, {0, 0}}, "L", (double[]){l}, 1);
    /* a bias column broadcast along axis 1, then mean */
    eval_text("bias", "input X[2, 2], b[2, 1]\nZ = X + b\nL = mean(Z)\n",
              (NamedVal[]){{"X", w}, {"b", (double[]){10, 20}}, {0, 0}}, "L",
              (double[]){(11 + 12 + 23 + 24) / 4.0}, 1);
    eval_text("pad crop rot", "input A[3, 3]\nP = crop(rot180(pad(A, 1, 2)), 1, 2)\n",
              (NamedVal[]){{"A", a}, {0, 0}}, "P", (double[]){9, 8, 7, 6, 5, 4, 3, 2, 1},
              9);
    eval_text("ones zeros", "input A[2, 2]\nP = A * ones(2, 2) + zeros(1, 2) - 1\n",
              (NamedVal[]){{"A", w}, {0, 0}}, "P", (double[]){0, 1, 2, 3}, 4);
}

int main(void)
{
    test_hand();
    test_text();
    if (failures) {
        fprintf(stderr, "eval_ref: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("eval_ref: all %d checks passed\n", checks);
    return 0;
}
