/* The reference for examples/mandelbrot.kasm: the Benchmarks Game
 * mandelbrot algorithm, written plainly. An N x N binary PBM (P4) image
 * on stdout: a pixel is 1 when 50 iterations of z = z^2 + c leave
 * |z|^2 <= 4.0; eight pixels a byte, most significant bit first, each row
 * padded with zero bits to a whole byte.
 *
 *   cc -O2 -ffp-contract=off -o mandelbrot examples/mandelbrot.c
 *   ./mandelbrot [N] > mandelbrot.pbm        (default 200)
 *
 * -ffp-contract=off keeps every multiply and add rounded on its own, as
 * Keel computes them, so the two agree bit for bit.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    if (n < 0)
        n = 0;
    printf("P4\n%d %d\n", n, n);
    for (int y = 0; y < n; y++) {
        double ci = 2.0 * y / n - 1.0;
        int acc = 0, bits = 0;
        for (int x = 0; x < n; x++) {
            double cr = 2.0 * x / n - 1.5;
            double zr = 0.0, zi = 0.0, tr = 0.0, ti = 0.0;
            for (int i = 0; i < 50 && tr + ti <= 4.0; i++) {
                zi = 2.0 * zr * zi + ci;
                zr = tr - ti + cr;
                tr = zr * zr;
                ti = zi * zi;
            }
            acc = (acc << 1) | (tr + ti <= 4.0);
            if (++bits == 8) {
                putchar(acc);
                acc = 0;
                bits = 0;
            }
        }
        if (bits > 0)
            putchar(acc << (8 - bits));
    }
    return 0;
}
