/* check.c: names and shapes; the AST becomes the program as written.
 *
 * One post-order pass over each statement's expression (chibicc's add_type
 * in spirit): every node's shape is computed by op_shape (ops.c) before
 * its graph node is built, so the graph constructors never see a bad
 * shape. An expression with an error yields NULL; whatever uses it stays
 * silent, so one mistake gives one message, and independent mistakes in
 * other statements are all reported.
 */
#include <math.h>
#include <string.h>

#include "gradc.h"

typedef struct Checker {
    Arena *arena;
    Diag *d;
    Prog *p;
    const AstProgram *ast;
} Checker;

typedef enum { F_UNARY, F_BINARY, F_REDUCE, F_FILL, F_PAD } FuncKind;

/* The functions of the language: name, op, how their arguments read. */
static const struct Func {
    const char *name;
    Op op;
    FuncKind kind;
} funcs[] = {
    {"dot", OP_MATMUL, F_BINARY},     {"transpose", OP_TRANSPOSE, F_UNARY},
    {"sigmoid", OP_SIGMOID, F_UNARY}, {"tanh", OP_TANH, F_UNARY},
    {"relu", OP_RELU, F_UNARY},       {"exp", OP_EXP, F_UNARY},
    {"log", OP_LOG, F_UNARY},         {"sqrt", OP_SQRT, F_UNARY},
    {"abs", OP_ABS, F_UNARY},         {"step", OP_STEP, F_UNARY},
    {"sign", OP_SIGN, F_UNARY},       {"rot180", OP_ROT180, F_UNARY},
    {"softplus", OP_SOFTPLUS, F_UNARY},
    {"sum", OP_SUM, F_REDUCE},        {"mean", OP_MEAN, F_REDUCE},
    {"ones", OP_CONST, F_FILL},       {"zeros", OP_CONST, F_FILL},
    {"conv", OP_CONV, F_BINARY},      {"pad", OP_PAD, F_PAD},
    {"crop", OP_CROP, F_PAD},
};

static const struct Func *find_func(const char *name)
{
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (strcmp(funcs[i].name, name) == 0)
            return &funcs[i];
    return NULL;
}

/* Reports a result too large to compute; true if it is. */
static bool too_big(Checker *c, Shape s, Span sp)
{
    if (s.dim[0] > GRADC_MAX_NUMEL || s.dim[1] > GRADC_MAX_NUMEL ||
        shape_numel(s) > GRADC_MAX_NUMEL) {
        diag_error(c->d, sp, "matrix of %s would have more than %d elements (the limit)",
                   shape_str(c->arena, s), GRADC_MAX_NUMEL);
        return true;
    }
    return false;
}

/* An integer literal argument (pad amounts, axis, ones/zeros sizes). */
static bool int_arg(Checker *c, const Ast *e, const char *func, const char *what,
                    int lo, int hi, int *out)
{
    bool neg = e->kind == AST_NEG && e->args[0]->kind == AST_NUM;
    const Ast *lit = neg ? e->args[0] : e;
    if (lit->kind != AST_NUM || !lit->integral) {
        diag_error(c->d, e->span, "'%s': the %s must be an integer literal", func, what);
        return false;
    }
    double v = neg ? -lit->num : lit->num;
    if (v < lo || v > hi) {
        diag_error(c->d, e->span, "'%s': the %s must be from %d to %d, not %.17g", func,
                   what, lo, hi, v);
        return false;
    }
    *out = (int)v;
    return true;
}

static Node *check_expr(Checker *c, const Ast *e);

/* Builds op on checked operands, reporting a shape error at sp. */
static Node *apply(Checker *c, Op op, const OpAttr *at, Node *a, Node *b, Span sp)
{
    Shape in[2] = {a->shape, b ? b->shape : a->shape}, s;
    char msg[256];
    if (!op_shape(op, at, in, &s, msg, sizeof msg)) {
        diag_error(c->d, sp, "%s", msg);
        return NULL;
    }
    if (too_big(c, s, sp))
        return NULL;
    switch (op) {
    case OP_POW: return g_pow(c->p->g, a, at->power);
    case OP_SUM:
    case OP_MEAN: return g_reduce(c->p->g, op, a, at->axis);
    case OP_PAD:
    case OP_CROP: return g_pad(c->p->g, op, a, at->pad[0], at->pad[1]);
    default: return b ? g_binary(c->p->g, op, a, b) : g_unary(c->p->g, op, a);
    }
}

