/* randprog.c: gradient checks of randomly generated programs.
 *
 *   randprog [COUNT [SEED]] [-v]      default: 100 programs, seed 1
 *
 * Each program is generated as .grad TEXT (so it also exercises the lexer,
 * the parser and the checker), top-down by shape: gen(shape) picks an op
 * whose result has that shape and generates operands of the shapes the op
 * needs, down to a leaf (an input, a data input, an earlier variable of that
 * shape, a number or ones(r, c)). Operands are broadcast [1,n], [m,1],
 * [1,1] about a third of the time; subexpressions are often assigned to
 * variables that later expressions reuse. The result is sum(...) or
 * mean(...) of the top expression.
 *
 * Domains are kept safe by construction: every expression carries an upper
 * bound on |value| and, when positive, a lower bound. log, sqrt, ^-1, ^0.5,
 * ... get an argument known to be >= 0.2 or one wrapped as (x ^ 2 + 1);
 * divisors likewise; exp gets an argument bounded by 3 (else wrapped in
 * tanh); any expression whose bound exceeds 30 is wrapped in tanh or
 * sigmoid. The kinks of relu/abs/step/sign are handled by the harness (it
 * redraws inputs whose FD stencil crosses one).
 *
 * The generator is deterministic (splitmix64 from SEED): the same programs
 * on every machine. With -v each program is printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_harness.h"
#include "gradc.h"

#define MAXD 6   /* largest dimension generated */
#define CAP 30.0 /* largest |value| bound before wrapping in tanh/sigmoid */

enum { P_ADD = 1, P_MUL = 2, P_NEG = 3, P_POW = 4, P_POST = 5, P_ATOM = 6 };

typedef struct Ex {
    const char *s;
    int prec;      /* P_*: how tightly the text binds */
    bool num;      /* a number literal */
    double ub, lb; /* |value| <= ub; value >= lb when lb > 0 */
} Ex;

typedef struct Item {
    const char *name;
    int r, c;
    double ub, lb;
} Item;

typedef struct Gen {
    GcRng *rng;
    Arena *a;
    Item items[512];
    int nitems;
    int ninput, ndata, nvar;
    Buf inputs, datas, body;
    int budget;
    const char *sep; /* statement separator */
} Gen;

static double unif(Gen *G)
{
    return gc_unif(G->rng);
}
static int irand(Gen *G, int lo, int hi)
{
    return gc_int(G->rng, lo, hi);
}
static bool chance(Gen *G, double p)
{
    return unif(G) < p;
}

/* text of e for a context that needs precedence >= need (adds
 * parentheses, and now and then redundant ones) */
static const char *par(Gen *G, Ex e, int need)
{
    if (e.prec < need || (e.prec < P_ATOM && chance(G, 0.15)))
        return arena_printf(G->a, "(%s)", e.s);
    return e.s;
}

static Ex ex(const char *s, int prec, double ub, double lb)
{
    return (Ex){s, prec, false, ub, lb};
}

static Ex gen(Gen *G, int r, int c, int depth);

static void add_item(Gen *G, const char *name, int r, int c, double ub, double lb)
{
    if (G->nitems < (int)(sizeof G->items / sizeof G->items[0]))
        G->items[G->nitems++] = (Item){name, r, c, ub, lb};
}

static Ex leaf(Gen *G, int r, int c)
{
    int cand[512], n = 0;
    for (int i = 0; i < G->nitems; i++)
        if (G->items[i].r == r && G->items[i].c == c)
            cand[n++] = i;
    if (n > 0 && chance(G, 0.55)) {
        Item *it = &G->items[cand[irand(G, 0, n - 1)]];
        return ex(it->name, P_ATOM, it->ub, it->lb);
    }
    if (r == 1 && c == 1 && chance(G, 0.2)) {
        static const char *lits[] = {"0.5",  "2",    "1.5",    "3",
                                     "0.25", "1e-1", "2.5E+0", "1"};
        const char *l = lits[irand(G, 0, 7)];
        double v = strtod(l, NULL);
        Ex e = ex(l, P_ATOM, v, v);
        e.num = true;
        return e;
    }
    if (chance(G, 0.04))
        return ex(arena_printf(G->a, "ones(%d, %d)", r, c), P_ATOM, 1, 1);
    const char *name;
    if (chance(G, 0.12)) {
        name = arena_printf(G->a, "D%d", ++G->ndata);
        buf_printf(&G->datas, "%s%s[%d, %d]", G->ndata > 1 ? ", " : "", name, r, c);
    } else {
        name = arena_printf(G->a, "X%d", ++G->ninput);
        buf_printf(&G->inputs, "%s%s[%d,%s%d]", G->ninput > 1 ? ", " : "", name, r,
                   chance(G, 0.5) ? " " : "", c);
    }
    add_item(G, name, r, c, 1, 0);
    return ex(name, P_ATOM, 1, 0);
}

