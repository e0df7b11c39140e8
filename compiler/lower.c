/* lower.c: the program as LLVM IR. The only file that builds IR.
 *
 * One function is lowered from a list of output vars (the result, the
 * gradients, or every var for `gradc run`). The plan for it, per node:
 *
 *   1. resolve: a VAR of a step stands for that step's definition, so the
 *      definitions of all steps form one DAG over the inputs (forward and
 *      adjoint steps alike) and the boundaries between steps disappear;
 *   2. materialize: a node gets a buffer only when it must: an output;
 *      a product, convolution or reduction (computed by its own loop nest
 *      or kernel); a non-trivial node read more than once, or read with
 *      broadcasting (it would be recomputed per element); an operand of a
 *      product or convolution that is not a view of a buffer (it would be
 *      recomputed k times); a chain deeper than FUSE_DEPTH_LIMIT;
 *   3. everything else fuses: each materialized node is one loop nest whose
 *      body evaluates its operand trees element by element, loading only
 *      from buffers; views (transpose, rot180, crop, pad) are index
 *      arithmetic, broadcasting is an index fixed at 0. So
 *      dt1 = t2 * (1 - t2) * dt2; dC = dt1 * B is one loop with no
 *      temporary matrix in between;
 *   4. buffers that are not outputs live in one workspace block, reused
 *      by lifetime (first fit); it is a stack alloca up to
 *      STACK_WORKSPACE_LIMIT bytes (so small models allocate nothing) and
 *      one malloc'd block, freed before return, above it.
 *
 * Shapes are static: every loop has a constant trip count and a dimension
 * of 1 has no loop at all, so LLVM unrolls small matrices into straight
 * code. Arithmetic mirrors eval.c operation for operation (the same
 * summation orders, the same stable sigmoid), so f64 results agree with
 * the reference evaluator to rounding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>

#include "lower.h"

#define STACK_WORKSPACE_LIMIT (32 * 1024) /* bytes of temporaries on the stack */
#define FUSE_DEPTH_LIMIT 48               /* ops fused into one expression */
#define WS_ALIGN 64                       /* alignment of each temporary */
#define SPLIT_MIN_KERNELS 48  /* functions with more loop nests are split ... */
#define SPLIT_KERNELS 24      /* ... into parts of this many */

/* -------------------------------------------------------- the lowering */

/* Where a buffer's address comes from. Addresses are materialized once
 * per kernel, right before its loop nest, so no pointer stays live across
 * the whole function (thousands of them would swamp register allocation). */
typedef enum { ADDR_NONE, ADDR_PARAM, ADDR_SLOT, ADDR_WS } AddrKind;
typedef struct Addr {
    AddrKind kind;
    int64_t index; /* PARAM: parameter number; SLOT: element of the T** array
                      that is parameter 0; WS: byte offset in the workspace */
} Addr;

typedef struct Lower {
    const Prog *p;
    const ModelSig *sig;
    const LowerOptions *o;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;  /* the body */
    LLVMBuilderRef ab; /* allocas, at the end of the entry block */
    LLVMBuilderRef pb; /* addresses, before the current kernel's loops */
    LLVMTypeRef T, i1, i8, i32, i64, ptr, vd;
    unsigned esize;
    const char *tname; /* "f64" or "f32" */

    /* the current function */
    LLVMValueRef fn;
    LLVMBasicBlockRef entry;
    LLVMValueRef ws;      /* the current function's workspace, or NULL */

    /* the plan of the current function, by node id */
    int nn;
    int *uses;            /* operand edges from reachable nodes */
    unsigned char *seen;  /* reached from an output */
    unsigned char *mat;   /* computed into a buffer */
    int *height;          /* fused depth below the node */
    int *pos;             /* materialized: index in kernel order */
    int *last;            /* materialized: last kernel that reads it */
    int64_t *off;         /* temporary: workspace offset */
    Addr *buf;            /* materialized: its buffer */
    LLVMValueRef *buf_cache;
    unsigned *buf_gen;
    const Node **order;   /* reachable nodes, operands first */
    int norder;
    Addr *in;             /* by var: the input's buffer */
    LLVMValueRef *in_cache;
    unsigned *in_gen;
    unsigned gen;              /* the current kernel */
    LLVMBasicBlockRef kpre;    /* the block before the current kernel's loops */

    /* declarations, created on first use */
    LLVMValueRef f_malloc, f_free, f_matmul;
    LLVMTypeRef t_malloc, t_free, t_matmul;
} Lower;

typedef enum { MM_LOOPS, MM_KERNEL } MatmulStrategy;

/* The one place that decides how a product [m,k] @ [k,n] is computed: an
 * inline loop nest (fully unrolled for small shapes) or the runtime's
 * blocked kernel. GRADC_MATMUL=loops|kernel in the environment overrides
 * the choice (for tests and tuning). */
static MatmulStrategy matmul_strategy(const Lower *L, int64_t m, int64_t n, int64_t k)
{
    if (!L->o->use_runtime)
        return MM_LOOPS;
    const char *env = getenv("GRADC_MATMUL");
    if (env && strcmp(env, "loops") == 0)
        return MM_LOOPS;
    if (env && strcmp(env, "kernel") == 0)
        return MM_KERNEL;
    return (double)m * (double)n * (double)k >= 32768.0 ? MM_KERNEL : MM_LOOPS;
}

/* --------------------------------------------------------- node facts */

static const Node *resolve(const Lower *L, const Node *n);

static bool is_leaf(const Node *n) { return n->op == OP_VAR || n->op == OP_CONST; }

static bool is_view(const Node *n)
{
    return n->op == OP_TRANSPOSE || n->op == OP_ROT180 || n->op == OP_CROP || n->op == OP_PAD;
}

/* What n stands for: a VAR of a step is that step's definition. */
static const Node *resolve(const Lower *L, const Node *n)
{
    while (n->op == OP_VAR) {
        const Var *v = &L->p->vars[n->var];
        if ((v->kind != VAR_STEP && v->kind != VAR_ADJOINT) || !v->def)
            break;
        n = v->def;
    }
    return n;
}

static const Node *arg(const Lower *L, const Node *n, int i) { return resolve(L, n->arg[i]); }

/* The node below a chain of views. */
static const Node *view_base(const Lower *L, const Node *n)
{
    while (is_view(n))
        n = arg(L, n, 0);
    return n;
}

/* A view chain over a leaf: recomputing it is a load. */
static bool is_cheap(const Lower *L, const Node *n) { return is_leaf(view_base(L, n)); }

static int64_t rows(const Node *n) { return n->shape.dim[0]; }
static int64_t cols(const Node *n) { return n->shape.dim[1]; }

static void lower_bug(const char *what, const Node *n)
{
    fprintf(stderr, "gradc: internal error in lower: %s (op '%s', node %d)\n", what,
            op_info[n->op].spelling, n->id);
    abort();
}

/* ---------------------------------------------------------- the plan */

/* Collects the nodes reachable from the roots, operands first, counting
 * operand edges. Iterative, so chains of any length are fine. */
