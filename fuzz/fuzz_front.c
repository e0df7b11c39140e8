/* fuzz_front.c: libFuzzer target for the whole front half of gradc.
 *
 * The input bytes are a .grad file. Each run:
 *   1. parse_program, check_program (diagnostics to /dev/null);
 *   2. print_prog of the program as written (`gradc fmt`), which must parse
 *      and check again and print back unchanged;
 *   3. prog_normalize, then, when the result is a [1, 1] scalar,
 *      grad_derive for every input and again (from a fresh normalization)
 *      for a subset of the inputs chosen from a hash of the input;
 *   4. every printer on the derived program: print_prog, print_closed,
 *      print_latex (steps and closed), print_dot, dump_prog;
 *   5. print ∘ parse round trip: the printed derived program and the
 *      printed closed program must parse and check without an error, and
 *      print back unchanged (`gradc fmt D` == D);
 *   6. when the program is small (every var at most 4096 elements, at most
 *      200 vars, bounded work), eval_prog with deterministic inputs on the
 *      derived program and on the re-parsed derived program: the two must
 *      agree bit for bit; and on the program as written: its variables
 *      must have the same values in the derived program (to 1e-7, where
 *      every value is finite and below 1e4); and the derived gradients must
 *      match central finite differences along a direction (where the
 *      differences show the function is smooth there).
 * A violation of 2, 5 or 6 prints what went wrong and abort()s, so libFuzzer
 * reports it like a crash. Everything lives in arenas freed at the end.
 *
 *   make fuzz FUZZ_SECONDS=60     (fuzz/fuzz.mk)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

enum {
    EVAL_MAX_VARS = 200,
    EVAL_MAX_NUMEL = 4096,
    EVAL_MAX_WORK = 4000000, /* multiply-adds, summed over every node */
};

static FILE *devnull(void)
{
    static FILE *null;
    if (!null) {
        null = fopen("/dev/null", "w");
        if (!null) {
            perror("fuzz_front: /dev/null");
            abort();
        }
    }
    return null;
}

static uint64_t fnv1a(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    return h;
}

/* Text printed by a printer, into malloc'ed memory. */
typedef struct Text {
    char *data;
    size_t len;
} Text;

typedef enum { PR_PROG, PR_CLOSED } PrintKind;

/* Prints p; returns false if the printer refused (closed form too large). */
static bool print_to(Text *t, Prog *p, PrintKind kind)
{
    t->data = NULL;
    t->len = 0;
    FILE *f = open_memstream(&t->data, &t->len);
    if (!f)
        abort();
    bool ok = true;
    if (kind == PR_PROG)
        print_prog(f, p);
    else
        ok = print_closed(f, p);
    fclose(f);
    return ok;
}

static _Noreturn void violation(const char *what, const Text *printed, const char *diag,
                                const char *again)
{
    fprintf(stderr, "fuzz_front: %s\n--- printed program\n%.*s", what,
            printed ? (int)printed->len : 0, printed ? printed->data : "");
    if (diag)
        fprintf(stderr, "--- diagnostics\n%s", diag);
    if (again)
        fprintf(stderr, "--- printed again\n%s", again);
    fprintf(stderr, "---\n");
    abort();
}

/* Parses and checks printed text in arena a; the program must be accepted
 * without an error, and print back to the same text. Returns the checked
 * program. */
static Prog *reparse(Arena *a, const Text *printed, const char *what)
{
    char *diag = NULL;
    size_t dlen = 0;
    FILE *df = open_memstream(&diag, &dlen);
    if (!df)
        abort();
    Source src = {"printed.grad", printed->data ? printed->data : "", printed->len};
    Diag d;
    diag_init(&d, &src, df);
    AstProgram ast;
    Prog *p = NULL;
    if (parse_program(a, &src, &d, &ast))
        p = check_program(a, &ast, &d);
    fclose(df);
    if (!p || d.errors) {
        char msg[128];
        snprintf(msg, sizeof msg, "the printed %s program is rejected", what);
        violation(msg, printed, diag, NULL);
    }
    free(diag);
    Text again;
    print_to(&again, p, PR_PROG);
    if (again.len != printed->len || memcmp(again.data, printed->data, again.len) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "the printed %s program does not print back unchanged",
                 what);
        violation(msg, printed, NULL, again.data);
    }
    free(again.data);
    return p;
}

