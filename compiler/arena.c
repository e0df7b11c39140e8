/* arena.c: one bump allocator per compilation, and growable strings in it.
 *
 * Memory comes from calloc'ed chunks and is never reused, so every
 * allocation is already zero. Requests larger than a quarter of a chunk get
 * a chunk of their own, so a big vector never wastes the rest of a chunk.
 * Nothing is freed one object at a time; arena_free releases every chunk.
 */
#include "gradc.h"

#include <stdlib.h>
#include <string.h>

enum { ARENA_CHUNK = 64 * 1024 };

/* Alignment for any type. */
#define ARENA_ALIGN _Alignof(max_align_t)

typedef struct Chunk Chunk;
struct Chunk {
    Chunk *next;
    size_t size, used; /* bytes of data[], bytes handed out */
    _Alignas(max_align_t) unsigned char data[];
};

struct Arena {
    Chunk *head; /* the chunk being filled; earlier ones follow */
};

static _Noreturn void arena_oom(size_t size) {
    fprintf(stderr, "gradc: fatal error: out of memory (allocating %zu bytes)\n",
            size);
    exit(1);
}

static Chunk *chunk_new(size_t size) {
    if (size > SIZE_MAX - sizeof(Chunk))
        arena_oom(size);
    Chunk *c = calloc(1, sizeof(Chunk) + size);
    if (!c)
        arena_oom(size);
    c->size = size;
    return c;
}

Arena *arena_new(void) {
    Arena *a = calloc(1, sizeof *a);
    if (!a)
        arena_oom(sizeof *a);
    return a;
}

void arena_free(Arena *a) {
    if (!a)
        return;
    for (Chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void *arena_alloc(Arena *a, size_t size) {
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - ARENA_ALIGN)
        arena_oom(size);
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    Chunk *c = a->head;
    if (c && c->size - c->used >= size) {
        void *p = c->data + c->used;
        c->used += size;
        return p;
    }
    if (size > ARENA_CHUNK / 4) {
        /* A chunk of its own, linked behind the current one so the current
         * one keeps filling. */
        Chunk *big = chunk_new(size);
        big->used = size;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            a->head = big;
        }
        return big->data;
    }
    c = chunk_new(ARENA_CHUNK);
    c->next = a->head;
    a->head = c;
    c->used = size;
    return c->data;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
    if (n == SIZE_MAX)
        arena_oom(n);
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(Arena *a, const char *s) {
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...) {
    /* Short results (most) are formatted once, into a stack buffer. */
    char small[256];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    char *p;
    if (n < 0) {
        p = arena_strdup(a, "");
    } else if ((size_t)n < sizeof small) {
        p = arena_strndup(a, small, (size_t)n);
    } else {
        p = arena_alloc(a, (size_t)n + 1);
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    return p;
}

void *arena_grow(Arena *a, void *vec, int *cap, int need, size_t elem_size) {
    if (need <= *cap && vec)
        return vec;
    if (need < 0)
        arena_oom(0);
    size_t ncap = *cap > 0 ? (size_t)*cap : 8;
    while (ncap < (size_t)need)
        ncap *= 2;
    if (ncap > INT32_MAX)
        ncap = INT32_MAX;
    if (ncap < (size_t)need || (elem_size && ncap > SIZE_MAX / elem_size))
        arena_oom(ncap);
    void *p = arena_alloc(a, ncap * elem_size);
    if (vec && *cap > 0)
        memcpy(p, vec, (size_t)*cap * elem_size);
    *cap = (int)ncap;
    return p;
}

/* ---------------------------------------------------------------- Buf */

/* Makes room for n more bytes plus the terminating NUL. */
static void buf_reserve(Buf *b, size_t n) {
    if (b->cap - b->len > n)
        return;
    if (n > SIZE_MAX / 2 - b->len)
        arena_oom(n);
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap - b->len <= n)
        ncap *= 2;
    char *p = arena_alloc(b->arena, ncap);
    if (b->len)
        memcpy(p, b->data, b->len);
    p[b->len] = '\0';
    b->data = p;
    b->cap = ncap;
}

void buf_init(Buf *b, Arena *a) {
    b->arena = a;
    b->data = NULL;
    b->len = b->cap = 0;
    buf_reserve(b, 0); /* data is always a NUL-terminated string */
}

void buf_puts(Buf *b, const char *s) {
    size_t n = strlen(s);
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_putc(Buf *b, char c) {
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_printf(Buf *b, const char *fmt, ...) {
    if (!b->data)
        buf_reserve(b, 0);
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        va_end(ap2);
        return;
    }
    if ((size_t)n >= room) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
}
