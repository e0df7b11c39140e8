/* print.c: the program in the language, as closed forms, LaTeX and DOT.
 *
 * print_expr writes the fewest parentheses the grammar needs (levels as in
 * SPEC section 2: + - < * / @ < unary - < ^ < .T < atoms); operands of a
 * left-associative operator on the right get parentheses at equal level,
 * so the text parses back to exactly the same tree.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

enum { P_SUM = 1, P_PROD, P_UNARY, P_POW, P_POSTFIX, P_ATOM };

void print_number(Buf *b, double v)
{
    char s[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    buf_puts(b, s);
}

static int level(const Node *n)
{
    switch (n->op) {
    case OP_ADD: case OP_SUB: return P_SUM;
    case OP_MUL: case OP_DIV: case OP_MATMUL: return P_PROD;
    case OP_NEG: return P_UNARY;
    case OP_POW: return P_POW;
    case OP_TRANSPOSE: return P_POSTFIX;
    case OP_CONST:
        if (shape_is_scalar(n->shape))
            return n->value < 0 ? P_UNARY : P_ATOM;
        return n->value == 0 || n->value == 1 ? P_ATOM : P_PROD;
    default: return P_ATOM;
    }
}

static void print_operand(Buf *b, const Prog *p, const Node *n, int min_level)
{
    bool paren = level(n) < min_level;
    if (paren)
        buf_putc(b, '(');
    print_expr(b, p, n);
    if (paren)
        buf_putc(b, ')');
}

void print_expr(Buf *b, const Prog *p, const Node *n)
{
    const char *sp = op_info[n->op].spelling;
    switch (n->op) {
    case OP_VAR:
        buf_puts(b, p->vars[n->var].name);
        return;
    case OP_CONST:
        if (shape_is_scalar(n->shape)) {
            print_number(b, n->value);
            return;
        }
        if (n->value != 0 && n->value != 1) {
            print_number(b, n->value);
            buf_puts(b, " * ");
        }
        buf_printf(b, "%s(%lld, %lld)", n->value == 0 ? "zeros" : "ones",
                   (long long)n->shape.dim[0], (long long)n->shape.dim[1]);
        return;
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MATMUL:
        print_operand(b, p, n->arg[0], level(n));
        buf_printf(b, " %s ", sp);
        print_operand(b, p, n->arg[1], level(n) + 1);
        return;
    case OP_NEG:
        buf_putc(b, '-');
        print_operand(b, p, n->arg[0], P_UNARY);
        return;
    case OP_POW:
        print_operand(b, p, n->arg[0], P_POSTFIX);
        buf_puts(b, " ^ ");
        print_number(b, n->value);
        return;
    case OP_TRANSPOSE:
        print_operand(b, p, n->arg[0], P_POSTFIX);
        buf_puts(b, ".T");
        return;
    case OP_SUM: case OP_MEAN:
        buf_printf(b, "%s(", sp);
        print_expr(b, p, n->arg[0]);
        if (n->axis >= 0)
            buf_printf(b, ", axis=%d", n->axis);
        buf_putc(b, ')');
        return;
    case OP_PAD: case OP_CROP:
        buf_printf(b, "%s(", sp);
        print_expr(b, p, n->arg[0]);
        buf_printf(b, ", %d, %d)", n->pad[0], n->pad[1]);
        return;
    default: /* functions */
        buf_printf(b, "%s(", sp);
        for (int i = 0; i < n->nargs; i++) {
            if (i)
                buf_puts(b, ", ");
            print_expr(b, p, n->arg[i]);
        }
        buf_putc(b, ')');
        return;
    }
}

static bool is_decl(const Var *x) { return x->kind == VAR_INPUT || x->kind == VAR_DATA; }

/* Declarations: consecutive ones of one kind share a line; steps that are
 * not printed (dead ones) do not separate them, so a closed program, whose
 * forward steps are all dead, prints its declarations as the program it
 * parses back to does (a finding of fuzz_front: "input A; data int" and
 * "data X, Y" on two lines read back as "data int, X, Y"). *open is the
 * kind of the declaration line being written, or -1. */
static void print_decl(Buf *b, const Var *x, int *open)
{
    if (*open == (int)x->kind) {
        buf_printf(b, ", %s[%lld, %lld]", x->name, (long long)x->shape.dim[0],
                   (long long)x->shape.dim[1]);
        return;
    }
    if (*open >= 0)
        buf_putc(b, '\n');
    buf_printf(b, "%s %s[%lld, %lld]", x->kind == VAR_INPUT ? "input" : "data", x->name,
               (long long)x->shape.dim[0], (long long)x->shape.dim[1]);
    *open = (int)x->kind;
}

