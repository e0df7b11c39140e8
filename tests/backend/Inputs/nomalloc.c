/* nomalloc.c: loads a generated shared object with dlopen, finds its
 * arguments through PREFIX_model() (as a loader without the header would),
 * and counts the heap allocations during one PREFIX_grad call by
 * interposing malloc, calloc, realloc and free (glibc: forwarding to
 * __libc_malloc and friends). Prints the count; exits 1 if it is not 0.
 *
 *   nomalloc LIB.so PREFIX
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gradc_model comes from a generated header given with -include */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static volatile int counting;
static volatile long count;

void *malloc(size_t n)
{
    if (counting)
        count++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t s)
{
    if (counting)
        count++;
    return __libc_calloc(n, s);
}

void *realloc(void *p, size_t n)
{
    if (counting)
        count++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (counting && p)
        count++;
    __libc_free(p);
}

typedef double *P;

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: nomalloc LIB.so PREFIX\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    char name[256];
    snprintf(name, sizeof name, "%s_model", argv[2]);
    const gradc_model *(*model)(void) = (const gradc_model *(*)(void))dlsym(h, name);
    snprintf(name, sizeof name, "%s_grad", argv[2]);
    void *fn = dlsym(h, name);
    if (!model || !fn) {
        fprintf(stderr, "missing symbols\n");
        return 2;
    }
    const gradc_model *m = model();
    P a[16];
    if (m->nargs > 16 || m->dtype != GRADC_F64) {
        fprintf(stderr, "unsupported model\n");
        return 2;
    }
    for (int i = 0; i < m->nargs; i++) {
        long long n = m->args[i].shape[0] * m->args[i].shape[1];
        a[i] = (P)__libc_malloc((size_t)n * sizeof(double));
        for (long long k = 0; k < n; k++)
            a[i][k] = 0.25 * (double)(k % 7) - 0.5;
    }
    counting = 1;
    switch (m->nargs) {
    case 3: ((void (*)(P, P, P))fn)(a[0], a[1], a[2]); break;
    case 5: ((void (*)(P, P, P, P, P))fn)(a[0], a[1], a[2], a[3], a[4]); break;
    case 7: ((void (*)(P, P, P, P, P, P, P))fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
    case 11:
        ((void (*)(P, P, P, P, P, P, P, P, P, P, P))fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6],
                                                          a[7], a[8], a[9], a[10]);
        break;
    default:
        counting = 0;
        fprintf(stderr, "no call for %d arguments\n", m->nargs);
        return 2;
    }
    counting = 0;
    printf("%s_grad: %ld heap allocations\n", argv[2], count);
    return count == 0 ? 0 : 1;
}
