/* diag.c: located diagnostics with the source line and a caret, as clang
 * prints them, and reading source files.
 *
 *   seed.grad:3:9: error: unexpected '+', expected an expression
 *   C = A * + B
 *           ^
 *
 * The caret goes under the first byte of the span and '~' under the rest of
 * the span on that line. Tabs before the caret are copied into the caret
 * line so that it lines up; bytes that are not printable ASCII are echoed
 * as '?' (one byte each, so columns stay aligned). Lines longer than
 * DIAG_WIDTH bytes are shown as a window around the caret with "..." marks.
 */
#include "gradc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    DIAG_WIDTH = 160,  /* longest line echoed whole */
    DIAG_BEFORE = 70,  /* bytes kept before the caret in a window */
    DIAG_SCAN = DIAG_WIDTH + 1, /* bytes searched for each end of the line */
};

void diag_init(Diag *d, const Source *src, FILE *out) {
    d->src = src;
    d->out = out ? out : stderr;
    d->errors = 0;
    d->warnings = 0;
    d->max_errors = GRADC_MAX_ERRORS;
}

Span span_join(Span a, Span b) {
    if (a.first_line == 0)
        return b;
    if (b.first_line == 0)
        return a;
    Span s = a;
    s.last_line = b.last_line;
    s.last_column = b.last_column;
    s.end = b.end;
    return s;
}

static bool is_print(unsigned char c) {
    return c >= 0x20 && c < 0x7f;
}

/* Echoes the source line holding sp.begin and the caret line under it. */
static void diag_show(FILE *out, const Source *src, Span sp) {
    const char *t = src->text;
    size_t len = src->len;
    if (!t)
        return;
    size_t b = sp.begin > len ? len : sp.begin;
    size_t e = sp.end > len ? len : sp.end;
    if (e < b)
        e = b;
    /* A span at the end of a file that ends with a newline points after the
     * last byte of the last line, not at the empty line after it. */
    size_t at = b;
    if (at == len && len > 0 && t[len - 1] == '\n')
        at = len - 1;
    /* The line [ls, le), searched for only DIAG_SCAN bytes each way from
     * the caret: an end not found by then stands in for one further away,
     * and the line is shown as a window, which needs only the bytes near
     * the caret. (Searching the whole line made a file of one long line
     * with thousands of diagnostics quadratic: 50,000 warnings on a
     * 700 KB line took 30 s.) */
    size_t ls = at, le = at;
    while (ls > 0 && at - ls < DIAG_SCAN && t[ls - 1] != '\n')
        ls--;
    while (le < len && le - at < DIAG_SCAN && t[le] != '\n')
        le++;
    if (le < len && t[le] == '\n' && le > ls && t[le - 1] == '\r') /* CRLF */
        le--;
    if (b < ls)
        b = ls;
    if (b > le)
        b = le;
    if (e > le)
        e = le;
    if (e < b)
        e = b;

    /* The window of the line to show: [ws, we). */
    size_t ws = ls, we = le;
    if (we - ws > DIAG_WIDTH) {
        ws = b - ls > DIAG_BEFORE ? b - DIAG_BEFORE : ls;
        we = ws + DIAG_WIDTH;
        if (we > le) {
            we = le;
            ws = we - DIAG_WIDTH;
        }
    }
    bool cut_left = ws > ls, cut_right = we < le;

    if (cut_left)
        fputs("...", out);
    for (size_t i = ws; i < we; i++) {
        unsigned char c = (unsigned char)t[i];
        fputc(c == '\t' || is_print(c) ? c : '?', out);
    }
    if (cut_right)
        fputs("...", out);
    fputc('\n', out);

    if (cut_left)
        fputs("   ", out);
    for (size_t i = ws; i < b; i++)
        fputc(t[i] == '\t' ? '\t' : ' ', out);
    fputc('^', out);
    for (size_t i = b + 1; i < e && i < we; i++)
        fputc('~', out);
    fputc('\n', out);
}

static void diag_emit(Diag *d, const char *kind, Span sp, const char *fmt,
                      va_list ap) {
    FILE *dest = d->out ? d->out : stderr;
    /* The whole diagnostic is composed in memory and written at once:
     * stderr is unbuffered, and byte by byte a caret line is a system call
     * per byte (50,000 warnings took seconds). */
    char *text = NULL;
    size_t textlen = 0;
    FILE *out = open_memstream(&text, &textlen);
    if (!out)
        out = dest;
    const Source *src = d->src;
    const char *path = src && src->path ? src->path : "gradc";
    if (src && sp.first_line > 0)
        fprintf(out, "%s:%d:%d: %s: ", path, sp.first_line, sp.first_column,
                kind);
    else
        fprintf(out, "%s: %s: ", path, kind);
    if (fmt) /* never NULL; the test keeps GCC's -Wformat-overflow quiet
              * under -fsanitize=undefined */
        vfprintf(out, fmt, ap);
    fputc('\n', out);
    if (src && sp.first_line > 0)
        diag_show(out, src, sp);
    if (out != dest) {
        fclose(out);
        fwrite(text, 1, textlen, dest);
        free(text);
    }
    fflush(dest);
}

/* True once the error limit has been passed: everything is silent then. */
static bool diag_silenced(const Diag *d) {
    return d->max_errors > 0 && d->errors > d->max_errors;
}

void diag_error(Diag *d, Span sp, const char *fmt, ...) {
    d->errors++;
    if (diag_silenced(d)) {
        if (d->errors == d->max_errors + 1) {
            const Source *src = d->src;
            fprintf(d->out ? d->out : stderr,
                    "%s: error: too many errors emitted, stopping now\n",
                    src && src->path ? src->path : "gradc");
        }
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, "error", sp, fmt, ap);
    va_end(ap);
}

void diag_warning(Diag *d, Span sp, const char *fmt, ...) {
    d->warnings++;
    if (diag_silenced(d))
        return;
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, "warning", sp, fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, Span sp, const char *fmt, ...) {
    if (diag_silenced(d))
        return;
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, "note", sp, fmt, ap);
    va_end(ap);
}

bool source_read(Source *src, Arena *a, const char *path) {
    src->path = path;
    src->text = NULL;
    src->len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gradc: error: cannot read %s: %s\n", path,
                strerror(errno));
        return false;
    }
    /* Read in growing pieces into a malloc'ed buffer (works for pipes and
     * files whose size changes), then copy once into the arena. */
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    int err = 0;
    if (!buf) {
        err = ENOMEM;
    } else {
        for (;;) {
            if (len == cap) {
                char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
                if (!nb) {
                    err = ENOMEM;
                    break;
                }
                buf = nb;
                cap *= 2;
            }
            errno = 0;
            size_t n = fread(buf + len, 1, cap - len, f);
            len += n;
            if (n == 0) {
                if (ferror(f))
                    err = errno ? errno : EIO;
                break;
            }
        }
    }
    fclose(f);
    if (err) {
        free(buf);
        fprintf(stderr, "gradc: error: cannot read %s: %s\n", path,
                strerror(err));
        return false;
    }
    char *text = arena_alloc(a, len + 1); /* NUL-terminated for convenience */
    if (len)
        memcpy(text, buf, len);
    text[len] = '\0';
    free(buf);
    src->text = text;
    src->len = len;
    return true;
}
