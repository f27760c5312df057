/* Fannkuch-redux (the Benchmarks Game algorithm), as
 * benches/programs/fannkuch.kasm: prints the checksum and the most flips.
 *   gcc -O2 -o fannkuch fannkuch.c && ./fannkuch [N]   (default 10, N >= 1) */
#include <stdio.h>
#include <stdlib.h>

static int count_flips(int n, const int *perm1, int *perm) {
    for (int i = 0; i < n; i++) perm[i] = perm1[i];
    int flips = 0;
    int k = perm[0];
    while (k != 0) {
        for (int i = 0, j = k; i < j; i++, j--) {
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        flips++;
        k = perm[0];
    }
    return flips;
}

static void fannkuch(int n) {
    int *perm1 = malloc(n * sizeof *perm1), *perm = malloc(n * sizeof *perm), *count = malloc(n * sizeof *count);
    if (!perm1 || !perm || !count) {
        perror("malloc");
        exit(1);
    }
    for (int i = 0; i < n; i++) perm1[i] = i;
    int r = n, max_flips = 0;
    long checksum = 0, perm_count = 0;
    for (;;) {
        while (r != 1) {
            count[r - 1] = r;
            r--;
        }
        int flips = count_flips(n, perm1, perm);
        if (flips > max_flips) max_flips = flips;
        checksum += perm_count % 2 == 0 ? flips : -flips;
        for (;;) {
            if (r == n) {
                printf("%ld\nPfannkuchen(%d) = %d\n", checksum, n, max_flips);
                free(perm1), free(perm), free(count);
                return;
            }
            int perm0 = perm1[0];
            for (int i = 0; i < r; i++) perm1[i] = perm1[i + 1];
            perm1[r] = perm0;
            count[r]--;
            if (count[r] > 0) break;
            r++;
        }
        perm_count++;
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10;
    if (n < 1) n = 1;
    fannkuch(n);
    return 0;
}
