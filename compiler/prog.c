/* prog.c: the program as a list of variables (inputs and steps), with a
 * name table so lookups stay O(1) in programs of thousands of statements. */
#include <string.h>

#include "gradc.h"

static const char *const reserved[] = {
    "input", "data", "dot", "transpose", "sigmoid", "tanh", "relu", "exp",
    "log", "sqrt", "abs", "step", "sign", "sum", "mean", "ones", "zeros",
    "conv", "pad", "crop", "rot180", "softplus",
};

bool name_is_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(reserved[i], name) == 0)
            return true;
    return false;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

Prog *prog_new(Arena *a)
{
    Prog *p = arena_alloc(a, sizeof *p);
    p->arena = a;
    p->g = graph_new(a);
    p->result = -1;
    p->names_size = 64;
    p->names = arena_alloc(a, (size_t)p->names_size * sizeof *p->names);
    memset(p->names, -1, (size_t)p->names_size * sizeof *p->names);
    return p;
}

/* The slot of name in the table: where it is, or the empty slot to put it. */
static int *name_slot(int *table, int size, const Var *vars, const char *name)
{
    size_t k = name_hash(name) & (size_t)(size - 1);
    while (table[k] >= 0 && strcmp(vars[table[k]].name, name) != 0)
        k = (k + 1) & (size_t)(size - 1);
    return &table[k];
}

int prog_find(const Prog *p, const char *name)
{
    return *name_slot(p->names, p->names_size, p->vars, name);
}

int prog_add_var(Prog *p, const char *name, VarKind kind, Shape shape,
                 Node *def, Span span)
{
    if (p->nvars * 2 >= p->names_size) {
        int size = p->names_size * 2;
        int *table = arena_alloc(p->arena, (size_t)size * sizeof *table);
        memset(table, -1, (size_t)size * sizeof *table);
        for (int i = 0; i < p->nvars; i++)
            *name_slot(table, size, p->vars, p->vars[i].name) = i;
        p->names = table;
        p->names_size = size;
    }
    p->vars = arena_grow(p->arena, p->vars, &p->cap, p->nvars + 1, sizeof *p->vars);
    int v = p->nvars++;
    Var *x = &p->vars[v];
    memset(x, 0, sizeof *x);
    x->name = name;
    x->kind = kind;
    x->shape = shape;
    x->def = def;
    x->span = span;
    x->of = -1;
    int *slot = name_slot(p->names, p->names_size, p->vars, name);
    if (*slot < 0)
        *slot = v; /* the first var of a name is the one lookups find */
    return v;
}

/* Generated names stay within GRADC_MAX_NAME, so that a printed program
 * reads back: the adjoint of a 255-byte name is not "d" and 255 bytes but
 * its first 255 - len("_N") bytes with a suffix "_N". */
const char *prog_fresh_name(Prog *p, const char *base)
{
    size_t n = strlen(base);
    if (n <= GRADC_MAX_NAME && !name_is_reserved(base) && prog_find(p, base) < 0)
        return arena_strdup(p->arena, base);
    for (int i = 1;; i++) {
        char suffix[16];
        size_t sl = (size_t)snprintf(suffix, sizeof suffix, "_%d", i);
        size_t keep = n + sl > GRADC_MAX_NAME ? GRADC_MAX_NAME - sl : n;
        const char *s = arena_printf(p->arena, "%.*s%s", (int)keep, base, suffix);
        if (!name_is_reserved(s) && prog_find(p, s) < 0)
            return s;
    }
}