static void flush(FILE *out, Buf *b)
{
    if (b->len)
        fwrite(b->data, 1, b->len, out);
    b->len = 0;
}

void print_prog(FILE *out, const Prog *p)
{
    Buf b;
    buf_init(&b, p->arena);
    int open = -1;
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        if (x->dead)
            continue;
        if (is_decl(x)) {
            print_decl(&b, x, &open);
            continue;
        }
        if (open >= 0)
            buf_putc(&b, '\n');
        open = -1;
        buf_printf(&b, "%s = ", x->name);
        print_expr(&b, p, x->def);
        buf_putc(&b, '\n');
        flush(out, &b);
    }
    if (open >= 0)
        buf_putc(&b, '\n');
    flush(out, &b);
}

/* Tree size of each closed form, saturating: a DAG printed as text can be
 * exponentially larger than the graph. */
#define CLOSED_MAX_NODES 200000

/* Per node of a closed form, its tree size and the nesting depth of the
 * text print_expr writes for it, as the parser counts depth (an operation
 * is a level, so are parentheses around an operand, and -2 is NEG(2)). The
 * depth must stay within GRADC_MAX_DEPTH for the text to parse back; that
 * also keeps the recursive printers within a modest stack (the closed form
 * of a chain of 200,000 steps overflowed it). */
typedef struct TreeSize {
    uint64_t *size; /* per node id, saturating */
    int *depth;     /* per node id, saturating */
} TreeSize;

static int operand_depth(const TreeSize *t, const Node *n, int min_level)
{
    return t->depth[n->id] + (level(n) < min_level);
}

static void count_tree(Node *n, void *ctx)
{
    TreeSize *t = ctx;
    uint64_t s = 1;
    for (int i = 0; i < n->nargs; i++)
        s += t->size[n->arg[i]->id];
    t->size[n->id] = s > CLOSED_MAX_NODES ? CLOSED_MAX_NODES + 1 : s;

    int d; /* as print_expr writes n */
    switch (n->op) {
    case OP_VAR:
        d = 1;
        break;
    case OP_CONST: /* 2, -2, ones(2, 2), 2 * ones(2, 2), -2 * ones(2, 2) */
        if (shape_is_scalar(n->shape))
            d = n->value < 0 ? 2 : 1;
        else
            d = n->value == 0 || n->value == 1 ? 2 : 3;
        break;
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MATMUL: {
        int a = operand_depth(t, n->arg[0], level(n));
        int b = operand_depth(t, n->arg[1], level(n) + 1);
        d = 1 + (a > b ? a : b);
        break;
    }
    case OP_NEG:
        d = 1 + operand_depth(t, n->arg[0], P_UNARY);
        break;
    case OP_POW:
    case OP_TRANSPOSE:
        d = 1 + operand_depth(t, n->arg[0], P_POSTFIX);
        break;
    default: /* a call; its arguments are whole expressions (or literals) */
        d = 1;
        for (int i = 0; i < n->nargs; i++)
            if (t->depth[n->arg[i]->id] > d)
                d = t->depth[n->arg[i]->id];
        d += 1;
        break;
    }
    t->depth[n->id] = d > GRADC_MAX_DEPTH ? GRADC_MAX_DEPTH + 1 : d;
}

/* t: scratch of p->g->nnodes entries, shared by every call (a walk writes
 * each node it reaches before reading it; one array per call made --closed
 * of a program with 50,000 inputs allocate gigabytes). */
static bool closed_fits(Prog *p, Node *n, const char *name, TreeSize *t)
{
    node_walk(p->g, n, count_tree, t);
    if (t->size[n->id] > CLOSED_MAX_NODES) {
        fprintf(stderr,
                "gradc: error: the closed form of '%s' has more than %d operations; "
                "print it in steps (without --closed)\n",
                name, CLOSED_MAX_NODES);
        return false;
    }
    if (t->depth[n->id] > GRADC_MAX_DEPTH) {
        fprintf(stderr,
                "gradc: error: the closed form of '%s' is nested more than %d levels deep "
                "(the limit); print it in steps (without --closed)\n",
                name, GRADC_MAX_DEPTH);
        return false;
    }
    return true;
}

/* The closed program: declarations, the result, and each gradient, every
 * one an expression of the inputs only. It keeps p's vars (so the VAR
 * indexes of the closed forms stay valid) with every other step dead. */
