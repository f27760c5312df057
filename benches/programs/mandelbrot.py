# Mandelbrot: an N x N grid over [-1.5, 0.5] x [-1, 1], at most 50
# iterations a point; prints the points inside and the sum of the
# iteration counts, as benches/programs/mandelbrot.kasm.
import sys


def mandel(cr, ci):
    zr = zi = 0.0
    for i in range(50):
        zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
        if zr * zr + zi * zi > 4.0:
            return i
    return 50


def main(n):
    inside = total = 0
    for y in range(n):
        ci = 2.0 * y / n - 1.0
        for x in range(n):
            k = mandel(2.0 * x / n - 1.5, ci)
            total += k
            if k == 50:
                inside += 1
    print(inside)
    print(total)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
