/* jit.c: `gradc run` and `gradc check` through ORC LLJIT.
 *
 * The program is lowered (lower.c), optimized for the host (emit.c) and
 * added to an LLJIT whose main dylib resolves libm through the process and
 * the runtime kernels (linked into gradc) through absolute symbols. The
 * JIT calls functions through array wrappers (PREFIX_all, PREFIX_eval_v,
 * PREFIX_grad_v: one T** argument), so no C call of variable arity is
 * needed.
 *
 * Random inputs: stream k of --seed for the k-th declared input (rand.c),
 * uniform in [-1, 1), the same on every machine.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "gradc_rt.h"
#include "lower.h"

/* ------------------------------------------------------------------ JIT */

typedef struct Jit {
    LLVMOrcLLJITRef jit;
} Jit;

static bool jit_error(LLVMErrorRef e, const char *what)
{
    if (!e)
        return false;
    char *m = LLVMGetErrorMessage(e);
    fprintf(stderr, "gradc: error: %s: %s\n", what, m);
    LLVMDisposeErrorMessage(m);
    return true;
}

/* An LLJIT for the host CPU whose code generator works at opt_level. */
static bool jit_open(Jit *j, int opt_level)
{
    backend_init_llvm();
    j->jit = NULL;
    LLVMTargetMachineRef tm = backend_target_machine(false, opt_level);
    if (!tm)
        return false;
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    /* both take ownership: tm into the JTMB, the JTMB into the builder */
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
        builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    if (jit_error(LLVMOrcCreateLLJIT(&j->jit, builder), "cannot start the JIT"))
        return false;
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
    LLVMOrcDefinitionGeneratorRef gen = NULL;
    if (jit_error(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
                      &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL),
                  "cannot search the process for symbols"))
        return false;
    LLVMOrcJITDylibAddGenerator(jd, gen);
    LLVMJITSymbolFlags fl = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable, 0};
    LLVMOrcCSymbolMapPair syms[2] = {
        {LLVMOrcLLJITMangleAndIntern(j->jit, "gradc_rt_matmul_f64"),
         {(LLVMOrcExecutorAddress)(uintptr_t)&gradc_rt_matmul_f64, fl}},
        {LLVMOrcLLJITMangleAndIntern(j->jit, "gradc_rt_matmul_f32"),
         {(LLVMOrcExecutorAddress)(uintptr_t)&gradc_rt_matmul_f32, fl}},
    };
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(syms, 2);
    if (jit_error(LLVMOrcJITDylibDefine(jd, mu), "cannot define the runtime symbols")) {
        LLVMOrcDisposeMaterializationUnit(mu);
        return false;
    }
    return true;
}

static void jit_close(Jit *j)
{
    if (j->jit)
        jit_error(LLVMOrcDisposeLLJIT(j->jit), "cannot shut the JIT down");
    j->jit = NULL;
}

/* Lowers, optimizes and adds one module. */
static bool jit_add(Jit *j, const Prog *p, const ModelSig *sig, const LowerOptions *lo, int opt)
{
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
    LLVMModuleRef mod = lower_prog(ctx, p, sig, lo);
    LLVMTargetMachineRef tm = NULL;
    bool ok = false;
    if (!mod)
        goto done;
    tm = backend_target_machine(false, opt);
    if (!tm || !backend_optimize(mod, tm, opt))
        goto done;
    LLVMSetDataLayout(mod, LLVMOrcLLJITGetDataLayoutStr(j->jit));
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    mod = NULL; /* owned by tsm */
    LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), tsm);
    if (e) {
        LLVMOrcDisposeThreadSafeModule(tsm);
        jit_error(e, "cannot add the module to the JIT");
        goto done;
    }
    ok = true;
done:
    if (tm)
        LLVMDisposeTargetMachine(tm);
    if (mod)
        LLVMDisposeModule(mod);
    LLVMOrcDisposeThreadSafeContext(tsc);
    return ok;
}

typedef void (*ArrayFn)(void **);

static ArrayFn jit_lookup(Jit *j, const char *name)
{
    LLVMOrcExecutorAddress addr = 0;
    if (jit_error(LLVMOrcLLJITLookup(j->jit, &addr, name), "cannot find a compiled function"))
        return NULL;
    return (ArrayFn)(uintptr_t)addr;
}

/* ---------------------------------------------------------- values */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "gradc: out of memory\n");
        exit(1);
    }
    return p;
}

static bool is_input(const Var *v) { return v->kind == VAR_INPUT || v->kind == VAR_DATA; }

