/* grad.c: the reverse-mode driver.
 *
 * Like micrograd and tinygrad's gradient table: seed the result with 1,
 * walk the steps backwards, ask each step's op (ops.c: op_adjoint) for the
 * contribution to each operand, and add contributions that meet in one
 * variable. The adjoint of every forward step that needs one becomes a
 * step of its own (dX), so the derived program reads like the document:
 * dZ = A * (1 - A) * dA. The seed itself is the constant 1 and never a
 * step, so ones(r, c) * dL simplifies to ones(r, c); nor is an adjoint
 * that is only another adjoint (an alias) or a scalar constant.
 */
#include <string.h>

#include "gradc.h"

/* Which forward vars lie on a path from a wanted input to the result. */
static bool *needed(const Prog *p, const bool *wrt)
{
    int n = p->nvars;
    bool *active = arena_alloc(p->arena, (size_t)n * sizeof *active);
    bool *useful = arena_alloc(p->arena, (size_t)n * sizeof *useful);
    for (int v = 0; v < n; v++) {
        const Var *x = &p->vars[v];
        if (x->kind == VAR_INPUT)
            active[v] = wrt ? wrt[v] : true;
        else if (x->kind == VAR_STEP) {
            const Node *d = x->def;
            if (d->op == OP_VAR)
                active[v] = active[d->var];
            for (int i = 0; i < d->nargs; i++)
                if (d->arg[i]->op == OP_VAR && active[d->arg[i]->var])
                    active[v] = true;
        }
    }
    if (p->result >= 0)
        useful[p->result] = true;
    for (int v = n - 1; v >= 0; v--) {
        const Var *x = &p->vars[v];
        if (!useful[v] || x->kind != VAR_STEP)
            continue;
        if (x->def->op == OP_VAR)
            useful[x->def->var] = true;
        for (int i = 0; i < x->def->nargs; i++)
            if (x->def->arg[i]->op == OP_VAR)
                useful[x->def->arg[i]->var] = true;
    }
    for (int v = 0; v < n; v++)
        active[v] = active[v] && useful[v];
    return active;
}

static const char *adjoint_name(Prog *p, int v)
{
    return prog_fresh_name(p, arena_printf(p->arena, "d%s", p->vars[v].name));
}

static int add_adjoint(Prog *p, int of, Node *def)
{
    int v = prog_add_var(p, adjoint_name(p, of), VAR_ADJOINT, p->vars[of].shape, def,
                         (Span){0});
    p->vars[v].temp = true;
    p->vars[v].of = of;
    return v;
}

/* Common subexpressions across steps: a rule may rebuild what a forward
 * step already computes (the adjoint of log(sigmoid(x)) rebuilds
 * sigmoid(x)); such a node is replaced by that step's VAR. */
typedef struct Reuse {
    Graph *g;
    const Prog *p;
    int *step;      /* per node id below nstep: the forward step it is, or -1 */
    int nstep;
    Node **memo;    /* per node id: the rewritten node */
    int nmemo, cap;
} Reuse;

static Node *reuse(Reuse *r, Node *n)
{
    if (n->op == OP_VAR || n->op == OP_CONST)
        return n;
    if (n->id < r->nstep && r->step[n->id] >= 0)
        return g_var(r->g, r->step[n->id], n->shape);
    if (n->id < r->nmemo && r->memo[n->id])
        return r->memo[n->id];
    Node *a = reuse(r, n->arg[0]);
    Node *b = n->nargs > 1 ? reuse(r, n->arg[1]) : NULL;
    Node *m = a == n->arg[0] && (n->nargs < 2 || b == n->arg[1]) ? n : g_rebuild(r->g, n, a, b);
    if (n->id >= r->nmemo) {
        int old = r->cap;
        r->memo = arena_grow(r->p->arena, r->memo, &r->cap, n->id + 1, sizeof *r->memo);
        memset(r->memo + old, 0, (size_t)(r->cap - old) * sizeof *r->memo);
        r->nmemo = r->cap;
    }
    r->memo[n->id] = m;
    return m;
}

/* The contributions to the adjoint of one var. They are added left to
 * right in runs of ADJ_RUN, and the runs are added pairwise when the sum is
 * read: the adjoint of a var used thousands of times is then a tree of
 * depth ADJ_RUN + log2(runs), not a chain as deep as the uses, which
 * printed would not parse back (GRADC_MAX_DEPTH) and would take every
 * recursive walk that deep. Up to ADJ_RUN uses the sum is the plain chain
 * (((c1 + c2) + c3) + ...). */
enum { ADJ_RUN = 64 };

typedef struct Adj {
    Node *run;    /* the sum of the current run, or NULL */
    int nrun;     /* contributions in it */
    Node **done;  /* the sums of the finished runs */
    int ndone, cap;
} Adj;

/* Adds a contribution to the adjoint of var v. */
static void contribute(Graph *g, Adj *adj, int v, Node *c)
{
    if (!c || node_is_const(c, 0))
        return;
    Adj *a = &adj[v];
    if (a->nrun == ADJ_RUN) {
        a->done = arena_grow(g->arena, a->done, &a->cap, a->ndone + 1, sizeof *a->done);
        a->done[a->ndone++] = a->run;
        a->run = NULL;
        a->nrun = 0;
    }
    a->run = a->run ? g_add(g, a->run, c) : c;
    a->nrun++;
}

