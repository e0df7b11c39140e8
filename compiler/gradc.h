/* gradc.h: the one internal header of the compiler, a section per file.
 *
 * Pipeline (see docs/ARCHITECTURE.md):
 *   source --parse_program--> AST --check_program--> Prog (as written)
 *          --prog_normalize--> Prog (SSA: one op per step, hash-consed)
 *          --grad_derive--> Prog (forward + adjoint steps)
 *          --> print / eval / lower
 *
 * Memory: everything of one compilation lives in one Arena and is freed
 * together; nothing here is freed one object at a time.
 * No LLVM header is included here; only lower.c, jit.c and emit.c see LLVM.
 */
#ifndef GRADC_H
#define GRADC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ops.h"

#define GRADC_VERSION "0.1.0"

/* Limits: beyond each of these gradc reports an error naming the limit. */
#define GRADC_MAX_DEPTH 5000         /* nesting depth of one expression */
#define GRADC_MAX_DIM 16777216       /* largest dimension: 2^24 */
#define GRADC_MAX_NUMEL 268435456    /* largest matrix: 2^28 elements */
#define GRADC_MAX_ERRORS 20          /* errors reported before giving up */
#define GRADC_MAX_NAME 255           /* longest name, in bytes */

/* ---------------------------------------------------------------- arena.c */

typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
/* Zeroed memory aligned for any type; aborts (with a message) only when the
 * system is out of memory. */
void *arena_alloc(Arena *a, size_t size);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Grows an arena vector: *vec holds *cap elements of elem_size; returns the
 * (possibly moved) vector with room for at least need elements. */
void *arena_grow(Arena *a, void *vec, int *cap, int need, size_t elem_size);