static void plan_collect(Lower *L, const Node *const *roots, int nroots)
{
    typedef struct Frame {
        const Node *n;
        int next;
    } Frame;
    Frame *stack = malloc((size_t)(L->nn + 1) * sizeof *stack);
    if (!stack) {
        fprintf(stderr, "gradc: out of memory\n");
        abort();
    }
    for (int r = 0; r < nroots; r++) {
        if (!roots[r] || L->seen[roots[r]->id])
            continue;
        int sp = 0;
        stack[sp++] = (Frame){roots[r], 0};
        L->seen[roots[r]->id] = 1;
        while (sp > 0) {
            Frame *f = &stack[sp - 1];
            if (f->next < f->n->nargs) {
                const Node *c = arg(L, f->n, f->next++);
                L->uses[c->id]++;
                if (!L->seen[c->id]) {
                    L->seen[c->id] = 1;
                    stack[sp++] = (Frame){c, 0};
                }
            } else {
                L->order[L->norder++] = f->n;
                sp--;
            }
        }
    }
    free(stack);
}

/* Whether product n calls the kernel: its strategy, and operands that
 * have memory (an input or a computed node, possibly transposed). */
static bool matmul_kernel(const Lower *L, const Node *n)
{
    const Node *a = arg(L, n, 0), *b = arg(L, n, 1);
    for (int i = 0; i < 2; i++) {
        const Node *x = i ? b : a;
        if (x->op == OP_TRANSPOSE)
            x = arg(L, x, 0);
        if (x->op == OP_CONST)
            return false;
    }
    return matmul_strategy(L, rows(a), cols(b), cols(a)) == MM_KERNEL;
}

/* An operand of a loop-nest product or a convolution is read many times
 * per element: it must be a view of a leaf or of a buffer. */
static void need_view_of_buffer(Lower *L, const Node *a)
{
    const Node *base = view_base(L, a);
    if (!is_leaf(base))
        L->mat[base->id] = 1;
}

/* An operand of the matmul kernel: a leaf input or buffer, possibly
 * transposed (the kernel takes strides). */
static void need_addressable(Lower *L, const Node *a)
{
    const Node *x = a->op == OP_TRANSPOSE ? arg(L, a, 0) : a;
    if (!(x->op == OP_VAR))
        L->mat[x->id] = 1;
}

static void plan_materialize(Lower *L)
{
    /* consumers before producers: a node's own rule sees every use */
    for (int t = L->norder - 1; t >= 0; t--) {
        const Node *n = L->order[t];
        if (is_leaf(n))
            continue;
        switch (n->op) {
        case OP_MATMUL:
        case OP_CONV:
        case OP_SUM:
        case OP_MEAN:
            L->mat[n->id] = 1;
            break;
        default:
            break;
        }
        if (L->uses[n->id] > 1 && !is_cheap(L, n))
            L->mat[n->id] = 1;
        if (op_info[n->op].flags & OPF_BCAST) {
            for (int i = 0; i < 2; i++) {
                const Node *a = arg(L, n, i);
                if (!shape_eq(a->shape, n->shape) && !is_cheap(L, a))
                    L->mat[a->id] = 1;
            }
        } else if (n->op == OP_MATMUL) {
            const Node *a = arg(L, n, 0), *b = arg(L, n, 1);
            if (matmul_kernel(L, n)) {
                need_addressable(L, a);
                need_addressable(L, b);
            } else {
                need_view_of_buffer(L, a);
                need_view_of_buffer(L, b);
            }
        } else if (n->op == OP_CONV) {
            need_view_of_buffer(L, arg(L, n, 0));
            need_view_of_buffer(L, arg(L, n, 1));
        }
    }
    /* bound the depth of fused expressions (code size, compile time) */
    for (int t = 0; t < L->norder; t++) {
        const Node *n = L->order[t];
        int h = 0;
        if (!is_leaf(n)) {
            for (int i = 0; i < n->nargs; i++) {
                int hi = L->height[arg(L, n, i)->id];
                if (hi + 1 > h)
                    h = hi + 1;
            }
            if (L->mat[n->id])
                h = 0;
            else if (h > FUSE_DEPTH_LIMIT) {
                L->mat[n->id] = 1;
                h = 0;
            }
        }
        L->height[n->id] = h;
    }
}

/* For each materialized node in kernel order, the last kernel reading it:
 * walk each kernel's fused operand trees down to buffers. */
static void plan_lifetimes(Lower *L, int nkernels, const Node **kernels)
{
    const Node **stack = malloc((size_t)(L->nn + 1) * sizeof *stack);
    if (!stack) {
        fprintf(stderr, "gradc: out of memory\n");
        abort();
    }
    for (int k = 0; k < nkernels; k++) {
        const Node *c = kernels[k];
        int sp = 0;
        for (int i = 0; i < c->nargs; i++)
            stack[sp++] = arg(L, c, i);
        while (sp > 0) {
            const Node *x = stack[--sp];
            if (is_leaf(x))
                continue;
            if (L->mat[x->id]) {
                if (L->last[x->id] < k)
                    L->last[x->id] = k;
                continue;
            }
            for (int i = 0; i < x->nargs; i++)
                stack[sp++] = arg(L, x, i);
        }
    }
    free(stack);
}

/* ---------------------------------------------------------- IR helpers */

static LLVMValueRef ci64(Lower *L, int64_t v) { return LLVMConstInt(L->i64, (unsigned long long)v, 1); }
static LLVMValueRef cT(Lower *L, double v) { return LLVMConstReal(L->T, v); }

static LLVMValueRef intrinsic(Lower *L, const char *name, LLVMTypeRef *fty)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef tys[1] = {L->T};
    *fty = LLVMIntrinsicGetType(L->ctx, id, tys, 1);
    return LLVMGetIntrinsicDeclaration(L->mod, id, tys, 1);
}

static LLVMValueRef call1(Lower *L, const char *intr, LLVMValueRef x)
{
    LLVMTypeRef fty;
    LLVMValueRef f = intrinsic(L, intr, &fty);
    return LLVMBuildCall2(L->b, fty, f, &x, 1, "");
}

static void add_fn_attr(Lower *L, LLVMValueRef fn, const char *name, uint64_t val)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(L->ctx, kind, val));
}

static void add_param_attr(Lower *L, LLVMValueRef fn, unsigned i, const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    LLVMAddAttributeAtIndex(fn, i + 1, LLVMCreateEnumAttribute(L->ctx, kind, 0));
}

/* A call of a libm function of one argument (tanh, log1p), declared
 * without side effects so loops around it still optimize. */
static LLVMValueRef call_libm(Lower *L, const char *f64name, const char *f32name, LLVMValueRef x)
{
    const char *name = L->o->dtype == DTYPE_F32 ? f32name : f64name;
    LLVMTypeRef fty = LLVMFunctionType(L->T, &L->T, 1, 0);
    LLVMValueRef f = LLVMGetNamedFunction(L->mod, name);
    if (!f) {
        f = LLVMAddFunction(L->mod, name, fty);
        add_fn_attr(L, f, "nounwind", 0);
        add_fn_attr(L, f, "willreturn", 0);
        add_fn_attr(L, f, "memory", 0); /* memory(none) */
    }
    return LLVMBuildCall2(L->b, fty, f, &x, 1, f64name);
}

