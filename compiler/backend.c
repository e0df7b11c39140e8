/* backend.c: the command lines of run, build, check and emit-llvm (SPEC
 * section 4), parsed into the option structs of backend.h. No LLVM here;
 * the commands themselves live in jit.c and emit.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

const char backend_usage[] =
    "  run FILE [--set NAME=PATH.npy]... [--seed N] [--out DIR] [--dtype f64|f32] [-O0..-O3]\n"
    "        compile in memory (LLVM ORC JIT) and evaluate; inputs not set get uniform\n"
    "        random values in [-1, 1] from --seed (default 0); prints every variable and\n"
    "        gradient; --out DIR writes DIR/NAME.npy and DIR/grad/NAME.npy;\n"
    "        --reference also compares every value with the reference evaluator\n"
    "  build FILE [-o OUT.so] [--header OUT.h] [--name PREFIX] [--dtype f64|f32]\n"
    "             [-O0..-O3] [--cpu generic]\n"
    "        a shared object with PREFIX_eval, PREFIX_grad, PREFIX_model and its C header\n"
    "        (--cpu generic: code for any x86-64 instead of this machine's CPU)\n"
    "  check FILE [--seed N] [--tol T] [--dtype f64|f32]\n"
    "        compare the compiled gradients with central finite differences (f64) on\n"
    "        random inputs; exit 1 if the worst relative error exceeds T\n"
    "        (default 1e-6, or 1e-4 for --dtype f32)\n"
    "  emit-llvm FILE [-O0..-O3] [--no-opt] [--dtype f64|f32] [--name PREFIX] [--cpu generic]\n"
    "        the LLVM IR of the module, after optimization (--no-opt: as lowered)\n";

void run_options_init(RunOptions *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
}

void build_options_init(BuildOptions *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
}

void check_options_init(CheckOptions *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
}

void emit_options_init(EmitOptions *o)
{
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
}

bool dtype_parse(const char *s, Dtype *out)
{
    if (strcmp(s, "f64") == 0)
        *out = DTYPE_F64;
    else if (strcmp(s, "f32") == 0)
        *out = DTYPE_F32;
    else
        return false;
    return true;
}

bool backend_is_command(const char *cmd)
{
    return strcmp(cmd, "run") == 0 || strcmp(cmd, "build") == 0 || strcmp(cmd, "check") == 0 ||
           strcmp(cmd, "emit-llvm") == 0;
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "gradc: error: %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see gradc --help)\n");
    return 2;
}

/* Matches "--name VALUE" and "--name=VALUE"; *i advances past VALUE.
 * Returns 1 on a match with *val set, 0 if argv[*i] is another option,
 * -1 when the value is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *s = argv[*i];
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0)
        return 0;
    if (s[n] == '=') {
        *val = s + n + 1;
        return 1;
    }
    if (s[n] != 0)
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static int parse_args(const char *cmd, int argc, char **argv, BackendArgs *a);

int backend_parse_args(const char *cmd, int argc, char **argv, BackendArgs *a)
{
    int rc = parse_args(cmd, argc, argv, a);
    if (rc != 0 || a->help)
        backend_args_free(a);
    return rc;
}

static int parse_args(const char *cmd, int argc, char **argv, BackendArgs *a)
{
    memset(a, 0, sizeof *a);
    run_options_init(&a->run);
    build_options_init(&a->build);
    check_options_init(&a->check);
    emit_options_init(&a->emit);
    if (strcmp(cmd, "run") == 0)
        a->cmd = BK_RUN;
    else if (strcmp(cmd, "build") == 0)
        a->cmd = BK_BUILD;
    else if (strcmp(cmd, "check") == 0)
        a->cmd = BK_CHECK;
    else if (strcmp(cmd, "emit-llvm") == 0)
        a->cmd = BK_EMIT;
    else
        return usage_error(cmd, "%s", "not a backend command");
    a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
    if (!a->sets) {
        fprintf(stderr, "gradc: out of memory\n");
        return 2;
    }
    int nsets = 0, opt = 2;
    Dtype dtype = DTYPE_F64;
    uint64_t seed = 0;
    bool cpu_generic = false;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        int r;
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            fputs(backend_usage, stdout);
            a->help = true;
            return 0;
        } else if (s[0] == '-' && s[1] == 'O' && s[2] >= '0' && s[2] <= '3' && !s[3]) {
            opt = s[2] - '0';
        } else if ((r = opt_value(argc, argv, &i, "--dtype", &v)) != 0) {
            if (r < 0 || !dtype_parse(v, &dtype))
                return usage_error(cmd, "--dtype needs f64 or f32, not '%s'", r < 0 ? "" : v);
        } else if ((a->cmd == BK_RUN || a->cmd == BK_CHECK) &&
                   (r = opt_value(argc, argv, &i, "--seed", &v)) != 0) {
            if (r < 0 || !parse_u64(v, &seed))
                return usage_error(cmd, "--seed needs a non-negative integer, not '%s'",
                                   r < 0 ? "" : v);
        } else if (a->cmd == BK_RUN && (r = opt_value(argc, argv, &i, "--set", &v)) != 0) {
            const char *eq = r > 0 ? strchr(v, '=') : NULL;
            if (!eq || eq == v || !eq[1])
                return usage_error(cmd, "--set needs NAME=PATH.npy, not '%s'", r < 0 ? "" : v);
            char *nm = malloc((size_t)(eq - v) + 1);
            if (!nm) {
                fprintf(stderr, "gradc: out of memory\n");
                return 2;
            }
            memcpy(nm, v, (size_t)(eq - v));
            nm[eq - v] = 0;
            a->sets[nsets++] = (SetOption){nm, eq + 1};
            a->run.nsets = nsets;
        } else if (a->cmd == BK_RUN && (r = opt_value(argc, argv, &i, "--out", &v)) != 0) {
            if (r < 0 || !*v)
                return usage_error(cmd, "%s", "--out needs a directory");
            a->run.out_dir = v;
        } else if (a->cmd == BK_CHECK && (r = opt_value(argc, argv, &i, "--tol", &v)) != 0) {
            char *end;
            double t = r > 0 ? strtod(v, &end) : 0;
            if (r < 0 || *end || !(t > 0) || !isfinite(t))
                return usage_error(cmd, "--tol needs a positive number, not '%s'", r < 0 ? "" : v);
            a->check.tol = t;
        } else if (a->cmd == BK_BUILD && (r = opt_value(argc, argv, &i, "-o", &v)) != 0) {
            if (r < 0 || !*v)
                return usage_error(cmd, "%s", "-o needs a file name");
            a->build.out_so = v;
        } else if (a->cmd == BK_BUILD && (r = opt_value(argc, argv, &i, "--header", &v)) != 0) {
            if (r < 0 || !*v)
                return usage_error(cmd, "%s", "--header needs a file name");
            a->build.out_h = v;
        } else if ((a->cmd == BK_BUILD || a->cmd == BK_EMIT) &&
                   (r = opt_value(argc, argv, &i, "--name", &v)) != 0) {
            if (r < 0 || !*v)
                return usage_error(cmd, "%s", "--name needs a C identifier");
            name = v;
        } else if ((a->cmd == BK_BUILD || a->cmd == BK_EMIT) &&
                   (r = opt_value(argc, argv, &i, "--cpu", &v)) != 0) {
            if (r < 0 || (strcmp(v, "generic") != 0 && strcmp(v, "native") != 0 &&
                          strcmp(v, "host") != 0))
                return usage_error(cmd, "--cpu needs generic or native, not '%s'", r < 0 ? "" : v);
            cpu_generic = strcmp(v, "generic") == 0;
        } else if (a->cmd == BK_RUN && strcmp(s, "--reference") == 0) {
            a->run.reference = true;
        } else if (a->cmd == BK_EMIT && strcmp(s, "--no-opt") == 0) {
            a->emit.no_opt = true;
        } else if (s[0] == '-' && s[1]) {
            return usage_error(cmd, "unknown option '%s'", s);
        } else if (a->file) {
            return usage_error(cmd, "more than one file given ('%s')", s);
        } else {
            a->file = s;
        }
    }
    if (!a->file)
        return usage_error(cmd, "%s", "needs a FILE");
    a->run.sets = a->sets;
    a->run.nsets = nsets;
    a->run.seed = seed;
    a->run.dtype = dtype;
    a->run.opt_level = opt;
    a->build.src_path = a->file;
    a->build.name = name;
    a->build.dtype = dtype;
    a->build.opt_level = opt;
    a->build.cpu_generic = cpu_generic;
    a->check.seed = seed;
    a->check.dtype = dtype;
    a->check.opt_level = opt;
    a->emit.src_path = a->file;
    a->emit.name = name;
    a->emit.dtype = dtype;
    a->emit.opt_level = opt;
    a->emit.cpu_generic = cpu_generic;
    return 0;
}

int backend_exec(const BackendArgs *a, const Prog *p)
{
    switch (a->cmd) {
    case BK_RUN:
        return backend_run(p, &a->run);
    case BK_BUILD:
        return backend_build(p, &a->build);
    case BK_CHECK:
        return backend_check(p, &a->check);
    case BK_EMIT:
        return backend_emit_llvm(p, &a->emit, stdout);
    }
    return 2;
}

void backend_args_free(BackendArgs *a)
{
    if (a->sets)
        for (int i = 0; i < a->run.nsets; i++)
            free((char *)a->sets[i].name);
    free(a->sets);
    a->sets = NULL;
}