/* x wrapped to be >= lo > 0: x itself if it is known to be, else
 * (x ^ 2 + lo) */
static Ex positive(Gen *G, Ex x, double lo)
{
    if (x.lb >= lo)
        return x;
    const char *t =
        chance(G, 0.5)
            ? arena_printf(G->a, "%s ^ 2 + %g", par(G, x, P_POST), lo)
            : arena_printf(G->a, "%s * %s + %g", par(G, x, P_MUL), par(G, x, P_POW), lo);
    return ex(t, P_ADD, x.ub * x.ub + lo, lo);
}

static const char *fn1(Gen *G, const char *f, Ex x)
{
    return arena_printf(G->a, "%s(%s)", f, x.s);
}

/* one dimension of a broadcast operand pair for result dimension d */
static void bdims(Gen *G, int d, int *x, int *y)
{
    *x = *y = d;
    if (d == 1 || chance(G, 0.65))
        return;
    if (chance(G, 0.5))
        *x = 1;
    else
        *y = 1;
}

static Ex gen_op(Gen *G, int r, int c, int depth)
{
    for (;;) {
        int k = irand(G, 0, 99);
        if (k < 30) { /* + - * / with broadcasting */
            int ar, br, ac, bc;
            bdims(G, r, &ar, &br);
            bdims(G, c, &ac, &bc);
            Ex a = gen(G, ar, ac, depth - 1), b = gen(G, br, bc, depth - 1);
            int op = irand(G, 0, 3);
            if (op == 0)
                return ex(
                    arena_printf(G->a, "%s + %s", par(G, a, P_ADD), par(G, b, P_MUL)),
                    P_ADD, a.ub + b.ub, a.lb > 0 && b.lb > 0 ? a.lb + b.lb : 0);
            if (op == 1)
                return ex(
                    arena_printf(G->a, "%s - %s", par(G, a, P_ADD), par(G, b, P_MUL)),
                    P_ADD, a.ub + b.ub, 0);
            if (op == 2)
                return ex(
                    arena_printf(G->a, "%s * %s", par(G, a, P_MUL), par(G, b, P_NEG)),
                    P_MUL, a.ub * b.ub, a.lb > 0 && b.lb > 0 ? a.lb * b.lb : 0);
            Ex d = positive(G, b, chance(G, 0.5) ? 1 : 0.5);
            return ex(arena_printf(G->a, "%s / %s", par(G, a, P_MUL), par(G, d, P_NEG)),
                      P_MUL, a.ub / d.lb, a.lb > 0 ? a.lb / d.ub : 0);
        }
        if (k < 40) { /* matmul */
            int kk = irand(G, 1, 4);
            Ex a = gen(G, r, kk, depth - 1), b = gen(G, kk, c, depth - 1);
            bool dot = chance(G, 0.2);
            const char *t =
                dot ? arena_printf(G->a, "dot(%s, %s)", a.s, b.s)
                    : arena_printf(G->a, "%s @ %s", par(G, a, P_MUL), par(G, b, P_NEG));
            return ex(t, dot ? P_ATOM : P_MUL, kk * a.ub * b.ub,
                      a.lb > 0 && b.lb > 0 ? kk * a.lb * b.lb : 0);
        }
        if (k < 43) { /* negation */
            Ex a = gen(G, r, c, depth - 1);
            return ex(arena_printf(G->a, "-%s", par(G, a, P_POW)), P_NEG, a.ub, 0);
        }
        if (k < 51) { /* power */
            static const double ps[] = {2, 3, -1, 0.5, -0.5, 1.5, 2, -2};
            double p = ps[irand(G, 0, 7)];
            Ex a = gen(G, r, c, depth - 1);
            double ub, lb = 0;
            if (p == 2 || p == 3) {
                ub = pow(a.ub, p);
                if (a.lb > 0)
                    lb = pow(a.lb, p);
            } else {
                a = positive(G, a, chance(G, 0.5) ? 1 : 0.5);
                ub = p > 0 ? pow(a.ub, p) : pow(a.lb, p);
                lb = p > 0 ? pow(a.lb, p) : pow(a.ub, p);
            }
            return ex(arena_printf(G->a, "%s ^ %g", par(G, a, P_POST), p), P_POW, ub, lb);
        }
        if (k < 56) { /* transpose */
            Ex a = gen(G, c, r, depth - 1);
            if (chance(G, 0.3))
                return ex(fn1(G, "transpose", a), P_ATOM, a.ub, a.lb);
            if (a.num)
                a.prec = P_POW; /* "(2).T", not "2.T" */
            return ex(arena_printf(G->a, "%s.T", par(G, a, P_POST)), P_POST, a.ub, a.lb);
        }
        if (k < 76) { /* elementwise functions */
            Ex a = gen(G, r, c, depth - 1);
            int f = irand(G, 0, 19); /* step and sign (no gradient) are rarer */
            switch (f < 10 ? f : f < 18 ? f - 10 : 9) {
            case 0: return ex(fn1(G, "sigmoid", a), P_ATOM, 1, 1 / (1 + exp(a.ub)));
            case 1: return ex(fn1(G, "tanh", a), P_ATOM, fmin(1, a.ub), 0);
            case 2: return ex(fn1(G, "relu", a), P_ATOM, a.ub, 0);
            case 3:
                if (a.ub > 3)
                    a = ex(fn1(G, "tanh", a), P_ATOM, 1, 0);
                return ex(fn1(G, "exp", a), P_ATOM, exp(a.ub), exp(-a.ub));
            case 4:
                a = positive(G, a, chance(G, 0.5) ? 1 : 0.5);
                return ex(fn1(G, "log", a), P_ATOM,
                          fmax(fabs(log(a.lb)), fabs(log(a.ub))), 0);
            case 5:
                a = positive(G, a, chance(G, 0.5) ? 1 : 0.5);
                return ex(fn1(G, "sqrt", a), P_ATOM, sqrt(a.ub), sqrt(a.lb));
            case 6: return ex(fn1(G, "abs", a), P_ATOM, a.ub, a.lb);
            case 7:
                if (chance(G, 0.5))
                    continue;
                return ex(fn1(G, "step", a), P_ATOM, 1, 0);
            case 8:
                if (chance(G, 0.5))
                    continue;
                return ex(fn1(G, "sign", a), P_ATOM, 1, 0);
            default: return ex(fn1(G, "tanh", a), P_ATOM, fmin(1, a.ub), 0);
            }
        }
        if (k < 84) { /* reductions that produce this shape */
            bool mean = chance(G, 0.4);
            const char *f = mean ? "mean" : "sum";
            if (r == 1 && c == 1 && chance(G, 0.5)) {
                int rr = irand(G, 1, 4), cc = irand(G, 1, 4);
                Ex a = gen(G, rr, cc, depth - 1);
                double n = mean ? 1 : rr * cc;
                return ex(fn1(G, f, a), P_ATOM, n * a.ub, n * a.lb);
            }
            if (r == 1) {
                int kk = irand(G, 1, 4);
                Ex a = gen(G, kk, c, depth - 1);
                double n = mean ? 1 : kk;
                const char *t = chance(G, 0.5)
                                    ? arena_printf(G->a, "%s(%s, axis=0)", f, a.s)
                                    : arena_printf(G->a, "%s(%s, 0)", f, a.s);
                return ex(t, P_ATOM, n * a.ub, n * a.lb);
            }
            if (c == 1) {
                int kk = irand(G, 1, 4);
                Ex a = gen(G, r, kk, depth - 1);
                double n = mean ? 1 : kk;
                const char *t = chance(G, 0.5)
                                    ? arena_printf(G->a, "%s(%s, axis=1)", f, a.s)
                                    : arena_printf(G->a, "%s(%s, 1)", f, a.s);
                return ex(t, P_ATOM, n * a.ub, n * a.lb);
            }
            continue;
        }
        if (k < 90) { /* conv */
            int kh = irand(G, 1, 3), kw = irand(G, 1, 3);
            if (r + kh - 1 > MAXD || c + kw - 1 > MAXD)
                continue;
            Ex a = gen(G, r + kh - 1, c + kw - 1, depth - 1);
            Ex w = gen(G, kh, kw, depth - 1);
            return ex(arena_printf(G->a, "conv(%s, %s)", a.s, w.s), P_ATOM,
                      kh * kw * a.ub * w.ub,
                      a.lb > 0 && w.lb > 0 ? kh * kw * a.lb * w.lb : 0);
        }
        if (k < 94) { /* pad */
            int pr = irand(G, 0, (r - 1) / 2), pc = irand(G, 0, (c - 1) / 2);
            if (pr == 0 && pc == 0 && !chance(G, 0.2))
                continue;
            Ex a = gen(G, r - 2 * pr, c - 2 * pc, depth - 1);
            const char *t = pr == pc && chance(G, 0.6)
                                ? arena_printf(G->a, "pad(%s, %d)", a.s, pr)
                                : arena_printf(G->a, "pad(%s, %d, %d)", a.s, pr, pc);
            return ex(t, P_ATOM, a.ub, 0);
        }
        if (k < 97) { /* crop */
            int pr = irand(G, 0, 1), pc = irand(G, 0, 1);
            if (r + 2 * pr > MAXD || c + 2 * pc > MAXD)
                continue;
            Ex a = gen(G, r + 2 * pr, c + 2 * pc, depth - 1);
            const char *t = pr == pc && chance(G, 0.6)
                                ? arena_printf(G->a, "crop(%s, %d)", a.s, pr)
                                : arena_printf(G->a, "crop(%s, %d, %d)", a.s, pr, pc);
            return ex(t, P_ATOM, a.ub, a.lb);
        }
        /* rot180 */
        Ex a = gen(G, r, c, depth - 1);
        return ex(fn1(G, "rot180", a), P_ATOM, a.ub, a.lb);
    }
}