static Prog *closed_prog(Prog *p)
{
    Node **form = prog_closed_forms(p);
    Prog *c = prog_new(p->arena);
    c->g = p->g;
    bool *keep = arena_alloc(p->arena, (size_t)p->nvars * sizeof *keep);
    keep[p->result] = true;
    for (int v = 0; p->grad && v < p->nvars; v++)
        if (p->grad[v] >= 0)
            keep[p->grad[v]] = true;
    TreeSize t;
    t.size = arena_alloc(p->arena, (size_t)p->g->nnodes * sizeof *t.size);
    t.depth = arena_alloc(p->arena, (size_t)p->g->nnodes * sizeof *t.depth);
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        if (keep[v] && !closed_fits(p, form[v], x->name, &t))
            return NULL;
        int w = prog_add_var(c, x->name, x->kind, x->shape, is_decl(x) ? NULL : form[v],
                             x->span);
        c->vars[w].dead = !is_decl(x) && !keep[v];
    }
    c->result = p->result;
    return c;
}

bool print_closed(FILE *out, Prog *p)
{
    Prog *c = closed_prog(p);
    if (!c)
        return false;
    print_prog(out, c);
    return true;
}

/* ---- LaTeX: dA = dC\,B^{T}, \sigma, \odot for *, \star for conv ---- */

static void latex_name(Buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '_')
            buf_puts(b, "\\_");
        else
            buf_putc(b, *s);
    }
}

static void latex_expr(Buf *b, const Prog *p, const Node *n);

static void latex_operand(Buf *b, const Prog *p, const Node *n, int min_level)
{
    bool paren = level(n) < min_level;
    buf_puts(b, paren ? "\\left(" : "");
    latex_expr(b, p, n);
    buf_puts(b, paren ? "\\right)" : "");
}

static const char *latex_func(Op op)
{
    switch (op) {
    case OP_SIGMOID: return "\\sigma";
    case OP_TANH: return "\\tanh";
    case OP_EXP: return "\\exp";
    case OP_LOG: return "\\log";
    case OP_RELU: return "\\operatorname{relu}";
    case OP_STEP: return "\\operatorname{step}";
    case OP_SIGN: return "\\operatorname{sign}";
    case OP_SOFTPLUS: return "\\operatorname{softplus}";
    case OP_SUM: return "\\operatorname{sum}";
    case OP_MEAN: return "\\operatorname{mean}";
    case OP_PAD: return "\\operatorname{pad}";
    case OP_CROP: return "\\operatorname{crop}";
    case OP_ROT180: return "\\operatorname{rot180}";
    default: return op_info[op].spelling;
    }
}

static void latex_expr(Buf *b, const Prog *p, const Node *n)
{
    int lv = level(n);
    switch (n->op) {
    case OP_VAR:
        latex_name(b, p->vars[n->var].name);
        return;
    case OP_CONST:
        if (shape_is_scalar(n->shape)) {
            print_number(b, n->value);
            return;
        }
        if (n->value != 0 && n->value != 1) {
            print_number(b, n->value);
            buf_puts(b, "\\,");
        }
        buf_printf(b, "\\mathbf{%d}_{%lld \\times %lld}", n->value == 0 ? 0 : 1,
                   (long long)n->shape.dim[0], (long long)n->shape.dim[1]);
        return;
    case OP_ADD: case OP_SUB:
        latex_operand(b, p, n->arg[0], lv);
        buf_puts(b, n->op == OP_ADD ? " + " : " - ");
        latex_operand(b, p, n->arg[1], lv + 1);
        return;
    case OP_MUL: case OP_MATMUL: {
        /* a scalar factor is written as a plain product */
        bool plain = n->op == OP_MATMUL || shape_is_scalar(n->arg[0]->shape) ||
                     shape_is_scalar(n->arg[1]->shape);
        latex_operand(b, p, n->arg[0], lv);
        buf_puts(b, plain ? "\\," : " \\odot ");
        latex_operand(b, p, n->arg[1], lv + 1);
        return;
    }
    case OP_DIV:
        buf_puts(b, "\\frac{");
        latex_expr(b, p, n->arg[0]);
        buf_puts(b, "}{");
        latex_expr(b, p, n->arg[1]);
        buf_puts(b, "}");
        return;
    case OP_CONV:
        latex_operand(b, p, n->arg[0], P_PROD);
        buf_puts(b, " \\star ");
        latex_operand(b, p, n->arg[1], P_PROD + 1);
        return;
    case OP_NEG:
        buf_putc(b, '-');
        latex_operand(b, p, n->arg[0], P_UNARY);
        return;
    case OP_POW:
        latex_operand(b, p, n->arg[0], P_POSTFIX);
        buf_puts(b, "^{");
        print_number(b, n->value);
        buf_puts(b, "}");
        return;
    case OP_TRANSPOSE:
        latex_operand(b, p, n->arg[0], P_POSTFIX);
        buf_puts(b, "^{T}");
        return;
    case OP_SQRT:
        buf_puts(b, "\\sqrt{");
        latex_expr(b, p, n->arg[0]);
        buf_puts(b, "}");
        return;
    case OP_ABS:
        buf_puts(b, "\\left|");
        latex_expr(b, p, n->arg[0]);
        buf_puts(b, "\\right|");
        return;
    default:
        buf_puts(b, latex_func(n->op));
        if ((n->op == OP_SUM || n->op == OP_MEAN) && n->axis >= 0)
            buf_printf(b, "_{%d}", n->axis);
        buf_puts(b, "\\left(");
        latex_expr(b, p, n->arg[0]);
        if (n->op == OP_PAD || n->op == OP_CROP)
            buf_printf(b, ", %d, %d", n->pad[0], n->pad[1]);
        buf_puts(b, "\\right)");
        return;
    }
}

