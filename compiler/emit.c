/* emit.c: target machines, passes, object files, shared objects, headers.
 *
 *   gradc build:      lower -> verify -> default<ON> -> object file (PIC)
 *                     -> cc -shared (exports: PREFIX_eval/_grad/_model only)
 *                     + the C header; both written to temporary files in
 *                     their directories and renamed at the end, so a failed
 *                     build leaves no partial file and keeps an old one.
 *   gradc emit-llvm:  the same module as text, before or after the passes.
 *
 * Every LLVM object has one owner here and is disposed on every path
 * (goto-cleanup ladders, as LLVM's own C examples do).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "lower.h"

/* ------------------------------------------------------ C names */

/* Keywords of C (C89..C23) and C++ (..C++23), GNU keywords, and macros of
 * the standard headers or predefined by compilers that a user may have
 * in scope before including the header. */
static const char *const c_bad_names[] = {
    /* C */
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "alignas", "alignof", "bool", "constexpr",
    "false", "nullptr", "static_assert", "thread_local", "true", "typeof", "typeof_unqual",
    /* C++ */
    "and", "and_eq", "asm", "bitand", "bitor", "catch", "char8_t", "char16_t", "char32_t",
    "class", "co_await", "co_return", "co_yield", "compl", "concept", "const_cast", "consteval",
    "constinit", "decltype", "delete", "dynamic_cast", "explicit", "export", "friend", "mutable",
    "namespace", "new", "noexcept", "not", "not_eq", "operator", "or", "or_eq", "private",
    "protected", "public", "reinterpret_cast", "requires", "static_cast", "template", "this",
    "throw", "try", "typeid", "typename", "using", "virtual", "wchar_t", "xor", "xor_eq",
    "final", "override", "import", "module",
    /* GNU and common macros */
    "fortran", "unix", "linux", "i386", "errno", "assert", "NULL", "EOF", "stdin", "stdout",
    "stderr", "offsetof", "complex", "imaginary", "I", "noreturn", "va_arg", "va_start",
    "va_end", "va_copy", "setjmp", "math_errhandling", "INFINITY", "NAN", "HUGE_VAL",
    "EDOM", "ERANGE", "EILSEQ", "RAND_MAX", "BUFSIZ", "FILENAME_MAX", "CHAR_BIT", "INT_MAX",
    "INT_MIN", "UINT_MAX", "LONG_MAX", "LONG_MIN", "SIZE_MAX", "EXIT_SUCCESS", "EXIT_FAILURE",
    "SEEK_SET", "SEEK_CUR", "SEEK_END", "TMP_MAX", "L_tmpnam", "FOPEN_MAX", "MB_CUR_MAX",
    "CLOCKS_PER_SEC", "M_PI", "M_E",
};

bool c_name_is_bad(const char *s)
{
    if (!s[0])
        return true;
    if (s[0] == '_' && (s[1] == '_' || (s[1] >= 'A' && s[1] <= 'Z')))
        return true; /* reserved for the implementation */
    if (strstr(s, "__"))
        return true; /* reserved in C++ */
    if (strncmp(s, "GRADC_", 6) == 0)
        return true; /* the header's own macros and constants */
    for (size_t i = 0; i < sizeof c_bad_names / sizeof c_bad_names[0]; i++)
        if (strcmp(c_bad_names[i], s) == 0)
            return true;
    /* <stdint.h> and <limits.h> macros: INT8_MAX, UINT64_C, ... */
    size_t n = strlen(s);
    if ((strncmp(s, "INT", 3) == 0 || strncmp(s, "UINT", 4) == 0) &&
        ((n >= 4 && (strcmp(s + n - 4, "_MAX") == 0 || strcmp(s + n - 4, "_MIN") == 0)) ||
         (n >= 2 && strcmp(s + n - 2, "_C") == 0)))
        return true;
    return false;
}