static bool has_grad(const Prog *p)
{
    return p->derived && p->grad && p->result >= 0 && shape_is_scalar(p->vars[p->result].shape);
}

/* Fills the inputs of p (vals, doubles) with random values: stream k for
 * the k-th declared input. */
static void random_inputs(const Prog *p, uint64_t seed, double **vals)
{
    int k = 0;
    for (int v = 0; v < p->nvars; v++)
        if (is_input(&p->vars[v]))
            rt_rand_fill(vals[v], shape_numel(p->vars[v].shape), seed, (uint64_t)k++);
}

/* The shortest "%.Ng" that reads back to the same value of the type. */
static void fmt_num(char *buf, size_t size, double v, bool f32)
{
    if (isnan(v)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = f32 ? 6 : 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (f32 ? (float)back == (float)v : back == v)
            return;
    }
}

#define PRINT_FULL_MAX 10 /* rows and columns printed in full */

static void print_matrix(FILE *out, const char *label, const char *name, Shape s, const double *x,
                         bool f32)
{
    int64_t m = s.dim[0], n = s.dim[1];
    char buf[64];
    if (m == 1 && n == 1) {
        fmt_num(buf, sizeof buf, x[0], f32);
        fprintf(out, "%s%s = %s\n", label, name, buf);
        return;
    }
    if (m > PRINT_FULL_MAX || n > PRINT_FULL_MAX) {
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        int64_t cnt = m * n;
        for (int64_t i = 0; i < cnt; i++) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
            sum += x[i];
        }
        char a[64], b[64], c[64];
        fmt_num(a, sizeof a, lo, f32);
        fmt_num(b, sizeof b, hi, f32);
        fmt_num(c, sizeof c, sum / (double)cnt, f32);
        fprintf(out, "%s%s [%lld, %lld]: min %s, max %s, mean %s\n", label, name, (long long)m,
                (long long)n, a, b, c);
        return;
    }
    /* columns right-aligned to their widest element */
    int width[PRINT_FULL_MAX] = {0};
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            fmt_num(buf, sizeof buf, x[i * n + j], f32);
            int w = (int)strlen(buf);
            if (w > width[j])
                width[j] = w;
        }
    fprintf(out, "%s%s [%lld, %lld] =\n", label, name, (long long)m, (long long)n);
    for (int64_t i = 0; i < m; i++) {
        fprintf(out, "  ");
        for (int64_t j = 0; j < n; j++) {
            fmt_num(buf, sizeof buf, x[i * n + j], f32);
            fprintf(out, "%s%*s", j ? "  " : "", width[j], buf);
        }
        fprintf(out, "\n");
    }
}

/* mkdir -p for one path; true if it is a directory afterwards. */
static bool make_dir(const char *path)
{
    char *tmp = xmalloc(strlen(path) + 1);
    strcpy(tmp, path);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(tmp, 0777);
            *s = '/';
        }
    mkdir(tmp, 0777);
    free(tmp);
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --------------------------------------------------------------- run */

/* --reference: evaluates p with eval_prog on the same inputs and compares
 * every computed var. Prints a summary; false on a difference. */
static bool compare_reference(const Prog *p, double **dv, bool f32)
{
    int nv = p->nvars;
    double tol = f32 ? 1e-3 : 1e-12;
    double **ref = xmalloc((size_t)nv * sizeof *ref);
    for (int v = 0; v < nv; v++) {
        size_t n = (size_t)shape_numel(p->vars[v].shape);
        ref[v] = xmalloc(n * sizeof(double));
        if (is_input(&p->vars[v]))
            memcpy(ref[v], dv[v], n * sizeof(double));
        else
            for (size_t i = 0; i < n; i++)
                ref[v][i] = NAN;
    }
    eval_prog(p, ref);
    double worst = 0;
    int64_t count = 0, bad = 0;
    for (int v = 0; v < nv; v++) {
        const Var *x = &p->vars[v];
        if (is_input(x) || !dv[v])
            continue;
        /* f32 against the f64 reference: relative to the largest value of
         * the var (elementwise would fail on every cancellation) */
        double scale = 0;
        if (f32)
            for (int64_t i = 0; i < shape_numel(x->shape); i++)
                scale = fmax(scale, fabs(ref[v][i]));
        for (int64_t i = 0; i < shape_numel(x->shape); i++) {
            double a = dv[v][i], b = ref[v][i];
            count++;
            if (a == b || (isnan(a) && isnan(b)))
                continue;
            double e = fabs(a - b) / fmax(scale, fmax(fabs(a), fabs(b)));
            if (isnan(e))
                e = INFINITY;
            if (e > worst)
                worst = e;
            if (e > tol) {
                if (bad++ < 10)
                    fprintf(stderr, "gradc: error: %s[%lld, %lld] is %.17g, the reference "
                                    "evaluator gives %.17g\n",
                            x->name, (long long)(i / x->shape.dim[1]),
                            (long long)(i % x->shape.dim[1]), a, b);
            }
        }
    }
    for (int v = 0; v < nv; v++)
        free(ref[v]);
    free(ref);
    printf("reference: %lld values, max relative difference %.3g (tolerance %.3g)%s\n",
           (long long)count, worst, tol, bad ? ": FAILED" : "");
    return bad == 0;
}

