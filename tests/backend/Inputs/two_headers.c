/* two_headers.c: two generated headers in one translation unit, after the
 * standard headers whose macros a parameter name could collide with. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlp.h"
#include "seed_conv.h"
#include "mlp.h" /* twice: include guards */

int main(void) { return 0; }