static bool name_taken(const char **names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

void model_sig(const Prog *p, const char *prefix, ModelSig *sig)
{
    memset(sig, 0, sizeof *sig);
    sig->prefix = prefix;
    Arena *a = p->arena;
    int nin = 0, ndiff = 0;
    for (int v = 0; v < p->nvars; v++) {
        if (p->vars[v].kind == VAR_INPUT || p->vars[v].kind == VAR_DATA)
            nin++;
        if (p->vars[v].kind == VAR_INPUT)
            ndiff++;
    }
    sig->has_grad = p->derived && p->grad && p->result >= 0 &&
                    shape_is_scalar(p->vars[p->result].shape);
    sig->ninputs = nin;
    sig->neval = nin + (p->result >= 0 ? 1 : 0);
    sig->nargs = sig->neval + (sig->has_grad ? ndiff : 0);
    sig->args = arena_alloc(a, (size_t)(sig->nargs + 1) * sizeof *sig->args);

    int k = 0;
    for (int v = 0; v < p->nvars; v++) {
        const Var *x = &p->vars[v];
        if (x->kind == VAR_INPUT || x->kind == VAR_DATA)
            sig->args[k++] = (SigArg){v, x->kind == VAR_INPUT ? ARG_INPUT : ARG_DATA, -1,
                                      x->name, x->name, x->shape};
    }
    if (p->result >= 0) {
        const Var *x = &p->vars[p->result];
        sig->args[k++] = (SigArg){p->result, ARG_RESULT, -1, x->name, x->name, x->shape};
    }
    if (sig->has_grad)
        for (int v = 0; v < p->nvars; v++) {
            const Var *x = &p->vars[v];
            if (x->kind == VAR_INPUT)
                sig->args[k++] = (SigArg){p->grad[v], ARG_GRADIENT, v, x->name,
                                          arena_printf(a, "d%s", x->name), x->shape};
        }

    /* C parameter names: unique, and never a keyword, macro or symbol */
    const char **taken = arena_alloc(a, (size_t)(sig->nargs + 8) * sizeof *taken);
    int nt = 0;
    taken[nt++] = arena_printf(a, "%s_eval", prefix);
    taken[nt++] = arena_printf(a, "%s_grad", prefix);
    taken[nt++] = arena_printf(a, "%s_model", prefix);
    taken[nt++] = "gradc_model";
    taken[nt++] = "gradc_model_arg";
    for (k = 0; k < sig->nargs; k++) {
        const char *c = sig->args[k].c_name;
        if (c_name_is_bad(c) || name_taken(taken, nt, c)) {
            /* a base that can be valid: no "__", no leading '_', not GRADC_ */
            char *base = arena_alloc(a, strlen(c) + 4);
            size_t n = 0;
            if (c[0] == '_' || strncmp(c, "GRADC_", 6) == 0)
                base[n++] = 'v', base[n++] = '_';
            for (const char *q = c; *q; q++)
                if (!(*q == '_' && n > 0 && base[n - 1] == '_'))
                    base[n++] = *q;
            base[n] = 0;
            bool us = n > 0 && base[n - 1] == '_';
            c = arena_printf(a, us ? "%s" : "%s_", base);
            for (int i = 1; c_name_is_bad(c) || name_taken(taken, nt, c); i++)
                c = arena_printf(a, us ? "%s%d" : "%s_%d", base, i);
        }
        if (strcmp(c, sig->args[k].kind == ARG_GRADIENT
                          ? arena_printf(a, "d%s", sig->args[k].name)
                          : sig->args[k].name) != 0)
            sig->nrenamed++;
        sig->args[k].c_name = c;
        taken[nt++] = c;
    }
}

/* ------------------------------------------------------- LLVM basics */

void backend_init_llvm(void)
{
    static bool done;
    if (done)
        return;
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    done = true;
}

LLVMTargetMachineRef backend_target_machine(bool generic, int opt_level)
{
    backend_init_llvm();
    char *triple = LLVMGetDefaultTargetTriple();
    char *err = NULL;
    LLVMTargetRef target;
    LLVMTargetMachineRef tm = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        fprintf(stderr, "gradc: error: no LLVM target for %s: %s\n", triple, err ? err : "");
        LLVMDisposeMessage(err);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    char *cpu = generic ? NULL : LLVMGetHostCPUName();
    char *features = generic ? NULL : LLVMGetHostCPUFeatures();
    const char *gcpu = strncmp(triple, "x86_64", 6) == 0 ? "x86-64" : "generic";
    LLVMCodeGenOptLevel lvl = opt_level <= 0   ? LLVMCodeGenLevelNone
                              : opt_level == 1 ? LLVMCodeGenLevelLess
                              : opt_level == 2 ? LLVMCodeGenLevelDefault
                                               : LLVMCodeGenLevelAggressive;
    tm = LLVMCreateTargetMachine(target, triple, generic ? gcpu : cpu, generic ? "" : features, lvl,
                                 LLVMRelocPIC, LLVMCodeModelDefault);
    if (!tm)
        fprintf(stderr, "gradc: error: cannot create a target machine for %s\n", triple);
    if (cpu)
        LLVMDisposeMessage(cpu);
    if (features)
        LLVMDisposeMessage(features);
    LLVMDisposeMessage(triple);
    return tm;
}

bool backend_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, int opt_level)
{
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(m, triple);
    LLVMDisposeMessage(triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    char *dl = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(m, dl);
    LLVMDisposeMessage(dl);
    LLVMDisposeTargetData(td);

    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        fprintf(stderr, "gradc: internal error: the module does not verify:\n%s\n", msg ? msg : "");
        LLVMDisposeMessage(msg);
        return false;
    }
    LLVMDisposeMessage(msg);

    char passes[32];
    snprintf(passes, sizeof passes, "default<O%d>", opt_level < 0 ? 0 : opt_level > 3 ? 3 : opt_level);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMErrorRef e = LLVMRunPasses(m, passes, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (e) {
        char *em = LLVMGetErrorMessage(e);
        fprintf(stderr, "gradc: internal error: LLVM passes failed: %s\n", em);
        LLVMDisposeErrorMessage(em);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ names */

static const char *path_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The file name of path without its last extension, in a. */
static char *path_stem(Arena *a, const char *path)
{
    const char *base = path_base(path);
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return arena_strndup(a, base, n);
}

/* SPEC section 5: every character that cannot appear in a C identifier
 * becomes '_', and a leading digit gets a '_' in front. */
static const char *prefix_from(Arena *a, const char *stem)
{
    size_t n = strlen(stem);
    char *s = arena_alloc(a, n + 8);
    size_t k = 0;
    if (n == 0) {
        strcpy(s, "model");
        return s;
    }
    if (stem[0] >= '0' && stem[0] <= '9')
        s[k++] = '_';
    for (size_t i = 0; i < n; i++) {
        char c = stem[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_';
        s[k++] = ok ? c : '_';
    }
    s[k] = 0;
    if (strcmp(s, "gradc") == 0) /* gradc_model is the header's type */
        return "gradc_prog";
    return s;
}

static bool is_c_identifier(const char *s)
{
    if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return false;
    return true;
}

/* --------------------------------------------------------------- header */

static const char *kind_text(int kind)
{
    switch (kind) {
    case ARG_INPUT: return "input";
    case ARG_DATA: return "data";
    case ARG_RESULT: return "result";
    default: return "gradient";
    }
}

/* Writes the header for sig to f. src names the source in the comment. */
static void write_header(FILE *f, const Prog *p, const ModelSig *sig, Dtype dtype, const char *src,
                         const char *so_name)
{
    const char *T = dtype == DTYPE_F32 ? "float" : "double";
    const char *P = sig->prefix;
    /* a comment must not contain the end of a comment or odd bytes */
    char srcname[256];
    size_t k = 0;
    for (const char *c = src ? path_base(src) : "?"; *c && k + 1 < sizeof srcname; c++)
        srcname[k++] = (*c >= 32 && *c < 127 && *c != '*' && *c != '/' && *c != '\\') ? *c : '_';
    srcname[k] = 0;

    fprintf(f, "/* %s.h: generated by gradc %s from %s; link with %s.\n", P, GRADC_VERSION, srcname,
            so_name);
    fprintf(f, " *\n"
               " * Model \"%s\", element type %s (%s).\n"
               " *\n"
               " * All arrays are row-major (C order) and contiguous: element (i, j) of an\n"
               " * [m, n] array is at index i*n + j. Arrays need only the alignment of %s.\n"
               " * Inputs are never written and must not overlap the outputs. Every call\n"
               " * overwrites the result%s; it never adds into them.\n"
               " * The functions are reentrant and thread-safe, start no threads and\n"
               " * allocate nothing that outlives a call.\n"
               " *\n"
               " * Arguments, in call order (%s_eval takes the first %d%s):\n",
            P, T, dtype == DTYPE_F32 ? "f32" : "f64", T,
            sig->has_grad ? " and every gradient" : "", P, sig->neval,
            sig->has_grad ? arena_printf(p->arena, ", %s_grad all %d", P, sig->nargs) : "");
    size_t w = 4;
    for (int i = 0; i < sig->nargs; i++)
        if (strlen(sig->args[i].c_name) > w)
            w = strlen(sig->args[i].c_name);
    for (int i = 0; i < sig->nargs; i++) {
        const SigArg *a = &sig->args[i];
        char shape[64];
        snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)a->shape.dim[0],
                 (long long)a->shape.dim[1]);
        const char *note = a->kind == ARG_GRADIENT
                               ? arena_printf(p->arena, "d %s / d %s",
                                              sig->args[sig->neval - 1].name, a->name)
                           : a->kind == ARG_RESULT ? (sig->has_grad ? "the scalar result" : "the result")
                                                   : "";
        char *line = arena_printf(p->arena, " *   %-*s  %-8s  %-10s  %s", (int)w, a->c_name,
                                  kind_text(a->kind), shape, note);
        size_t len = strlen(line);
        while (len > 0 && line[len - 1] == ' ') /* no trailing blanks */
            len--;
        fprintf(f, "%.*s\n", (int)len, line);
    }
    if (!sig->has_grad)
        fprintf(f, " *\n * The result is not a scalar, so there is no %s_grad.\n", P);
    if (sig->nrenamed) {
        fprintf(f, " *\n * Renamed here (the program's name is a C or C++ keyword, a common macro\n"
                   " * or a generated symbol, or would repeat a name):\n");
        for (int i = 0; i < sig->nargs; i++) {
            const SigArg *a = &sig->args[i];
            const char *orig = a->kind == ARG_GRADIENT
                                   ? arena_printf(p->arena, "gradient of %s", a->name)
                                   : a->name;
            bool same = a->kind == ARG_GRADIENT
                            ? strcmp(a->c_name, arena_printf(p->arena, "d%s", a->name)) == 0
                            : strcmp(a->c_name, a->name) == 0;
            if (!same)
                fprintf(f, " *   %s is called %s\n", orig, a->c_name);
        }
    }
    fprintf(f, " */\n");
    fprintf(f, "#ifndef GRADC_%s_H\n#define GRADC_%s_H\n\n", P, P);

    fprintf(f,
            "#ifndef GRADC_MODEL_DEFINED\n"
            "#define GRADC_MODEL_DEFINED\n"
            "/* The description of a model, for loaders that do not read this header\n"
            " * (Python ctypes, other languages). Shared by every gradc header. */\n"
            "enum { GRADC_F64 = 0, GRADC_F32 = 1 };  /* gradc_model.dtype */\n"
            "enum { GRADC_INPUT = 0, GRADC_DATA = 1, GRADC_RESULT = 2, GRADC_GRADIENT = 3 };\n"
            "typedef struct gradc_model_arg {\n"
            "    const char *name;     /* the program's name (a gradient: its input's) */\n"
            "    const char *c_name;   /* the parameter name in the header */\n"
            "    int kind;             /* GRADC_INPUT, _DATA, _RESULT or _GRADIENT */\n"
            "    int rank;             /* 2 */\n"
            "    long long shape[4];   /* shape[0..rank) */\n"
            "} gradc_model_arg;\n"
            "typedef struct gradc_model {\n"
            "    const char *name;     /* the prefix of the functions */\n"
            "    int abi_version;      /* 1 */\n"
            "    int dtype;            /* GRADC_F64 or GRADC_F32 */\n"
            "    int elem_size;        /* bytes per element: 8 or 4 */\n"
            "    int nargs;            /* arguments of _grad (of _eval if has_grad is 0) */\n"
            "    int neval_args;       /* _eval takes args[0..neval_args) */\n"
            "    int has_grad;         /* _grad exists (the result is a scalar) */\n"
            "    const gradc_model_arg *args; /* in call order */\n"
            "} gradc_model;\n"
            "#endif\n\n"
            "#ifdef __cplusplus\n"
            "extern \"C\" {\n"
            "#endif\n\n");

    for (int fnk = 0; fnk < (sig->has_grad ? 2 : 1); fnk++) {
        int n = fnk ? sig->nargs : sig->neval;
        if (fnk == 0)
            fprintf(f, "/* Computes the result %s from the inputs. */\n",
                    sig->args[sig->neval - 1].name);
        else
            fprintf(f, "/* Computes the result and its gradient with respect to every input. */\n");
        fprintf(f, "void %s_%s(", P, fnk ? "grad" : "eval");
        for (int i = 0; i < n; i++) {
            const SigArg *a = &sig->args[i];
            bool in = a->kind == ARG_INPUT || a->kind == ARG_DATA;
            fprintf(f, "%s%s%s *%s", i ? ",\n        " : "", in ? "const " : "", T, a->c_name);
        }
        fprintf(f, ");\n\n");
    }
    fprintf(f, "/* Names, kinds and shapes of the arguments above. */\n");
    fprintf(f, "const gradc_model *%s_model(void);\n\n", P);
    fprintf(f, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

/* ---------------------------------------------------- the runtime library */

/* libgradcrt.a, for products that call its kernels: $GRADC_RUNTIME, else
 * next to the gradc executable, else in ../lib/gradc or ../lib. NULL if
 * none exists (then every product is an inline loop nest). */
static const char *find_runtime(Arena *a)
{
    const char *env = getenv("GRADC_RUNTIME");
    if (env && *env)
        return access(env, R_OK) == 0 ? env : NULL;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    const char *cands[] = {"%s/libgradcrt.a", "%s/../lib/gradc/libgradcrt.a", "%s/../lib/libgradcrt.a"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        char *path = arena_printf(a, cands[i], exe);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

/* Runs argv (no shell); true when it exits with status 0. */
static bool run_command(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "gradc: error: cannot run %s: %s\n", argv[0], strerror(errno));
        return false;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "gradc: error: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "gradc: error: waiting for %s: %s\n", argv[0], strerror(errno));
            return false;
        }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A temporary file next to path (same directory, so rename is atomic). */
static char *temp_beside(Arena *a, const char *path)
{
    char *t = arena_printf(a, "%s.tmpXXXXXX", path);
    int fd = mkstemp(t);
    if (fd < 0) {
        fprintf(stderr, "gradc: error: cannot create %s: %s\n", path, strerror(errno));
        return NULL;
    }
    close(fd);
    return t;
}

static mode_t current_umask(void)
{
    mode_t m = umask(0);
    umask(m);
    return m;
}

/* ------------------------------------------------------------ gradc build */

int backend_build(const Prog *p, const BuildOptions *o)
{
    Arena *a = p->arena;
    int rc = 1;
    if (p->result < 0) {
        fprintf(stderr, "gradc: error: the program computes nothing\n");
        return 1;
    }
    const char *so = o->out_so;
    if (!so)
        so = arena_printf(a, "%s.so", path_stem(a, o->src_path ? o->src_path : "model.grad"));
    const char *h = o->out_h;
    if (!h) {
        size_t n = strlen(so);
        h = n > 3 && strcmp(so + n - 3, ".so") == 0 ? arena_printf(a, "%.*s.h", (int)(n - 3), so)
                                                     : arena_printf(a, "%s.h", so);
    }
    const char *prefix;
    if (o->name) {
        if (!is_c_identifier(o->name)) {
            fprintf(stderr, "gradc: error: --name '%s' is not a C identifier\n", o->name);
            return 2;
        }
        if (strcmp(o->name, "gradc") == 0) {
            fprintf(stderr, "gradc: error: --name 'gradc' would clash with the header's type "
                            "gradc_model\n");
            return 2;
        }
        prefix = o->name;
    } else {
        prefix = prefix_from(a, path_stem(a, so));
    }
    if (strcmp(so, h) == 0) {
        fprintf(stderr, "gradc: error: the shared object and the header are the same file: %s\n", so);
        return 2;
    }

    ModelSig sig;
    model_sig(p, prefix, &sig);
    const char *runtime = find_runtime(a);
    LowerOptions lo = {.dtype = o->dtype, .eval = true, .grad = true, .model = true,
                       .use_runtime = runtime != NULL};

    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = NULL;
    LLVMTargetMachineRef tm = NULL;
    char dir[] = "/tmp/gradc-XXXXXX";
    bool have_dir = false;
    char *obj = NULL, *map = NULL, *tmp_so = NULL, *tmp_h = NULL;
    char *err = NULL;

    mod = lower_prog(ctx, p, &sig, &lo);
    if (!mod)
        goto done;
    tm = backend_target_machine(o->cpu_generic, o->opt_level);
    if (!tm || !backend_optimize(mod, tm, o->opt_level))
        goto done;
    if (!mkdtemp(dir)) {
        fprintf(stderr, "gradc: error: cannot create a temporary directory: %s\n", strerror(errno));
        goto done;
    }
    have_dir = true;
    obj = arena_printf(a, "%s/%s.o", dir, prefix);
    if (LLVMTargetMachineEmitToFile(tm, mod, obj, LLVMObjectFile, &err)) {
        fprintf(stderr, "gradc: error: cannot write the object file: %s\n", err ? err : "");
        LLVMDisposeMessage(err);
        goto done;
    }
    map = arena_printf(a, "%s/exports.map", dir);
    FILE *mf = fopen(map, "w");
    if (!mf) {
        fprintf(stderr, "gradc: error: cannot write %s: %s\n", map, strerror(errno));
        goto done;
    }
    fprintf(mf, "{\n  global:\n    %s_eval;\n%s    %s_model;\n  local: *;\n};\n", prefix,
            sig.has_grad ? arena_printf(a, "    %s_grad;\n", prefix) : "", prefix);
    if (fclose(mf) != 0) {
        fprintf(stderr, "gradc: error: cannot write %s\n", map);
        goto done;
    }

    tmp_so = temp_beside(a, so);
    if (!tmp_so)
        goto done;
    {
        const char *cc = getenv("GRADC_CC");
        if (!cc || !*cc)
            cc = "cc";
        char *argv[16];
        int n = 0;
        argv[n++] = (char *)cc;
        argv[n++] = "-shared";
        argv[n++] = "-o";
        argv[n++] = tmp_so;
        argv[n++] = obj;
        argv[n++] = arena_printf(a, "-Wl,--version-script=%s", map);
        argv[n++] = "-Wl,-z,noexecstack";
        if (runtime) {
            argv[n++] = "-Wl,--exclude-libs,ALL";
            argv[n++] = (char *)runtime;
        }
        argv[n++] = "-lm";
        argv[n] = NULL;
        if (!run_command(argv)) {
            fprintf(stderr, "gradc: error: linking %s failed\n", so);
            goto done;
        }
    }
    chmod(tmp_so, 0777 & ~current_umask());

    tmp_h = temp_beside(a, h);
    if (!tmp_h)
        goto done;
    FILE *hf = fopen(tmp_h, "w");
    if (!hf) {
        fprintf(stderr, "gradc: error: cannot write %s: %s\n", h, strerror(errno));
        goto done;
    }
    write_header(hf, p, &sig, o->dtype, o->src_path, path_base(so));
    if (ferror(hf) | (fclose(hf) != 0)) {
        fprintf(stderr, "gradc: error: cannot write %s\n", h);
        goto done;
    }
    chmod(tmp_h, 0666 & ~current_umask());
    if (rename(tmp_so, so) != 0) {
        fprintf(stderr, "gradc: error: cannot write %s: %s\n", so, strerror(errno));
        goto done;
    }
    tmp_so = NULL;
    if (rename(tmp_h, h) != 0) {
        fprintf(stderr, "gradc: error: cannot write %s: %s\n", h, strerror(errno));
        goto done;
    }
    tmp_h = NULL;
    rc = 0;

done:
    if (tmp_so)
        unlink(tmp_so);
    if (tmp_h)
        unlink(tmp_h);
    if (obj)
        unlink(obj);
    if (map)
        unlink(map);
    if (have_dir)
        rmdir(dir);
    if (tm)
        LLVMDisposeTargetMachine(tm);
    if (mod)
        LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    return rc;
}

/* -------------------------------------------------------- gradc emit-llvm */

int backend_emit_llvm(const Prog *p, const EmitOptions *o, FILE *out)
{
    Arena *a = p->arena;
    if (p->result < 0) {
        fprintf(stderr, "gradc: error: the program computes nothing\n");
        return 1;
    }
    const char *prefix;
    if (o->name) {
        if (!is_c_identifier(o->name)) {
            fprintf(stderr, "gradc: error: --name '%s' is not a C identifier\n", o->name);
            return 2;
        }
        prefix = o->name;
    } else {
        prefix = prefix_from(a, path_stem(a, o->src_path ? o->src_path : "model.grad"));
    }
    ModelSig sig;
    model_sig(p, prefix, &sig);
    LowerOptions lo = {.dtype = o->dtype, .eval = true, .grad = true, .model = true,
                       .use_runtime = true};
    int rc = 1;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMTargetMachineRef tm = NULL;
    LLVMModuleRef mod = lower_prog(ctx, p, &sig, &lo);
    if (!mod)
        goto done;
    tm = backend_target_machine(o->cpu_generic, o->opt_level);
    if (!tm)
        goto done;
    if (o->no_opt) {
        char *triple = LLVMGetTargetMachineTriple(tm);
        LLVMSetTarget(mod, triple);
        LLVMDisposeMessage(triple);
    } else if (!backend_optimize(mod, tm, o->opt_level)) {
        goto done;
    }
    char *text = LLVMPrintModuleToString(mod);
    fputs(text, out);
    LLVMDisposeMessage(text);
    rc = fflush(out) == 0 ? 0 : 1;
done:
    if (tm)
        LLVMDisposeTargetMachine(tm);
    if (mod)
        LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    return rc;
}
