/* two_models.c: two generated shared objects linked into one program. */
#include <stdio.h>

#include "mlp.h"
#include "seed_conv.h"

int main(void)
{
    const gradc_model *a = seed_conv_model(), *b = mlp_model();
    printf("%s %s %d args, %s %s %d args\n", a->name, a->dtype == GRADC_F64 ? "f64" : "f32",
           a->nargs, b->name, b->dtype == GRADC_F32 ? "f32" : "f64", b->nargs);
    return 0;
}