/* A growable string built in the arena (for printers). */
typedef struct Buf {
    Arena *arena;
    char *data;
    size_t len, cap;
} Buf;
void buf_init(Buf *b, Arena *a);
void buf_puts(Buf *b, const char *s);
void buf_putc(Buf *b, char c);
void buf_printf(Buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ----------------------------------------------------------------- diag.c */

/* A source span. Field names follow bison's location type so the parser
 * can use it as YYLTYPE; begin/end are byte offsets into Source.text
 * (end exclusive). Lines and columns are 1-based, columns in bytes;
 * last_column is the column of the last byte (inclusive). */
typedef struct Span {
    int first_line, first_column;
    int last_line, last_column;
    size_t begin, end;
} Span;

typedef struct Source {
    const char *path; /* as given on the command line */
    const char *text; /* the whole file; may contain NUL bytes */
    size_t len;
} Source;

typedef struct Diag {
    const Source *src;
    FILE *out;         /* stderr normally */
    int errors;        /* errors reported so far */
    int warnings;
    int max_errors;    /* after this many, one "too many errors" and silence */
} Diag;

void diag_init(Diag *d, const Source *src, FILE *out);
/* Prints "PATH:LINE:COL: error: MSG", the source line and a caret with a
 * '~' underline of the span (first line of the span only), as clang does. */
void diag_error(Diag *d, Span sp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, Span sp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_note(Diag *d, Span sp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Joins two spans: from the start of a to the end of b. */
Span span_join(Span a, Span b);
/* Reads a whole file (binary safe). Returns false and prints
 * "gradc: error: cannot read PATH: REASON" on failure. */
bool source_read(Source *src, Arena *a, const char *path);

/* ------------------------------------------------------------ ast.c, parser */

typedef enum {
    AST_NUM,       /* num (integral: the literal was digits only) */
    AST_NAME,      /* name */
    AST_BINARY,    /* args[0] op args[1]; op is one of + - * / @ */
    AST_NEG,       /* -args[0] */
    AST_POW,       /* args[0] ^ num */
    AST_TRANSPOSE, /* args[0].T */
    AST_CALL,      /* name(args...); arg_names[i] is NULL or "axis" etc */
} AstKind;

typedef struct Ast Ast;
struct Ast {
    AstKind kind;
    Span span;      /* the whole expression */
    Span op_span;   /* the operator token (BINARY, NEG, POW, TRANSPOSE) or
                       the function name (CALL) */
    double num;     /* NUM: value; POW: exponent */
    bool integral;  /* NUM, POW: literal was an integer (digits only,
                       optionally preceded by '-' for POW) */
    int op;         /* BINARY: '+', '-', '*', '/', '@' */
    const char *name; /* NAME, CALL */
    Ast **args;
    const char **arg_names; /* CALL: per arg, NULL if positional */
    Span *arg_name_spans;   /* CALL: per arg, span of the name if named */
    int nargs;
    int depth;      /* 1 + deepest operand */
};

typedef enum { STMT_INPUT, STMT_DATA, STMT_ASSIGN } StmtKind;

typedef struct Stmt {
    StmtKind kind;
    Span span;      /* the whole statement (for decls: the one declarator) */
    const char *name;
    Span name_span;
    int64_t dims[2]; /* INPUT, DATA: validated positive, <= GRADC_MAX_DIM */
    Ast *expr;      /* ASSIGN */
} Stmt;

typedef struct AstProgram {
    Stmt *stmts;    /* one per declarator and per assignment, source order */
    int nstmts;
    Span end;       /* an empty span at the end of the file */
} AstProgram;

/* Lexes and parses src. Reports every syntax error it can recover from to d.
 * Returns true when there were no errors. All memory in a. */
bool parse_program(Arena *a, const Source *src, Diag *d, AstProgram *out);

/* ---------------------------------------------------------------- graph.c */

#define GRADC_MAX_RANK 4

/* Shapes are a rank plus dimensions; the language is 2-D today. */
typedef struct Shape {
    int rank;
    int64_t dim[GRADC_MAX_RANK];
} Shape;

Shape shape2(int64_t rows, int64_t cols);
bool shape_eq(Shape a, Shape b);
int64_t shape_numel(Shape s);
bool shape_is_scalar(Shape s);
/* "[2, 3]" in the arena. */
const char *shape_str(Arena *a, Shape s);

typedef struct Node Node;
struct Node {
    Op op;
    int id;          /* creation order: operands always have smaller ids */
    Shape shape;
    int nargs;
    Node *arg[2];
    double value;    /* CONST: the fill value; POW: the exponent */
    int axis;        /* SUM, MEAN: -1 over all, 0 or 1 over one axis */
    int pad[2];      /* PAD, CROP: rows, columns on every side */
    int var;         /* VAR: index into Prog.vars */
    Node *hash_next;
    unsigned mark;   /* node_walk's visit stamp */
};

typedef struct Graph {
    Arena *arena;
    Node **nodes;    /* all nodes by id */
    int nnodes, cap;
    Node **table;    /* hash-consing table */
    size_t table_size, table_used;
    unsigned epoch;  /* node_walk's current stamp */
} Graph;

Graph *graph_new(Arena *a);

/* Node constructors. Every constructor hash-conses (structurally equal
 * nodes are one node) and simplifies (constant folding, x*1, x+0, x.T.T,
 * ...; see graph.c for the list). They assume operand shapes are valid for
 * the op (check.c checks with op_shape first) and abort on a violation,
 * which is a bug in gradc. */
Node *g_var(Graph *g, int var, Shape shape);
Node *g_const(Graph *g, double value, Shape shape);
Node *g_scalar(Graph *g, double value); /* g_const(value, [1, 1]) */
Node *g_binary(Graph *g, Op op, Node *a, Node *b); /* ADD SUB MUL DIV MATMUL CONV */
Node *g_unary(Graph *g, Op op, Node *a);  /* NEG TRANSPOSE SIGMOID..SIGN ROT180 */
Node *g_pow(Graph *g, Node *a, double p);
Node *g_reduce(Graph *g, Op op, Node *a, int axis); /* SUM MEAN; axis -1, 0, 1 */
Node *g_pad(Graph *g, Op op, Node *a, int pr, int pc); /* PAD CROP */
/* Rebuilds n with new operands (same op and attributes), through the
 * simplifying constructors. */
Node *g_rebuild(Graph *g, const Node *n, Node *a, Node *b);
/* Shorthands. */
Node *g_add(Graph *g, Node *a, Node *b);
Node *g_sub(Graph *g, Node *a, Node *b);
Node *g_mul(Graph *g, Node *a, Node *b);
Node *g_div(Graph *g, Node *a, Node *b);
Node *g_neg(Graph *g, Node *a);
Node *g_t(Graph *g, Node *a);
bool node_is_const(const Node *n, double v); /* CONST with fill value v */
/* Calls fn once for every node reachable from root, operands before the
 * nodes that use them (iterative: no recursion however deep the graph).
 * Walks must not nest. */
void node_walk(Graph *g, Node *root, void (*fn)(Node *n, void *ctx), void *ctx);
/* The same, but neither visits nor descends into nodes for which skip
 * returns true (so a walk can stop at what an earlier walk handled). */
void node_walk_pruned(Graph *g, Node *root, bool (*skip)(Node *n, void *ctx),
                      void (*fn)(Node *n, void *ctx), void *ctx);

/* ------------------------------------------------------------------ ops.c */

/* Attributes of an op that are not operands, for the shape rule. */
typedef struct OpAttr {
    int axis;      /* SUM, MEAN */
    int pad[2];    /* PAD, CROP */
    double power;  /* POW */
} OpAttr;

/* The shape rule of op. Returns true and sets *out, or returns false and
 * writes a message naming both shapes into msg (e.g. "'@' needs matching
 * inner dimensions: [8, 4] @ [3, 32]"). */
bool op_shape(Op op, const OpAttr *at, const Shape *in, Shape *out,
              char *msg, size_t msgsize);

/* The adjoint rule of op. n is a forward node whose operands are leaves
 * (VAR or CONST); y is the VAR of the step that holds n's value, dy the
 * adjoint of y. Sets d[i] to the contribution to the adjoint of operand i
 * (already unbroadcast to its shape), or NULL when there is none. */
void op_adjoint(Graph *g, const Node *n, Node *y, Node *dy, Node *d[2]);

/* Sums g over the axes along which shape s was broadcast to g's shape. */
Node *unbroadcast(Graph *g, Node *grad, Shape s);

/* ----------------------------------------------------------------- prog.c */

typedef enum {
    VAR_INPUT,   /* differentiable input */
    VAR_DATA,    /* input without gradient */
    VAR_STEP,    /* forward step: a variable of the program or a temporary */
    VAR_ADJOINT, /* adjoint step: dX */
} VarKind;

typedef struct Var {
    const char *name;
    VarKind kind;
    Shape shape;
    Node *def;     /* STEP, ADJOINT: the defining expression; NULL for inputs
                      and for variables whose definition had an error */
    Span span;     /* where the program declares or assigns it; zero for
                      generated steps */
    bool temp;     /* a generated name (t1, dX, ...) */
    bool dead;     /* removed by simplification: not printed, not computed */
    int of;        /* ADJOINT: the var whose adjoint this is; else -1 */
} Var;

typedef struct Prog {
    Arena *arena;
    Graph *g;
    Var *vars;
    int nvars, cap;
    int result;    /* index of the result (the last assigned var), or -1 */
    int *grad;     /* after grad_derive: per var, the var holding the
                      gradient of the result w.r.t. it, or -1 */
    bool derived;  /* grad_derive has run */
    int *names;    /* open-addressing table of var indexes by name, -1 empty */
    int names_size;
} Prog;

Prog *prog_new(Arena *a);
int prog_add_var(Prog *p, const char *name, VarKind kind, Shape shape,
                 Node *def, Span span);
int prog_find(const Prog *p, const char *name); /* -1 if absent */
/* A name not used by any var, not reserved and not a function name:
 * base itself, or base with a suffix ("_1", "_2", ...). */
const char *prog_fresh_name(Prog *p, const char *base);
/* True for "input", "data" and every function name of the language. */
bool name_is_reserved(const char *name);

/* ---------------------------------------------------------------- check.c */

/* Checks names and shapes and builds the program as written: one var per
 * declaration and assignment, definitions referring to earlier vars through
 * VAR nodes. Reports every independent error to d. Returns NULL if there
 * was any error. */
Prog *check_program(Arena *a, const AstProgram *ast, Diag *d);

/* ------------------------------------------------------------ normalize.c */

/* The program in single-assignment steps: variables are inlined, equal
 * subexpressions become one node, and each operation node becomes one step
 * (named after the program's variable where it has one, else t1, t2, ...).
 * Every variable the program names is kept. */
Prog *prog_normalize(const Prog *src);

/* ----------------------------------------------------------------- grad.c */

/* Appends the adjoint steps of p's result w.r.t. the inputs in wrt (an
 * array of nvars flags; NULL means every input) by reverse mode, simplifies
 * and removes dead steps. p must be normalized and its result a scalar.
 * Warns (through d) about inputs that do not affect the result. */
void grad_derive(Prog *p, const bool *wrt, Diag *d);

/* Inlines every step into one expression of the inputs: closed[v] for each
 * var (inputs map to their VAR node). Returns an arena array of nvars. */
Node **prog_closed_forms(Prog *p);

/* ---------------------------------------------------------------- print.c */

/* Writes the program in the language: declarations, then one line per live
 * step. The output parses back to the same program. */
void print_prog(FILE *out, const Prog *p);
/* Declarations, the result and each gradient as one expression of the
 * inputs. Returns false (with a message) if a form is too large. */
bool print_closed(FILE *out, Prog *p);
bool print_latex(FILE *out, Prog *p, bool closed);
void print_dot(FILE *out, const Prog *p);
/* One expression in the language, into b. */
void print_expr(Buf *b, const Prog *p, const Node *n);
/* The debug dump: every var (dead ones too) with its node id, to out. */
void dump_prog(FILE *out, const Prog *p, const char *stage);
/* Shortest "%g"-style text that reads back to exactly v. */
void print_number(Buf *b, double v);

/* ----------------------------------------------------------------- eval.c */

/* The reference evaluator: a direct, unoptimized interpreter of the graph
 * in double precision, used by tests and `gradc check` as ground truth.
 * vals[v] must point at shape_numel(vars[v].shape) doubles for every var;
 * inputs are read, every live step is computed in order. */
void eval_prog(const Prog *p, double **vals);

#endif