/* The adjoint of var v: the sum of its contributions, or NULL if none. */
static Node *adj_sum(Graph *g, Adj *adj, int v)
{
    Adj *a = &adj[v];
    if (a->ndone == 0)
        return a->run;
    a->done = arena_grow(g->arena, a->done, &a->cap, a->ndone + 1, sizeof *a->done);
    a->done[a->ndone++] = a->run;
    int n = a->ndone;
    while (n > 1) {
        int m = 0;
        for (int i = 0; i + 1 < n; i += 2)
            a->done[m++] = g_add(g, a->done[i], a->done[i + 1]);
        if (n % 2)
            a->done[m++] = a->done[n - 1];
        n = m;
    }
    a->run = a->done[0];
    a->nrun = 1;
    a->ndone = 0;
    return a->run;
}

/* node_walk callback: marks the vars a live step reads. */
static void mark_live(Node *n, void *ctx)
{
    bool *live = ctx;
    if (n->op == OP_VAR)
        live[n->var] = true;
}

void grad_derive(Prog *p, const bool *wrt, Diag *d)
{
    Graph *g = p->g;
    int nfwd = p->nvars;
    bool *need = needed(p, wrt);
    Adj *adj = arena_alloc(p->arena, (size_t)nfwd * sizeof *adj);

    Reuse r = {g, p, NULL, g->nnodes, NULL, 0, 0};
    r.step = arena_alloc(p->arena, (size_t)(r.nstep + 1) * sizeof *r.step);
    memset(r.step, -1, (size_t)(r.nstep + 1) * sizeof *r.step);
    for (int v = 0; v < nfwd; v++)
        if (p->vars[v].kind == VAR_STEP && p->vars[v].def->op != OP_VAR &&
            p->vars[v].def->op != OP_CONST && r.step[p->vars[v].def->id] < 0)
            r.step[p->vars[v].def->id] = v;

    contribute(g, adj, p->result, g_const(g, 1, p->vars[p->result].shape)); /* the seed */
    for (int v = nfwd - 1; v >= 0; v--) {
        if (!need[v] || p->vars[v].kind != VAR_STEP)
            continue;
        Node *sum = adj_sum(g, adj, v);
        if (!sum)
            continue;
        /* A step of its own, unless the adjoint is just another adjoint
         * (dt1 = dC) or a scalar constant, which its uses take as is. */
        Node *dy = sum = reuse(&r, sum);
        bool trivial = dy->op == OP_VAR || (dy->op == OP_CONST && shape_is_scalar(dy->shape));
        if (!trivial)
            dy = g_var(g, add_adjoint(p, v, sum), p->vars[v].shape);
        Node *def = p->vars[v].def;
        if (def->op == OP_VAR) { /* an alias: D = C */
            if (need[def->var])
                contribute(g, adj, def->var, dy);
            continue;
        }
        Node *c[2];
        op_adjoint(g, def, g_var(g, v, p->vars[v].shape), dy, c);
        for (int i = 0; i < def->nargs; i++)
            if (def->arg[i]->op == OP_VAR && need[def->arg[i]->var])
                contribute(g, adj, def->arg[i]->var, c[i]);
    }

    int *gin = arena_alloc(p->arena, (size_t)nfwd * sizeof *gin); /* per input */
    for (int v = 0; v < nfwd; v++) {
        gin[v] = -1;
        const Var *x = &p->vars[v];
        if (x->kind != VAR_INPUT || (wrt && !wrt[v]))
            continue;
        if (!need[v])
            diag_warning(d, x->span,
                         "input '%s' does not affect the result '%s'; its gradient is zero",
                         x->name, p->vars[p->result].name);
        Node *sum = adj_sum(g, adj, v);
        Node *def = sum ? reuse(&r, sum) : g_const(g, 0, x->shape);
        gin[v] = add_adjoint(p, v, def);
    }

    /* Dead steps: adjoints that no wanted gradient reads. */
    bool *live = arena_alloc(p->arena, (size_t)p->nvars * sizeof *live);
    for (int v = 0; v < nfwd; v++)
        if (gin[v] >= 0)
            live[gin[v]] = true;
    for (int v = p->nvars - 1; v >= nfwd; v--) {
        if (live[v])
            node_walk(g, p->vars[v].def, mark_live, live);
        else
            p->vars[v].dead = true;
    }
    /* p->grad covers every var, adjoints included (they have none) */
    p->grad = arena_alloc(p->arena, (size_t)p->nvars * sizeof *p->grad);
    memcpy(p->grad, gin, (size_t)nfwd * sizeof *p->grad);
    for (int v = nfwd; v < p->nvars; v++)
        p->grad[v] = -1;
    p->derived = true;
}

/* Rebuilds the node with every VAR replaced by its closed form. */
typedef struct Closed {
    Prog *p;
    Node **form;    /* per var */
    Node **memo;    /* per original node id */
    int nmemo;
} Closed;

static void close_node(Node *n, void *ctx)
{
    Closed *c = ctx;
    Node *r;
    if (n->op == OP_VAR)
        r = c->form[n->var];
    else if (n->op == OP_CONST)
        r = n;
    else
        r = g_rebuild(c->p->g, n, c->memo[n->arg[0]->id],
                      n->nargs > 1 ? c->memo[n->arg[1]->id] : NULL);
    c->memo[n->id] = r;
}

Node **prog_closed_forms(Prog *p)
{
    Closed c = {p, NULL, NULL, p->g->nnodes};
    c.form = arena_alloc(p->arena, (size_t)p->nvars * sizeof *c.form);
    c.memo = arena_alloc(p->arena, (size_t)c.nmemo * sizeof *c.memo);
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        if (x->dead)
            continue;
        if (!x->def) {
            c.form[v] = g_var(p->g, v, x->shape);
            continue;
        }
        /* Only nodes that existed before are walked; new ones are results. */
        node_walk(p->g, x->def, close_node, &c);
        c.form[v] = c.memo[x->def->id];
    }
    return c.form;
}