int backend_run(const Prog *p, const RunOptions *o)
{
    int nv = p->nvars, rc = 1;
    bool f32 = o->dtype == DTYPE_F32;
    char err[1024];
    Jit j = {0};

    /* --set: known inputs, each once */
    const char **setpath = xmalloc((size_t)nv * sizeof *setpath);
    memset(setpath, 0, (size_t)nv * sizeof *setpath);
    double **dv = xmalloc((size_t)nv * sizeof *dv);  /* doubles, for printing */
    void **tv = xmalloc((size_t)nv * sizeof *tv);    /* element type, for the code */
    memset(dv, 0, (size_t)nv * sizeof *dv);
    memset(tv, 0, (size_t)nv * sizeof *tv);
    for (int s = 0; s < o->nsets; s++) {
        int v = prog_find(p, o->sets[s].name);
        if (v < 0) {
            fprintf(stderr, "gradc: error: --set %s: the program has no input named '%s'\n",
                    o->sets[s].name, o->sets[s].name);
            goto done;
        }
        if (!is_input(&p->vars[v])) {
            fprintf(stderr, "gradc: error: --set %s: '%s' is a variable, not an input or data\n",
                    o->sets[s].name, o->sets[s].name);
            goto done;
        }
        if (setpath[v]) {
            fprintf(stderr, "gradc: error: --set %s given twice\n", o->sets[s].name);
            goto done;
        }
        setpath[v] = o->sets[s].path;
    }

    for (int v = 0; v < nv; v++) {
        const Var *x = &p->vars[v];
        if (!is_input(x) && (x->dead || !x->def))
            continue;
        size_t n = (size_t)shape_numel(x->shape);
        dv[v] = xmalloc(n * sizeof(double));
        tv[v] = f32 ? xmalloc(n * sizeof(float)) : (void *)dv[v];
    }
    random_inputs(p, o->seed, dv);
    for (int v = 0; v < nv; v++) {
        if (!is_input(&p->vars[v]))
            continue;
        Shape s = p->vars[v].shape;
        size_t n = (size_t)shape_numel(s);
        if (setpath[v] &&
            rt_npy_read(setpath[v], s.dim[0], s.dim[1], dv[v], RT_F64, err, sizeof err) != 0) {
            fprintf(stderr, "gradc: error: --set %s: %s\n", p->vars[v].name, err);
            goto done;
        }
        if (f32)
            for (size_t i = 0; i < n; i++) {
                ((float *)tv[v])[i] = (float)dv[v][i];
                dv[v][i] = ((float *)tv[v])[i];
            }
    }

    ModelSig sig;
    model_sig(p, "gradc_jit", &sig);
    LowerOptions lo = {.dtype = o->dtype, .all = true, .use_runtime = true};
    if (!jit_open(&j, o->opt_level) || !jit_add(&j, p, &sig, &lo, o->opt_level))
        goto done;
    ArrayFn all = jit_lookup(&j, "gradc_jit_all");
    if (!all)
        goto done;
    all(tv);
    if (f32)
        for (int v = 0; v < nv; v++)
            if (tv[v] && !is_input(&p->vars[v]))
                for (int64_t i = 0; i < shape_numel(p->vars[v].shape); i++)
                    dv[v][i] = ((float *)tv[v])[i];

    /* print: inputs, named variables, gradients */
    FILE *out = stdout;
    for (int v = 0; v < nv; v++)
        if (is_input(&p->vars[v]))
            print_matrix(out, p->vars[v].kind == VAR_INPUT ? "input " : "data ", p->vars[v].name,
                         p->vars[v].shape, dv[v], f32);
    for (int v = 0; v < nv; v++) {
        const Var *x = &p->vars[v];
        if (x->kind == VAR_STEP && !x->temp && dv[v])
            print_matrix(out, "", x->name, x->shape, dv[v], f32);
    }
    if (has_grad(p))
        for (int v = 0; v < nv; v++)
            if (p->vars[v].kind == VAR_INPUT && p->grad[v] >= 0 && dv[p->grad[v]])
                print_matrix(out, "", p->vars[p->grad[v]].name, p->vars[v].shape, dv[p->grad[v]],
                             f32);
    fflush(out);

    if (o->reference && !compare_reference(p, dv, f32))
        goto done;

    if (o->out_dir) {
        RtDtype t = f32 ? RT_F32 : RT_F64;
        if (!make_dir(o->out_dir)) {
            fprintf(stderr, "gradc: error: cannot create directory %s: %s\n", o->out_dir,
                    strerror(errno));
            goto done;
        }
        const char *gdir = arena_printf(p->arena, "%s/grad", o->out_dir);
        if (has_grad(p) && !make_dir(gdir)) {
            fprintf(stderr, "gradc: error: cannot create directory %s: %s\n", gdir, strerror(errno));
            goto done;
        }
        for (int v = 0; v < nv; v++) {
            const Var *x = &p->vars[v];
            bool named = is_input(x) || (x->kind == VAR_STEP && !x->temp);
            if (named && tv[v]) {
                const char *path = arena_printf(p->arena, "%s/%s.npy", o->out_dir, x->name);
                if (rt_npy_write(path, tv[v], t, x->shape.dim[0], x->shape.dim[1], err,
                                 sizeof err) != 0) {
                    fprintf(stderr, "gradc: error: %s\n", err);
                    goto done;
                }
            }
            if (x->kind == VAR_INPUT && has_grad(p) && p->grad[v] >= 0 && tv[p->grad[v]]) {
                const char *path = arena_printf(p->arena, "%s/%s.npy", gdir, x->name);
                if (rt_npy_write(path, tv[p->grad[v]], t, x->shape.dim[0], x->shape.dim[1], err,
                                 sizeof err) != 0) {
                    fprintf(stderr, "gradc: error: %s\n", err);
                    goto done;
                }
            }
        }
    }
    rc = 0;

done:
    jit_close(&j);
    for (int v = 0; v < nv; v++) {
        if (f32)
            free(tv[v]);
        free(dv[v]);
    }
    free(tv);
    free(dv);
    free(setpath);
    return rc;
}

