/* backend.h: what main.c calls for `gradc run`, `build`, `check` and
 * `emit-llvm` (SPEC section 4). No LLVM type appears here; the three files
 * that see LLVM (lower.c, jit.c, emit.c) share compiler/lower.h.
 *
 * Every entry point takes a Prog after prog_normalize and, when the result
 * is a scalar, grad_derive (p->derived); with a non-scalar result only
 * _eval exists and run prints values only. Each returns the process exit
 * status: 0 success, 1 an error in the program or its data (a bad --set
 * file, a failed link, a gradient check above tolerance). Messages go to
 * stderr as "gradc: error: ..."; normal output goes to stdout.
 */
#ifndef GRADC_BACKEND_H
#define GRADC_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gradc.h"

typedef enum { DTYPE_F64 = 0, DTYPE_F32 = 1 } Dtype;

/* One `--set NAME=PATH.npy`. */
typedef struct SetOption {
    const char *name;
    const char *path;
} SetOption;

/* gradc run FILE [--set NAME=PATH.npy]... [--seed N] [--out DIR] [--dtype f64|f32] */
typedef struct RunOptions {
    const SetOption *sets; /* in command-line order; a name given twice is an error */
    int nsets;
    uint64_t seed;         /* default 0 */
    const char *out_dir;   /* NULL: write no files */
    Dtype dtype;           /* default DTYPE_F64 */
    int opt_level;         /* 0..3, default 2 */
    bool reference;        /* --reference (a testing aid): also evaluate with the
                              reference evaluator (eval.c) and exit 1 if any value
                              differs by more than a relative 1e-12 (f64; f32:
                              1e-3 of the var's largest value, against
                              the f64 reference) */
} RunOptions;

/* gradc build FILE [-o OUT.so] [--header OUT.h] [--name PREFIX] [--dtype f64|f32]
 *                  [-O0|-O1|-O2|-O3] [--cpu generic] */
typedef struct BuildOptions {
    const char *src_path;  /* the .grad file: default names and the header comment */
    const char *out_so;    /* NULL: STEM.so in the current directory, STEM the file
                              name of src_path without its extension */
    const char *out_h;     /* NULL: out_so with ".so" replaced by ".h" (appended if
                              it does not end in ".so") */
    const char *name;      /* PREFIX; NULL: from out_so's stem (SPEC section 5);
                              when given it must be a C identifier (else exit 2) */
    Dtype dtype;
    int opt_level;         /* 0..3, default 2 */
    bool cpu_generic;      /* --cpu generic: any x86-64; default: the host CPU */
} BuildOptions;

/* gradc check FILE [--seed N] [--tol T] [--dtype f64|f32] */
typedef struct CheckOptions {
    uint64_t seed;
    double tol;            /* <= 0: the default, 1e-6 for f64 and 1e-4 for f32 */
    Dtype dtype;           /* the gradients checked; differences are always f64 */
    int opt_level;
} CheckOptions;

/* gradc emit-llvm FILE [-O0|-O1|-O2|-O3] [--no-opt] [--dtype f64|f32]
 *                      [--name PREFIX] [--cpu generic] */
typedef struct EmitOptions {
    const char *src_path;  /* default PREFIX: the stem of this file */
    const char *name;      /* PREFIX; NULL: from src_path */
    Dtype dtype;
    int opt_level;         /* 0..3, default 2 */
    bool no_opt;           /* print the module as lowered, before any pass */
    bool cpu_generic;
} EmitOptions;

/* Fill in the defaults above (everything zero/NULL except opt_level = 2). */
void run_options_init(RunOptions *o);
void build_options_init(BuildOptions *o);
void check_options_init(CheckOptions *o);
void emit_options_init(EmitOptions *o);

int backend_run(const Prog *p, const RunOptions *o);       /* jit.c */
int backend_check(const Prog *p, const CheckOptions *o);   /* jit.c */
int backend_build(const Prog *p, const BuildOptions *o);   /* emit.c */
int backend_emit_llvm(const Prog *p, const EmitOptions *o, FILE *out); /* emit.c */

/* Parses "f64"/"f32" (false for anything else). */
bool dtype_parse(const char *s, Dtype *out);

/* ----------------------------------------------- the command line (backend.c)
 *
 * For main.c, two calls per command:
 *
 *     BackendArgs ba;
 *     if (backend_is_command(cmd)) {
 *         int rc = backend_parse_args(cmd, argc - 2, argv + 2, &ba);
 *         if (rc) return rc;                      // 2: bad command line
 *         Prog *p = ...read ba.file, parse, check, prog_normalize...;
 *         if the result is a scalar: grad_derive(p, NULL, &d);
 *         rc = backend_exec(&ba, p);
 *         backend_args_free(&ba);
 *         return rc;
 *     }
 *
 * backend_parse_args prints "gradc: error: ..." for a bad command line and
 * returns 2 (or 0, and for --help prints the command's usage and sets
 * ba.help: main then returns 0 without reading a file). It frees what it
 * allocated itself when it returns non-zero or sets help.
 */
typedef struct BackendArgs {
    enum { BK_RUN, BK_BUILD, BK_CHECK, BK_EMIT } cmd;
    const char *file;
    bool help;
    RunOptions run;
    BuildOptions build;
    CheckOptions check;
    EmitOptions emit;
    SetOption *sets;       /* malloc'd; freed by backend_args_free */
} BackendArgs;

bool backend_is_command(const char *cmd); /* run, build, check, emit-llvm */
int backend_parse_args(const char *cmd, int argc, char **argv, BackendArgs *out);
int backend_exec(const BackendArgs *a, const Prog *p);
void backend_args_free(BackendArgs *a);
/* The usage lines of the four commands, for gradc --help. */
extern const char backend_usage[];

#endif
