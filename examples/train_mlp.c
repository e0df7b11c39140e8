/* train_mlp.c: trains the two-layer perceptron of mlp.grad by gradient
 * descent, calling the shared object that `gradc build` made of it.
 *
 *   gradc build examples/mlp.grad -o mlp.so        (writes mlp.so and mlp.h)
 *   cc -std=c99 -O2 -I. examples/train_mlp.c ./mlp.so -Wl,-rpath,. -lm -o train_mlp
 *   ./train_mlp
 *
 * The data set is made here: 64 points in 4 dimensions, labelled 1 inside
 * a sphere-like region and 0 outside (not linearly separable, so the hidden
 * layer matters). mlp.grad takes one batch of 8 examples, one per column of
 * X [4, 8]; an epoch is 8 batches. mlp_grad returns the loss and the
 * gradient of the loss with respect to every weight in one call.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

enum { FEATURES = 4, BATCH = 8, HIDDEN = 16, POINTS = 64, EPOCHS = 400 };

/* A small fixed generator, so every run trains the same way. */
static unsigned long long rng_state = 0x853c49e6748fea9bULL;

static double uniform(double lo, double hi)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

int main(void)
{
    static double points[POINTS][FEATURES], labels[POINTS];
    int positives = 0;
    for (int n = 0; n < POINTS; n++) {
        double r2 = 0;
        for (int f = 0; f < FEATURES; f++) {
            points[n][f] = uniform(-1, 1);
            r2 += points[n][f] * points[n][f];
        }
        labels[n] = r2 < 1.2 ? 1.0 : 0.0;
        positives += labels[n] > 0;
    }
    printf("data: %d points in %d dimensions, %d labelled 1\n", POINTS, FEATURES, positives);

    /* the model's parameters, as mlp.h lays them out (row-major) */
    double W1[HIDDEN * FEATURES], b1[HIDDEN], W2[HIDDEN], b2[1];
    double dW1[HIDDEN * FEATURES], db1[HIDDEN], dW2[HIDDEN], db2[1];
    for (int i = 0; i < HIDDEN * FEATURES; i++)
        W1[i] = uniform(-1, 1);
    for (int i = 0; i < HIDDEN; i++) {
        b1[i] = 0;
        W2[i] = uniform(-0.5, 0.5);
    }
    b2[0] = 0;

    const gradc_model *m = mlp_model();
    printf("model %s: %d arguments, %s\n", m->name, m->nargs,
           m->dtype == GRADC_F64 ? "double" : "float");

    const double rate = 0.5;
    double first = 0, last = 0;
    for (int epoch = 0; epoch <= EPOCHS; epoch++) {
        double total = 0;
        for (int batch = 0; batch < POINTS / BATCH; batch++) {
            double X[FEATURES * BATCH], Y[BATCH], L;
            for (int j = 0; j < BATCH; j++) { /* one example per column */
                int n = batch * BATCH + j;
                for (int f = 0; f < FEATURES; f++)
                    X[f * BATCH + j] = points[n][f];
                Y[j] = labels[n];
            }
            mlp_grad(X, Y, W1, b1, W2, b2, &L, dW1, db1, dW2, db2);
            total += L;
            for (int i = 0; i < HIDDEN * FEATURES; i++)
                W1[i] -= rate * dW1[i];
            for (int i = 0; i < HIDDEN; i++) {
                b1[i] -= rate * db1[i];
                W2[i] -= rate * dW2[i];
            }
            b2[0] -= rate * db2[0];
        }
        double mean = total / (POINTS / BATCH);
        if (epoch == 0)
            first = mean;
        last = mean;
        if (epoch % 50 == 0)
            printf("epoch %3d  loss %.6f\n", epoch, mean);
    }

    /* accuracy: the forward pass of mlp.grad, written out, with the trained weights */
    int correct = 0;
    for (int batch = 0; batch < POINTS / BATCH; batch++)
        for (int j = 0; j < BATCH; j++) {
            int n = batch * BATCH + j;
            double z2 = b2[0];
            for (int h = 0; h < HIDDEN; h++) {
                double z1 = b1[h];
                for (int f = 0; f < FEATURES; f++)
                    z1 += W1[h * FEATURES + f] * points[n][f];
                z2 += W2[h] * tanh(z1);
            }
            correct += (z2 > 0) == (labels[n] > 0.5);
        }
    printf("loss %.6f -> %.6f, training accuracy %d/%d\n", first, last, correct, POINTS);
    return last < 0.5 * first ? 0 : 1;
}