/* ------------------------------------------------------------------ eval */

typedef struct Work {
    uint64_t total;
} Work;

static void node_work(Node *n, void *ctx)
{
    Work *w = ctx;
    uint64_t out = (uint64_t)shape_numel(n->shape), k = 1;
    if (n->op == OP_MATMUL)
        k = (uint64_t)n->arg[0]->shape.dim[1];
    else if (n->op == OP_CONV)
        k = (uint64_t)shape_numel(n->arg[1]->shape);
    else if (n->op == OP_SUM || n->op == OP_MEAN)
        out = (uint64_t)shape_numel(n->arg[0]->shape);
    w->total += out * k;
}

/* Small enough to evaluate quickly. */
static bool evaluable(Prog *p)
{
    if (p->nvars > EVAL_MAX_VARS)
        return false;
    Work w = {0};
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        if (shape_numel(x->shape) > EVAL_MAX_NUMEL)
            return false;
        if (x->def && !x->dead)
            node_walk(p->g, x->def, node_work, &w);
        if (w.total > EVAL_MAX_WORK)
            return false;
    }
    return true;
}

/* The value of input `name`: the same whatever program it is in. */
static void fill_input(double *dst, int64_t n, const char *name)
{
    uint64_t s = fnv1a((const uint8_t *)name, strlen(name));
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        dst[i] = (double)(int64_t)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0; /* [-1, 1) */
        if (dst[i] == 0)
            dst[i] = 0.5;
    }
}

static double **eval_alloc(Prog *p)
{
    double **vals = calloc((size_t)p->nvars, sizeof *vals);
    if (!vals)
        abort();
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        int64_t n = shape_numel(x->shape);
        vals[v] = calloc((size_t)n, sizeof **vals);
        if (!vals[v])
            abort();
        if (x->kind == VAR_INPUT || x->kind == VAR_DATA)
            fill_input(vals[v], n, x->name);
    }
    return vals;
}

static void eval_free(Prog *p, double **vals)
{
    for (int v = 0; v < p->nvars; v++)
        free(vals[v]);
    free(vals);
}

/* Equal, as values the same operations compute: bit for bit, NaN == NaN. */
static bool same_value(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b;
}

/* Evaluates the derived program p and the re-parsed program q (its printed
 * text); every live var of p must have the same values in q. */
static void eval_compare(Prog *p, Prog *q, const Text *printed)
{
    double **pv = eval_alloc(p), **qv = eval_alloc(q);
    eval_prog(p, pv);
    eval_prog(q, qv);
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        if (x->dead)
            continue;
        int w = prog_find(q, x->name);
        if (w < 0 || !shape_eq(q->vars[w].shape, x->shape)) {
            char msg[400];
            snprintf(msg, sizeof msg, "'%s' is missing or has another shape after the round trip",
                     x->name);
            violation(msg, printed, NULL, NULL);
        }
        int64_t n = shape_numel(x->shape);
        for (int64_t i = 0; i < n; i++)
            if (!same_value(pv[v][i], qv[w][i])) {
                char msg[400];
                snprintf(msg, sizeof msg,
                         "'%s'[%lld] is %.17g in the derived program but %.17g after the "
                         "round trip",
                         x->name, (long long)i, pv[v][i], qv[w][i]);
                violation(msg, printed, NULL, NULL);
            }
    }
    eval_free(p, pv);
    eval_free(q, qv);
}

static void count_softplus(Node *n, void *ctx)
{
    if (n->op == OP_SOFTPLUS)
        ++*(int *)ctx;
}

/* softplus nodes in the forward steps of p. */
static int softplus_nodes(Prog *p)
{
    int count = 0;
    for (int v = 0; v < p->nvars; v++)
        if (p->vars[v].kind == VAR_STEP && p->vars[v].def && !p->vars[v].dead)
            node_walk(p->g, p->vars[v].def, count_softplus, &count);
    return count;
}