/* ------------------------------------------------------------- check */

#define CHECK_ALL_MAX 256 /* inputs up to this many elements: every element */
#define CHECK_SAMPLE 256  /* larger ones: this many seeded random elements */

int backend_check(const Prog *p, const CheckOptions *o)
{
    if (!has_grad(p)) {
        fprintf(stderr, "gradc: error: gradc check needs a scalar result; '%s' is [%lld, %lld]\n",
                p->result >= 0 ? p->vars[p->result].name : "?",
                p->result >= 0 ? (long long)p->vars[p->result].shape.dim[0] : 0LL,
                p->result >= 0 ? (long long)p->vars[p->result].shape.dim[1] : 0LL);
        return 1;
    }
    bool f32 = o->dtype == DTYPE_F32;
    double tol = o->tol > 0 ? o->tol : f32 ? 1e-4 : 1e-6;
    int rc = 1;
    Jit j = {0};
    ModelSig s64, s32;
    model_sig(p, "gradc_f64", &s64);
    model_sig(p, "gradc_f32", &s32);
    int na = s64.nargs;
    double **d = xmalloc((size_t)na * sizeof *d);     /* f64 arguments */
    float **fl = xmalloc((size_t)na * sizeof *fl);    /* f32 arguments */
    double **g = xmalloc((size_t)na * sizeof *g);     /* checked gradients, as doubles */
    memset(d, 0, (size_t)na * sizeof *d);
    memset(fl, 0, (size_t)na * sizeof *fl);
    memset(g, 0, (size_t)na * sizeof *g);
    double **vals = xmalloc((size_t)p->nvars * sizeof *vals);
    memset(vals, 0, (size_t)p->nvars * sizeof *vals);

    for (int k = 0; k < na; k++) {
        size_t n = (size_t)shape_numel(s64.args[k].shape);
        d[k] = xmalloc(n * sizeof(double));
        fl[k] = xmalloc(n * sizeof(float));
        g[k] = xmalloc(n * sizeof(double));
        if (k < s64.ninputs)
            vals[s64.args[k].var] = d[k];
    }
    random_inputs(p, o->seed, vals);
    if (f32) /* check at inputs that both types represent exactly */
        for (int k = 0; k < s64.ninputs; k++)
            for (int64_t i = 0; i < shape_numel(s64.args[k].shape); i++) {
                fl[k][i] = (float)d[k][i];
                d[k][i] = fl[k][i];
            }

    LowerOptions lo64 = {.dtype = DTYPE_F64, .jit_wrappers = true, .use_runtime = true};
    LowerOptions lo32 = {.dtype = DTYPE_F32, .jit_wrappers = true, .use_runtime = true};
    if (!jit_open(&j, o->opt_level) || !jit_add(&j, p, &s64, &lo64, o->opt_level) ||
        (f32 && !jit_add(&j, p, &s32, &lo32, o->opt_level)))
        goto done;
    ArrayFn eval64 = jit_lookup(&j, "gradc_f64_eval_v");
    ArrayFn grad64 = jit_lookup(&j, "gradc_f64_grad_v");
    ArrayFn grad32 = f32 ? jit_lookup(&j, "gradc_f32_grad_v") : NULL;
    if (!eval64 || !grad64 || (f32 && !grad32))
        goto done;

    int ri = s64.neval - 1; /* the result */
    grad64((void **)d);
    double L0 = d[ri][0];
    if (f32) {
        grad32((void **)fl);
        for (int k = s64.neval; k < na; k++)
            for (int64_t i = 0; i < shape_numel(s64.args[k].shape); i++)
                g[k][i] = fl[k][i];
    } else {
        for (int k = s64.neval; k < na; k++)
            memcpy(g[k], d[k], (size_t)shape_numel(s64.args[k].shape) * sizeof(double));
    }
    eval64((void **)d);
    if (!isfinite(L0) || !isfinite(d[ri][0])) {
        fprintf(stderr, "gradc: error: %s is not finite at the random inputs of seed %llu; "
                        "try another --seed\n",
                s64.args[ri].name, (unsigned long long)o->seed);
        goto done;
    }
    if (d[ri][0] != L0) {
        fprintf(stderr, "gradc: error: _eval and _grad disagree on %s: %.17g and %.17g\n",
                s64.args[ri].name, d[ri][0], L0);
        goto done;
    }

    printf("gradient check of %s (%s gradients against central differences in f64, seed %llu)\n",
           s64.args[ri].name, f32 ? "f32" : "f64", (unsigned long long)o->seed);
    double worst = 0;
    bool failed = false;
    for (int k = s64.neval; k < na; k++) {
        const SigArg *ga = &s64.args[k];
        int in = -1;
        for (int q = 0; q < s64.ninputs; q++)
            if (s64.args[q].var == ga->of)
                in = q;
        int64_t n = shape_numel(ga->shape);
        int64_t count = n <= CHECK_ALL_MAX ? n : CHECK_SAMPLE;
        RtRand r;
        rt_rand_init(&r, o->seed, 0x5eed0000u + (uint64_t)k);
        double e_max = 0;
        int64_t at = 0;
        for (int64_t c = 0; c < count; c++) {
            int64_t i = n <= CHECK_ALL_MAX ? c : (int64_t)(rt_rand_next(&r) % (uint64_t)n);
            double x = d[in][i];
            double h = 1e-5 * (fabs(x) > 1 ? fabs(x) : 1);
            double xp = x + h, xm = x - h;
            d[in][i] = xp;
            eval64((void **)d);
            double fp = d[ri][0];
            d[in][i] = xm;
            eval64((void **)d);
            double fm = d[ri][0];
            d[in][i] = x;
            double fd = (fp - fm) / (xp - xm);
            double gv = g[k][i];
            double den = fmax(1.0, fmax(fabs(gv), fabs(fd)));
            double e = fabs(gv - fd) / den;
            if (isnan(e))
                e = INFINITY;
            if (e > e_max || c == 0) {
                e_max = e;
                at = i;
            }
        }
        bool bad = !(e_max <= tol);
        failed |= bad;
        worst = fmax(worst, e_max);
        printf("  d%-*s max relative error %.3g at [%lld, %lld] (%lld of %lld elements)%s\n", 6,
               ga->name, e_max, (long long)(at / ga->shape.dim[1]),
               (long long)(at % ga->shape.dim[1]), (long long)count, (long long)n,
               bad ? "  FAILED" : "");
    }
    printf("%s: worst relative error %.3g, tolerance %.3g\n", failed ? "FAILED" : "ok", worst, tol);
    rc = failed ? 1 : 0;

done:
    jit_close(&j);
    for (int k = 0; k < na; k++) {
        free(d[k]);
        free(fl[k]);
        free(g[k]);
    }
    free(d);
    free(fl);
    free(g);
    free(vals);
    return rc;
}