/* Element (i, j) of a row-major buffer with `ncols` columns. */
static LLVMValueRef elem_ptr(Lower *L, LLVMValueRef base, LLVMValueRef i, LLVMValueRef j, int64_t ncols)
{
    LLVMValueRef idx = LLVMBuildNUWAdd(L->b, LLVMBuildNUWMul(L->b, i, ci64(L, ncols), ""), j, "");
    return LLVMBuildInBoundsGEP2(L->b, L->T, base, &idx, 1, "");
}

static LLVMValueRef load_elem(Lower *L, LLVMValueRef base, LLVMValueRef i, LLVMValueRef j, int64_t ncols)
{
    LLVMValueRef v = LLVMBuildLoad2(L->b, L->T, elem_ptr(L, base, i, j, ncols), "");
    LLVMSetAlignment(v, L->esize);
    return v;
}

static void store_elem(Lower *L, LLVMValueRef val, LLVMValueRef base, LLVMValueRef i, LLVMValueRef j,
                       int64_t ncols)
{
    LLVMValueRef s = LLVMBuildStore(L->b, val, elem_ptr(L, base, i, j, ncols));
    LLVMSetAlignment(s, L->esize);
}

/* Starts a kernel: addresses are computed afresh in the current block. */
static void kernel_begin(Lower *L)
{
    L->gen++;
    L->kpre = LLVMGetInsertBlock(L->b);
}

static LLVMValueRef addr_value(Lower *L, const Addr *a, LLVMValueRef *cache, unsigned *gen)
{
    if (a->kind == ADDR_PARAM)
        return LLVMGetParam(L->fn, (unsigned)a->index);
    if (a->kind == ADDR_NONE)
        return NULL;
    if (*gen == L->gen)
        return *cache;
    LLVMValueRef term = LLVMGetBasicBlockTerminator(L->kpre);
    if (term)
        LLVMPositionBuilderBefore(L->pb, term);
    else
        LLVMPositionBuilderAtEnd(L->pb, L->kpre);
    LLVMValueRef idx = ci64(L, a->index), v;
    if (a->kind == ADDR_SLOT) {
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(L->pb, L->ptr, LLVMGetParam(L->fn, 0), &idx, 1, "");
        v = LLVMBuildLoad2(L->pb, L->ptr, slot, "ptr");
    } else {
        v = LLVMBuildInBoundsGEP2(L->pb, L->i8, L->ws, &idx, 1, "tmp");
    }
    *cache = v;
    *gen = L->gen;
    return v;
}

/* The address of var v's input buffer, or of node n's buffer (NULL if none). */
static LLVMValueRef in_ptr(Lower *L, int v) { return addr_value(L, &L->in[v], &L->in_cache[v], &L->in_gen[v]); }
static LLVMValueRef buf_ptr(Lower *L, const Node *n)
{
    return addr_value(L, &L->buf[n->id], &L->buf_cache[n->id], &L->buf_gen[n->id]);
}
static bool has_buf(const Lower *L, const Node *n) { return L->buf[n->id].kind != ADDR_NONE; }

/* A counted loop 0 <= idx < n, bottom-tested (n >= 1). A trip count of 1 is
 * no loop: the index is the constant 0. */
typedef struct Loop {
    int64_t n;
    LLVMValueRef idx;
    LLVMBasicBlockRef head;
} Loop;

static LLVMValueRef loop_open(Lower *L, Loop *lp, int64_t n, const char *name)
{
    lp->n = n;
    if (n == 1) {
        lp->idx = ci64(L, 0);
        return lp->idx;
    }
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(L->b);
    lp->head = LLVMAppendBasicBlockInContext(L->ctx, L->fn, name);
    LLVMBuildBr(L->b, lp->head);
    LLVMPositionBuilderAtEnd(L->b, lp->head);
    lp->idx = LLVMBuildPhi(L->b, L->i64, name);
    LLVMValueRef zero = ci64(L, 0);
    LLVMAddIncoming(lp->idx, &zero, &pre, 1);
    return lp->idx;
}

static void loop_close(Lower *L, Loop *lp)
{
    if (lp->n == 1)
        return;
    LLVMValueRef next = LLVMBuildNUWAdd(L->b, lp->idx, ci64(L, 1), "next");
    LLVMValueRef more = LLVMBuildICmp(L->b, LLVMIntULT, next, ci64(L, lp->n), "more");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(L->b);
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "done");
    LLVMBuildCondBr(L->b, more, lp->head, exit);
    LLVMAddIncoming(lp->idx, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(L->b, exit);
}

/* -------------------------------------------------- element expressions */

static LLVMValueRef emit_op(Lower *L, const Node *n, LLVMValueRef i, LLVMValueRef j);

/* The value of n at (i, j), indices valid for n's own shape. */
static LLVMValueRef emit_at(Lower *L, const Node *n, LLVMValueRef i, LLVMValueRef j)
{
    n = resolve(L, n);
    if (n->op == OP_CONST)
        return cT(L, n->value);
    if (n->op == OP_VAR) {
        LLVMValueRef base = in_ptr(L, n->var);
        if (!base)
            lower_bug("an input without a pointer", n);
        return load_elem(L, base, i, j, cols(n));
    }
    if (has_buf(L, n))
        return load_elem(L, buf_ptr(L, n), i, j, cols(n));
    if (L->mat[n->id])
        lower_bug("a materialized node read before it is computed", n);
    return emit_op(L, n, i, j);
}

/* Operand a of an elementwise node at the node's (i, j), broadcasting. */
static LLVMValueRef emit_bcast(Lower *L, const Node *a, LLVMValueRef i, LLVMValueRef j)
{
    a = resolve(L, a);
    return emit_at(L, a, rows(a) == 1 ? ci64(L, 0) : i, cols(a) == 1 ? ci64(L, 0) : j);
}

/* eval.c's stable logistic: x >= 0 ? 1/(1+e^-x) : e^x/(1+e^x), with one
 * exp of -|x| (the same value in both branches). */
static LLVMValueRef emit_sigmoid(Lower *L, LLVMValueRef x)
{
    LLVMValueRef e = call1(L, "llvm.exp", LLVMBuildFNeg(L->b, call1(L, "llvm.fabs", x), ""));
    LLVMValueRef den = LLVMBuildFAdd(L->b, cT(L, 1.0), e, "");
    LLVMValueRef pos = LLVMBuildFDiv(L->b, cT(L, 1.0), den, "");
    LLVMValueRef neg = LLVMBuildFDiv(L->b, e, den, "");
    LLVMValueRef ge = LLVMBuildFCmp(L->b, LLVMRealOGE, x, cT(L, 0.0), "");
    return LLVMBuildSelect(L->b, ge, pos, neg, "sigmoid");
}

