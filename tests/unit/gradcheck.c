/* gradcheck.c: derived gradients against finite differences.
 *
 *   gradcheck                 every examples/NAME.grad, every op alone, the
 *                             harness self-test
 *   gradcheck FILE.grad...    just those files
 *   -v                        a line for every program (default: failures
 *                             and a summary only)
 *
 * Each program goes through the real front end (parse, check, normalize,
 * grad_derive), is evaluated with the reference evaluator and every input's
 * derived gradient is compared with a Richardson-extrapolated central
 * difference; the metric and tolerance (normwise relative, < 1e-6) are
 * described in gc_harness.h. On failure the program, its derived form, the
 * inputs and both gradients are printed.
 *
 * The examples directory is found from GRADC_EXAMPLES, else "examples" in
 * the current directory or up to three levels above it.
 *
 * Exit status 0 when every check passes.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_harness.h"
#include "gradc.h"

static int nprog, nfail, ninputs;
static bool verbose; /* -v: a line for every program, not only failures */
static double worst;
static const char *worst_name;
static char worst_buf[256];

/* Checks one loaded program; prints one line. */
static bool run_one(GcProgram *gp, uint64_t seed)
{
    GcOptions opt = {.seed = seed};
    GcResult res;
    bool ok = gc_check(gp, &opt, &res);
    nprog++;
    ninputs += res.ninputs;
    if (res.checked && res.worst >= worst) {
        worst = res.worst;
        snprintf(worst_buf, sizeof worst_buf, "%s", gp->name);
        worst_name = worst_buf;
    }
    if (!ok)
        nfail++;
    if (verbose || !ok)
        printf("%-4s %-28s inputs %d  worst err %.2e%s\n", ok ? "ok" : "FAIL", gp->name,
               res.ninputs, res.worst, res.checked ? "" : "  (not scalar)");
    if (!ok)
        printf("     %s\n", res.why);
    fflush(stdout);
    return ok;
}

static bool check_text(const char *name, const char *text, uint64_t seed)
{
    GcProgram gp;
    gc_load(&gp, name, text, strlen(text));
    bool ok = run_one(&gp, seed);
    gc_free(&gp);
    return ok;
}

static bool check_file(const char *path)
{
    GcProgram gp;
    bool loaded = gc_load_file(&gp, path);
    if (!loaded && !gp.arena) {
        printf("FAIL %s: cannot read\n", path);
        nprog++;
        nfail++;
        return false;
    }
    bool ok = run_one(&gp, 1);
    gc_free(&gp);
    return ok;
}

