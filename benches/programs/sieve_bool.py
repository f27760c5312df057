# Sieve of Eratosthenes below n over a list of bools, as
# benches/programs/sieve_bool.kasm does over an array<bool>.
import sys


def main(n):
    prime = [True] * n
    i = 2
    while i * i < n:
        if prime[i]:
            for j in range(i * i, n, i):
                prime[j] = False
        i += 1
    count = 0
    for k in range(2, n):
        if prime[k]:
            count += 1
    print(count)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