static LLVMValueRef emit_pow(Lower *L, LLVMValueRef x, double p)
{
    if (p == 1.0)
        return x;
    if (p == 2.0) /* pow(x, 2) is correctly rounded, so it is x*x exactly */
        return LLVMBuildFMul(L->b, x, x, "");
    LLVMTypeRef fty;
    LLVMValueRef f = intrinsic(L, "llvm.pow", &fty);
    LLVMValueRef args[2] = {x, cT(L, p)};
    return LLVMBuildCall2(L->b, fty, f, args, 2, "pow");
}

/* The index i - p for a padded view, clamped into [0, n) (so the load is
 * in bounds) with the in-bounds condition in *ok. */
static LLVMValueRef pad_index(Lower *L, LLVMValueRef i, int64_t p, int64_t n, LLVMValueRef *ok)
{
    if (p == 0) {
        *ok = NULL;
        return i;
    }
    LLVMValueRef ii = LLVMBuildSub(L->b, i, ci64(L, p), "");
    *ok = LLVMBuildICmp(L->b, LLVMIntULT, ii, ci64(L, n), ""); /* 0 <= ii < n */
    if (n == 1)
        return ci64(L, 0);
    return LLVMBuildSelect(L->b, *ok, ii, ci64(L, 0), "");
}

/* The op of node n itself at (i, j); operands through emit_at. */
static LLVMValueRef emit_op(Lower *L, const Node *n, LLVMValueRef i, LLVMValueRef j)
{
    LLVMBuilderRef b = L->b;
    switch (n->op) {
    case OP_VAR:
    case OP_CONST:
        return emit_at(L, n, i, j);
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: {
        /* operands in order (C leaves the order of call arguments open) */
        LLVMValueRef x = emit_bcast(L, n->arg[0], i, j);
        LLVMValueRef y = emit_bcast(L, n->arg[1], i, j);
        return n->op == OP_ADD   ? LLVMBuildFAdd(b, x, y, "")
               : n->op == OP_SUB ? LLVMBuildFSub(b, x, y, "")
               : n->op == OP_MUL ? LLVMBuildFMul(b, x, y, "")
                                 : LLVMBuildFDiv(b, x, y, "");
    }
    case OP_TRANSPOSE:
        return emit_at(L, n->arg[0], j, i);
    case OP_ROT180:
    {
        LLVMValueRef ri = LLVMBuildSub(b, ci64(L, rows(n) - 1), i, "");
        LLVMValueRef rj = LLVMBuildSub(b, ci64(L, cols(n) - 1), j, "");
        return emit_at(L, n->arg[0], ri, rj);
    }
    case OP_CROP:
    {
        LLVMValueRef ci = LLVMBuildNUWAdd(b, i, ci64(L, n->pad[0]), "");
        LLVMValueRef cj = LLVMBuildNUWAdd(b, j, ci64(L, n->pad[1]), "");
        return emit_at(L, n->arg[0], ci, cj);
    }
    case OP_PAD: {
        const Node *a = arg(L, n, 0);
        LLVMValueRef okr, okc;
        LLVMValueRef ii = pad_index(L, i, n->pad[0], rows(a), &okr);
        LLVMValueRef jj = pad_index(L, j, n->pad[1], cols(a), &okc);
        LLVMValueRef v = emit_at(L, a, ii, jj);
        LLVMValueRef ok = okr && okc ? LLVMBuildAnd(b, okr, okc, "") : okr ? okr : okc;
        return ok ? LLVMBuildSelect(b, ok, v, cT(L, 0.0), "pad") : v;
    }
    default:
        break;
    }
    if (n->nargs != 1 || !(op_info[n->op].flags & OPF_ELEMWISE))
        lower_bug("a non-elementwise op inside a fused expression", n);
    LLVMValueRef x = emit_at(L, n->arg[0], i, j);
    LLVMValueRef zero = cT(L, 0.0), one = cT(L, 1.0);
    switch (n->op) {
    case OP_NEG:
        return LLVMBuildFNeg(b, x, "");
    case OP_POW:
        return emit_pow(L, x, n->value);
    case OP_SIGMOID:
        return emit_sigmoid(L, x);
    case OP_TANH:
        return call_libm(L, "tanh", "tanhf", x);
    case OP_SOFTPLUS: { /* eval.c's stable form: max(x, 0) + log1p(exp(-|x|)) */
        LLVMValueRef pos = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), x, zero, "");
        LLVMValueRef e = call1(L, "llvm.exp", LLVMBuildFNeg(b, call1(L, "llvm.fabs", x), ""));
        return LLVMBuildFAdd(b, pos, call_libm(L, "log1p", "log1pf", e), "softplus");
    }
    case OP_RELU:
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), x, zero, "relu");
    case OP_EXP:
        return call1(L, "llvm.exp", x);
    case OP_LOG:
        return call1(L, "llvm.log", x);
    case OP_SQRT:
        return call1(L, "llvm.sqrt", x);
    case OP_ABS:
        return call1(L, "llvm.fabs", x);
    case OP_STEP:
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), one, zero, "step");
    case OP_SIGN: {
        LLVMValueRef neg = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, zero, ""),
                                           cT(L, -1.0), zero, "");
        return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), one, neg, "sign");
    }
    default:
        lower_bug("an op without a lowering", n);
        return NULL;
    }
}

/* -------------------------------------------------------------- kernels */

/* An elementwise (or view, or constant) node, or a copy of `src` into an
 * output: one loop nest over the shape, storing expr(i, j). */
static void kernel_map(Lower *L, const Node *n, const Node *src, LLVMValueRef dst, Shape s,
                       const char *name)
{
    Loop li, lj;
    char ni[32], nj[32];
    snprintf(ni, sizeof ni, "%s.i", name);
    snprintf(nj, sizeof nj, "%s.j", name);
    LLVMValueRef i = loop_open(L, &li, s.dim[0], ni);
    LLVMValueRef j = loop_open(L, &lj, s.dim[1], nj);
    LLVMValueRef v = src ? emit_at(L, src, i, j) : n ? emit_op(L, n, i, j) : cT(L, 0.0);
    store_elem(L, v, dst, i, j, s.dim[1]);
    loop_close(L, &lj);
    loop_close(L, &li);
}

/* An accumulator in the entry block (promoted to a register by SROA). */
static LLVMValueRef new_acc(Lower *L)
{
    LLVMValueRef a = LLVMBuildAlloca(L->ab, L->T, "acc");
    LLVMSetAlignment(a, L->esize);
    return a;
}

