/* Sieve of Eratosthenes below n, same algorithm as examples/sieve.kasm, with
 * one byte per flag (bool) as a C programmer writes it.
 *   gcc -O2 -o sieve sieve.c && ./sieve [N]   (default 10000000: 664579) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000000;
    if (n < 0) n = 0;
    bool *flags = malloc(n ? n : 1);
    if (!flags) {
        perror("malloc");
        return 1;
    }
    for (long i = 0; i < n; i++) flags[i] = true;
    for (long i = 2; i * i < n; i++)
        if (flags[i])
            for (long j = i * i; j < n; j += i) flags[j] = false;
    long count = 0;
    for (long i = 2; i < n; i++) count += flags[i];
    printf("%ld\n", count);
    free(flags);
    return 0;
}