/* An expression of shape [r, c]. */
static Ex gen(Gen *G, int r, int c, int depth)
{
    if (depth <= 0 || G->budget <= 0 || chance(G, 0.1))
        return leaf(G, r, c);
    G->budget--;
    Ex e = gen_op(G, r, c, depth);
    if (e.ub > CAP) {
        e = chance(G, 0.5) ? ex(fn1(G, "tanh", e), P_ATOM, 1, 0)
                           : ex(fn1(G, "sigmoid", e), P_ATOM, 1, 1 / (1 + exp(e.ub)));
    }
    if (chance(G, 0.3)) { /* name it; later expressions may reuse it */
        const char *name = arena_printf(G->a, "v%d", ++G->nvar);
        buf_printf(&G->body, "%s = %s%s", name, e.s, G->sep);
        add_item(G, name, r, c, e.ub, e.lb);
        e = ex(name, P_ATOM, e.ub, e.lb);
    }
    return e;
}

/* Generates program number i; returns the text (in arena a). */
static const char *generate(Arena *a, uint64_t seed)
{
    for (uint64_t attempt = 0;; attempt++) {
        GcRng rng = {seed * 1000003u + attempt};
        Gen G = {.rng = &rng, .a = a};
        buf_init(&G.inputs, a);
        buf_init(&G.datas, a);
        buf_init(&G.body, a);
        buf_puts(&G.inputs, "");
        buf_puts(&G.datas, "");
        buf_puts(&G.body, "");
        G.sep = chance(&G, 0.2) ? "; " : "\n";
        G.budget = irand(&G, 6, 30);
        int r = irand(&G, 1, 4), c = irand(&G, 1, 4);
        Ex e = gen(&G, r, c, irand(&G, 3, 7));
        if (G.ninput == 0)
            continue; /* nothing to differentiate: redraw */
        Buf out;
        buf_init(&out, a);
        buf_printf(&out, "# random program, seed %llu\n", (unsigned long long)seed);
        buf_printf(&out, "input %s\n", G.inputs.data);
        if (G.ndata)
            buf_printf(&out, "data %s\n", G.datas.data);
        buf_puts(&out, G.body.data);
        buf_printf(&out, "L = %s(%s)\n", chance(&G, 0.6) ? "sum" : "mean", e.s);
        return out.data;
    }
}