/* sum / mean, in eval.c's order: row-major over the operand. */
static void kernel_reduce(Lower *L, const Node *n, LLVMValueRef out)
{
    const Node *a = arg(L, n, 0);
    int64_t R = rows(a), C = cols(a);
    bool mean = n->op == OP_MEAN;
    LLVMBuilderRef b = L->b;
    Loop li, lj;
    if (n->axis == -1 || n->axis == 1) {
        /* one accumulator per row (axis 1) or for everything (axis -1) */
        LLVMValueRef acc = new_acc(L);
        if (n->axis == -1)
            LLVMBuildStore(b, cT(L, 0.0), acc);
        LLVMValueRef i = loop_open(L, &li, R, "red.i");
        if (n->axis == 1)
            LLVMBuildStore(b, cT(L, 0.0), acc);
        LLVMValueRef j = loop_open(L, &lj, C, "red.j");
        LLVMValueRef old = LLVMBuildLoad2(b, L->T, acc, "");
        LLVMValueRef s = LLVMBuildFAdd(b, old, emit_at(L, a, i, j), "");
        LLVMBuildStore(b, s, acc);
        loop_close(L, &lj);
        if (n->axis == 1) {
            LLVMValueRef v = LLVMBuildLoad2(b, L->T, acc, "");
            if (mean)
                v = LLVMBuildFDiv(b, v, cT(L, (double)C), "mean");
            store_elem(L, v, out, i, ci64(L, 0), 1);
        }
        loop_close(L, &li);
        if (n->axis == -1) {
            LLVMValueRef v = LLVMBuildLoad2(b, L->T, acc, "");
            if (mean)
                v = LLVMBuildFDiv(b, v, cT(L, (double)R * (double)C), "mean");
            store_elem(L, v, out, ci64(L, 0), ci64(L, 0), 1);
        }
        return;
    }
    /* axis 0: out[j] += a[i, j], rows outer so the inner loop is contiguous */
    LLVMValueRef z = ci64(L, 0);
    LLVMValueRef j = loop_open(L, &lj, C, "red0.zero");
    store_elem(L, cT(L, 0.0), out, z, j, C);
    loop_close(L, &lj);
    LLVMValueRef i = loop_open(L, &li, R, "red0.i");
    j = loop_open(L, &lj, C, "red0.j");
    LLVMValueRef old = load_elem(L, out, z, j, C);
    LLVMValueRef s = LLVMBuildFAdd(b, old, emit_at(L, a, i, j), "");
    store_elem(L, s, out, z, j, C);
    loop_close(L, &lj);
    loop_close(L, &li);
    if (mean) {
        j = loop_open(L, &lj, C, "red0.mean");
        LLVMValueRef v = load_elem(L, out, z, j, C);
        store_elem(L, LLVMBuildFDiv(b, v, cT(L, (double)R), "mean"), out, z, j, C);
        loop_close(L, &lj);
    }
}

/* A pointer and strides for a kernel operand: an input or buffer, or its
 * transpose. */
static LLVMValueRef operand_ptr(Lower *L, const Node *a, int64_t *rs, int64_t *cs)
{
    bool t = a->op == OP_TRANSPOSE;
    const Node *x = t ? arg(L, a, 0) : a;
    LLVMValueRef p = x->op == OP_VAR ? in_ptr(L, x->var) : buf_ptr(L, x);
    if (!p)
        lower_bug("a kernel operand without a buffer", a);
    *rs = t ? 1 : cols(x);
    *cs = t ? cols(x) : 1;
    return p;
}

static void kernel_matmul(Lower *L, const Node *n, LLVMValueRef out)
{
    const Node *a = arg(L, n, 0), *bb = arg(L, n, 1);
    int64_t M = rows(a), K = cols(a), N = cols(bb);
    LLVMBuilderRef b = L->b;
    if (matmul_kernel(L, n)) {
        if (!L->f_matmul) {
            const char *name = L->o->dtype == DTYPE_F32 ? "gradc_rt_matmul_f32" : "gradc_rt_matmul_f64";
            LLVMTypeRef ps[10] = {L->i64, L->i64, L->i64, L->ptr, L->i64,
                                  L->i64, L->ptr, L->i64, L->i64, L->ptr};
            L->t_matmul = LLVMFunctionType(L->vd, ps, 10, 0);
            L->f_matmul = LLVMGetNamedFunction(L->mod, name);
            if (!L->f_matmul) {
                L->f_matmul = LLVMAddFunction(L->mod, name, L->t_matmul);
                LLVMSetVisibility(L->f_matmul, LLVMHiddenVisibility);
                add_fn_attr(L, L->f_matmul, "nounwind", 0);
            }
        }
        int64_t ars, acs, brs, bcs;
        LLVMValueRef ap = operand_ptr(L, a, &ars, &acs);
        LLVMValueRef bp = operand_ptr(L, bb, &brs, &bcs);
        LLVMValueRef args[10] = {ci64(L, M),   ci64(L, N),   ci64(L, K), ap,  ci64(L, ars),
                                 ci64(L, acs), bp,           ci64(L, brs), ci64(L, bcs), out};
        LLVMBuildCall2(b, L->t_matmul, L->f_matmul, args, 10, "");
        return;
    }
    /* row i of out: zero, then out[i, :] += a[i, p] * b[p, :] for p in order */
    Loop li, lj, lp;
    LLVMValueRef i = loop_open(L, &li, M, "mm.i");
    LLVMValueRef j = loop_open(L, &lj, N, "mm.zero");
    store_elem(L, cT(L, 0.0), out, i, j, N);
    loop_close(L, &lj);
    LLVMValueRef p = loop_open(L, &lp, K, "mm.p");
    LLVMValueRef aip = emit_at(L, a, i, p);
    j = loop_open(L, &lj, N, "mm.j");
    LLVMValueRef bpj = emit_at(L, bb, p, j);
    LLVMValueRef prod = LLVMBuildFMul(b, aip, bpj, "");
    LLVMValueRef old = load_elem(L, out, i, j, N);
    store_elem(L, LLVMBuildFAdd(b, old, prod, ""), out, i, j, N);
    loop_close(L, &lj);
    loop_close(L, &lp);
    loop_close(L, &li);
}

/* c[i,j] = sum_{p,q} a[i+p, j+q] * w[p,q], summed in (p, q) order */
static void kernel_conv(Lower *L, const Node *n, LLVMValueRef out)
{
    const Node *a = arg(L, n, 0), *w = arg(L, n, 1);
    int64_t OH = rows(n), OW = cols(n), KH = rows(w), KW = cols(w);
    LLVMBuilderRef b = L->b;
    Loop li, lj, lp, lq;
    LLVMValueRef i = loop_open(L, &li, OH, "conv.i");
    LLVMValueRef j = loop_open(L, &lj, OW, "conv.zero");
    store_elem(L, cT(L, 0.0), out, i, j, OW);
    loop_close(L, &lj);
    LLVMValueRef p = loop_open(L, &lp, KH, "conv.p");
    LLVMValueRef q = loop_open(L, &lq, KW, "conv.q");
    LLVMValueRef wpq = emit_at(L, w, p, q);
    LLVMValueRef ip = LLVMBuildNUWAdd(b, i, p, "");
    j = loop_open(L, &lj, OW, "conv.j");
    LLVMValueRef jq = LLVMBuildNUWAdd(b, j, q, "");
    LLVMValueRef x = emit_at(L, a, ip, jq);
    LLVMValueRef prod = LLVMBuildFMul(b, x, wpq, "");
    LLVMValueRef old = load_elem(L, out, i, j, OW);
    store_elem(L, LLVMBuildFAdd(b, old, prod, ""), out, i, j, OW);
    loop_close(L, &lj);
    loop_close(L, &lq);
    loop_close(L, &lp);
    loop_close(L, &li);
}

