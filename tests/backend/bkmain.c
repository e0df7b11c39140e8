/* bkmain.c: a stand-alone driver of the backend commands (run, build,
 * check, emit-llvm) through the same pipeline as gradc, for the backend
 * tests: bkmain CMD FILE [OPTIONS]. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "gradc.h"

int main(int argc, char **argv)
{
    if (argc < 2 || !backend_is_command(argv[1])) {
        fprintf(stderr, "usage: bkmain run|build|check|emit-llvm FILE [OPTIONS]\n%s", backend_usage);
        return 2;
    }
    BackendArgs ba;
    int rc = backend_parse_args(argv[1], argc - 2, argv + 2, &ba);
    if (rc || ba.help)
        return rc;
    Arena *a = arena_new();
    Source src;
    Diag d;
    rc = 1;
    if (source_read(&src, a, ba.file)) {
        diag_init(&d, &src, stderr);
        AstProgram ast;
        Prog *p = NULL;
        if (parse_program(a, &src, &d, &ast))
            p = check_program(a, &ast, &d);
        if (p) {
            p = prog_normalize(p);
            if (shape_is_scalar(p->vars[p->result].shape))
                grad_derive(p, NULL, &d);
            rc = backend_exec(&ba, p);
        }
    }
    backend_args_free(&ba);
    arena_free(a);
    return rc;
}
