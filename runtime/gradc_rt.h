/* gradc_rt.h: the runtime library that generated code and the gradc command
 * line link with.
 *
 *   kernels.c  matrix-product kernels that generated code calls for large
 *              products (lower.c decides when, in one place)
 *   npy.c      NumPy .npy reading and writing (format 1.0, '<f8' / '<f4',
 *              C order)
 *   rand.c     the fixed, portable random generator of `gradc run/check`
 *
 * The kernels are reentrant, allocate nothing and start no threads, so a
 * shared object that links them keeps the promises of SPEC section 5.
 */
#ifndef GRADC_RT_H
#define GRADC_RT_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ kernels.c */

/* C[m,n] = A[m,k] @ B[k,n], C row-major and contiguous (row stride n).
 * A's element (i,p) is a[i*a_rs + p*a_cs], B's element (p,j) is
 * b[p*b_rs + j*b_cs], so a transposed operand is a swap of its strides.
 * C is overwritten; C must not overlap A or B. Every C[i,j] is accumulated
 * from 0 in increasing p, exactly like the textbook triple loop, so results
 * do not depend on the blocking. */
void gradc_rt_matmul_f64(int64_t m, int64_t n, int64_t k,
                         const double *a, int64_t a_rs, int64_t a_cs,
                         const double *b, int64_t b_rs, int64_t b_cs,
                         double *c);
void gradc_rt_matmul_f32(int64_t m, int64_t n, int64_t k,
                         const float *a, int64_t a_rs, int64_t a_cs,
                         const float *b, int64_t b_rs, int64_t b_cs,
                         float *c);

/* ---------------------------------------------------------------- npy.c */

typedef enum { RT_F64 = 0, RT_F32 = 1 } RtDtype;

/* Reads the .npy file at path into dst (rows*cols elements of type
 * dst_type, row-major). The file must be format 1.0 (2.0 and 3.0 are read
 * too), dtype '<f8' or '<f4' (converted to dst_type), C order, and 2-D
 * with exactly this shape, or 1-D of length rows when cols == 1 (a 1-D
 * array is a column). Returns 0, or -1 with a message in err that names
 * the file, what was expected and what was found. Never crashes on a
 * damaged file. */
int rt_npy_read(const char *path, int64_t rows, int64_t cols, void *dst,
                RtDtype dst_type, char *err, size_t errsize);

/* Writes src (rows*cols elements of type t, row-major) as a 2-D .npy file
 * in format 1.0 with dtype '<f8' or '<f4'. The data goes to a temporary
 * file in the same directory that is renamed to path at the end, so a
 * failure never leaves a partial file. Returns 0, or -1 with a message. */
int rt_npy_write(const char *path, const void *src, RtDtype t, int64_t rows,
                 int64_t cols, char *err, size_t errsize);

/* --------------------------------------------------------------- rand.c */

/* The generator behind `gradc run` and `gradc check`: splitmix64, the same
 * numbers on every machine. Stream `stream` of seed `seed` (one stream per
 * input, numbered in declaration order, so giving one input with --set does
 * not change the values of the others). */
typedef struct RtRand {
    uint64_t state;
} RtRand;

void rt_rand_init(RtRand *r, uint64_t seed, uint64_t stream);
uint64_t rt_rand_next(RtRand *r);
/* Uniform in [lo, hi): 53 random bits. */
double rt_rand_uniform(RtRand *r, double lo, double hi);
/* Fills dst[0..n) with uniform values in [-1, 1) from stream `stream`. */
void rt_rand_fill(double *dst, int64_t n, uint64_t seed, uint64_t stream);

#endif
