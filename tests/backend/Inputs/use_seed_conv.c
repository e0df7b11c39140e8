/* use_seed_conv.c: a C99 and C++ program that uses the header and shared
 * object of examples/seed_conv.grad (gradc build), checks that _eval and
 * _grad give exactly the numbers of `gradc run --out DIR` (bit for bit),
 * that _model describes the arguments, and that two threads calling _grad
 * at once get identical results.
 *
 *   use_seed_conv DIR        (DIR from gradc run --out DIR)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seed_conv.h"

static int failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL line %d: ", __LINE__);                       \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Reads n doubles from a .npy file that gradc wrote ('<f8', C order). */
static void read_npy(const char *dir, const char *name, double *dst, int n)
{
    char path[1024];
    unsigned char pre[10];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f || fread(pre, 1, 10, f) != 10) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    long hlen = pre[8] | (pre[9] << 8);
    if (fseek(f, 10 + hlen, SEEK_SET) != 0 || fread(dst, sizeof(double), (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read the data of %s\n", path);
        exit(2);
    }
    fclose(f);
}

static double A[9], W[4], B[4];

typedef struct Result {
    double L, dA[9], dW[4], dB[4];
} Result;

static void *worker(void *arg)
{
    Result *r = (Result *)arg;
    Result first;
    seed_conv_grad(A, W, B, &first.L, first.dA, first.dW, first.dB);
    for (int i = 0; i < 20000; i++) {
        seed_conv_grad(A, W, B, &r->L, r->dA, r->dW, r->dB);
        if (memcmp(r, &first, sizeof first) != 0)
            failures++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: use_seed_conv DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    double L, dA[9], dW[4], dB[4];
    double wantL, wantdA[9], wantdW[4], wantdB[4];
    read_npy(dir, "A", A, 9);
    read_npy(dir, "W", W, 4);
    read_npy(dir, "B", B, 4);
    read_npy(dir, "L", &wantL, 1);
    read_npy(dir, "grad/A", wantdA, 9);
    read_npy(dir, "grad/W", wantdW, 4);
    read_npy(dir, "grad/B", wantdB, 4);

    seed_conv_eval(A, W, B, &L);
    CHECK(L == wantL, "_eval: L = %.17g, gradc run gave %.17g", L, wantL);
    L = 0;
    seed_conv_grad(A, W, B, &L, dA, dW, dB);
    CHECK(L == wantL, "_grad: L = %.17g, gradc run gave %.17g", L, wantL);
    CHECK(memcmp(dA, wantdA, sizeof dA) == 0, "dA differs from gradc run");
    CHECK(memcmp(dW, wantdW, sizeof dW) == 0, "dW differs from gradc run");
    CHECK(memcmp(dB, wantdB, sizeof dB) == 0, "dB differs from gradc run");
    /* every call overwrites: garbage in the outputs changes nothing */
    for (int i = 0; i < 9; i++)
        dA[i] = 1e300;
    seed_conv_grad(A, W, B, &L, dA, dW, dB);
    CHECK(memcmp(dA, wantdA, sizeof dA) == 0, "dA depends on its old contents");

    const gradc_model *m = seed_conv_model();
    CHECK(strcmp(m->name, "seed_conv") == 0, "model name %s", m->name);
    CHECK(m->abi_version == 1 && m->dtype == GRADC_F64 && m->elem_size == 8, "model dtype");
    CHECK(m->nargs == 7 && m->neval_args == 4 && m->has_grad == 1, "model nargs %d", m->nargs);
    static const char *const names[7] = {"A", "W", "B", "L", "A", "W", "B"};
    static const char *const cnames[7] = {"A", "W", "B", "L", "dA", "dW", "dB"};
    static const int kinds[7] = {GRADC_INPUT, GRADC_INPUT, GRADC_INPUT, GRADC_RESULT,
                                 GRADC_GRADIENT, GRADC_GRADIENT, GRADC_GRADIENT};
    static const long long rows[7] = {3, 2, 2, 1, 3, 2, 2};
    for (int i = 0; i < 7 && i < m->nargs; i++) {
        const gradc_model_arg *a = &m->args[i];
        CHECK(strcmp(a->name, names[i]) == 0, "arg %d name %s", i, a->name);
        CHECK(strcmp(a->c_name, cnames[i]) == 0, "arg %d c_name %s", i, a->c_name);
        CHECK(a->kind == kinds[i], "arg %d kind %d", i, a->kind);
        CHECK(a->rank == 2 && a->shape[0] == rows[i] && a->shape[1] == rows[i], "arg %d shape", i);
    }

    /* two threads at once, each checking its own results every call */
    Result r1, r2;
    pthread_t t1, t2;
    pthread_create(&t1, NULL, worker, &r1);
    pthread_create(&t2, NULL, worker, &r2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(memcmp(&r1, &r2, sizeof r1) == 0, "the two threads disagree");
    CHECK(memcmp(r1.dW, wantdW, sizeof wantdW) == 0, "threads disagree with gradc run");

    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("use_seed_conv: all checks passed\n");
    return failures ? 1 : 0;
}