static Node *check_name(Checker *c, const Ast *e)
{
    int v = prog_find(c->p, e->name);
    if (v >= 0) {
        const Var *x = &c->p->vars[v];
        if (x->kind == VAR_STEP && !x->def)
            return NULL; /* its definition had an error, already reported */
        return g_var(c->p->g, v, x->shape);
    }
    if (find_func(e->name)) {
        diag_error(c->d, e->span, "'%s' is a function; call it as %s(...)", e->name,
                   e->name);
        return NULL;
    }
    for (int i = 0; i < c->ast->nstmts; i++) {
        const Stmt *s = &c->ast->stmts[i];
        if (strcmp(s->name, e->name) == 0 && s->span.begin > e->span.begin) {
            diag_error(c->d, e->span, "'%s' is used before it is defined", e->name);
            diag_note(c->d, s->name_span, "'%s' is defined here", e->name);
            return NULL;
        }
    }
    diag_error(c->d, e->span, "use of undefined name '%s'", e->name);
    return NULL;
}

/* name(args): arity, named arguments, literal arguments, then the op. */
static Node *check_call(Checker *c, const Ast *e)
{
    const struct Func *f = find_func(e->name);
    if (!f) {
        diag_error(c->d, e->op_span, "unknown function '%s'", e->name);
        return NULL;
    }
    const Ast *pos[3] = {0}, *axis_arg = NULL;
    int npos = 0;
    for (int i = 0; i < e->nargs; i++) {
        if (e->arg_names[i]) {
            if (f->kind != F_REDUCE || strcmp(e->arg_names[i], "axis") != 0) {
                diag_error(c->d, e->arg_name_spans[i], "'%s' has no argument named '%s'",
                           f->name, e->arg_names[i]);
                return NULL;
            }
            if (axis_arg) {
                diag_error(c->d, e->arg_name_spans[i], "'axis' is given twice");
                return NULL;
            }
            axis_arg = e->args[i];
        } else {
            if (axis_arg) {
                diag_error(c->d, e->args[i]->span,
                           "positional argument follows a named argument");
                return NULL;
            }
            if (npos < 3)
                pos[npos] = e->args[i];
            npos++;
        }
    }
    int lo, hi;
    const char *usage;
    switch (f->kind) {
    case F_UNARY: lo = hi = 1; usage = "(a)"; break;
    case F_BINARY: lo = hi = 2; usage = f->op == OP_CONV ? "(a, w)" : "(a, b)"; break;
    case F_REDUCE: lo = 1; hi = axis_arg ? 1 : 2; usage = "(a) or (a, axis=0|1)"; break;
    case F_FILL: lo = hi = 2; usage = "(rows, cols)"; break;
    default: lo = 2; hi = 3; usage = "(a, p) or (a, rows, cols)"; break;
    }
    if (npos < lo || npos > hi) {
        diag_error(c->d, e->span, "'%s' takes %s, but %d argument%s given", f->name,
                   usage, npos + (axis_arg != NULL),
                   npos + (axis_arg != NULL) == 1 ? " was" : "s were");
        return NULL;
    }
    OpAttr at = {.axis = -1};
    Graph *g = c->p->g;
    switch (f->kind) {
    case F_FILL: {
        int r, k;
        bool rows_ok = int_arg(c, pos[0], f->name, "row count", 1, GRADC_MAX_DIM, &r);
        bool cols_ok = int_arg(c, pos[1], f->name, "column count", 1, GRADC_MAX_DIM, &k);
        if (!rows_ok || !cols_ok)
            return NULL;
        if (too_big(c, shape2(r, k), e->span))
            return NULL;
        return g_const(g, strcmp(f->name, "ones") == 0 ? 1 : 0, shape2(r, k));
    }
    case F_REDUCE:
        if (axis_arg || npos == 2) {
            if (!int_arg(c, axis_arg ? axis_arg : pos[1], f->name, "axis", 0, 1, &at.axis))
                return NULL;
        }
        break;
    case F_PAD:
        if (!int_arg(c, pos[1], f->name, npos == 3 ? "row amount" : "amount", 0, GRADC_MAX_DIM, &at.pad[0]))
            return NULL;
        at.pad[1] = at.pad[0];
        if (npos == 3 && !int_arg(c, pos[2], f->name, "column amount", 0, GRADC_MAX_DIM,
                                  &at.pad[1]))
            return NULL;
        break;
    default:
        break;
    }
    Node *a = check_expr(c, pos[0]);
    Node *b = f->kind == F_BINARY ? check_expr(c, pos[1]) : NULL;
    if (!a || (f->kind == F_BINARY && !b))
        return NULL;
    return apply(c, f->op, &at, a, b, e->span);
}

