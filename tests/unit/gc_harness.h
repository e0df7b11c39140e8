/* gc_harness.h: the gradient-check harness shared by the unit tests.
 *
 * gc_load() runs a .grad text through the real front end (parse_program,
 * check_program, prog_normalize, grad_derive); gc_check() then fills the
 * inputs with seeded random values, evaluates the derived program with the
 * reference evaluator (eval_prog) and compares the derived gradient of every
 * `input` with finite differences of the result.
 *
 * Finite differences. For input element x (step h = 2^-8 * max(1, |x|)):
 *     D(s)  = (f(x + s) - f(x - s)) / (actual step between the two points)
 *     R1    = (4 D(h/2) - D(h))   / 3          error O(h^4)
 *     R2    = (4 D(h/4) - D(h/2)) / 3          error O(h^4)
 *     fd    = (16 R2 - R1) / 15                error O(h^6)
 * Two Richardson steps: the truncation error is O(h^6) ~ 1e-14 f^(7), and
 * the rounding error is about 3 eps |f| / h ~ 1e-13 |f|, both far below the
 * tolerance. |R2 - R1| is kept as an estimate of the FD error and printed
 * on failure; where it exceeds 1e-10 (relative), the element is redone with
 * a step 8 times smaller and the estimate with the smaller error is kept
 * (for functions with large high derivatives, such as (x^2 + 0.5)^-4).
 *
 * Error metric (normwise relative, per input X):
 *     err(X) = max_i |g_i - fd_i| / max(||fd||_inf, ||g||_inf, 1e-3)
 * i.e. the worst elementwise discrepancy measured against the size of the
 * gradient itself (a normwise relative error in the infinity norm, so small
 * entries of a large gradient are judged against the large ones, as they
 * should be, and no entry is divided by its own noise). The floor 1e-3 keeps
 * a gradient that is zero or tiny from being judged against rounding noise:
 * for such a gradient the test demands an absolute error below 1e-9. The
 * test fails if err(X) >= tol (1e-6 unless told otherwise) for any input.
 *
 * Kinks. relu, abs, step and sign are not smooth at 0. gc_check records the
 * sign (-1, 0, +1) of every element of every argument of such an op at the
 * base point and requires it unchanged at every FD point; if any changes,
 * the stencil straddles a kink and the attempt is redrawn with new inputs
 * (up to GC_ATTEMPTS times; then the check fails). Likewise an attempt
 * whose values are not all finite is redrawn (the second half of the
 * attempts draw from [0.1, 1] instead, for programs that need positive
 * inputs).
 *
 * Every function here is static; GC_UNUSED keeps -Wunused-function quiet in
 * test programs that do not use all of them.
 */
#ifndef GC_HARNESS_H
#define GC_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

#define GC_UNUSED __attribute__((unused))
#define GC_ATTEMPTS 24

/* ------------------------------------------------------------------ RNG */

/* splitmix64: small, deterministic on every machine. */
typedef struct GcRng {
    uint64_t s;
} GcRng;