/* The program as written (checked) and its derived program compute the
 * same forward values, up to the rounding of the simplifier's rewrites
 * (2 * (3 * x) -> 6 * x, ...). Compared only where every value of the
 * written program is finite and moderate, where rounding cannot be
 * amplified into a false alarm, and not when the simplifier rewrote an
 * unstable form into a stable one (log(sigmoid(x)) -> -softplus(-x), seen
 * as softplus nodes the written program does not have): there the written
 * form is the inaccurate one, by design (a finding of the fuzzer:
 * Y / log(sigmoid(t)) with t near 20 differs in the sixth digit). */
static void eval_forward_compare(Prog *written, Prog *derived)
{
    if (!evaluable(written) || !evaluable(derived))
        return;
    if (softplus_nodes(derived) > softplus_nodes(written))
        return;
    double **wv = eval_alloc(written), **dv = eval_alloc(derived);
    eval_prog(written, wv);
    eval_prog(derived, dv);
    bool tame = true;
    for (int v = 0; v < written->nvars && tame; v++) {
        int64_t n = shape_numel(written->vars[v].shape);
        for (int64_t i = 0; i < n && tame; i++)
            tame = isfinite(wv[v][i]) && fabs(wv[v][i]) < 1e4;
    }
    for (int v = 0; v < written->nvars && tame; v++) {
        const Var *x = &written->vars[v];
        if (x->kind != VAR_STEP)
            continue;
        int w = prog_find(derived, x->name);
        if (w < 0 || derived->vars[w].temp || !shape_eq(derived->vars[w].shape, x->shape)) {
            fprintf(stderr, "fuzz_front: '%s' is missing from the derived program\n", x->name);
            abort();
        }
        int64_t n = shape_numel(x->shape);
        for (int64_t i = 0; i < n; i++) {
            double a = wv[v][i], b = dv[w][i];
            if (!(fabs(a - b) <= 1e-7 * (1 + fabs(a)))) {
                Text t;
                print_to(&t, derived, PR_PROG);
                fprintf(stderr, "fuzz_front: '%s'[%lld] is %.17g as written but %.17g in the "
                        "derived program\n", x->name, (long long)i, a, b);
                violation("forward values differ", &t, NULL, NULL);
            }
        }
    }
    eval_free(written, wv);
    eval_free(derived, dv);
}

/* The derived gradients against central finite differences, along one
 * direction u over every input (so three extra evaluations, not one per
 * element): the directional derivative sum(dX * uX) must match
 * (L(x + h u) - L(x - h u)) / 2h. Reported only when the differences for
 * h = 1e-4, 1e-5 and 1e-6 agree with each other (so the function is
 * smooth at x, not at a kink of relu or abs, and well conditioned) and
 * disagree with the derivation by a hundred times more. */
static double eval_result(Prog *p, double **vals, double *const *base, double *const *dir,
                          double h)
{
    for (int v = 0; v < p->nvars; v++) {
        if (p->vars[v].kind != VAR_INPUT)
            continue;
        int64_t n = shape_numel(p->vars[v].shape);
        for (int64_t i = 0; i < n; i++)
            vals[v][i] = base[v][i] + h * dir[v][i];
    }
    eval_prog(p, vals);
    return vals[p->result][0];
}

