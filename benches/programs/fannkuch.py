# Fannkuch-redux (the Benchmarks Game algorithm), as
# benches/programs/fannkuch.kasm: prints the checksum and the most flips.
import sys


def count_flips(perm1, perm):
    n = len(perm1)
    for i in range(n):
        perm[i] = perm1[i]
    flips = 0
    k = perm[0]
    while k != 0:
        i, j = 0, k
        while i < j:
            perm[i], perm[j] = perm[j], perm[i]
            i += 1
            j -= 1
        flips += 1
        k = perm[0]
    return flips


def fannkuch(n):
    perm1 = list(range(n))
    perm = [0] * n
    count = [0] * n
    r = n
    max_flips = checksum = perm_count = 0
    while True:
        while r != 1:
            count[r - 1] = r
            r -= 1
        flips = count_flips(perm1, perm)
        max_flips = max(max_flips, flips)
        checksum += flips if perm_count % 2 == 0 else -flips
        while True:
            if r == n:
                print(checksum)
                print("Pfannkuchen(%d) = %d" % (n, max_flips))
                return
            perm0 = perm1[0]
            for i in range(r):
                perm1[i] = perm1[i + 1]
            perm1[r] = perm0
            count[r] -= 1
            if count[r] > 0:
                break
            r += 1
        perm_count += 1


fannkuch(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
