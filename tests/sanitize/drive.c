/* drive.c: calls the functions of any shared object made by `gradc build`,
 * for the sanitizer checks (`make check-valgrind`, `make check-tsan`; see
 * tests/sanitize/check.sh). One program serves every model: it loads the
 * .so with dlopen, learns the arguments from PREFIX_model() (as a loader
 * without the header would) and calls PREFIX_eval and PREFIX_grad with
 * deterministic inputs.
 *
 *   drive [--threads N] [--iters K] [--seconds S] LIB.so PREFIX [LIB.so PREFIX]...
 *
 * (several libraries: each in turn, loaded, checked and closed).
 * Every argument is its own heap block of exactly its size, so that an
 * access outside an argument lands in a red zone (Valgrind memcheck), and
 * the outputs start uninitialised, so that reading an output before writing
 * it is a use of uninitialised memory. The program branches on every output
 * element (memcmp, isfinite), which makes memcheck report a value that is
 * (or comes from) uninitialised memory. It checks:
 *   - the model: ABI version, element type, ranks and shapes, argument order
 *     (inputs and data, the result, one gradient per input);
 *   - _eval and _grad give the same result (to rounding);
 *   - _grad called again, its outputs first filled with garbage, gives the
 *     same bits (it overwrites, never adds into, its outputs);
 *   - the inputs are never written;
 *   - with --threads N, N threads call _grad (and _eval) K times each at once
 *     (or fewer: a thread stops after S seconds, if given), on shared inputs
 *     and their own outputs, and every call gives exactly the bits of the
 *     first call (the functions are reentrant).
 * Then it frees everything and dlcloses the library, so that any leak is
 * the library's.
 *
 * Prints one line per library, e.g.
 * "drive mlp: f64, 11 args, 0 non-finite, 2 threads, 6 calls: ok";
 * exit status 0 when every check passed, 1 when one failed, 2 when the
 * library cannot be used (usage, dlopen, unsupported model).
 *
 * gradc_model comes from a generated header given with -include, or else
 * from the copy below (ABI version 1).
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef GRADC_MODEL_DEFINED
#define GRADC_MODEL_DEFINED
enum { GRADC_F64 = 0, GRADC_F32 = 1 };
enum { GRADC_INPUT = 0, GRADC_DATA = 1, GRADC_RESULT = 2, GRADC_GRADIENT = 3 };
typedef struct gradc_model_arg {
    const char *name;
    const char *c_name;
    int kind;
    int rank;
    long long shape[4];
} gradc_model_arg;
typedef struct gradc_model {
    const char *name;
    int abi_version;
    int dtype;
    int elem_size;
    int nargs;
    int neval_args;
    int has_grad;
    const gradc_model_arg *args;
} gradc_model;
#endif

enum { MAXARGS = 32, MAXTHREADS = 64 };

/* The generated functions take MAXARGS or fewer pointers; they are called
 * through a function type with exactly their number of parameters. */