/* ---------------------------------------------------------- a function */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "gradc: out of memory\n");
        abort();
    }
    return p;
}

static LLVMValueRef begin_fn(Lower *L, const char *name, int nparams, bool exported);
static void end_fn(Lower *L);

/* The function being built, while a part of it is built elsewhere. */
typedef struct FnState {
    LLVMValueRef fn, ws;
    LLVMBasicBlockRef entry, cur;
} FnState;

/* Continues the current function in a new one, NAME.partN, that takes the
 * same parameters plus the workspace and is called from here. */
static void enter_part(Lower *L, FnState *save, int part)
{
    save->fn = L->fn;
    save->ws = L->ws;
    save->entry = L->entry;
    save->cur = LLVMGetInsertBlock(L->b);
    unsigned np = LLVMCountParams(L->fn);
    size_t len;
    const char *base = LLVMGetValueName2(L->fn, &len);
    char *name = arena_printf(L->p->arena, "%.*s.part%d", (int)len, base, part);
    LLVMValueRef fn = begin_fn(L, name, (int)np + 1, false);
    add_fn_attr(L, fn, "noinline", 0);
    for (unsigned k = 0; k <= np; k++) {
        add_param_attr(L, fn, k, "noalias");
        add_param_attr(L, fn, k, "nocapture");
    }
    L->ws = LLVMGetParam(fn, np);
}

static void leave_part(Lower *L, const FnState *save)
{
    LLVMBuildRetVoid(L->b);
    end_fn(L);
    LLVMValueRef part = L->fn;
    L->fn = save->fn;
    L->ws = save->ws;
    L->entry = save->entry;
    LLVMPositionBuilderAtEnd(L->b, save->cur);
    LLVMPositionBuilderAtEnd(L->ab, save->entry);
    unsigned np = LLVMCountParams(L->fn);
    LLVMValueRef *args = xcalloc(np + 1, sizeof *args);
    for (unsigned k = 0; k < np; k++)
        args[k] = LLVMGetParam(L->fn, k);
    args[np] = L->ws ? L->ws : LLVMConstNull(L->ptr);
    LLVMBuildCall2(L->b, LLVMGlobalGetValueType(part), part, args, np + 1, "");
    free(args);
}

typedef struct Out {
    int var;         /* the var written, or -1 for zeros */
    Shape shape;
    Addr addr;
} Out;

/* Fills the body of L->fn (whose entry block is L->entry, with the
 * builder at its end): computes every output from the inputs in
 * L->in. */
static void lower_body(Lower *L, const Out *outs, int nout)
{
    const Prog *p = L->p;
    L->nn = p->g->nnodes;
    size_t nn = (size_t)L->nn;
    L->uses = xcalloc(nn, sizeof *L->uses);
    L->seen = xcalloc(nn, 1);
    L->mat = xcalloc(nn, 1);
    L->height = xcalloc(nn, sizeof *L->height);
    L->pos = xcalloc(nn, sizeof *L->pos);
    L->last = xcalloc(nn, sizeof *L->last);
    L->off = xcalloc(nn, sizeof *L->off);
    L->buf = xcalloc(nn, sizeof *L->buf);
    L->buf_cache = xcalloc(nn, sizeof *L->buf_cache);
    L->buf_gen = xcalloc(nn, sizeof *L->buf_gen);
    L->order = xcalloc(nn, sizeof *L->order);
    L->norder = 0;

    const Node **roots = xcalloc((size_t)nout, sizeof *roots);
    for (int k = 0; k < nout; k++)
        roots[k] = outs[k].var >= 0 ? resolve(L, p->vars[outs[k].var].def) : NULL;
    plan_collect(L, roots, nout);
    plan_materialize(L);

    /* outputs: the first output of a node is its buffer; others copy */
    bool *copy = xcalloc((size_t)nout, sizeof *copy);
    for (int k = 0; k < nout; k++) {
        const Node *r = roots[k];
        if (!r || is_leaf(r) || has_buf(L, r)) {
            copy[k] = true;
            continue;
        }
        L->mat[r->id] = 1;
        L->buf[r->id] = outs[k].addr;
    }

    /* kernel order and lifetimes */
    const Node **kernels = xcalloc(nn, sizeof *kernels);
    int nk = 0;
    for (int t = 0; t < L->norder; t++) {
        const Node *n = L->order[t];
        if (!is_leaf(n) && L->mat[n->id]) {
            L->pos[n->id] = nk;
            L->last[n->id] = nk;
            kernels[nk++] = n;
        }
    }
    plan_lifetimes(L, nk, kernels);

    /* workspace: first fit by lifetime among the temporaries */
    typedef struct Slot {
        int64_t off, size;
        int last;
    } Slot;
    Slot *live = xcalloc((size_t)nk, sizeof *live);
    int nlive = 0;
    int64_t total = 0;
    for (int k = 0; k < nk; k++) {
        const Node *n = kernels[k];
        if (has_buf(L, n))
            continue; /* an output */
        int64_t size = shape_numel(n->shape) * (int64_t)L->esize;
        size = (size + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
        /* drop the slots whose last reader came before this kernel */
        int w = 0;
        for (int s = 0; s < nlive; s++)
            if (live[s].last >= k)
                live[w++] = live[s];
        nlive = w;
        /* the lowest offset that fits between the live slots */
        int64_t at = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int s = 0; s < nlive; s++)
                if (at < live[s].off + live[s].size && live[s].off < at + size) {
                    at = live[s].off + live[s].size;
                    moved = true;
                }
        }
        live[nlive++] = (Slot){at, size, L->last[n->id]};
        L->off[n->id] = at;
        if (at + size > total)
            total = at + size;
    }
    free(live);

    LLVMBuilderRef b = L->b;
    LLVMValueRef ws = NULL;
    bool heap = total > STACK_WORKSPACE_LIMIT;
    if (total > 0 && !heap) {
        LLVMValueRef a = LLVMBuildArrayAlloca(L->ab, L->i8, ci64(L, total), "workspace");
        LLVMSetAlignment(a, WS_ALIGN);
        ws = a;
    } else if (heap) {
        if (!L->f_malloc) {
            L->t_malloc = LLVMFunctionType(L->ptr, &L->i64, 1, 0);
            L->f_malloc = LLVMGetNamedFunction(L->mod, "malloc");
            if (!L->f_malloc)
                L->f_malloc = LLVMAddFunction(L->mod, "malloc", L->t_malloc);
            L->t_free = LLVMFunctionType(L->vd, &L->ptr, 1, 0);
            L->f_free = LLVMGetNamedFunction(L->mod, "free");
            if (!L->f_free)
                L->f_free = LLVMAddFunction(L->mod, "free", L->t_free);
        }
        LLVMValueRef sz = ci64(L, total);
        ws = LLVMBuildCall2(b, L->t_malloc, L->f_malloc, &sz, 1, "workspace");
        /* out of memory: every output is NaN, nothing else happens */
        LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "nomem");
        LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "run");
        LLVMBuildCondBr(b, LLVMBuildIsNull(b, ws, ""), fail, go);
        LLVMPositionBuilderAtEnd(b, fail);
        for (int k = 0; k < nout; k++) {
            Loop li, lj;
            kernel_begin(L);
            LLVMValueRef optr = addr_value(L, &outs[k].addr, &(LLVMValueRef){NULL}, &(unsigned){0});
            LLVMValueRef i = loop_open(L, &li, outs[k].shape.dim[0], "nan.i");
            LLVMValueRef j = loop_open(L, &lj, outs[k].shape.dim[1], "nan.j");
            store_elem(L, cT(L, NAN), optr, i, j, outs[k].shape.dim[1]);
            loop_close(L, &lj);
            loop_close(L, &li);
        }
        LLVMBuildRetVoid(b);
        LLVMPositionBuilderAtEnd(b, go);
    }
    for (int k = 0; k < nk; k++) {
        const Node *n = kernels[k];
        if (!has_buf(L, n))
            L->buf[n->id] = (Addr){ADDR_WS, L->off[n->id]};
    }
    L->ws = ws;

    /* the kernels, operands first, then the copies: items [0, nk) are
     * kernels, [nk, nk + nout) copies. A long program is split into
     * parts, each its own function, so that no function grows without
     * bound (LLVM's scheduler and loop analyses are superlinear in it). */
    int nitems = nk + nout;
    bool split = nitems > SPLIT_MIN_KERNELS;
    for (int k0 = 0, part = 0; k0 < nitems; k0 += SPLIT_KERNELS, part++) {
        int k1 = k0 + SPLIT_KERNELS < nitems ? k0 + SPLIT_KERNELS : nitems;
        FnState saved = {0};
        if (split)
            enter_part(L, &saved, part);
        for (int k = k0; k < k1; k++) {
            kernel_begin(L);
            if (k >= nk) {
                int c = k - nk;
                if (copy[c]) {
                    LLVMValueRef optr = addr_value(L, &outs[c].addr, &(LLVMValueRef){NULL},
                                                   &(unsigned){0});
                    kernel_map(L, NULL, roots[c], optr, outs[c].shape, "copy");
                }
                continue;
            }
            const Node *n = kernels[k];
            LLVMValueRef out = buf_ptr(L, n);
            switch (n->op) {
            case OP_MATMUL:
                kernel_matmul(L, n, out);
                break;
            case OP_CONV:
                kernel_conv(L, n, out);
                break;
            case OP_SUM:
            case OP_MEAN:
                kernel_reduce(L, n, out);
                break;
            default:
                kernel_map(L, n, NULL, out, n->shape, "ew");
                break;
            }
        }
        if (split)
            leave_part(L, &saved);
    }
    L->ws = NULL;
    if (heap)
        LLVMBuildCall2(b, L->t_free, L->f_free, &ws, 1, "");
    LLVMBuildRetVoid(b);

    free(kernels);
    free(copy);
    free(roots);
    free(L->uses);
    free(L->seen);
    free(L->mat);
    free(L->height);
    free(L->pos);
    free(L->last);
    free(L->off);
    free(L->buf);
    free(L->buf_cache);
    free(L->buf_gen);
    free(L->order);
}

