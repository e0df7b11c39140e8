/* normalize.c: the program in single-assignment steps.
 *
 * Each variable's definition is inlined (its VARs replaced by what they
 * stand for), so equal subexpressions anywhere in the program meet in one
 * hash-consed node; then every operation node becomes one step, operands
 * first. A step is named after the program's variable where the node is
 * one (the first such), else t1, t2, ... (names the program uses are
 * skipped). A variable whose node already has a step becomes an alias
 * step (D = C), so every name of the program is kept.
 */
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

typedef struct Norm {
    const Prog *src;
    Prog *p;
    Node **inl;     /* per source node id: the inlined node in p->g */
    int *step;      /* per node id of p->g: the var holding it, or -1 */
    int step_cap;
    int next_temp;  /* t<next_temp> is the next temporary name to try */
} Norm;

/* The var holding node n of p->g, or -1. */
static int step_of(Norm *z, const Node *n)
{
    return n->id < z->step_cap ? z->step[n->id] : -1;
}

static void set_step(Norm *z, const Node *n, int v)
{
    if (n->id >= z->step_cap) {
        int old = z->step_cap;
        z->step = arena_grow(z->p->arena, z->step, &z->step_cap, n->id + 1, sizeof *z->step);
        memset(z->step + old, -1, (size_t)(z->step_cap - old) * sizeof *z->step);
    }
    z->step[n->id] = v;
}

/* The source node n with every VAR replaced by its inlined definition. */
static Node *inline_node(Norm *z, const Node *n)
{
    if (z->inl[n->id])
        return z->inl[n->id];
    Node *r;
    if (n->op == OP_VAR) {
        /* vars are inlined in order, so an earlier var is always mapped */
        fprintf(stderr, "gradc: internal error: '%s' used before its definition\n",
                z->src->vars[n->var].name);
        abort();
    }
    if (n->op == OP_CONST) {
        r = g_const(z->p->g, n->value, n->shape);
    } else {
        Node *a = n->nargs > 0 ? inline_node(z, n->arg[0]) : NULL;
        Node *b = n->nargs > 1 ? inline_node(z, n->arg[1]) : NULL;
        r = g_rebuild(z->p->g, n, a, b);
    }
    z->inl[n->id] = r;
    return r;
}

static bool is_leaf(const Node *n) { return n->op == OP_VAR || n->op == OP_CONST; }

/* The operand as a step sees it: a leaf, or the VAR of the step holding it. */
static Node *operand(Norm *z, Node *n)
{
    return is_leaf(n) ? n : g_var(z->p->g, step_of(z, n), n->shape);
}

static const char *temp_name(Norm *z)
{
    for (;;) {
        const char *s = arena_printf(z->p->arena, "t%d", z->next_temp++);
        if (prog_find(z->src, s) < 0 && prog_find(z->p, s) < 0)
            return s;
    }
}

typedef struct Emit {
    Norm *z;
    Node *root;
    const Var *named; /* the program's variable the root defines */
} Emit;

/* node_walk skip: leaves and nodes that already have a step (everything
 * below them has one too), so each statement costs only its new nodes. */
static bool has_step(Node *n, void *ctx)
{
    Emit *e = ctx;
    return is_leaf(n) || step_of(e->z, n) >= 0;
}

/* node_walk callback: one step per operation node without one. */
static void emit_step(Node *n, void *ctx)
{
    Emit *e = ctx;
    Norm *z = e->z;
    if (is_leaf(n) || step_of(z, n) >= 0)
        return;
    Node *def = g_rebuild(z->p->g, n, n->nargs > 0 ? operand(z, n->arg[0]) : NULL,
                          n->nargs > 1 ? operand(z, n->arg[1]) : NULL);
    bool named = n == e->root;
    int v = prog_add_var(z->p, named ? e->named->name : temp_name(z), VAR_STEP, n->shape,
                         def, named ? e->named->span : (Span){0});
    z->p->vars[v].temp = !named;
    set_step(z, n, v);
}

Prog *prog_normalize(const Prog *src)
{
    Norm z = {0};
    z.src = src;
    z.p = prog_new(src->arena);
    z.inl = arena_alloc(src->arena, (size_t)(src->g->nnodes + 1) * sizeof *z.inl);
    z.next_temp = 1;
    int nsrc = src->g->nnodes; /* g_var below may add nodes past these */
    int *map = arena_alloc(src->arena, (size_t)(src->nvars + 1) * sizeof *map);

    for (int i = 0; i < src->nvars; i++) {
        const Var *x = &src->vars[i];
        Node *n;
        if (x->kind == VAR_INPUT || x->kind == VAR_DATA) {
            int v = prog_add_var(z.p, x->name, x->kind, x->shape, NULL, x->span);
            n = g_var(z.p->g, v, x->shape);
            map[i] = v;
        } else {
            n = inline_node(&z, x->def);
            if (is_leaf(n) || step_of(&z, n) >= 0) {
                /* an alias of an input, a constant or an earlier step */
                map[i] = prog_add_var(z.p, x->name, VAR_STEP, x->shape, operand(&z, n),
                                      x->span);
            } else {
                Emit e = {&z, n, x};
                node_walk_pruned(z.p->g, n, has_step, emit_step, &e);
                map[i] = step_of(&z, n);
            }
        }
        /* later uses of this variable see its inlined definition */
        Node *ref = g_var(src->g, i, x->shape);
        if (ref->id < nsrc)
            z.inl[ref->id] = n;
    }
    z.p->result = src->result >= 0 ? map[src->result] : -1;
    return z.p;
}
