# A 100M-iteration integer loop: sum of 0..n-1.
import sys
def main(n):
    s = 0
    for i in range(n):
        s += i
    print(s)
main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000_000)