int main(int argc, char **argv)
{
    int count = 100;
    uint64_t seed = 1;
    bool verbose = false;
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else if (pos++ == 0)
            count = atoi(argv[i]);
        else
            seed = strtoull(argv[i], NULL, 10);
    }
    int failed = 0, ninputs = 0, redraws = 0;
    double worst = 0;
    uint64_t worst_seed = 0;
    for (int i = 0; i < count; i++) {
        uint64_t s = seed + (uint64_t)i;
        Arena *a = arena_new();
        const char *text = generate(a, s);
        char name[64];
        snprintf(name, sizeof name, "random#%llu", (unsigned long long)s);
        if (verbose)
            printf("---- %s\n%s", name, text);
        GcProgram gp;
        gc_load(&gp, name, text, strlen(text));
        GcOptions opt = {.seed = s};
        GcResult res;
        bool ok = gc_check(&gp, &opt, &res);
        ninputs += res.ninputs;
        redraws += res.attempts > 1 ? res.attempts - 1 : 0;
        if (res.checked && res.worst >= worst) {
            worst = res.worst;
            worst_seed = s;
        }
        if (!ok) {
            failed++;
            printf("FAIL %s: %s\n", name, res.why);
        } else if (verbose) {
            printf("ok   %s: %d inputs, worst err %.2e, draws %d\n", name, res.ninputs,
                   res.worst, res.attempts);
        }
        fflush(stdout);
        gc_free(&gp);
        arena_free(a);
    }
    printf("randprog: %d programs (seeds %llu..%llu), %d inputs checked, %d "
           "failed, %d input redraws; worst err %.2e (random#%llu)\n",
           count, (unsigned long long)seed,
           (unsigned long long)(seed + (uint64_t)count - 1), ninputs, failed, redraws,
           worst, (unsigned long long)worst_seed);
    return failed ? 1 : 0;
}
