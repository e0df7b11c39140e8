/* main.c: the command line; each command is a straight-line pipeline. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "gradc.h"

static const char usage[] =
    "usage: gradc COMMAND FILE [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  grad FILE [--wrt A,B] [--closed] [--latex | --dot]\n"
    "        print the derived program: forward steps, then one step per adjoint\n"
    "        --wrt A,B   only the gradients of these inputs\n"
    "        --closed    each gradient as one expression of the inputs\n"
    "        --latex     as LaTeX math;  --dot  as a Graphviz graph\n"
    "        -d LETTERS  dump the program to stderr after c: check, n: normalize,\n"
    "                    g: grad (every step, dead ones too, with node ids)\n"
    "  fmt FILE\n"
    "        check FILE and print it as written, in canonical form\n"
    "%s"
    "\n"
    "  gradc --help | --version\n"
    "\n"
    "exit status: 0 success, 1 an error in the program or its data, 2 a bad command line\n";

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "gradc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see gradc --help)\n");
    return 2;
}

/* Front end: read, parse, check. NULL after reporting an error. */
static Prog *front(Arena *a, const char *path, Diag *d, Source *src)
{
    if (!source_read(src, a, path))
        return NULL;
    diag_init(d, src, stderr);
    AstProgram ast;
    if (!parse_program(a, src, d, &ast))
        return NULL;
    return check_program(a, &ast, d);
}

/* Writes what print produced to stdout only when it all succeeded, so a
 * failing command prints no partial output. */
typedef struct Out {
    char *data;
    size_t len;
    FILE *f;
} Out;

static FILE *out_open(Out *o)
{
    o->data = NULL;
    o->len = 0;
    o->f = open_memstream(&o->data, &o->len);
    if (!o->f) {
        perror("gradc: error: open_memstream");
        exit(1);
    }
    return o->f;
}

static int out_close(Out *o, bool ok)
{
    fclose(o->f);
    if (ok)
        fwrite(o->data, 1, o->len, stdout);
    free(o->data);
    if (ok && fflush(stdout) != 0) {
        perror("gradc: error: writing the output");
        ok = false;
    }
    return ok ? 0 : 1;
}

static int cmd_grad(int argc, char **argv)
{
    const char *file = NULL, *wrt = NULL;
    const char *dump = "";
    bool closed = false, latex = false, dot = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--wrt") == 0) {
            if (++i == argc)
                return bad_usage("'%s' needs a list of inputs, e.g. --wrt A,B", s);
            wrt = argv[i];
        } else if (strncmp(s, "--wrt=", 6) == 0)
            wrt = s + 6;
        else if (strcmp(s, "--closed") == 0)
            closed = true;
        else if (strcmp(s, "--latex") == 0)
            latex = true;
        else if (strcmp(s, "--dot") == 0)
            dot = true;
        else if (strcmp(s, "-d") == 0) {
            if (++i == argc)
                return bad_usage("'%s' needs letters: c (after check), n (normalize), "
                                 "g (grad)", s);
            dump = argv[i];
        }
        else if (s[0] == '-' && s[1])
            return bad_usage("unknown option '%s' for 'grad'", s);
        else if (file)
            return bad_usage("more than one file given ('%s')", s);
        else
            file = s;
    }
    if (!file)
        return bad_usage("%s", "'grad' needs a FILE");
    if (latex && dot)
        return bad_usage("%s", "--latex and --dot cannot be combined");
    if (closed && dot)
        return bad_usage("%s", "--closed and --dot cannot be combined");

    Arena *a = arena_new();
    Diag d;
    Source src;
    int status = 1;
    Prog *p = front(a, file, &d, &src);
    if (!p)
        goto done;
    if (strchr(dump, 'c'))
        dump_prog(stderr, p, "check");
    p = prog_normalize(p);
    if (strchr(dump, 'n'))
        dump_prog(stderr, p, "normalize");

    bool *want = NULL;
    if (wrt) {
        want = arena_alloc(a, (size_t)p->nvars * sizeof *want);
        char *list = arena_strdup(a, wrt), *save = NULL;
        for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
            int v = prog_find(p, name);
            if (v < 0 || p->vars[v].kind != VAR_INPUT) {
                status = bad_usage(v >= 0 && p->vars[v].kind == VAR_DATA
                                       ? "--wrt: '%s' is data, which gets no gradient"
                                       : "--wrt: '%s' is not an input of the program",
                                   name);
                goto done;
            }
            want[v] = true;
        }
        bool any = false;
        for (int v = 0; v < p->nvars; v++)
            any = any || want[v];
        if (!any) {
            status = bad_usage("%s", "--wrt needs at least one input, e.g. --wrt A,B");
            goto done;
        }
    }
    const Var *r = &p->vars[p->result];
    if (shape_is_scalar(r->shape))
        grad_derive(p, want, &d);
    else
        diag_warning(&d, r->span,
                     "the result '%s' is %s, not a scalar [1, 1]: no gradients derived",
                     r->name, shape_str(a, r->shape));

    if (strchr(dump, 'g'))
        dump_prog(stderr, p, "grad");

    Out o;
    FILE *f = out_open(&o);
    bool ok = true;
    if (latex)
        ok = print_latex(f, p, closed);
    else if (dot)
        print_dot(f, p);
    else if (closed)
        ok = print_closed(f, p);
    else
        print_prog(f, p);
    status = out_close(&o, ok);
done:
    arena_free(a);
    return status;
}

static int cmd_fmt(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-')
        return bad_usage("%s", "usage: gradc fmt FILE");
    Arena *a = arena_new();
    Diag d;
    Source src;
    Prog *p = front(a, argv[0], &d, &src);
    int status = 1;
    if (p) {
        Out o;
        print_prog(out_open(&o), p);
        status = out_close(&o, true);
    }
    arena_free(a);
    return status;
}

/* run, build, check, emit-llvm: backend.c parses their options. */
static int cmd_backend(const char *cmd, int argc, char **argv)
{
    BackendArgs ba;
    int status = backend_parse_args(cmd, argc, argv, &ba);
    if (status || ba.help)
        return status;
    Arena *a = arena_new();
    Diag d;
    Source src;
    Prog *p = front(a, ba.file, &d, &src);
    status = 1;
    if (p) {
        p = prog_normalize(p);
        if (shape_is_scalar(p->vars[p->result].shape))
            grad_derive(p, NULL, &d);
        status = backend_exec(&ba, p);
    }
    backend_args_free(&ba);
    arena_free(a);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return bad_usage("%s", "no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        printf(usage, backend_usage);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("gradc %s\n", GRADC_VERSION);
        return 0;
    }
    if (strcmp(cmd, "grad") == 0)
        return cmd_grad(argc - 2, argv + 2);
    if (strcmp(cmd, "fmt") == 0)
        return cmd_fmt(argc - 2, argv + 2);
    if (backend_is_command(cmd))
        return cmd_backend(cmd, argc - 2, argv + 2);
    return bad_usage("unknown command '%s'", cmd);
}