typedef void *P;
#define T1 P
#define T2 T1, P
#define T3 T2, P
#define T4 T3, P
#define T5 T4, P
#define T6 T5, P
#define T7 T6, P
#define T8 T7, P
#define T9 T8, P
#define T10 T9, P
#define T11 T10, P
#define T12 T11, P
#define T13 T12, P
#define T14 T13, P
#define T15 T14, P
#define T16 T15, P
#define T17 T16, P
#define T18 T17, P
#define T19 T18, P
#define T20 T19, P
#define T21 T20, P
#define T22 T21, P
#define T23 T22, P
#define T24 T23, P
#define T25 T24, P
#define T26 T25, P
#define T27 T26, P
#define T28 T27, P
#define T29 T28, P
#define T30 T29, P
#define T31 T30, P
#define T32 T31, P
#define A1 a[0]
#define A2 A1, a[1]
#define A3 A2, a[2]
#define A4 A3, a[3]
#define A5 A4, a[4]
#define A6 A5, a[5]
#define A7 A6, a[6]
#define A8 A7, a[7]
#define A9 A8, a[8]
#define A10 A9, a[9]
#define A11 A10, a[10]
#define A12 A11, a[11]
#define A13 A12, a[12]
#define A14 A13, a[13]
#define A15 A14, a[14]
#define A16 A15, a[15]
#define A17 A16, a[16]
#define A18 A17, a[17]
#define A19 A18, a[18]
#define A20 A19, a[19]
#define A21 A20, a[20]
#define A22 A21, a[21]
#define A23 A22, a[22]
#define A24 A23, a[23]
#define A25 A24, a[24]
#define A26 A25, a[25]
#define A27 A26, a[26]
#define A28 A27, a[27]
#define A29 A28, a[28]
#define A30 A29, a[29]
#define A31 A30, a[30]
#define A32 A31, a[31]
#define CALL(n)                                                                \
    case n:                                                                    \
        ((void (*)(T##n))fn)(A##n);                                            \
        break

typedef void (*Fn)(void);

static void call(Fn fn, int n, P *a)
{
    switch (n) {
        CALL(1); CALL(2); CALL(3); CALL(4); CALL(5); CALL(6); CALL(7); CALL(8);
        CALL(9); CALL(10); CALL(11); CALL(12); CALL(13); CALL(14); CALL(15); CALL(16);
        CALL(17); CALL(18); CALL(19); CALL(20); CALL(21); CALL(22); CALL(23); CALL(24);
        CALL(25); CALL(26); CALL(27); CALL(28); CALL(29); CALL(30); CALL(31); CALL(32);
    default:
        abort(); /* checked in main */
    }
}

static const char *prefix;
static const gradc_model *m;
static Fn eval_fn, grad_fn;
static size_t nbytes[MAXARGS];
static P inputs[MAXARGS];        /* the inputs, shared by every call */
static P ref_eval[MAXARGS];      /* the outputs of the first _eval call */
static P ref_grad[MAXARGS];      /* the outputs of the first _grad call */
static int iters = 3;
static double seconds; /* 0: no time limit */
static long calls;     /* _grad calls made by the threads */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static int failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&fail_lock);
    failures++;
    fprintf(stderr, "drive %s: FAIL: ", prefix);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    pthread_mutex_unlock(&fail_lock);
    va_end(ap);
}

static int is_output(int i)
{
    return m->args[i].kind == GRADC_RESULT || m->args[i].kind == GRADC_GRADIENT;
}

static size_t elems(int i)
{
    return nbytes[i] / (size_t)m->elem_size;
}

static double get(const void *p, size_t k)
{
    return m->dtype == GRADC_F64 ? ((const double *)p)[k] : (double)((const float *)p)[k];
}

/* A fixed generator: the inputs are uniform in [-1, 1], as for `gradc run`. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return -1.0 + 2.0 * (double)(rng >> 11) / 9007199254740992.0;
}

/* Fresh output blocks: uninitialised (malloc), or filled with `garbage`
 * bytes when garbage >= 0. Inputs are shared. n is _eval's or _grad's
 * argument count. */
static void outputs(P *a, int n, int garbage)
{
    for (int i = 0; i < n; i++) {
        if (!is_output(i)) {
            a[i] = inputs[i];
            continue;
        }
        a[i] = malloc(nbytes[i]);
        if (!a[i]) {
            fprintf(stderr, "drive %s: out of memory\n", prefix);
            exit(2);
        }
        if (garbage >= 0)
            memset(a[i], garbage, nbytes[i]);
    }
}

static void free_outputs(P *a, int n)
{
    for (int i = 0; i < n; i++)
        if (is_output(i))
            free(a[i]);
}

/* The outputs in a[] against want[] (a reference call's), bit for bit. */
static void same_bits(P *a, P *want, int n, const char *fn)
{
    for (int i = 0; i < n; i++)
        if (is_output(i) && memcmp(a[i], want[i], nbytes[i]) != 0)
            fail("%s: output %d differs from the first call", fn, i);
}

typedef struct Worker {
    pthread_t thread;
    int started;
} Worker;

static void *worker(void *arg)
{
    (void)arg;
    P a[MAXARGS];
    double end = now() + seconds;
    int k;
    for (k = 0; k < iters && (seconds <= 0 || now() < end); k++) {
        outputs(a, m->nargs, k % 2 ? 0xff : -1);
        call(grad_fn, m->nargs, a);
        same_bits(a, ref_grad, m->nargs, m->has_grad ? "_grad in a thread" : "_eval in a thread");
        free_outputs(a, m->nargs);
        if (m->has_grad && k % 4 == 0) {
            outputs(a, m->neval_args, -1);
            call(eval_fn, m->neval_args, a);
            same_bits(a, ref_eval, m->neval_args, "_eval in a thread");
            free_outputs(a, m->neval_args);
        }
    }
    pthread_mutex_lock(&fail_lock);
    calls += k;
    pthread_mutex_unlock(&fail_lock);
    return NULL;
}

/* The model must describe what SPEC section 5 says. */
static int check_model(void)
{
    if (m->abi_version != 1) {
        fprintf(stderr, "drive %s: unsupported abi_version %d\n", prefix, m->abi_version);
        return 2;
    }
    if (!(m->dtype == GRADC_F64 && m->elem_size == 8) && !(m->dtype == GRADC_F32 && m->elem_size == 4)) {
        fprintf(stderr, "drive %s: bad dtype %d / elem_size %d\n", prefix, m->dtype, m->elem_size);
        return 2;
    }
    if (m->nargs < 1 || m->nargs > MAXARGS || m->neval_args < 1 || m->neval_args > m->nargs) {
        fprintf(stderr, "drive %s: unsupported argument counts %d, %d (at most %d)\n", prefix,
                m->nargs, m->neval_args, MAXARGS);
        return 2;
    }
    if (!m->name || strcmp(m->name, prefix) != 0)
        fail("model name is %s, not the prefix", m->name ? m->name : "(null)");
    int nin = 0, ngrad = 0;
    for (int i = 0; i < m->nargs; i++) {
        const gradc_model_arg *g = &m->args[i];
        int want_kind_ok = i < m->neval_args - 1   ? (g->kind == GRADC_INPUT || g->kind == GRADC_DATA)
                           : i == m->neval_args - 1 ? g->kind == GRADC_RESULT
                                                    : g->kind == GRADC_GRADIENT;
        if (!want_kind_ok)
            fail("argument %s (%d) has the wrong kind for its place", g->name ? g->name : "?", i);
        if (g->rank != 2 || g->shape[0] < 1 || g->shape[1] < 1 ||
            g->shape[0] > (1LL << 24) || g->shape[1] > (1LL << 24)) {
            fprintf(stderr, "drive %s: argument %d: unsupported rank/shape\n", prefix, i);
            return 2;
        }
        nbytes[i] = (size_t)g->shape[0] * (size_t)g->shape[1] * (size_t)m->elem_size;
        nin += g->kind == GRADC_INPUT;
        ngrad += g->kind == GRADC_GRADIENT;
    }
    if (m->has_grad) {
        const gradc_model_arg *r = &m->args[m->neval_args - 1];
        if (ngrad != nin || m->nargs != m->neval_args + nin)
            fail("%d gradients for %d inputs", ngrad, nin);
        if (r->shape[0] != 1 || r->shape[1] != 1)
            fail("has_grad but the result is not [1, 1]");
        /* gradient j is the gradient of the j-th input, of its shape */
        for (int i = 0, j = m->neval_args; i < m->neval_args - 1 && j < m->nargs; i++) {
            if (m->args[i].kind != GRADC_INPUT)
                continue;
            const gradc_model_arg *g = &m->args[j++];
            if (strcmp(g->name, m->args[i].name) != 0 || g->shape[0] != m->args[i].shape[0] ||
                g->shape[1] != m->args[i].shape[1])
                fail("gradient of %s (%d) does not match its input", m->args[i].name, i);
        }
    } else if (m->nargs != m->neval_args) {
        fail("no _grad but %d arguments, _eval has %d", m->nargs, m->neval_args);
    }
    return 0;
}

/* Loads one library and runs every check; 0 passed, 1 a check failed,
 * 2 the library cannot be used. */
static int drive(const char *lib, int nthreads)
{
    failures = 0;
    calls = 0;
    m = NULL;
    eval_fn = grad_fn = NULL;
    memset(nbytes, 0, sizeof nbytes);
    memset(inputs, 0, sizeof inputs);

    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "drive %s: %s\n", prefix, dlerror());
        return 2;
    }
    char name[512];
    void *sym;
    const gradc_model *(*model)(void);
    snprintf(name, sizeof name, "%s_model", prefix);
    sym = dlsym(h, name);
    memcpy(&model, &sym, sizeof model);
    snprintf(name, sizeof name, "%s_eval", prefix);
    sym = dlsym(h, name);
    memcpy(&eval_fn, &sym, sizeof eval_fn);
    snprintf(name, sizeof name, "%s_grad", prefix);
    sym = dlsym(h, name);
    memcpy(&grad_fn, &sym, sizeof grad_fn);
    if (!model || !eval_fn) {
        fprintf(stderr, "drive %s: %s has no %s_model or %s_eval\n", prefix, lib, prefix, prefix);
        dlclose(h);
        return 2;
    }
    m = model();
    int st = check_model();
    if (st) {
        dlclose(h);
        return st;
    }
    if (m->has_grad && !grad_fn) {
        fprintf(stderr, "drive %s: has_grad but no %s_grad\n", prefix, prefix);
        dlclose(h);
        return 2;
    }
    if (!m->has_grad) {
        if (grad_fn)
            fail("%s_grad exported but has_grad is 0", prefix);
        grad_fn = eval_fn; /* the threads then call _eval */
    }

    /* the inputs, and a copy to check that they are never written */
    P saved[MAXARGS];
    for (int i = 0; i < m->neval_args; i++) {
        if (is_output(i))
            continue;
        inputs[i] = malloc(nbytes[i]);
        saved[i] = malloc(nbytes[i]);
        if (!inputs[i] || !saved[i]) {
            fprintf(stderr, "drive %s: out of memory\n", prefix);
            exit(2);
        }
        for (size_t k = 0; k < elems(i); k++) {
            if (m->dtype == GRADC_F64)
                ((double *)inputs[i])[k] = uniform();
            else
                ((float *)inputs[i])[k] = (float)uniform();
        }
        memcpy(saved[i], inputs[i], nbytes[i]);
    }

    /* _eval once, then _grad once into uninitialised outputs */
    outputs(ref_eval, m->neval_args, -1);
    call(eval_fn, m->neval_args, ref_eval);
    outputs(ref_grad, m->nargs, -1);
    call(grad_fn, m->nargs, ref_grad);

    /* every output element is branched on: uninitialised ones are reported */
    long nonfinite = 0;
    for (int i = 0; i < m->nargs; i++)
        if (is_output(i))
            for (size_t k = 0; k < elems(i); k++)
                if (!isfinite(get(ref_grad[i], k)))
                    nonfinite++;
    for (int i = 0; i < m->neval_args; i++) {
        if (!is_output(i))
            continue;
        for (size_t k = 0; k < elems(i); k++) {
            double e = get(ref_eval[i], k), g = get(ref_grad[i], k);
            double tol = (m->dtype == GRADC_F64 ? 1e-12 : 1e-5) * (1.0 + fabs(e));
            if (!(fabs(e - g) <= tol) && !(isnan(e) && isnan(g)) && e != g)
                fail("_eval and _grad disagree on %s (argument %d)", m->args[i].name, i);
        }
    }

    /* again, into outputs full of garbage: the same bits */
    P again[MAXARGS];
    outputs(again, m->nargs, 0xa5);
    call(grad_fn, m->nargs, again);
    same_bits(again, ref_grad, m->nargs, m->has_grad ? "_grad" : "_eval");
    free_outputs(again, m->nargs);

    Worker w[MAXTHREADS];
    for (int t = 0; t < nthreads; t++)
        w[t].started = pthread_create(&w[t].thread, NULL, worker, NULL) == 0;
    for (int t = 0; t < nthreads; t++) {
        if (w[t].started)
            pthread_join(w[t].thread, NULL);
        else
            fail("thread %d: pthread_create failed", t);
    }

    for (int i = 0; i < m->neval_args; i++) {
        if (is_output(i))
            continue;
        if (memcmp(inputs[i], saved[i], nbytes[i]) != 0)
            fail("input %s (argument %d) was written", m->args[i].name, i);
        free(inputs[i]);
        free(saved[i]);
    }
    free_outputs(ref_eval, m->neval_args);
    free_outputs(ref_grad, m->nargs);

    /* m points into the library: done with it before dlclose */
    const char *dtype = m->dtype == GRADC_F64 ? "f64" : "f32";
    int nargs = m->nargs;
    m = NULL;
    if (dlclose(h) != 0)
        fail("dlclose: %s", dlerror());

    printf("drive %s: %s, %d args, %ld non-finite, %d threads, %ld calls: %s\n", prefix, dtype,
           nargs, nonfinite, nthreads, calls, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    int nthreads = 0, status = 0, nlibs = 0;
    const char *libs[256], *prefixes[256];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            nthreads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (argv[i][0] != '-' && i + 1 < argc && nlibs < 256) {
            libs[nlibs] = argv[i];
            prefixes[nlibs++] = argv[++i];
        } else
            goto usage;
    }
    if (nlibs == 0 || nthreads < 0 || nthreads > MAXTHREADS || iters < 1)
        goto usage;
    for (int i = 0; i < nlibs; i++) {
        prefix = prefixes[i];
        int st = drive(libs[i], nthreads);
        if (st > status)
            status = st;
    }
    return status;

usage:
    fprintf(stderr, "usage: drive [--threads N] [--iters K] [--seconds S] LIB.so PREFIX [LIB.so PREFIX]...\n");
    return 2;
}