/* A new function with `nparams` pointer parameters; the builders are put
 * at the end of its entry block. */
static LLVMValueRef begin_fn(Lower *L, const char *name, int nparams, bool exported)
{
    LLVMTypeRef *ps = xcalloc((size_t)nparams + 1, sizeof *ps);
    for (int k = 0; k < nparams; k++)
        ps[k] = L->ptr;
    LLVMTypeRef fty = LLVMFunctionType(L->vd, ps, (unsigned)nparams, 0);
    free(ps);
    L->fn = LLVMAddFunction(L->mod, name, fty);
    LLVMSetLinkage(L->fn, exported ? LLVMExternalLinkage : LLVMInternalLinkage);
    add_fn_attr(L, L->fn, "nounwind", 0);
    L->entry = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "entry");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(L->ctx, L->fn, "body");
    LLVMPositionBuilderAtEnd(L->ab, L->entry);
    LLVMPositionBuilderAtEnd(L->b, body);
    return L->fn;
}

/* Closes the entry block (allocas, then a branch to the body). */
static void end_fn(Lower *L)
{
    LLVMPositionBuilderAtEnd(L->ab, L->entry);
    LLVMBuildBr(L->ab, LLVMGetNextBasicBlock(L->entry));
}

/* PREFIX_eval or PREFIX_grad with the signature of SPEC section 5. */
static LLVMValueRef lower_api_fn(Lower *L, const char *suffix, int nargs)
{
    const ModelSig *sig = L->sig;
    char *name = arena_printf(L->p->arena, "%s_%s", sig->prefix, suffix);
    LLVMValueRef fn = begin_fn(L, name, nargs, true);
    Out *outs = xcalloc((size_t)nargs, sizeof *outs);
    int nout = 0;
    memset(L->in, 0, (size_t)L->p->nvars * sizeof *L->in);
    for (int k = 0; k < nargs; k++) {
        const SigArg *a = &sig->args[k];
        LLVMValueRef prm = LLVMGetParam(fn, (unsigned)k);
        LLVMSetValueName2(prm, a->c_name, strlen(a->c_name));
        add_param_attr(L, fn, (unsigned)k, "noalias");
        add_param_attr(L, fn, (unsigned)k, "nocapture");
        add_param_attr(L, fn, (unsigned)k, "nonnull");
        if (a->kind == ARG_INPUT || a->kind == ARG_DATA) {
            add_param_attr(L, fn, (unsigned)k, "readonly");
            L->in[a->var] = (Addr){ADDR_PARAM, k};
        } else {
            /* not writeonly: later steps read outputs back */
            outs[nout++] = (Out){a->var, a->shape, {ADDR_PARAM, k}};
        }
    }
    lower_body(L, outs, nout);
    end_fn(L);
    free(outs);
    return fn;
}

/* PREFIX_NAME_v(T **args): loads each pointer and calls the real function
 * (for the JIT, which cannot call a C function of any arity). */
static void lower_wrapper(Lower *L, LLVMValueRef target, const char *suffix, int nargs)
{
    char *name = arena_printf(L->p->arena, "%s_%s_v", L->sig->prefix, suffix);
    LLVMValueRef fn = begin_fn(L, name, 1, true);
    LLVMValueRef *av = xcalloc((size_t)nargs + 1, sizeof *av);
    for (int k = 0; k < nargs; k++) {
        LLVMValueRef idx = ci64(L, k);
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(L->b, L->ptr, LLVMGetParam(fn, 0), &idx, 1, "");
        av[k] = LLVMBuildLoad2(L->b, L->ptr, slot, L->sig->args[k].c_name);
    }
    LLVMBuildCall2(L->b, LLVMGlobalGetValueType(target), target, av, (unsigned)nargs, "");
    LLVMBuildRetVoid(L->b);
    end_fn(L);
    free(av);
}

