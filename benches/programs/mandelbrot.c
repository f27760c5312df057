/* Mandelbrot: an N x N grid over [-1.5, 0.5] x [-1, 1], at most 50
 * iterations a point; prints the points inside and the sum of the
 * iteration counts, as benches/programs/mandelbrot.kasm.
 *   gcc -O2 -o mandelbrot mandelbrot.c && ./mandelbrot [N]   (default 1000) */
#include <stdio.h>
#include <stdlib.h>

static int mandel(double cr, double ci) {
    double zr = 0.0, zi = 0.0;
    for (int i = 0; i < 50; i++) {
        double t = zr * zr - zi * zi + cr;
        zi = 2.0 * zr * zi + ci;
        zr = t;
        if (zr * zr + zi * zi > 4.0) return i;
    }
    return 50;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    double size = (double)n;
    long inside = 0, total = 0;
    for (long y = 0; y < n; y++) {
        double ci = 2.0 * y / size - 1.0;
        for (long x = 0; x < n; x++) {
            int k = mandel(2.0 * x / size - 1.5, ci);
            total += k;
            if (k == 50) inside++;
        }
    }
    printf("%ld\n%ld\n", inside, total);
    return 0;
}
