/* npy.c: NumPy .npy files, format 1.0 (https://numpy.org/neps/nep-0001-npy-format.html).
 *
 *   "\x93NUMPY" major minor  HEADER_LEN (u16 LE; u32 LE in 2.0/3.0)
 *   {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }  spaces '\n'
 *   data, C order
 *
 * The reader parses the header dictionary with a small tokenizer (a Python
 * literal of strings, True/False and tuples of integers) and checks every
 * fact against what the caller expects, so a damaged file is an error that
 * names the file, never a crash. Element bytes are decoded as little-endian
 * whatever the host, so files move between machines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gradc_rt.h"

#define NPY_MAX_HEADER 65536 /* longer headers are not written by NumPy */

static int fail(char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errsize)
        vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------ header tokenizer */

typedef struct Lex {
    const char *s, *end;
} Lex;

static void skip_ws(Lex *l)
{
    while (l->s < l->end && (*l->s == ' ' || *l->s == '\t' || *l->s == '\n' || *l->s == '\r'))
        l->s++;
}

static bool eat(Lex *l, char c)
{
    skip_ws(l);
    if (l->s < l->end && *l->s == c) {
        l->s++;
        return true;
    }
    return false;
}

/* A quoted Python string (no escapes are needed for npy headers) into out. */
static bool lex_string(Lex *l, char *out, size_t outsize)
{
    skip_ws(l);
    if (l->s >= l->end || (*l->s != '\'' && *l->s != '"'))
        return false;
    char q = *l->s++;
    size_t n = 0;
    while (l->s < l->end && *l->s != q) {
        if (n + 1 < outsize)
            out[n++] = *l->s;
        l->s++;
    }
    out[n] = 0;
    if (l->s >= l->end)
        return false;
    l->s++;
    return true;
}

static bool lex_word(Lex *l, const char *w)
{
    skip_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->s) >= n && memcmp(l->s, w, n) == 0) {
        l->s += n;
        return true;
    }
    return false;
}

/* A tuple of non-negative integers: (), (3,), (2, 3). */
static bool lex_shape(Lex *l, int64_t *dims, int *ndim)
{
    *ndim = 0;
    if (!eat(l, '('))
        return false;
    for (;;) {
        if (eat(l, ')'))
            return true;
        skip_ws(l);
        if (l->s >= l->end || *l->s < '0' || *l->s > '9')
            return false;
        int64_t v = 0;
        while (l->s < l->end && *l->s >= '0' && *l->s <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return false;
            v = v * 10 + (*l->s++ - '0');
        }
        if (l->s < l->end && (*l->s == 'L'))
            l->s++; /* Python 2 long suffix */
        if (*ndim >= 8)
            return false;
        dims[(*ndim)++] = v;
        if (!eat(l, ',')) {
            return eat(l, ')');
        }
    }
}

static void shape_text(char *buf, size_t size, const int64_t *dims, int ndim)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "(");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, ndim == 1 ? ",)" : ")");
}

/* ------------------------------------------------------------------ read */