bool print_latex(FILE *out, Prog *p, bool closed)
{
    Prog *q = closed ? closed_prog(p) : p;
    if (!q)
        return false;
    Buf b;
    buf_init(&b, p->arena);
    buf_puts(&b, "\\begin{aligned}\n");
    bool first = true;
    for (int v = 0; v < q->nvars; v++) {
        const Var *x = &q->vars[v];
        if (x->dead || is_decl(x))
            continue;
        if (!first)
            buf_puts(&b, " \\\\\n");
        first = false;
        latex_name(&b, x->name);
        buf_puts(&b, " &= ");
        latex_expr(&b, q, x->def);
    }
    buf_puts(&b, "\n\\end{aligned}\n");
    flush(out, &b);
    return true;
}

/* ---- DOT: one node per input and step, edges from the vars it reads ---- */

static void dot_escaped(Buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_putc(b, '\\');
        buf_putc(b, s[i]);
    }
}

typedef struct DotEdges {
    Buf *b;
    int to;
} DotEdges;

static void dot_edge(Node *n, void *ctx)
{
    DotEdges *e = ctx;
    if (n->op == OP_VAR)
        buf_printf(e->b, "  v%d -> v%d;\n", n->var, e->to);
}

void print_dot(FILE *out, const Prog *p)
{
    Buf b, label;
    buf_init(&b, p->arena);
    buf_init(&label, p->arena);
    buf_puts(&b, "digraph gradc {\n  rankdir=TB;\n"
                 "  node [shape=box, fontname=\"Helvetica\"];\n");
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        if (x->dead)
            continue;
        label.len = 0;
        if (is_decl(x)) {
            buf_printf(&label, "%s %s %s", x->kind == VAR_INPUT ? "input" : "data",
                       x->name, shape_str(p->arena, x->shape));
        } else {
            buf_printf(&label, "%s = ", x->name);
            print_expr(&label, p, x->def);
        }
        buf_printf(&b, "  v%d [label=\"", v);
        dot_escaped(&b, label.data, label.len);
        buf_puts(&b, "\"");
        if (is_decl(x))
            buf_puts(&b, ", shape=ellipse");
        else if (x->kind == VAR_ADJOINT)
            buf_puts(&b, ", style=filled, fillcolor=\"#fde0c5\"");
        buf_puts(&b, "];\n");
    }
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        if (x->dead || !x->def)
            continue;
        DotEdges e = {&b, v};
        node_walk(p->g, x->def, dot_edge, &e);
    }
    buf_puts(&b, "}\n");
    flush(out, &b);
}

/* ---- the debug dump (gradc grad -d LETTERS): every var, dead ones too ---- */

void dump_prog(FILE *out, const Prog *p, const char *stage)
{
    static const char *const kinds[] = {"input", "data", "step", "adjoint"};
    Buf b;
    buf_init(&b, p->arena);
    buf_printf(&b, "; after %s: %d vars, %d graph nodes, result %s\n", stage, p->nvars,
               p->g->nnodes, p->result >= 0 ? p->vars[p->result].name : "(none)");
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        buf_printf(&b, ";   %%%d %-7s %s %s%s", v, kinds[x->kind], x->name,
                   shape_str(p->arena, x->shape), x->dead ? " dead" : "");
        if (x->def) {
            buf_printf(&b, " (node %d) = ", x->def->id);
            print_expr(&b, p, x->def);
        }
        if (p->derived && x->kind == VAR_INPUT && p->grad[v] >= 0)
            buf_printf(&b, "  ; gradient in %s", p->vars[p->grad[v]].name);
        buf_putc(&b, '\n');
    }
    flush(out, &b);
}
