/* The issue 12 loop: s += (i*31 + 7) % 1009 for i in 0..n-1.
 *   gcc -O2 -o loop_mod loop_mod.c && ./loop_mod [N]   (default 100000000) */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000000;
    long s = 0;
    for (long i = 0; i < n; i++) s += (i * 31 + 7) % 1009;
    printf("%ld\n", s);
    return 0;
}
