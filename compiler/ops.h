/* ops.h: the one table of graph operations (an X-macro, as in QBE's ops.h).
 *
 * Each row: OP(ENUM, spelling, arity, flags)
 *   spelling  the operator or function name as the language writes it
 *   arity     number of Node operands
 *   flags     OPF_* property bits below
 *
 * The shape rule and the adjoint rule of every row live side by side in
 * ops.c; adding an op is adding a row here and one case in each switch there.
 */
#ifndef GRADC_OPS_H
#define GRADC_OPS_H

enum {
    OPF_LEAF = 1 << 0,     /* VAR, CONST: no operands */
    OPF_ELEMWISE = 1 << 1, /* elementwise: fusable into one loop nest */
    OPF_BINOP = 1 << 2,    /* printed infix: a OP b */
    OPF_FUNC = 1 << 3,     /* printed as a call: name(a, ...) */
    OPF_BCAST = 1 << 4,    /* binary elementwise with NumPy broadcasting */
    OPF_NODIFF = 1 << 5,   /* derivative is zero everywhere it exists */
};

#define GRADC_OPS(OP)                                              \
    OP(VAR, "var", 0, OPF_LEAF)                                    \
    OP(CONST, "const", 0, OPF_LEAF)                                \
    OP(ADD, "+", 2, OPF_ELEMWISE | OPF_BINOP | OPF_BCAST)          \
    OP(SUB, "-", 2, OPF_ELEMWISE | OPF_BINOP | OPF_BCAST)          \
    OP(MUL, "*", 2, OPF_ELEMWISE | OPF_BINOP | OPF_BCAST)          \
    OP(DIV, "/", 2, OPF_ELEMWISE | OPF_BINOP | OPF_BCAST)          \
    OP(MATMUL, "@", 2, OPF_BINOP)                                  \
    OP(NEG, "-", 1, OPF_ELEMWISE)                                  \
    OP(POW, "^", 1, OPF_ELEMWISE)                                  \
    OP(TRANSPOSE, "T", 1, 0)                                       \
    OP(SIGMOID, "sigmoid", 1, OPF_ELEMWISE | OPF_FUNC)             \
    OP(TANH, "tanh", 1, OPF_ELEMWISE | OPF_FUNC)                   \
    OP(RELU, "relu", 1, OPF_ELEMWISE | OPF_FUNC)                   \
    OP(EXP, "exp", 1, OPF_ELEMWISE | OPF_FUNC)                     \
    OP(LOG, "log", 1, OPF_ELEMWISE | OPF_FUNC)                     \
    OP(SQRT, "sqrt", 1, OPF_ELEMWISE | OPF_FUNC)                   \
    OP(ABS, "abs", 1, OPF_ELEMWISE | OPF_FUNC)                     \
    OP(STEP, "step", 1, OPF_ELEMWISE | OPF_FUNC | OPF_NODIFF)      \
    OP(SIGN, "sign", 1, OPF_ELEMWISE | OPF_FUNC | OPF_NODIFF)      \
    OP(SOFTPLUS, "softplus", 1, OPF_ELEMWISE | OPF_FUNC)           \
    OP(SUM, "sum", 1, OPF_FUNC)                                    \
    OP(MEAN, "mean", 1, OPF_FUNC)                                  \
    OP(CONV, "conv", 2, OPF_FUNC)                                  \
    OP(PAD, "pad", 1, OPF_FUNC)                                    \
    OP(CROP, "crop", 1, OPF_FUNC)                                  \
    OP(ROT180, "rot180", 1, OPF_FUNC)

typedef enum {
#define OP_ENUM(e, s, n, f) OP_##e,
    GRADC_OPS(OP_ENUM)
#undef OP_ENUM
        OP_COUNT
} Op;

typedef struct OpInfo {
    const char *name;     /* enum name, lower case is not implied */
    const char *spelling; /* as written in the language */
    int arity;
    unsigned flags;
} OpInfo;

extern const OpInfo op_info[OP_COUNT];

#endif