/* PREFIX_all(T **vals): every live var, for `gradc run`. */
static void lower_all(Lower *L)
{
    const Prog *p = L->p;
    char *name = arena_printf(p->arena, "%s_all", L->sig->prefix);
    begin_fn(L, name, 1, true);
    Out *outs = xcalloc((size_t)p->nvars + 1, sizeof *outs);
    int nout = 0;
    memset(L->in, 0, (size_t)p->nvars * sizeof *L->in);
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        bool in = x->kind == VAR_INPUT || x->kind == VAR_DATA;
        if (!in && (x->dead || !x->def))
            continue;
        Addr slot = {ADDR_SLOT, v};
        if (in)
            L->in[v] = slot;
        else
            outs[nout++] = (Out){v, x->shape, slot};
    }
    lower_body(L, outs, nout);
    end_fn(L);
    free(outs);
}

/* ------------------------------------------------------ PREFIX_model */

static LLVMValueRef global_string(Lower *L, const char *s)
{
    LLVMValueRef init = LLVMConstStringInContext(L->ctx, s, (unsigned)strlen(s), 0);
    LLVMValueRef g = LLVMAddGlobal(L->mod, LLVMTypeOf(init), ".str");
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, 1);
    return g;
}

/* The gradc_model of the header: see emit.c (write_header) for the C
 * declaration this layout matches. */
static void lower_model(Lower *L)
{
    const ModelSig *sig = L->sig;
    LLVMTypeRef shape_t = LLVMArrayType2(L->i64, GRADC_MAX_RANK);
    LLVMTypeRef arg_fields[5] = {L->ptr, L->ptr, L->i32, L->i32, shape_t};
    LLVMTypeRef arg_t = LLVMStructTypeInContext(L->ctx, arg_fields, 5, 0);
    LLVMValueRef *args = xcalloc((size_t)sig->nargs + 1, sizeof *args);
    for (int k = 0; k < sig->nargs; k++) {
        const SigArg *a = &sig->args[k];
        LLVMValueRef dims[GRADC_MAX_RANK];
        for (int d = 0; d < GRADC_MAX_RANK; d++)
            dims[d] = ci64(L, d < a->shape.rank ? a->shape.dim[d] : 0);
        LLVMValueRef f[5] = {global_string(L, a->name), global_string(L, a->c_name),
                             LLVMConstInt(L->i32, (unsigned)a->kind, 0),
                             LLVMConstInt(L->i32, (unsigned)a->shape.rank, 0),
                             LLVMConstArray2(L->i64, dims, GRADC_MAX_RANK)};
        args[k] = LLVMConstNamedStruct(arg_t, f, 5);
    }
    LLVMValueRef arr_init = LLVMConstArray2(arg_t, args, (uint64_t)sig->nargs);
    free(args);
    LLVMValueRef arr = LLVMAddGlobal(L->mod, LLVMTypeOf(arr_init), "model.args");
    LLVMSetInitializer(arr, arr_init);
    LLVMSetGlobalConstant(arr, 1);
    LLVMSetLinkage(arr, LLVMInternalLinkage);

    LLVMTypeRef model_fields[8] = {L->ptr, L->i32, L->i32, L->i32, L->i32, L->i32, L->i32, L->ptr};
    LLVMTypeRef model_t = LLVMStructTypeInContext(L->ctx, model_fields, 8, 0);
    LLVMValueRef mf[8] = {global_string(L, sig->prefix),
                          LLVMConstInt(L->i32, 1, 0), /* abi_version */
                          LLVMConstInt(L->i32, L->o->dtype == DTYPE_F32 ? 1 : 0, 0),
                          LLVMConstInt(L->i32, L->esize, 0),
                          LLVMConstInt(L->i32, (unsigned)sig->nargs, 0),
                          LLVMConstInt(L->i32, (unsigned)sig->neval, 0),
                          LLVMConstInt(L->i32, sig->has_grad ? 1 : 0, 0),
                          arr};
    LLVMValueRef model = LLVMAddGlobal(L->mod, model_t, "model");
    LLVMSetInitializer(model, LLVMConstNamedStruct(model_t, mf, 8));
    LLVMSetGlobalConstant(model, 1);
    LLVMSetLinkage(model, LLVMInternalLinkage);

    char *name = arena_printf(L->p->arena, "%s_model", sig->prefix);
    LLVMTypeRef fty = LLVMFunctionType(L->ptr, NULL, 0, 0);
    LLVMValueRef fn = LLVMAddFunction(L->mod, name, fty);
    add_fn_attr(L, fn, "nounwind", 0);
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(L->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(L->b, bb);
    LLVMBuildRet(L->b, model);
}

/* ------------------------------------------------------------- module */

LLVMModuleRef lower_prog(LLVMContextRef ctx, const Prog *p, const ModelSig *sig,
                         const LowerOptions *o)
{
    Lower L = {0};
    L.p = p;
    L.sig = sig;
    L.o = o;
    L.ctx = ctx;
    L.mod = LLVMModuleCreateWithNameInContext(sig->prefix, ctx);
    L.b = LLVMCreateBuilderInContext(ctx);
    L.ab = LLVMCreateBuilderInContext(ctx);
    L.T = o->dtype == DTYPE_F32 ? LLVMFloatTypeInContext(ctx) : LLVMDoubleTypeInContext(ctx);
    L.esize = o->dtype == DTYPE_F32 ? 4 : 8;
    L.i1 = LLVMInt1TypeInContext(ctx);
    L.i8 = LLVMInt8TypeInContext(ctx);
    L.i32 = LLVMInt32TypeInContext(ctx);
    L.i64 = LLVMInt64TypeInContext(ctx);
    L.ptr = LLVMPointerTypeInContext(ctx, 0);
    L.vd = LLVMVoidTypeInContext(ctx);
    L.pb = LLVMCreateBuilderInContext(ctx);
    L.in = xcalloc((size_t)p->nvars + 1, sizeof *L.in);
    L.in_cache = xcalloc((size_t)p->nvars + 1, sizeof *L.in_cache);
    L.in_gen = xcalloc((size_t)p->nvars + 1, sizeof *L.in_gen);

    if (o->eval || o->jit_wrappers) {
        LLVMValueRef f = lower_api_fn(&L, "eval", sig->neval);
        if (o->jit_wrappers)
            lower_wrapper(&L, f, "eval", sig->neval);
    }
    if ((o->grad || o->jit_wrappers) && sig->has_grad) {
        LLVMValueRef f = lower_api_fn(&L, "grad", sig->nargs);
        if (o->jit_wrappers)
            lower_wrapper(&L, f, "grad", sig->nargs);
    }
    if (o->all)
        lower_all(&L);
    if (o->model)
        lower_model(&L);

    free(L.in);
    free(L.in_cache);
    free(L.in_gen);
    LLVMDisposeBuilder(L.pb);
    LLVMDisposeBuilder(L.ab);
    LLVMDisposeBuilder(L.b);

    char *msg = NULL;
    if (LLVMVerifyModule(L.mod, LLVMReturnStatusAction, &msg)) {
        fprintf(stderr, "gradc: internal error: the lowered module does not verify:\n%s\n",
                msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeModule(L.mod);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    return L.mod;
}
