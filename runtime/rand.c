/* rand.c: splitmix64 (Steele, Lea, Flood 2014), the generator of the random
 * inputs of `gradc run` and `gradc check`. Integer arithmetic only, so the
 * same seed gives the same bits on every machine and every libc. */
#include "gradc_rt.h"

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rt_rand_init(RtRand *r, uint64_t seed, uint64_t stream)
{
    /* distinct streams start far apart: the start is itself a mixed value */
    r->state = mix64(seed ^ mix64(stream + 0x9e3779b97f4a7c15ull));
}

uint64_t rt_rand_next(RtRand *r)
{
    r->state += 0x9e3779b97f4a7c15ull;
    return mix64(r->state);
}

double rt_rand_uniform(RtRand *r, double lo, double hi)
{
    double u = (double)(rt_rand_next(r) >> 11) * 0x1.0p-53; /* [0, 1) exactly */
    return lo + (hi - lo) * u;
}

void rt_rand_fill(double *dst, int64_t n, uint64_t seed, uint64_t stream)
{
    RtRand r;
    rt_rand_init(&r, seed, stream);
    for (int64_t i = 0; i < n; i++)
        dst[i] = rt_rand_uniform(&r, -1.0, 1.0);
}