static Node *check_expr(Checker *c, const Ast *e)
{
    switch (e->kind) {
    case AST_NUM:
        return g_scalar(c->p->g, e->num);
    case AST_NAME:
        return check_name(c, e);
    case AST_CALL:
        return check_call(c, e);
    case AST_BINARY: {
        Node *a = check_expr(c, e->args[0]);
        Node *b = check_expr(c, e->args[1]);
        if (!a || !b)
            return NULL;
        Op op = e->op == '+' ? OP_ADD : e->op == '-' ? OP_SUB : e->op == '*' ? OP_MUL
              : e->op == '/' ? OP_DIV : OP_MATMUL;
        OpAttr at = {.axis = -1};
        return apply(c, op, &at, a, b, e->op_span);
    }
    case AST_NEG:
    case AST_TRANSPOSE: {
        Node *a = check_expr(c, e->args[0]);
        OpAttr at = {.axis = -1};
        return a ? apply(c, e->kind == AST_NEG ? OP_NEG : OP_TRANSPOSE, &at, a, NULL,
                         e->op_span)
                 : NULL;
    }
    case AST_POW: {
        Node *a = check_expr(c, e->args[0]);
        OpAttr at = {.axis = -1, .power = e->num};
        return a ? apply(c, OP_POW, &at, a, NULL, e->op_span) : NULL;
    }
    }
    return NULL;
}

/* A new name: not reserved, not defined before. */
static bool check_new_name(Checker *c, const Stmt *s)
{
    if (name_is_reserved(s->name)) {
        diag_error(c->d, s->name_span, "'%s' is %s and cannot name %s", s->name,
                   find_func(s->name) ? "a function" : "a reserved word",
                   s->kind == STMT_ASSIGN ? "a variable" : "an input");
        return false;
    }
    int v = prog_find(c->p, s->name);
    if (v >= 0) {
        diag_error(c->d, s->name_span, "redefinition of '%s'", s->name);
        diag_note(c->d, c->p->vars[v].span, "'%s' was first defined here", s->name);
        return false;
    }
    return true;
}

Prog *check_program(Arena *a, const AstProgram *ast, Diag *d)
{
    Checker c = {a, d, prog_new(a), ast};
    int errors = d->errors;

    for (int i = 0; i < ast->nstmts; i++) {
        const Stmt *s = &ast->stmts[i];
        bool fresh = check_new_name(&c, s);
        if (s->kind != STMT_ASSIGN) {
            Shape sh = shape2(s->dims[0], s->dims[1]);
            bool big = too_big(&c, sh, s->span);
            if (!fresh)
                continue;
            if (big) {
                /* Declared, but unusable: like a variable whose definition
                 * had an error, its uses say nothing more (not "undefined
                 * name"). */
                prog_add_var(c.p, s->name, VAR_STEP, shape2(1, 1), NULL, s->span);
                continue;
            }
            prog_add_var(c.p, s->name, s->kind == STMT_INPUT ? VAR_INPUT : VAR_DATA, sh,
                         NULL, s->span);
            continue;
        }
        Node *def = check_expr(&c, s->expr);
        if (!fresh)
            continue;
        int v = prog_add_var(c.p, s->name, VAR_STEP, def ? def->shape : shape2(1, 1),
                             def, s->span);
        c.p->result = v;
    }
    if (c.p->result < 0 && d->errors == errors)
        diag_error(d, ast->end, "the program defines no variable (write NAME = expression)");
    return d->errors == errors ? c.p : NULL;
}
