/* lower.h: the interface shared by the three files that see LLVM
 * (lower.c, jit.c, emit.c). Nothing else includes it.
 *
 *   lower.c  Prog -> LLVM module (the only file that builds IR)
 *   emit.c   target machines, passes, object file, shared object, header
 *   jit.c    ORC LLJIT: gradc run and gradc check
 */
#ifndef GRADC_LOWER_H
#define GRADC_LOWER_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "backend.h"
#include "gradc.h"

/* ------------------------------------------------------- the signature */

/* Argument kinds, as in the header's gradc_model (the values are ABI). */
enum { ARG_INPUT = 0, ARG_DATA = 1, ARG_RESULT = 2, ARG_GRADIENT = 3 };

typedef struct SigArg {
    int var;            /* the var passed (the adjoint var for a gradient) */
    int kind;           /* ARG_* */
    int of;             /* ARG_GRADIENT: the input var; else -1 */
    const char *name;   /* the program's name (a gradient: its input's name) */
    const char *c_name; /* the C parameter name: name, or renamed */
    Shape shape;
} SigArg;

/* The arguments of PREFIX_eval and PREFIX_grad (SPEC section 5): every
 * input and data in declaration order, the result, then one gradient per
 * input. _eval takes the first neval; _grad (when has_grad) all nargs. */
typedef struct ModelSig {
    const char *prefix;
    SigArg *args;
    int nargs, neval, ninputs;
    bool has_grad;
    int nrenamed;       /* c_name != name (listed in the header comment) */
} ModelSig;

/* Builds the signature in p's arena; prefix must be a C identifier. */
void model_sig(const Prog *p, const char *prefix, ModelSig *sig);
/* True when s cannot be a C/C++ parameter name in the generated header
 * (a keyword, a common macro, a reserved identifier, GRADC_...). */
bool c_name_is_bad(const char *s);

/* ------------------------------------------------------------ lower.c */

typedef struct LowerOptions {
    Dtype dtype;
    bool eval, grad, model; /* PREFIX_eval, PREFIX_grad (if sig->has_grad), PREFIX_model */
    bool jit_wrappers;      /* also PREFIX_eval_v / PREFIX_grad_v: void(T **args) in
                               the order of sig->args */
    bool all;               /* PREFIX_all: void(T **vals), vals indexed by var: reads
                               inputs, writes every live step and adjoint var */
    bool use_runtime;       /* large products may call gradc_rt_matmul_* */
} LowerOptions;

/* Lowers p into a new module of ctx (owned by the caller) and verifies it.
 * Returns NULL (after printing "gradc: error: ...") only on a verifier
 * failure, which is a bug in gradc. */
LLVMModuleRef lower_prog(LLVMContextRef ctx, const Prog *p, const ModelSig *sig,
                         const LowerOptions *o);

/* ------------------------------------------------------------- emit.c */

/* LLVM's native target, initialized once. */
void backend_init_llvm(void);
/* A target machine for the host CPU (or generic x86-64), PIC. NULL (after
 * a message) on failure. The caller disposes it. */
LLVMTargetMachineRef backend_target_machine(bool generic, int opt_level);
/* Sets the module's triple and data layout from tm, verifies, and runs
 * "default<ON>". Returns false (after a message) on failure. */
bool backend_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, int opt_level);

#endif