/* ------------------------------------------------------------ examples */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_examples(void)
{
    const char *env = getenv("GRADC_EXAMPLES");
    const char *cands[] = {env, "examples", "../examples", "../../examples",
                           "../../../examples"};
    DIR *d = NULL;
    const char *dir = NULL;
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !d; i++)
        if (cands[i] && (d = opendir(cands[i])))
            dir = cands[i];
    if (!d) {
        printf("FAIL examples: no examples directory found (set "
               "GRADC_EXAMPLES or run from the repository root)\n");
        nprog++;
        nfail++;
        return;
    }
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".grad") == 0) {
            names = realloc(names, (size_t)(n + 1) * sizeof *names);
            size_t sz = strlen(dir) + len + 2;
            names[n] = malloc(sz);
            snprintf(names[n], sz, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    printf("== examples (%s): %d files\n", dir, n);
    if (n == 0) {
        printf("FAIL examples: no .grad files in %s\n", dir);
        nprog++;
        nfail++;
    }
    for (int i = 0; i < n; i++) {
        check_file(names[i]);
        free(names[i]);
    }
    free(names);
}

/* ------------------------------------------------------ every op alone */

typedef struct Case {
    const char *name, *text;
} Case;

/* Each program weights its result with random data R where that makes every
 * element of the gradient different (sum(X * R) rather than sum(X)). */
static const Case op_cases[] = {
    {"add", "input A[2,3], B[2,3]\ndata R[2,3]\nL = sum((A + B) * R)\n"},
    {"sub", "input A[2,3], B[2,3]\ndata R[2,3]\nL = sum((A - B) * R)\n"},
    {"mul", "input A[2,3], B[2,3]\nL = sum(A * B)\n"},
    {"mul_self", "input A[2,3]\nL = sum(A * A * A)\n"},
    {"div", "input A[2,3], B[2,3]\nL = sum(A / (B * B + 1))\n"},
    {"div_exp", "input A[2,3], B[2,3]\ndata R[2,3]\nL = sum(A / exp(B) * R)\n"},
    {"div_self", "input A[2,3]\nL = sum((A * A + 1) / (A * A + 2))\n"},
    {"matmul", "input A[2,3], B[3,4]\ndata R[2,4]\nL = sum((A @ B) * R)\n"},
    {"matmul_vec", "input a[1,3], b[3,1]\nL = a @ b\n"},
    {"matmul_outer", "input a[3,1], b[1,2]\ndata R[3,2]\nL = sum(a @ b * R)\n"},
    {"matmul_self", "input A[3,3]\nL = sum(A @ A @ A)\n"},
    {"dot", "input A[3,2], B[2,2]\ndata R[3,2]\nL = sum(dot(A, B) * R)\n"},
    {"neg", "input A[2,3]\ndata R[2,3]\nL = sum(-A * R)\n"},
    {"pow2", "input A[2,3]\ndata R[2,3]\nL = sum(A ^ 2 * R)\n"},
    {"pow3", "input A[2,3]\ndata R[2,3]\nL = sum(A ^ 3 * R)\n"},
    {"pow3_shift", "input A[2,3]\nL = sum((A - 2) ^ 3)\n"},
    {"pow-1", "input A[2,3]\ndata R[2,3]\nL = sum((A * A + 0.5) ^ -1 * R)\n"},
    {"pow0.5", "input A[2,3]\ndata R[2,3]\nL = sum((A * A + 0.5) ^ 0.5 * R)\n"},
    {"pow-0.5", "input A[2,3]\ndata R[2,3]\nL = sum(exp(A) ^ -0.5 * R)\n"},
    {"pow1.5", "input A[2,3]\ndata R[2,3]\nL = sum(sigmoid(A) ^ 1.5 * R)\n"},
    {"pow-2", "input A[2,3]\nL = sum((A * A + 1) ^ -2)\n"},
    {"pow1", "input A[2,3]\ndata R[2,3]\nL = sum(A ^ 1 * R)\n"},
    {"pow0", "input A[2,3], B[2,3]\nL = sum(A ^ 0 * B)\n"},
    {"neg_pow_prec", "input A[2,3]\ndata R[2,3]\nL = sum((-A ^ 2) * R)\n"},
    {"transpose", "input A[2,3]\ndata R[3,2]\nL = sum(A.T * R)\n"},
    {"transpose_fn", "input A[2,3]\ndata R[3,3]\nL = sum(transpose(A) @ A * R)\n"},
    {"transpose_twice", "input A[2,3]\ndata R[2,3]\nL = sum(A.T.T * R)\n"},
    {"sigmoid", "input A[2,3]\ndata R[2,3]\nL = sum(sigmoid(A) * R)\n"},
    {"sigmoid_large", "input A[2,3]\nL = sum(sigmoid(A * 30))\n"},
    {"tanh", "input A[2,3]\ndata R[2,3]\nL = sum(tanh(A) * R)\n"},
    {"relu", "input A[2,3]\ndata R[2,3]\nL = sum(relu(A) * R)\n"},
    {"exp", "input A[2,3]\ndata R[2,3]\nL = sum(exp(A) * R)\n"},
    {"log", "input A[2,3]\ndata R[2,3]\nL = sum(log(A * A + 1) * R)\n"},
    {"log_exp", "input A[2,3]\nL = sum(log(exp(A) + 1))\n"},
    {"sqrt", "input A[2,3]\ndata R[2,3]\nL = sum(sqrt(A * A + 1) * R)\n"},
    {"abs", "input A[2,3]\ndata R[2,3]\nL = sum(abs(A) * R)\n"},
    {"step", "input A[2,3], B[2,3]\nL = sum(step(A) * B)\n"},
    {"sign", "input A[2,3], B[2,3]\nL = sum(sign(A) * B)\n"},
    {"softplus", "input A[2,3]\ndata R[2,3]\nL = sum(softplus(A * 3) * R)\n"},
    {"log_sigmoid", "input A[2,3]\ndata R[2,3]\nL = sum(log(sigmoid(A * 3)) * R)\n"},
    {"log_1m_sigmoid", "input A[2,3]\ndata R[2,3]\nL = sum(log(1 - sigmoid(A * 3)) * R)\n"},
    {"abs_sign", "input A[2,3]\nL = sum(abs(A) * sign(A))\n"},
    {"relu_step", "input A[2,3]\nL = sum(relu(A) * step(A) + relu(-A))\n"},
    {"sum", "input A[2,3]\nL = sum(A)\n"},
    {"sum_sq", "input A[2,3]\nL = sum(A) ^ 2\n"},
    {"sum_axis0", "input A[3,2]\ndata R[1,2]\nL = sum(sum(A, axis=0) * R)\n"},
    {"sum_axis1", "input A[3,2]\ndata R[3,1]\nL = sum(sum(A, axis=1) * R)\n"},
    {"sum_axis1_pos", "input A[3,2]\nL = sum(sum(A, 1) ^ 2)\n"},
    {"sum_axis0_pos", "input A[3,2]\nL = sum(exp(sum(A, 0)))\n"},
    {"mean", "input A[2,3]\ndata R[2,3]\nL = mean(A * R)\n"},
    {"mean_axis0", "input A[3,2]\nL = sum(mean(A, axis=0) ^ 2)\n"},
    {"mean_axis1", "input A[3,2]\nL = mean(mean(A, axis=1) ^ 3)\n"},
    {"center", "input A[3,4]\nL = sum((A - mean(A, axis=0)) ^ 2)\n"},
    {"logsumexp", "input A[3,4]\nL = sum(log(sum(exp(A), axis=1)))\n"},
    {"conv", "input A[4,5], W[2,3]\ndata R[3,3]\nL = sum(conv(A, W) * R)\n"},
    {"conv_full", "input A[3,3], W[3,3]\nL = conv(A, W)\n"},
    {"conv_1x1", "input A[3,4], W[1,1]\ndata R[3,4]\nL = sum(conv(A, W) * R)\n"},
    {"conv_row", "input A[1,5], W[1,2]\ndata R[1,4]\nL = sum(conv(A, W) * R)\n"},
    {"conv_col", "input A[5,1], W[3,1]\ndata R[3,1]\nL = sum(conv(A, W) * R)\n"},
    {"conv_chain", "input A[5,5], W[2,2], V[2,3]\nL = sum(conv(conv(A, W), V) ^ 2)\n"},
    {"conv_same", "input A[3,4], W[3,3]\ndata R[3,4]\nL = sum(conv(pad(A, 1), W) * R)\n"},
    {"conv_self", "input A[3,3]\nL = sum(conv(A, A))\n"},
    {"pad", "input A[2,3]\ndata R[4,5]\nL = sum(pad(A, 1) * R)\n"},
    {"pad_rows", "input A[2,3]\ndata R[6,3]\nL = sum(pad(A, 2, 0) * R)\n"},
    {"pad_cols", "input A[2,3]\ndata R[2,5]\nL = sum(pad(A, 0, 1) * R)\n"},
    {"pad0", "input A[2,3]\ndata R[2,3]\nL = sum(pad(A, 0) * R)\n"},
    {"pad_sigmoid", "input A[2,2]\nL = sum(sigmoid(pad(A, 1)))\n"},
    {"crop", "input A[4,5]\ndata R[2,1]\nL = sum(crop(A, 1, 2) * R)\n"},
    {"crop1", "input A[4,5]\ndata R[2,3]\nL = sum(crop(A, 1) * R)\n"},
    {"crop0", "input A[2,3]\ndata R[2,3]\nL = sum(crop(A, 0) * R)\n"},
    {"crop_pad", "input A[2,3]\ndata R[2,3]\nL = sum(crop(pad(A, 1, 2), 1, 2) * R)\n"},
    {"rot180", "input A[2,3]\ndata R[2,3]\nL = sum(rot180(A) * R)\n"},
    {"rot180_conv",
     "input A[4,4], W[2,3]\ndata R[3,2]\nL = sum(conv(A, rot180(W)) * R)\n"},
    {"ones_zeros", "input A[2,3]\nL = sum(A * ones(2, 3) + zeros(2, 3) + A * A)\n"},
    {"ones_bcast", "input A[2,3]\nL = sum(A * A * ones(1, 3) + zeros(2, 1))\n"},
    {"literals", "input A[2,3]\nL = sum(2 * A - A / 4 + 1 - 0.5 * A ^ 2 + 2.5E+0 * A)\n"},
    {"literal_1e", "input A[2,3]\nL = sum(1e-1 * A ^ 2 + A * 1e0)\n"},
    {"multi_use", "input A[2,2]\nB = A * A\nC = B @ A + A.T\nL = sum(C * A)\n"},
    {"reuse_var", "input X[3,3]\nY = tanh(X)\nZ = Y @ Y.T + Y\nL = mean(Z * Y)\n"},
    {"diamond",
     "input X[2,2]\nA = exp(X)\nB = A * X\nC = A + B\nL = sum(C * B / (A + 1))\n"},
    {"dup_subexpr", "input A[2,3]\nL = sum(exp(A) * exp(A) + exp(A))\n"},
    {"unused_input", "input A[2,2], U[2,2]\nL = sum(A * A)\n"},
    {"only_data_path", "input A[2,2]\ndata D[2,2]\nL = sum(A @ D)\n"},
    {"scalar_input", "input s[1,1], A[2,2]\nL = sum(A * s) + s ^ 2\n"},
    {"scalar_chain", "input s[1,1]\nL = sigmoid(s) * 2 + tanh(s) * s\n"},
    {"seed_conv", "# seed_conv.grad\ninput A[3, 3], W[2, 2], B[2, 2]\nC = conv(A, W)\n"
                  "L = sum(sigmoid(C * B))\n"},
    {"one_line", "input A[3,3]; input W[2,2], B[2,2]; C = conv(A, W); "
                 "L = sum(sigmoid(C*B)) # all on one line"},
    {"semicolons", "input A[2,2];;; B = A * 2; L = sum(B ^ 2) # comment\n"},
    {"crlf", "input A[2,2]\r\nB = tanh(A)\r\nL = sum(B ^ 3)\r\n"},
    {"multiline_parens", "input A[2,\n 2]\nL = sum(\n  A *\n  A\n)\n"},
    {"keyword_names", "input int[2,2]\nreturn = int * 2\ndouble = return ^ 2\n"
                      "L = sum(double)\n"},
    {"name_clash", "input t1[2,2], dt1[2,2]\nx = tanh(t1 * dt1)\nL = sum(x * t1)\n"},
    {"name_clash2",
     "input A[2,2], dA[2,2]\nt1 = A * dA\nt2 = sigmoid(t1)\nL = sum(t2 * t1)\n"},
    {"mlp", "input W1[4,3], b1[4,1], W2[2,4], b2[2,1]\ndata X[3,5], Y[2,5]\n"
            "H = tanh(W1 @ X + b1)\nO = sigmoid(W2 @ H + b2)\nL = mean((O - Y) ^ 2)\n"},
    {"mlp_relu", "input W1[3,4], b1[1,4], W2[4,2], b2[1,2]\ndata X[5,3], Y[5,2]\n"
                 "H = relu(X @ W1 + b1)\nO = H @ W2 + b2\nL = sum((O - Y) ^ 2) / 5\n"},
    {"cnn", "input K[2,2], b[1,1], V[3,3]\ndata I[5,5]\n"
            "F = relu(conv(I, K) + b)\nG = conv(pad(F, 1), V)\nL = mean(sigmoid(G))\n"},
};

/* Edge cases of simplification and of the rules at exact zeros (padding
 * makes exact zeros that relu/abs/sign/^ see; their derivative there is the
 * one of the rules, and FD agrees since the zeros never move). */
static const Case edge_cases[] = {
    {"sub_self", "input A[2,2]\nL = sum(A - A)\n"},
    {"div_same", "input A[2,2]\nL = sum((A*A+1) / (A*A+1))\n"},
    {"mul_zero", "input A[2,2]\nL = sum(A * 0)\n"},
    {"zero_mul", "input A[2,2]\nL = sum(0 * A + A)\n"},
    {"negneg", "input A[2,2]\nL = sum(-(-A))\n"},
    {"zeros_mm", "input A[2,2]\nL = sum(zeros(2,2) @ A)\n"},
    {"sum_minus_sum", "input A[2,2]\nL = sum(A) - sum(A)\n"},
    {"mean_zero", "input A[2,2]\nL = mean(A) * 0\n"},
    {"no_input_affects", "input A[2,2]\nL = sum(ones(2,2))\n"},
    {"result_is_input", "input A[1,1]\nL = A\n"},
    {"result_const", "input A[1,1]\nB = A * 2\nL = 2\n"},
    {"unused_named", "input A[2,2]\nB = exp(A)\nL = sum(A)\n"},
    {"nonscalar_result", "input A[2,2]\nL = sum(A)\nM = A * 2\n"},
    {"conv_1x1_1x1", "input A[1,1], W[1,1]\nL = conv(A, W)\n"},
    {"pad_scalar", "input A[1,1]\ndata R[5,7]\nL = sum(pad(A, 2, 3) * R)\n"},
    {"rot_row", "input A[1,4]\ndata R[1,4]\nL = sum(rot180(A) * R)\n"},
    {"sum_unit_axis", "input A[1,3], B[3,1]\nL = sum(sum(A, axis=0) ^ 2) + "
                      "sum(sum(B, axis=1) ^ 2) + sum(mean(A, axis=0) * A)\n"},
    {"t_scalar", "input s[1,1]\nL = s.T * s\n"},
    {"scalar_ops", "input s[1,1], t[1,1]\nL = s / (t * t + 1) - s * t + s - t\n"},
    {"pow-1_shift", "input A[2,2]\nL = sum((A - 2) ^ -1)\n"},
    {"relu_pad", "input A[2,2]\ndata R[4,4]\nL = sum(relu(pad(A, 1)) * R)\n"},
    {"abs_pad", "input A[2,2]\ndata R[4,4]\nL = sum(abs(pad(A, 1)) * R)\n"},
    {"pow0_pad", "input A[2,2]\nL = sum(pad(A, 1) ^ 0 * 3)\n"},
    {"pow1.5_pad", "input A[2,2]\nL = sum((pad(A, 1) ^ 2) ^ 1.5)\n"},
    {"sqrt_pad", "input A[2,2]\nL = sum(sqrt(pad(A, 1) ^ 2 + 1))\n"},
    {"sign_pad", "input A[2,2]\nL = sum(sign(pad(A, 1)) * pad(A, 1))\n"},
    {"same_bcast", "input A[2,3], b[1,3]\nL = sum((A + b) * (A - b) / (b * b + 1))\n"},
    {"outer_self", "input r[1,3]\nL = sum(r.T @ r + r.T * r)\n"},
    {"variance", "input A[3,4]\nL = mean((A - mean(A)) ^ 2)\n"},
    {"aliases", "input A[2,2]\nB = A\nC = B\nL = sum(C * B)\n"},
    {"alias_result", "input A[2,2]\nB = sum(A * A)\nL = B\n"},
    {"const_var", "input A[2,2]\nB = ones(2,2) * 3\nL = sum(A * B)\n"},
    {"neg_literal_prec", "input A[2,2]\nL = sum(-A ^ 2 - -A)\n"},
    {"t_of_mm", "input A[2,3], B[3,2]\nL = sum((A @ B).T @ A)\n"},
    {"pow10", "input A[2,2]\nL = sum((A * A + 1) ^ 10)\n"},
    {"sigmoid_gram", "input A[3,3]\nL = sum(sigmoid(A @ A.T))\n"},
};

/* A chain nested 200 levels deep (exercises the parser and the graph; the
 * evaluator is iterative). */
static char *deep_program(int depth)
{
    size_t cap = (size_t)depth * 8 + 64;
    char *s = malloc(cap);
    size_t n = (size_t)snprintf(s, cap, "input A[2,2]\nL = sum(");
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(s + n, cap - n, "tanh(");
    n += (size_t)snprintf(s + n, cap - n, "A");
    for (int i = 0; i < depth; i++)
        s[n++] = ')';
    snprintf(s + n, cap - n, ")\n");
    return s;
}

/* Broadcasting: every elementwise operator with a [1,n], [m,1] or [1,1]
 * operand on either side, and the outer [1,n] op [m,1]. */
static void check_broadcasting(void)
{
    const char ops[] = "+-*/";
    const char *small[] = {"[1,4]", "[3,1]", "[1,1]"};
    char text[512], name[64];
    for (int o = 0; o < 4; o++)
        for (int s = 0; s < 3; s++)
            for (int side = 0; side < 2; side++) {
                /* the divisor is kept away from zero */
                const char *a = "A", *b = "b";
                const char *A_ = ops[o] == '/' && side == 1 ? "(A * A + 1)" : a;
                const char *b_ = ops[o] == '/' && side == 0 ? "(b * b + 1)" : b;
                snprintf(text, sizeof text,
                         "input A[3,4], b%s\ndata R[3,4]\nL = sum((%s %c %s) * R)\n",
                         small[s], side ? b_ : A_, ops[o], side ? A_ : b_);
                snprintf(name, sizeof name, "bcast %c %s %s", ops[o], small[s],
                         side ? "left" : "right");
                check_text(name, text, 100 + (uint64_t)(o * 6 + s * 2 + side));
            }
    for (int o = 0; o < 4; o++) {
        snprintf(text, sizeof text,
                 "input r[1,4], c[3,1]\ndata R[3,4]\nL = sum((r %c %s) * R)\n", ops[o],
                 ops[o] == '/' ? "(c * c + 1)" : "c");
        snprintf(name, sizeof name, "bcast outer %c", ops[o]);
        check_text(name, text, 200 + (uint64_t)o);
    }
    check_text("bcast scalar both",
               "input s[1,1], t[1,1]\nL = sum((s * t + s / (t * t + 1)) * ones(2, 3))\n",
               300);
    check_text("bcast bias mean", "input X[3,4], b[3,1]\nL = mean(tanh(X + b))\n", 301);
}

/* grad_derive with a subset of the inputs (gradc grad --wrt): the derived
 * ones must still be right. */
static void check_wrt(void)
{
    const char *mlp = NULL, *cnn = NULL;
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++) {
        if (strcmp(op_cases[i].name, "mlp") == 0)
            mlp = op_cases[i].text;
        if (strcmp(op_cases[i].name, "cnn") == 0)
            cnn = op_cases[i].text;
    }
    static const struct {
        const char *name, *which, *wrt;
    } cases[] = {
        {"mlp --wrt W1", "mlp", "W1"},       {"mlp --wrt W2,b2", "mlp", "W2,b2"},
        {"mlp --wrt b1,W2", "mlp", "b1,W2"}, {"cnn --wrt K", "cnn", "K"},
        {"cnn --wrt V,b", "cnn", "V,b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = strcmp(cases[i].which, "mlp") == 0 ? mlp : cnn;
        GcProgram gp;
        gc_load_ex(&gp, cases[i].name, text, strlen(text), true, cases[i].wrt);
        run_one(&gp, 40 + i);
        gc_free(&gp);
    }
}

/* ------------------------------------------------------- the self-test */

typedef struct Corruption {
    int kind;
    int target; /* the var to corrupt (the first input seen), -1: first */
    int done;
} Corruption;

static void corrupt(int var, double *g, size_t n, void *ctx)
{
    Corruption *c = ctx;
    if (c->target < 0)
        c->target = var;
    if (var != c->target)
        return;
    double norm = 0;
    for (size_t i = 0; i < n; i++)
        norm = fmax(norm, fabs(g[i]));
    c->done = 1;
    switch (c->kind) {
    case 0: g[n / 2] += 1e-5 * fmax(norm, 1e-3); break; /* one element */
    case 1:
        for (size_t i = 0; i < n; i++)
            g[i] *= 1 + 1e-5;
        break; /* scale */
    case 2:
        for (size_t i = 0; i < n; i++)
            g[i] = 0;
        break;
    case 3: g[0] = NAN; break;
    case 4: {
        double t = g[0];
        g[0] = g[n - 1];
        g[n - 1] = t;
        break;
    }                                                   /* swap */
    case 5: g[n / 2] += 1e-9 * fmax(norm, 1e-3); break; /* below tol: passes */
    case 6:
        for (size_t i = 0; i < n; i++)
            g[i] = -g[i];
        break;
    }
}

static void self_test(void)
{
    static const char *kinds[] = {"one element +1e-5",
                                  "scaled by 1+1e-5",
                                  "zeroed",
                                  "NaN",
                                  "two elements swapped",
                                  "one element +1e-9 (within tol)",
                                  "negated"};
    const char *text = NULL;
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++)
        if (strcmp(op_cases[i].name, "mlp") == 0)
            text = op_cases[i].text;
    GcProgram gp;
    gc_load(&gp, "selftest(mlp)", text, strlen(text));
    for (int k = 0; k < 7; k++) {
        Corruption c = {k, -1, 0};
        GcOptions opt = {.seed = 7, .quiet = true, .corrupt = corrupt, .ctx = &c};
        GcResult res;
        bool ok = gc_check(&gp, &opt, &res);
        bool want = k == 5;
        nprog++;
        if (ok != want || !c.done || !res.checked) {
            nfail++;
            printf("FAIL self-test: corruption '%s': check %s (err %.2e), "
                   "expected %s\n",
                   kinds[k], ok ? "passed" : "failed", res.worst, want ? "pass" : "fail");
        } else if (verbose) {
            printf("ok   self-test: corruption '%s' -> %s (err %.2e)\n", kinds[k],
                   ok ? "passes" : "reported", res.worst);
        }
    }
    gc_free(&gp);

    /* A kink detector check: relu at inputs within 1e-3 of its kink must be
     * refused (no valid point), never passed or compared. */
    const char *kt = "input A[2,2]\nL = sum(relu(A))\n";
    gc_load(&gp, "selftest(kink)", kt, strlen(kt));
    GcOptions opt = {.seed = 3, .quiet = true, .lo = -1e-3, .hi = 1e-3};
    GcResult res;
    bool ok = gc_check(&gp, &opt, &res);
    nprog++;
    if (ok || res.checked || !strstr(res.why, "kink")) {
        nfail++;
        printf("FAIL self-test: inputs at a relu kink were not refused (%s)\n", res.why);
    } else if (verbose) {
        printf("ok   self-test: inputs at a relu kink refused (%s)\n", res.why);
    }
    gc_free(&gp);

    /* The value comparison notices a program that computes something else. */
    {
        const char *t2 = "input A[2,2]\nB = A * 2\nL = sum(B)\n";
        const char *t3 = "input A[2,2]\nB = A * (2 + 1e-9)\nL = sum(B)\n";
        GcProgram g2, g3;
        gc_load(&g2, "two", t2, strlen(t2));
        gc_load(&g3, "three", t3, strlen(t3));
        GcVals v2;
        gc_vals_new(&v2, g2.p);
        for (int j = 0; j < 4; j++)
            v2.v[prog_find(g2.p, "A")][j] = j + 1;
        eval_prog(g2.p, v2.v);
        char why[256] = "";
        bool same = gc_same_values("self", g2.p, v2.v, g3.written, why, sizeof why);
        bool same2 = gc_same_values("self", g2.p, v2.v, g2.written, why, sizeof why);
        nprog++;
        if (same || !same2) {
            nfail++;
            printf("FAIL self-test: value comparison (different: %s, same: %s)\n",
                   same ? "passed" : "failed", same2 ? "passed" : "failed");
        } else if (verbose) {
            printf("ok   self-test: a program computing A * (2 + 1e-9) for A * 2 "
                   "is reported\n");
        }
        gc_vals_free(&v2);
        gc_free(&g2);
        gc_free(&g3);
    }

    /* A program the front end rejects is a failure, not a pass. */
    const char *rt = "input A[2,3]\nL = sum(A @ A)\n";
    gc_load(&gp, "selftest(reject)", rt, strlen(rt));
    opt = (GcOptions){.seed = 1, .quiet = true};
    ok = gc_check(&gp, &opt, &res);
    nprog++;
    if (ok) {
        nfail++;
        printf("FAIL self-test: a rejected program passed the check\n");
    } else if (verbose) {
        printf("ok   self-test: a rejected program is reported (%s)\n", res.why);
    }
    gc_free(&gp);
}

int main(int argc, char **argv)
{
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else
            argv[++nfiles] = argv[i];
    }
    if (nfiles > 0) {
        for (int i = 1; i <= nfiles; i++)
            check_file(argv[i]);
    } else {
        check_examples();
        printf("== every op alone\n");
        for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++)
            check_text(op_cases[i].name, op_cases[i].text, 11 + i);
        printf("== edge cases\n");
        for (size_t i = 0; i < sizeof edge_cases / sizeof edge_cases[0]; i++)
            check_text(edge_cases[i].name, edge_cases[i].text, 500 + i);
        char *deep = deep_program(200);
        check_text("deep tanh x200", deep, 5);
        free(deep);
        deep = deep_program(1000);
        check_text("deep tanh x1000", deep, 6);
        free(deep);
        printf("== --wrt subsets\n");
        check_wrt();
        printf("== broadcasting\n");
        check_broadcasting();
        printf("== harness self-test\n");
        self_test();
    }
    printf("gradcheck: %d programs, %d inputs checked, %d failed; worst err "
           "%.2e (%s)\n",
           nprog, ninputs, nfail, worst, worst_name ? worst_name : "-");
    return nfail ? 1 : 0;
}
