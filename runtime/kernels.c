/* kernels.c: matrix-product kernels for the generated code.
 *
 * One blocked kernel per element type. B is copied block by block into a
 * contiguous panel on the stack (so a transposed or strided B costs one
 * copy per block, and the inner loop is a unit-stride axpy that compilers
 * vectorize); each row of C accumulates over the panel. The order in which
 * each C[i,j] sums its products is increasing p, the same as the textbook
 * loop, so results match the reference evaluator bit for bit (no FMA
 * contraction: compiled without -ffast-math, and the sum is left to the
 * compiler as written).
 *
 * Tuning note: the block sizes keep the panel within 64 KiB (L2-resident,
 * and small enough for a thread's stack). A register-tiled micro-kernel
 * would be the next step; lower.c keeps the decision of when to call here
 * in one function (matmul_strategy), so that is a local change.
 */
#include "gradc_rt.h"

enum { KB = 64, NB = 128 };

#define DEFINE_MATMUL(NAME, T)                                                 \
    void NAME(int64_t m, int64_t n, int64_t k, const T *a, int64_t a_rs,       \
              int64_t a_cs, const T *b, int64_t b_rs, int64_t b_cs, T *c)      \
    {                                                                          \
        T panel[KB * NB];                                                      \
        for (int64_t i = 0; i < m * n; i++)                                    \
            c[i] = 0;                                                          \
        for (int64_t jb = 0; jb < n; jb += NB) {                               \
            int64_t nb = n - jb < NB ? n - jb : NB;                            \
            for (int64_t pb = 0; pb < k; pb += KB) {                           \
                int64_t kb = k - pb < KB ? k - pb : KB;                        \
                for (int64_t p = 0; p < kb; p++)                               \
                    for (int64_t j = 0; j < nb; j++)                           \
                        panel[p * nb + j] = b[(pb + p) * b_rs + (jb + j) * b_cs]; \
                for (int64_t i = 0; i < m; i++) {                              \
                    T *restrict crow = c + i * n + jb;                         \
                    const T *arow = a + i * a_rs + pb * a_cs;                  \
                    for (int64_t p = 0; p < kb; p++) {                         \
                        const T aip = arow[p * a_cs];                          \
                        const T *restrict brow = panel + p * nb;               \
                        for (int64_t j = 0; j < nb; j++)                       \
                            crow[j] += aip * brow[j];                          \
                    }                                                          \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }

DEFINE_MATMUL(gradc_rt_matmul_f64, double)
DEFINE_MATMUL(gradc_rt_matmul_f32, float)