static GC_UNUSED uint64_t gc_next(GcRng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static GC_UNUSED double gc_unif(GcRng *r)
{
    return (double)(gc_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform integer in [lo, hi] */
static GC_UNUSED int gc_int(GcRng *r, int lo, int hi)
{
    return lo + (int)(gc_next(r) % (uint64_t)(hi - lo + 1));
}

/* ---------------------------------------------------------- one program */

typedef struct GcProgram {
    Arena *arena;
    Source src;
    const char *name;
    char *text;    /* the .grad text (malloc'd copy) */
    Prog *p;       /* normalized, and derived if the result is scalar */
    Prog *written; /* the program as written (check_program's output) */
    bool *wrt;     /* NULL, or per var of p: the inputs derived */
    char *diag;    /* everything the front end printed (malloc'd) */
    size_t diag_len;
    bool ok;     /* the front end accepted the program */
    bool scalar; /* the result is [1, 1]: gradients were derived */
    /* kink arguments: vars whose values are arguments of relu/abs/step/sign */
    int *kink_vars;
    int nkink;
} GcProgram;

typedef struct GcOptions {
    uint64_t seed;
    double tol;    /* 0: 1e-6 */
    double lo, hi; /* input range; both 0: [-1, 1] */
    bool quiet;    /* do not print the failure report */
    /* Self-test hook: called on a copy of the derived gradient of input
     * `var` (n elements) before it is compared. */
    void (*corrupt)(int var, double *g, size_t n, void *ctx);
    void *ctx;
} GcOptions;

typedef struct GcResult {
    bool ok;      /* every gradient within tolerance */
    bool checked; /* gradients were compared (result is a scalar) */
    double worst; /* worst err over the inputs */
    int worst_var;
    int ninputs;   /* inputs checked */
    int attempts;  /* input draws used */
    char why[256]; /* on failure: a one-line reason */
} GcResult;

static GC_UNUSED size_t gc_numel(Shape s)
{
    return (size_t)shape_numel(s);
}

static GC_UNUSED bool gc_is_kink(Op op)
{
    return op == OP_RELU || op == OP_ABS || op == OP_STEP || op == OP_SIGN;
}

/* Adds var to the kink list once. */
static GC_UNUSED void gc_add_kink(GcProgram *gp, int var, int *cap)
{
    for (int i = 0; i < gp->nkink; i++)
        if (gp->kink_vars[i] == var)
            return;
    if (gp->nkink == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        gp->kink_vars = realloc(gp->kink_vars, (size_t)*cap * sizeof(int));
        if (!gp->kink_vars)
            abort();
    }
    gp->kink_vars[gp->nkink++] = var;
}

/* Finds the argument of every relu/abs/step/sign in a live definition. An
 * argument that is a VAR is recorded directly; one that is a computed
 * expression gets a probe var appended to the program (so eval_prog
 * computes its value); a CONST cannot cross a kink and is skipped. */
static GC_UNUSED void gc_find_kinks(GcProgram *gp)
{
    Prog *p = gp->p;
    Graph *g = p->g;
    int cap = 0, nv = p->nvars;
    char *seen = calloc((size_t)g->nnodes + 1, 1);
    const Node **stack = malloc(((size_t)g->nnodes + 1) * sizeof *stack);
    if (!seen || !stack)
        abort();
    for (int v = 0; v < nv; v++) {
        const Var *x = &p->vars[v];
        if (x->dead || !x->def)
            continue;
        int sp = 0;
        if (!seen[x->def->id]) {
            seen[x->def->id] = 1;
            stack[sp++] = x->def;
        }
        while (sp > 0) {
            const Node *n = stack[--sp];
            if (gc_is_kink(n->op)) {
                const Node *a = n->arg[0];
                if (a->op == OP_VAR) {
                    gc_add_kink(gp, a->var, &cap);
                } else if (a->op != OP_CONST) {
                    int saved = p->result;
                    int pv = prog_add_var(p, prog_fresh_name(p, "gc_probe"), VAR_STEP,
                                          a->shape, (Node *)a, (Span){0});
                    p->vars[pv].temp = true;
                    p->result = saved;
                    gc_add_kink(gp, pv, &cap);
                }
            }
            for (int i = 0; i < n->nargs; i++)
                if (!seen[n->arg[i]->id]) {
                    seen[n->arg[i]->id] = 1;
                    stack[sp++] = n->arg[i];
                }
        }
    }
    free(stack);
    free(seen);
}

/* Runs text through the front end. Diagnostics go to gp->diag. Returns
 * false if the program was rejected (gp->diag says why). derive: run
 * grad_derive when the result is a scalar; wrt: NULL, or a comma-separated
 * list of the inputs to derive (grad_derive's wrt flags). */
static GC_UNUSED bool gc_load_ex(GcProgram *gp, const char *name, const char *text,
                                 size_t len, bool derive, const char *wrt)
{
    memset(gp, 0, sizeof *gp);
    gp->name = name;
    gp->text = malloc(len + 1);
    if (!gp->text)
        abort();
    memcpy(gp->text, text, len);
    gp->text[len] = '\0';
    gp->arena = arena_new();
    gp->src.path = name;
    gp->src.text = gp->text;
    gp->src.len = len;
    FILE *out = open_memstream(&gp->diag, &gp->diag_len);
    if (!out)
        abort();
    Diag d;
    diag_init(&d, &gp->src, out);
    AstProgram ast;
    Prog *p = NULL;
    if (parse_program(gp->arena, &gp->src, &d, &ast)) {
        gp->written = check_program(gp->arena, &ast, &d);
        if (gp->written)
            p = prog_normalize(gp->written);
    }
    if (p && d.errors == 0 && p->result >= 0) {
        gp->p = p;
        gp->scalar = derive && shape_is_scalar(p->vars[p->result].shape);
        bool wrt_ok = true;
        if (gp->scalar && wrt) {
            gp->wrt = arena_alloc(gp->arena, (size_t)p->nvars * sizeof(bool));
            char *list = arena_strdup(gp->arena, wrt), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                int v = prog_find(p, t);
                if (v < 0 || p->vars[v].kind != VAR_INPUT) {
                    fprintf(out, "gc_load: --wrt names no input '%s'\n", t);
                    wrt_ok = false;
                } else {
                    gp->wrt[v] = true;
                }
            }
        }
        if (gp->scalar && wrt_ok)
            grad_derive(p, gp->wrt, &d);
        gp->ok = d.errors == 0 && wrt_ok;
    }
    fclose(out);
    if (gp->ok)
        gc_find_kinks(gp);
    return gp->ok;
}

static GC_UNUSED bool gc_load(GcProgram *gp, const char *name, const char *text,
                              size_t len)
{
    return gc_load_ex(gp, name, text, len, true, NULL);
}

/* the inputs whose gradient gc_check compares */
static GC_UNUSED bool gc_derived_input(const GcProgram *gp, int v)
{
    return gp->scalar && gp->p->vars[v].kind == VAR_INPUT && (!gp->wrt || gp->wrt[v]);
}

static GC_UNUSED bool gc_load_file(GcProgram *gp, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        memset(gp, 0, sizeof *gp);
        return false;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got > cap) {
            cap = 2 * (len + got);
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        memcpy(buf + len, chunk, got);
        len += got;
    }
    fclose(f);
    bool ok = gc_load(gp, path, buf ? buf : "", len);
    free(buf);
    return ok;
}

static GC_UNUSED void gc_free(GcProgram *gp)
{
    if (gp->arena)
        arena_free(gp->arena);
    free(gp->text);
    free(gp->diag);
    free(gp->kink_vars);
    memset(gp, 0, sizeof *gp);
}

/* ---------------------------------------------------------- the checks */

/* Structural sanity of a derived program: every input has a gradient var of
 * its shape; every live step reads only inputs and earlier live steps (so
 * the printed program is valid). Returns false with a reason in why. */
static GC_UNUSED bool gc_sane(const GcProgram *gp, char *why, size_t whysize)
{
    const Prog *p = gp->p;
    if (gp->scalar) {
        if (!p->derived || !p->grad) {
            snprintf(why, whysize, "grad_derive did not set derived/grad");
            return false;
        }
        for (int v = 0; v < p->nvars; v++) {
            if (!gc_derived_input(gp, v))
                continue;
            int gv = p->grad[v];
            if (gv < 0 || gv >= p->nvars) {
                snprintf(why, whysize, "input '%s' has no gradient var", p->vars[v].name);
                return false;
            }
            if (!shape_eq(p->vars[gv].shape, p->vars[v].shape)) {
                snprintf(why, whysize,
                         "gradient '%s' of '%s' has shape [%lld, %lld], "
                         "the input [%lld, %lld]",
                         p->vars[gv].name, p->vars[v].name,
                         (long long)p->vars[gv].shape.dim[0],
                         (long long)p->vars[gv].shape.dim[1],
                         (long long)p->vars[v].shape.dim[0],
                         (long long)p->vars[v].shape.dim[1]);
                return false;
            }
            if (p->vars[gv].dead) {
                snprintf(why, whysize, "gradient '%s' of '%s' is dead", p->vars[gv].name,
                         p->vars[v].name);
                return false;
            }
        }
    }
    /* every VAR read by a live def is an input or an earlier live step */
    const Graph *g = p->g;
    int *mark = calloc((size_t)g->nnodes + 1, sizeof *mark);
    const Node **stack = malloc(((size_t)g->nnodes + 1) * sizeof *stack);
    if (!mark || !stack)
        abort();
    bool ok = true;
    for (int v = 0; v < p->nvars && ok; v++) {
        const Var *x = &p->vars[v];
        if (x->dead || !x->def)
            continue;
        if (!shape_eq(x->def->shape, x->shape)) {
            snprintf(why, whysize, "'%s' and its definition differ in shape", x->name);
            ok = false;
            break;
        }
        int sp = 0;
        stack[sp++] = x->def;
        mark[x->def->id] = v + 1;
        while (sp > 0 && ok) {
            const Node *n = stack[--sp];
            if (n->op == OP_VAR) {
                const Var *u = &p->vars[n->var];
                bool input = u->kind == VAR_INPUT || u->kind == VAR_DATA;
                if (!input && (n->var >= v || u->dead)) {
                    snprintf(why, whysize, "live step '%s' reads %s step '%s'", x->name,
                             u->dead ? "the dead" : "the later", u->name);
                    ok = false;
                }
            }
            for (int i = 0; i < n->nargs; i++)
                if (mark[n->arg[i]->id] != v + 1) {
                    mark[n->arg[i]->id] = v + 1;
                    stack[sp++] = n->arg[i];
                }
        }
    }
    free(stack);
    free(mark);
    return ok;
}

typedef struct GcVals {
    const Prog *p;
    double **v;    /* per var */
    double *kink0; /* signs of the kink arguments at the base point */
    size_t nkinkel;
} GcVals;

static GC_UNUSED void gc_vals_new(GcVals *vs, const Prog *p)
{
    vs->p = p;
    vs->v = calloc((size_t)p->nvars, sizeof *vs->v);
    if (!vs->v)
        abort();
    for (int i = 0; i < p->nvars; i++) {
        vs->v[i] = calloc(gc_numel(p->vars[i].shape), sizeof(double));
        if (!vs->v[i])
            abort();
    }
    vs->kink0 = NULL;
    vs->nkinkel = 0;
}

static GC_UNUSED void gc_vals_free(GcVals *vs)
{
    for (int i = 0; i < vs->p->nvars; i++)
        free(vs->v[i]);
    free(vs->v);
    free(vs->kink0);
}

static GC_UNUSED double gc_sign(double x)
{
    return x > 0 ? 1 : x < 0 ? -1 : 0;
}

/* Records (base != 0) or compares the kink signs; false if one changed. */
static GC_UNUSED bool gc_kinks(const GcProgram *gp, GcVals *vs, bool base)
{
    size_t k = 0;
    if (base) {
        size_t total = 0;
        for (int i = 0; i < gp->nkink; i++)
            total += gc_numel(gp->p->vars[gp->kink_vars[i]].shape);
        free(vs->kink0);
        vs->kink0 = malloc((total + 1) * sizeof(double));
        if (!vs->kink0)
            abort();
        vs->nkinkel = total;
    }
    for (int i = 0; i < gp->nkink; i++) {
        int v = gp->kink_vars[i];
        size_t n = gc_numel(gp->p->vars[v].shape);
        for (size_t j = 0; j < n; j++, k++) {
            double s = gc_sign(vs->v[v][j]);
            if (base)
                vs->kink0[k] = s;
            else if (s != vs->kink0[k])
                return false;
        }
    }
    return true;
}

/* True if every value of every live var is finite. */
static GC_UNUSED bool gc_finite(const Prog *p, GcVals *vs, const char **bad)
{
    for (int v = 0; v < p->nvars; v++) {
        if (p->vars[v].dead)
            continue;
        size_t n = gc_numel(p->vars[v].shape);
        for (size_t j = 0; j < n; j++)
            if (!isfinite(vs->v[v][j])) {
                *bad = p->vars[v].name;
                return false;
            }
    }
    return true;
}

static GC_UNUSED void gc_print_matrix(FILE *out, const char *label, const double *x,
                                      Shape s)
{
    fprintf(out, "  %s [%lld, %lld] =", label, (long long)s.dim[0], (long long)s.dim[1]);
    for (int64_t i = 0; i < s.dim[0]; i++) {
        fprintf(out, "\n    ");
        for (int64_t j = 0; j < s.dim[1]; j++)
            fprintf(out, " %22.15e", x[i * s.dim[1] + j]);
    }
    fputc('\n', out);
}

/* f at the current inputs; false if a kink sign changed or f is not
 * finite. */
static GC_UNUSED bool gc_f(const GcProgram *gp, GcVals *vs, double *f)
{
    eval_prog(gp->p, vs->v);
    *f = vs->v[gp->p->result][0];
    return isfinite(*f) && gc_kinks(gp, vs, false);
}

static GC_UNUSED void gc_report_head(FILE *out, const GcProgram *gp)
{
    fprintf(out, "---- program %s:\n%s", gp->name, gp->text);
    if (gp->text[0] && gp->text[strlen(gp->text) - 1] != '\n')
        fputc('\n', out);
    if (gp->diag_len)
        fprintf(out, "---- diagnostics:\n%s", gp->diag);
    if (gp->p) {
        fprintf(out, "---- derived program (print_prog):\n");
        print_prog(out, gp->p);
    }
}

/* Values of program b, evaluated with the inputs of a (matched by name),
 * against a's values: every computed var of b must exist in a under the
 * same name and agree to within 1e-12 of its size (a normwise relative
 * difference; a few ulps of reassociation are allowed, nothing more).
 * Returns false with a reason. */
static GC_UNUSED bool gc_same_values(const char *what, const Prog *a, double **va,
                                     const Prog *b, char *why, size_t whysize)
{
    GcVals vb;
    gc_vals_new(&vb, b);
    bool ok = true;
    for (int j = 0; j < b->nvars && ok; j++) {
        const Var *x = &b->vars[j];
        if (x->kind != VAR_INPUT && x->kind != VAR_DATA)
            continue;
        int i = prog_find(a, x->name);
        if (i < 0 || !shape_eq(a->vars[i].shape, x->shape)) {
            snprintf(why, whysize, "%s: input '%s' has no counterpart", what, x->name);
            ok = false;
            break;
        }
        memcpy(vb.v[j], va[i], gc_numel(x->shape) * sizeof(double));
    }
    if (ok)
        eval_prog(b, vb.v);
    for (int j = 0; j < b->nvars && ok; j++) {
        const Var *x = &b->vars[j];
        if (x->kind == VAR_INPUT || x->kind == VAR_DATA || x->dead || !x->def)
            continue;
        int i = prog_find(a, x->name);
        if (i < 0 || !shape_eq(a->vars[i].shape, x->shape) || a->vars[i].dead) {
            snprintf(why, whysize, "%s: '%s' has no live counterpart", what, x->name);
            ok = false;
            break;
        }
        double norm = 0, diff = 0;
        size_t n = gc_numel(x->shape), worst = 0;
        for (size_t k = 0; k < n; k++) {
            norm = fmax(norm, fmax(fabs(va[i][k]), fabs(vb.v[j][k])));
            double dk = fabs(va[i][k] - vb.v[j][k]);
            if (!(dk <= diff)) {
                diff = dk;
                worst = k;
            }
        }
        if (!(diff <= 1e-12 * fmax(norm, 1.0))) {
            snprintf(why, whysize,
                     "%s: '%s' differs: element %zu is %.17g here, %.17g there", what,
                     x->name, worst, va[i][worst], vb.v[j][worst]);
            ok = false;
        }
    }
    gc_vals_free(&vb);
    return ok;
}

/* The derived program must compute what the program as written computes,
 * and its printed form (print_prog) must parse back to a program that
 * computes the same values (SPEC section 3). vs holds the values at the
 * base point. */
static GC_UNUSED bool gc_consistent(const GcProgram *gp, GcVals *vs, char *why,
                                    size_t whysize)
{
    if (!gc_same_values("as written vs derived", gp->p, vs->v, gp->written, why, whysize))
        return false;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        abort();
    print_prog(out, gp->p);
    fclose(out);
    GcProgram back;
    bool ok = gc_load_ex(&back, "printed", text, len, false, NULL);
    if (!ok) {
        snprintf(why, whysize, "print_prog output does not parse back: %.150s",
                 back.diag ? back.diag : "");
    } else {
        ok = gc_same_values("printed vs derived", gp->p, vs->v, back.written, why,
                            whysize);
    }
    if (!ok)
        fprintf(stderr, "---- printed program:\n%s", text);
    gc_free(&back);
    free(text);
    return ok;
}

/* The Richardson-extrapolated central difference of the result with
 * respect to *x (an input element) with base step h: *d, and *err the
 * estimate |R2 - R1|. *x is restored. False if the stencil crossed a kink
 * or met a value that is not finite. */
static GC_UNUSED bool gc_fd(const GcProgram *gp, GcVals *vs, double *x, double h,
                            double *d, double *err)
{
    double x0 = *x, D[3];
    bool valid = true;
    for (int l = 0; l < 3 && valid; l++) {
        double s = ldexp(h, -l), fp = 0, fm = 0;
        double xp = x0 + s, xm = x0 - s;
        *x = xp;
        valid = gc_f(gp, vs, &fp);
        *x = xm;
        valid = valid && gc_f(gp, vs, &fm);
        D[l] = (fp - fm) / (xp - xm);
    }
    *x = x0;
    if (!valid)
        return false;
    double r1 = (4 * D[1] - D[0]) / 3, r2 = (4 * D[2] - D[1]) / 3;
    *d = (16 * r2 - r1) / 15;
    *err = fabs(r2 - r1);
    return true;
}

/* The gradient check; see the comment at the top of this file. */
static GC_UNUSED bool gc_check(const GcProgram *gp, const GcOptions *opt_in,
                               GcResult *res)
{
    GcOptions opt = *opt_in;
    if (opt.tol == 0)
        opt.tol = 1e-6;
    memset(res, 0, sizeof *res);
    res->worst_var = -1;
    if (!gp->ok) {
        snprintf(res->why, sizeof res->why, "the front end rejected it");
        if (!opt.quiet)
            gc_report_head(stderr, gp);
        return false;
    }
    if (!gc_sane(gp, res->why, sizeof res->why)) {
        if (!opt.quiet)
            gc_report_head(stderr, gp);
        return false;
    }
    const Prog *p = gp->p;
    GcVals vs;
    gc_vals_new(&vs, p);
    /* per input: the analytic gradient (copied), the FD gradient and its
     * error estimate */
    double **ga = calloc((size_t)p->nvars, sizeof *ga);
    double **fd = calloc((size_t)p->nvars, sizeof *fd);
    double **fe = calloc((size_t)p->nvars, sizeof *fe);
    double **x0 = calloc((size_t)p->nvars, sizeof *x0);
    if (!ga || !fd || !fe || !x0)
        abort();
    bool valid = false;
    const char *bad = NULL;
    for (int attempt = 0; attempt < GC_ATTEMPTS && !valid; attempt++) {
        res->attempts = attempt + 1;
        GcRng rng = {opt.seed * 0x100000001b3ull + (uint64_t)attempt * 7919u};
        double lo = opt.lo, hi = opt.hi;
        if (lo == 0 && hi == 0) {
            lo = -1;
            hi = 1;
            if (attempt >= GC_ATTEMPTS / 2)
                lo = 0.1;
        }
        for (int v = 0; v < p->nvars; v++) {
            VarKind k = p->vars[v].kind;
            if (k != VAR_INPUT && k != VAR_DATA)
                continue;
            for (size_t j = 0; j < gc_numel(p->vars[v].shape); j++)
                vs.v[v][j] = lo + (hi - lo) * gc_unif(&rng);
        }
        eval_prog(p, vs.v);
        if (!gc_finite(p, &vs, &bad))
            continue;
        if (!gp->scalar) {
            valid = true;
            break;
        }
        gc_kinks(gp, &vs, true);
        for (int v = 0; v < p->nvars; v++) {
            if (!gc_derived_input(gp, v))
                continue;
            size_t n = gc_numel(p->vars[v].shape);
            free(ga[v]);
            free(fd[v]);
            free(fe[v]);
            free(x0[v]);
            ga[v] = malloc(n * sizeof(double));
            fd[v] = malloc(n * sizeof(double));
            fe[v] = malloc(n * sizeof(double));
            x0[v] = malloc(n * sizeof(double));
            if (!ga[v] || !fd[v] || !fe[v] || !x0[v])
                abort();
            memcpy(ga[v], vs.v[p->grad[v]], n * sizeof(double));
            memcpy(x0[v], vs.v[v], n * sizeof(double));
        }
        valid = true;
        for (int v = 0; v < p->nvars && valid; v++) {
            if (!gc_derived_input(gp, v))
                continue;
            size_t n = gc_numel(p->vars[v].shape);
            for (size_t j = 0; j < n && valid; j++) {
                double x = x0[v][j];
                double h = ldexp(1.0, -8) * fmax(1.0, fabs(x));
                valid = gc_fd(gp, &vs, &vs.v[v][j], h, &fd[v][j], &fe[v][j]);
                /* a function with large high derivatives: if the error
                 * estimate is not tiny, try a step 8 times smaller and keep
                 * the better estimate */
                if (valid && fe[v][j] > 1e-10 * fmax(1.0, fabs(fd[v][j]))) {
                    double d2, e2;
                    valid = gc_fd(gp, &vs, &vs.v[v][j], h / 8, &d2, &e2);
                    if (valid && e2 < fe[v][j]) {
                        fd[v][j] = d2;
                        fe[v][j] = e2;
                    }
                }
            }
        }
    }
    bool consistent = true;
    if (valid) {
        eval_prog(p, vs.v); /* back at the base point */
        consistent = gc_consistent(gp, &vs, res->why, sizeof res->why);
    }
    if (!valid) {
        if (bad)
            snprintf(res->why, sizeof res->why,
                     "no valid point in %d draws (last: '%s' not finite)", GC_ATTEMPTS,
                     bad);
        else
            snprintf(res->why, sizeof res->why,
                     "no valid point in %d draws (kinks crossed)", GC_ATTEMPTS);
        res->ok = false;
        if (!opt.quiet) {
            gc_report_head(stderr, gp);
            fprintf(stderr, "---- %s\n", res->why);
        }
    } else if (!consistent) {
        res->ok = false;
        if (!opt.quiet) {
            gc_report_head(stderr, gp);
            fprintf(stderr, "---- %s\n", res->why);
        }
    } else if (gp->scalar) {
        res->checked = true;
        res->ok = true;
        for (int v = 0; v < p->nvars; v++) {
            if (!gc_derived_input(gp, v))
                continue;
            size_t n = gc_numel(p->vars[v].shape);
            if (opt.corrupt)
                opt.corrupt(v, ga[v], n, opt.ctx);
            double ng = 0, nf = 0, diff = 0;
            bool nan = false;
            for (size_t j = 0; j < n; j++) {
                if (!isfinite(ga[v][j]))
                    nan = true;
                ng = fmax(ng, fabs(ga[v][j]));
                nf = fmax(nf, fabs(fd[v][j]));
                diff = fmax(diff, fabs(ga[v][j] - fd[v][j]));
            }
            double err = nan ? INFINITY : diff / fmax(fmax(ng, nf), 1e-3);
            res->ninputs++;
            if (err > res->worst || res->worst_var < 0) {
                res->worst = err;
                res->worst_var = v;
            }
            if (!(err < opt.tol)) {
                if (res->ok)
                    snprintf(res->why, sizeof res->why,
                             "gradient of '%s' is off: err %.3e >= %.1e", p->vars[v].name,
                             err, opt.tol);
                res->ok = false;
            }
        }
        if (!res->ok && !opt.quiet) {
            gc_report_head(stderr, gp);
            fprintf(stderr, "---- %s\n---- inputs (seed %llu, draw %d):\n", res->why,
                    (unsigned long long)opt.seed, res->attempts);
            for (int v = 0; v < p->nvars; v++)
                if (p->vars[v].kind == VAR_INPUT || p->vars[v].kind == VAR_DATA)
                    gc_print_matrix(stderr, p->vars[v].name, vs.v[v], p->vars[v].shape);
            fprintf(stderr, "---- result %s = %.17g\n", p->vars[p->result].name,
                    vs.v[p->result][0]);
            for (int v = 0; v < p->nvars; v++) {
                if (!gc_derived_input(gp, v))
                    continue;
                char label[300];
                snprintf(label, sizeof label, "analytic d%s (var '%s')", p->vars[v].name,
                         p->vars[p->grad[v]].name);
                gc_print_matrix(stderr, label, ga[v], p->vars[v].shape);
                snprintf(label, sizeof label, "finite-difference d%s", p->vars[v].name);
                gc_print_matrix(stderr, label, fd[v], p->vars[v].shape);
                snprintf(label, sizeof label, "FD error estimate d%s", p->vars[v].name);
                gc_print_matrix(stderr, label, fe[v], p->vars[v].shape);
            }
        }
    } else {
        res->ok = true; /* not a scalar: evaluated, nothing to compare */
    }
    for (int v = 0; v < p->nvars; v++) {
        free(ga[v]);
        free(fd[v]);
        free(fe[v]);
        free(x0[v]);
    }
    free(ga);
    free(fd);
    free(fe);
    free(x0);
    gc_vals_free(&vs);
    return res->ok;
}

#endif
