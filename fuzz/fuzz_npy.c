/* fuzz_npy.c: libFuzzer target for the .npy reader (runtime/npy.c).
 *
 * rt_npy_read takes a path, so the input bytes go into a memfd that is
 * read through /proc/self/fd/N (one per process, rewritten every run:
 * nothing touches the disk). Each run reads the file
 *   1. as a [2, 3] f64 array (the common case: most inputs are refused);
 *   2. with the shape the reader reports having found ("found (R, C)" in
 *      its message), when that is small, into f64 and into f32, so the
 *      data-reading half is fuzzed too without a prefix on the input;
 * and when a read succeeds, writes the values with rt_npy_write into a
 * per-process temporary directory and reads them back: they must be the
 * same bits. The reader must never crash and must always fill the message
 * on failure; a violation abort()s.
 *
 *   make fuzz FUZZ_SECONDS=60     (fuzz/fuzz.mk)
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gradc_rt.h"

enum { MAX_NUMEL = 1 << 20 };

static int memfd = -1;
static char mempath[64];
static char tmpdir[64];
static char outpath[96];

static void setup(void)
{
    memfd = memfd_create("fuzz.npy", 0);
    if (memfd < 0) {
        perror("fuzz_npy: memfd_create");
        abort();
    }
    snprintf(mempath, sizeof mempath, "/proc/self/fd/%d", memfd);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fuzz_npy.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("fuzz_npy: mkdtemp");
        abort();
    }
    snprintf(outpath, sizeof outpath, "%s/out.npy", tmpdir);
}

static void cleanup(void)
{
    unlink(outpath);
    rmdir(tmpdir);
}

static void put(const uint8_t *data, size_t size)
{
    if (ftruncate(memfd, 0) != 0)
        abort();
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(memfd, data + done, size - done, (off_t)done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
}

/* The shape the reader says it found: "found (R, C)" or "found (R,)". */
static bool found_shape(const char *err, int64_t *rows, int64_t *cols)
{
    const char *f = strstr(err, "found (");
    if (!f)
        return false;
    f += 7;
    char *end;
    long long r = strtoll(f, &end, 10);
    if (end == f || r < 1)
        return false;
    if (end[0] == ',' && end[1] == ')') {
        *rows = r;
        *cols = 1;
        return true;
    }
    if (end[0] != ',' || end[1] != ' ')
        return false;
    const char *g = end + 2;
    long long c = strtoll(g, &end, 10);
    if (end == g || c < 1 || *end != ')')
        return false;
    *rows = r;
    *cols = c;
    return true;
}

static void check_message(int rc, const char *err)
{
    if (rc != 0 && (rc != -1 || !err[0])) {
        fprintf(stderr, "fuzz_npy: rt_npy_read returned %d with message '%s'\n", rc, err);
        abort();
    }
}

/* Writes what was read and reads it back: the same values. */
static void roundtrip(const double *v, int64_t rows, int64_t cols)
{
    char err[512] = "";
    if (rt_npy_write(outpath, v, RT_F64, rows, cols, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_npy: cannot write %s: %s\n", outpath, err);
        abort();
    }
    size_t n = (size_t)(rows * cols);
    double *back = malloc(n * sizeof *back);
    if (!back)
        abort();
    err[0] = 0;
    if (rt_npy_read(outpath, rows, cols, back, RT_F64, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_npy: cannot read back what was written: %s\n", err);
        abort();
    }
    if (memcmp(back, v, n * sizeof *back) != 0) {
        fprintf(stderr, "fuzz_npy: values differ after a write and a read\n");
        abort();
    }
    free(back);
    unlink(outpath);
}

static void read_as(int64_t rows, int64_t cols)
{
    size_t n = (size_t)(rows * cols);
    double *d = malloc(n * sizeof *d);
    float *f = malloc(n * sizeof *f);
    if (!d || !f)
        abort();
    char err[512] = "";
    int rc = rt_npy_read(mempath, rows, cols, d, RT_F64, err, sizeof err);
    check_message(rc, err);
    if (rc == 0)
        roundtrip(d, rows, cols);
    err[0] = 0;
    int rc32 = rt_npy_read(mempath, rows, cols, f, RT_F32, err, sizeof err);
    check_message(rc32, err);
    if (rc != rc32) {
        fprintf(stderr, "fuzz_npy: the file reads into f64 (%d) but not into f32 (%d)\n", rc,
                rc32);
        abort();
    }
    free(d);
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        setup();
        atexit(cleanup);
    }
    put(data, size);

    double small[6];
    char err[512] = "";
    int rc = rt_npy_read(mempath, 2, 3, small, RT_F64, err, sizeof err);
    check_message(rc, err);
    if (rc == 0) {
        roundtrip(small, 2, 3);
        return 0;
    }
    int64_t rows, cols;
    if (found_shape(err, &rows, &cols) && rows <= MAX_NUMEL && cols <= MAX_NUMEL &&
        rows * cols <= MAX_NUMEL)
        read_as(rows, cols);
    return 0;
}
