/* time_grad.c: time per call of PREFIX_grad of a shared object made by
 * `gradc build`, found with dlopen and described by PREFIX_model (so one
 * program times every model). Inputs are fixed pseudo-random values.
 *
 *   time_grad LIB.so PREFIX [SECONDS]     prints "PREFIX ns_per_call calls"
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct gradc_model_arg {
    const char *name, *c_name;
    int kind, rank;
    long long shape[4];
} gradc_model_arg;
typedef struct gradc_model {
    const char *name;
    int abi_version, dtype, elem_size, nargs, neval_args, has_grad;
    const gradc_model_arg *args;
} gradc_model;

typedef double *P;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void call(void *fn, int n, P *a)
{
    switch (n) {
    case 3: ((void (*)(P, P, P))fn)(a[0], a[1], a[2]); break;
    case 4: ((void (*)(P, P, P, P))fn)(a[0], a[1], a[2], a[3]); break;
    case 5: ((void (*)(P, P, P, P, P))fn)(a[0], a[1], a[2], a[3], a[4]); break;
    case 7: ((void (*)(P, P, P, P, P, P, P))fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
    case 11:
        ((void (*)(P, P, P, P, P, P, P, P, P, P, P))fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6],
                                                          a[7], a[8], a[9], a[10]);
        break;
    default:
        fprintf(stderr, "no call for %d arguments\n", n);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: time_grad LIB.so PREFIX [SECONDS]\n");
        return 2;
    }
    double budget = argc > 3 ? atof(argv[3]) : 1.0;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    char name[256];
    snprintf(name, sizeof name, "%s_model", argv[2]);
    const gradc_model *(*model)(void) = (const gradc_model *(*)(void))dlsym(h, name);
    snprintf(name, sizeof name, "%s_grad", argv[2]);
    void *fn = dlsym(h, name);
    if (!model || !fn)
        return 2;
    const gradc_model *m = model();
    P a[16];
    unsigned s = 12345;
    for (int i = 0; i < m->nargs && i < 16; i++) {
        long long n = m->args[i].shape[0] * m->args[i].shape[1];
        a[i] = (P)malloc((size_t)n * sizeof(double));
        for (long long k = 0; k < n; k++) {
            s = s * 1103515245u + 12345u;
            a[i][k] = (double)(s >> 8) / 16777216.0 * 2 - 1;
        }
    }
    /* calibrate: double the batch until it takes 10 ms, then run for the budget */
    long long batch = 1;
    for (;;) {
        double t0 = now();
        for (long long i = 0; i < batch; i++)
            call(fn, m->nargs, a);
        if (now() - t0 > 0.01)
            break;
        batch *= 2;
    }
    long long calls = 0;
    double best = 1e30, t_end = now() + budget;
    while (now() < t_end) {
        double t0 = now();
        for (long long i = 0; i < batch; i++)
            call(fn, m->nargs, a);
        double per = (now() - t0) / (double)batch;
        if (per < best)
            best = per;
        calls += batch;
    }
    printf("%s %.1f %lld\n", argv[2], best * 1e9, calls);
    return 0;
}