static uint64_t le_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t le_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int rt_npy_read(const char *path, int64_t rows, int64_t cols, void *dst, RtDtype dst_type,
                char *err, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errsize, "%s: cannot open: %s", path, strerror(errno));
    int rc = -1;
    char *hdr = NULL;
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fail(err, errsize, "%s: not a .npy file (expected the magic string \"\\x93NUMPY\" "
             "at the start, found %s)", path, got < 6 ? "a shorter file" : "other bytes");
        goto out;
    }
    int major = pre[6], minor = pre[7];
    size_t hlen;
    size_t prefix;
    if (major == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        prefix = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            fail(err, errsize, "%s: truncated .npy header", path);
            goto out;
        }
        hlen = le_u32(pre + 8);
        prefix = 12;
    } else {
        fail(err, errsize, "%s: unsupported .npy format version %d.%d (expected 1.0)", path,
             major, minor);
        goto out;
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER) {
        fail(err, errsize, "%s: damaged .npy header (header length %zu)", path, hlen);
        goto out;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        fail(err, errsize, "%s: out of memory", path);
        goto out;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        fail(err, errsize, "%s: truncated .npy header (expected %zu header bytes)", path, hlen);
        goto out;
    }
    hdr[hlen] = 0;
    (void)prefix;

    /* {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } */
    char descr[32] = "";
    int fortran = -1, ndim = -1;
    int64_t dims[8];
    Lex l = {hdr, hdr + hlen};
    if (!eat(&l, '{'))
        goto garbage;
    for (;;) {
        if (eat(&l, '}'))
            break;
        char key[32];
        if (!lex_string(&l, key, sizeof key) || !eat(&l, ':'))
            goto garbage;
        if (strcmp(key, "descr") == 0) {
            if (!lex_string(&l, descr, sizeof descr))
                goto garbage;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (lex_word(&l, "True"))
                fortran = 1;
            else if (lex_word(&l, "False"))
                fortran = 0;
            else
                goto garbage;
        } else if (strcmp(key, "shape") == 0) {
            if (!lex_shape(&l, dims, &ndim))
                goto garbage;
        } else {
            fail(err, errsize, "%s: unexpected key '%s' in the .npy header", path, key);
            goto out;
        }
        if (!eat(&l, ',')) {
            if (!eat(&l, '}'))
                goto garbage;
            break;
        }
    }
    if (!descr[0] || fortran < 0 || ndim < 0) {
        fail(err, errsize, "%s: the .npy header lacks '%s'", path,
             !descr[0] ? "descr" : fortran < 0 ? "fortran_order" : "shape");
        goto out;
    }

    RtDtype src_type;
    if (strcmp(descr, "<f8") == 0)
        src_type = RT_F64;
    else if (strcmp(descr, "<f4") == 0)
        src_type = RT_F32;
    else {
        fail(err, errsize, "%s: expected dtype '<f8' or '<f4', found '%s'", path, descr);
        goto out;
    }
    if (fortran) {
        fail(err, errsize, "%s: expected C order, found fortran_order True", path);
        goto out;
    }
    char found[128];
    shape_text(found, sizeof found, dims, ndim);
    bool shape_ok = (ndim == 2 && dims[0] == rows && dims[1] == cols) ||
                    (ndim == 1 && cols == 1 && dims[0] == rows);
    if (!shape_ok) {
        if (ndim == 1 || ndim == 2)
            fail(err, errsize, "%s: expected shape [%lld, %lld], found %s%s", path,
                 (long long)rows, (long long)cols, found,
                 ndim == 1 ? " (a 1-D array is read as a column)" : "");
        else
            fail(err, errsize, "%s: expected a 2-D array of shape [%lld, %lld], found %d-D "
                 "shape %s", path, (long long)rows, (long long)cols, ndim, found);
        goto out;
    }

    size_t count = (size_t)(rows * cols);
    size_t esz = src_type == RT_F64 ? 8 : 4;
    size_t want = count * esz;
    unsigned char buf[4096];
    size_t done = 0; /* elements converted */
    size_t have = 0; /* bytes carried over in buf */
    for (;;) {
        size_t n = fread(buf + have, 1, sizeof buf - have, f);
        have += n;
        size_t whole = have / esz;
        if (done + whole > count)
            whole = count - done;
        for (size_t i = 0; i < whole; i++) {
            double v;
            if (esz == 8) {
                uint64_t u = le_u64(buf + i * 8);
                memcpy(&v, &u, 8);
            } else {
                uint32_t u = le_u32(buf + i * 4);
                float x;
                memcpy(&x, &u, 4);
                v = x;
            }
            if (dst_type == RT_F64)
                ((double *)dst)[done + i] = v;
            else
                ((float *)dst)[done + i] = (float)v;
        }
        done += whole;
        memmove(buf, buf + whole * esz, have - whole * esz);
        have -= whole * esz;
        if (done == count) {
            /* anything after the data is damage too */
            if (have > 0 || fread(buf, 1, 1, f) > 0) {
                fail(err, errsize, "%s: damaged .npy file: more data than shape %s of '%s' "
                     "needs (%zu bytes)", path, found, descr, want);
                goto out;
            }
            break;
        }
        if (n == 0) {
            fail(err, errsize, "%s: truncated .npy file: expected %zu bytes of data for shape "
                 "%s of '%s', found %zu", path, want, found, descr, done * esz + have);
            goto out;
        }
    }
    if (ferror(f)) {
        fail(err, errsize, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;

garbage:
    fail(err, errsize, "%s: damaged .npy header (expected a dictionary like "
         "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), })", path);
out:
    free(hdr);
    fclose(f);
    return rc;
}

/* ----------------------------------------------------------------- write */

int rt_npy_write(const char *path, const void *src, RtDtype t, int64_t rows, int64_t cols,
                 char *err, size_t errsize)
{
    char dict[160];
    int dn = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, "
                      "'shape': (%lld, %lld), }", t == RT_F64 ? "<f8" : "<f4",
                      (long long)rows, (long long)cols);
    /* magic(6) + version(2) + len(2) + dict + spaces + '\n', a multiple of 64 */
    size_t total = 10 + (size_t)dn + 1;
    size_t padded = (total + 63) / 64 * 64;
    unsigned char head[256];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    size_t hlen = padded - 10;
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)dn);
    memset(head + 10 + dn, ' ', padded - total);
    head[padded - 1] = '\n';

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return fail(err, errsize, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fail(err, errsize, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    mode_t mask = umask(0); /* mkstemp makes 0600: give the usual 0666 & ~umask */
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        fail(err, errsize, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    bool ok = fwrite(head, 1, padded, f) == padded;
    size_t count = (size_t)(rows * cols);
    unsigned char buf[4096];
    size_t esz = t == RT_F64 ? 8 : 4;
    for (size_t i = 0; ok && i < count;) {
        size_t n = 0;
        for (; i < count && n + esz <= sizeof buf; i++, n += esz) {
            uint64_t u;
            if (t == RT_F64) {
                memcpy(&u, (const double *)src + i, 8);
            } else {
                uint32_t w;
                memcpy(&w, (const float *)src + i, 4);
                u = w;
            }
            for (size_t b = 0; b < esz; b++)
                buf[n + b] = (unsigned char)(u >> (8 * b));
        }
        ok = fwrite(buf, 1, n, f) == n;
    }
    if (fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        fail(err, errsize, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
