/* The n-body simulation of the Jovian planets (the Benchmarks Game
 * algorithm), with the bodies in global arrays of doubles, as
 * benches/programs/nbody.kasm. Prints the energy before and after.
 *   gcc -O2 -o nbody nbody.c -lm && ./nbody [STEPS]   (default 500000) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 5
#define PI 3.141592653589793
static const double days_per_year = 365.24;
static double solar_mass;

/* sun, jupiter, saturn, uranus, neptune */
static double x[N] = {0.0, 4.84143144246472090e+00, 8.34336671824457987e+00, 1.28943695621391310e+01,
                      1.53796971148509165e+01};
static double y[N] = {0.0, -1.16032004402742839e+00, 4.12479856412430479e+00, -1.51111514016986312e+01,
                      -2.59193146099879641e+01};
static double z[N] = {0.0, -1.03622044471123109e-01, -4.03523417114321381e-01, -2.23307578892655734e-01,
                      1.79258772950371181e-01};
static double vx[N] = {0.0, 1.66007664274403694e-03, -2.76742510726862411e-03, 2.96460137564761618e-03,
                       2.68067772490389322e-03};
static double vy[N] = {0.0, 7.69901118419740425e-03, 4.99852801234917238e-03, 2.37847173959480950e-03,
                       1.62824170038242295e-03};
static double vz[N] = {0.0, -6.90460016972063023e-05, 2.30417297573763929e-05, -2.96589568540237556e-05,
                       -9.51592254519715870e-05};
static double mass[N] = {1.0, 9.54791938424326609e-04, 2.85885980666130812e-04, 4.36624404335156298e-05,
                         5.15138902046611451e-05};

static void init(void) {
    solar_mass = 4.0 * PI * PI;
    for (int i = 0; i < N; i++) {
        vx[i] *= days_per_year;
        vy[i] *= days_per_year;
        vz[i] *= days_per_year;
        mass[i] *= solar_mass;
    }
}

static void offset_momentum(void) {
    double px = 0.0, py = 0.0, pz = 0.0;
    for (int i = 0; i < N; i++) {
        px += vx[i] * mass[i];
        py += vy[i] * mass[i];
        pz += vz[i] * mass[i];
    }
    vx[0] = -px / solar_mass;
    vy[0] = -py / solar_mass;
    vz[0] = -pz / solar_mass;
}

static double energy(void) {
    double e = 0.0;
    for (int i = 0; i < N; i++) {
        e += 0.5 * mass[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
        for (int j = i + 1; j < N; j++) {
            double dx = x[i] - x[j], dy = y[i] - y[j], dz = z[i] - z[j];
            e -= mass[i] * mass[j] / sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void advance(double dt) {
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            double dx = x[i] - x[j], dy = y[i] - y[j], dz = z[i] - z[j];
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * sqrt(d2));
            vx[i] -= dx * mass[j] * mag;
            vy[i] -= dy * mass[j] * mag;
            vz[i] -= dz * mass[j] * mag;
            vx[j] += dx * mass[i] * mag;
            vy[j] += dy * mass[i] * mag;
            vz[j] += dz * mass[i] * mag;
        }
    }
    for (int i = 0; i < N; i++) {
        x[i] += dt * vx[i];
        y[i] += dt * vy[i];
        z[i] += dt * vz[i];
    }
}

int main(int argc, char **argv) {
    long steps = argc > 1 ? atol(argv[1]) : 500000;
    init();
    offset_momentum();
    printf("%.9f\n", energy());
    for (long k = 0; k < steps; k++) advance(0.01);
    printf("%.9f\n", energy());
    return 0;
}
