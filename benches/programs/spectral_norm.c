/* Spectral norm (the Benchmarks Game algorithm), as
 * benches/programs/spectral_norm.kasm. Prints it to 9 decimals.
 *   gcc -O2 -o spectral_norm spectral_norm.c -lm && ./spectral_norm [N]   (default 1000) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double a(long i, long j) { return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1); }

static void mul_av(long n, const double *v, double *out) {
    for (long i = 0; i < n; i++) {
        double sum = 0.0;
        for (long j = 0; j < n; j++) sum += a(i, j) * v[j];
        out[i] = sum;
    }
}

static void mul_atv(long n, const double *v, double *out) {
    for (long i = 0; i < n; i++) {
        double sum = 0.0;
        for (long j = 0; j < n; j++) sum += a(j, i) * v[j];
        out[i] = sum;
    }
}

static void mul_atav(long n, const double *v, double *out, double *tmp) {
    mul_av(n, v, tmp);
    mul_atv(n, tmp, out);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    if (n < 0) n = 0;
    double *u = malloc((n + 1) * sizeof *u), *v = malloc((n + 1) * sizeof *v),
           *tmp = malloc((n + 1) * sizeof *tmp);
    if (!u || !v || !tmp) {
        perror("malloc");
        return 1;
    }
    for (long i = 0; i < n; i++) u[i] = 1.0, v[i] = 0.0;
    for (int k = 0; k < 10; k++) {
        mul_atav(n, u, v, tmp);
        mul_atav(n, v, u, tmp);
    }
    double vbv = 0.0, vv = 0.0;
    for (long i = 0; i < n; i++) {
        vbv += u[i] * v[i];
        vv += v[i] * v[i];
    }
    printf("%.9f\n", sqrt(vbv / vv));
    free(u), free(v), free(tmp);
    return 0;
}
