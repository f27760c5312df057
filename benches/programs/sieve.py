# Sieve of Eratosthenes below n, same algorithm as examples/sieve.kasm.
import sys
def main(n):
    flags = [1] * n
    i = 2
    while i * i < n:
        if flags[i]:
            j = i * i
            while j < n:
                flags[j] = 0
                j += i
        i += 1
    print(sum(flags[2:]))
main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
