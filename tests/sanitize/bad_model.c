/* bad_model.c: a hand-written stand-in for a generated shared object, with
 * one deliberate bug chosen at compile time, so that the sanitizer checks
 * (tests/sanitize/check.sh) can show that each of them fails when it should.
 * The model is what `gradc build` would make of
 *     input A[4, 4]
 *     L = sum(A * A)
 * with prefix `bad`: bad_eval(A, L), bad_grad(A, L, dA) and bad_model().
 *
 *   cc -shared -fPIC -DBUG=N -o bad.so bad_model.c
 *
 * BUG: 0 none (the control: every check passes), 1 writes one element past
 * the end of dA, 2 reads one element past the end of A, 3 adds into L
 * instead of overwriting it (reads an uninitialised output), 4 leaks a
 * heap block per call, 5 keeps its scratch space in a static buffer shared
 * by every call (a data race when two threads call bad_grad at once).
 */
#include <stdlib.h>

#ifndef BUG
#define BUG 0
#endif

enum { N = 16 };

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

static const gradc_model_arg args[3] = {
    {"A", "A", GRADC_INPUT, 2, {4, 4, 0, 0}},
    {"L", "L", GRADC_RESULT, 2, {1, 1, 0, 0}},
    {"A", "dA", GRADC_GRADIENT, 2, {4, 4, 0, 0}},
};
static const gradc_model model = {"bad", 1, GRADC_F64, 8, 3, 2, 1, args};

const gradc_model *bad_model(void)
{
    return &model;
}

#if BUG == 5
static double scratch[N];
#endif

static double loss(const double *A)
{
#if BUG == 5
    double *t = scratch;
#else
    double t[N];
#endif
    for (int i = 0; i < N; i++)
        t[i] = A[i] * A[i];
    double s = 0;
    for (int i = 0; i < N; i++)
        s += t[i];
#if BUG == 2
    s += A[N] * 0.0;
#endif
#if BUG == 4
    double *p = malloc(sizeof(double) * N);
    if (p)
        p[0] = s;
#endif
    return s;
}

void bad_eval(const double *A, double *L)
{
#if BUG == 3
    *L += loss(A);
#else
    *L = loss(A);
#endif
}

void bad_grad(const double *A, double *L, double *dA)
{
    bad_eval(A, L);
    for (int i = 0; i < N; i++)
        dA[i] = 2 * A[i];
#if BUG == 1
    dA[N] = 0;
#endif
}