static void gradient_check(Prog *p)
{
    if (!p->derived || !evaluable(p) || !shape_is_scalar(p->vars[p->result].shape))
        return;
    double **vals = eval_alloc(p), **base = eval_alloc(p), **dir = eval_alloc(p);
    eval_prog(p, vals);
    bool tame = true;
    for (int v = 0; v < p->nvars && tame; v++) {
        if (p->vars[v].dead)
            continue;
        int64_t n = shape_numel(p->vars[v].shape);
        for (int64_t i = 0; i < n && tame; i++)
            tame = isfinite(vals[v][i]) && fabs(vals[v][i]) < 1e4;
    }
    double analytic = 0;
    for (int v = 0; v < p->nvars && tame; v++) {
        if (p->vars[v].kind != VAR_INPUT || p->grad[v] < 0)
            continue;
        int64_t n = shape_numel(p->vars[v].shape);
        char name[300];
        snprintf(name, sizeof name, "direction %s", p->vars[v].name);
        fill_input(dir[v], n, name);
        for (int64_t i = 0; i < n; i++)
            analytic += vals[p->grad[v]][i] * dir[v][i];
    }
    if (tame) {
        for (int v = 0; v < p->nvars; v++)
            if (p->vars[v].kind == VAR_INPUT)
                memcpy(base[v], vals[v], (size_t)shape_numel(p->vars[v].shape) * sizeof **base);
        double fd[3], hs[3] = {1e-4, 1e-5, 1e-6};
        for (int k = 0; k < 3; k++)
            fd[k] = (eval_result(p, vals, base, dir, hs[k]) -
                     eval_result(p, vals, base, dir, -hs[k])) / (2 * hs[k]);
        double scale = 1 + fabs(analytic) + fabs(fd[1]);
        bool smooth = isfinite(fd[0]) && isfinite(fd[1]) && isfinite(fd[2]) &&
                      fabs(fd[0] - fd[1]) <= 1e-5 * scale && fabs(fd[1] - fd[2]) <= 1e-5 * scale;
        if (smooth && !(fabs(analytic - fd[1]) <= 1e-3 * scale)) {
            Text t;
            print_to(&t, p, PR_PROG);
            fprintf(stderr, "fuzz_front: directional derivative %.17g, finite differences "
                    "%.17g %.17g %.17g\n", analytic, fd[0], fd[1], fd[2]);
            violation("the derived gradient does not match finite differences", &t, NULL, NULL);
        }
    }
    eval_free(p, vals);
    eval_free(p, base);
    eval_free(p, dir);
}

/* ------------------------------------------------------------------ main */

static void print_all(Prog *p)
{
    FILE *null = devnull();
    print_prog(null, p);
    print_closed(null, p);
    print_latex(null, p, false);
    print_latex(null, p, true);
    print_dot(null, p);
    dump_prog(null, p, "fuzz");
}

/* Derives p (normalized from `written`), prints it every way and
 * round-trips it. */
static void derive_and_check(Prog *written, Prog *p, const bool *wrt, Diag *d, bool eval)
{
    if (shape_is_scalar(p->vars[p->result].shape))
        grad_derive(p, wrt, d);
    print_all(p);
    if (eval) {
        eval_forward_compare(written, p);
        gradient_check(p);
    }

    Arena *ra = arena_new();
    Text derived;
    print_to(&derived, p, PR_PROG);
    Prog *q = reparse(ra, &derived, "derived");
    /* What `gradc grad` does with the printed program: accepts it too. */
    Prog *qn = prog_normalize(q);
    if (shape_is_scalar(qn->vars[qn->result].shape)) {
        Diag qd;
        Source none = {"printed.grad", "", 0};
        diag_init(&qd, &none, devnull());
        grad_derive(qn, NULL, &qd);
    }
    if (eval && evaluable(p) && evaluable(q))
        eval_compare(p, q, &derived);
    free(derived.data);

    Text closed;
    if (print_to(&closed, p, PR_CLOSED))
        reparse(ra, &closed, "closed");
    free(closed.data);
    arena_free(ra);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    Arena *a = arena_new();
    char *text = arena_alloc(a, size + 1); /* libFuzzer's bytes are not NUL-terminated */
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    Source src = {"fuzz.grad", text, size};
    Diag d;
    diag_init(&d, &src, devnull());

    AstProgram ast;
    Prog *p = NULL;
    if (parse_program(a, &src, &d, &ast))
        p = check_program(a, &ast, &d);
    if (!p)
        goto done;

    /* gradc fmt: the program as written prints back to itself. */
    {
        Arena *ra = arena_new();
        Text fmt;
        print_to(&fmt, p, PR_PROG);
        reparse(ra, &fmt, "formatted");
        free(fmt.data);
        arena_free(ra);
    }

    uint64_t h = fnv1a(data, size);
    /* Every input. */
    derive_and_check(p, prog_normalize(p), NULL, &d, true);

    /* A subset of the inputs, from the hash (--wrt). */
    Prog *n = prog_normalize(p);
    bool *wrt = arena_alloc(a, (size_t)n->nvars * sizeof *wrt);
    int k = 0;
    for (int v = 0; v < n->nvars; v++)
        if (n->vars[v].kind == VAR_INPUT)
            wrt[v] = (h >> (k++ % 61)) & 1;
    derive_and_check(p, n, wrt, &d, false);

done:
    arena_free(a);
    return 0;
}
