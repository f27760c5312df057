# The issue 12 loop: s += (i*31 + 7) % 1009 for i in 0..n-1.
import sys


def main(n):
    s = 0
    for i in range(n):
        s += (i * 31 + 7) % 1009
    print(s)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000_000)
