# The Benchmarks Game binary-trees, same algorithm as examples/binary_trees.kasm.
import sys
def make(d):
    return [make(d - 1), make(d - 1)] if d > 0 else [None, None]
def check(t):
    return 1 + check(t[0]) + check(t[1]) if t[0] is not None else 1
def main(n):
    min_depth = 4
    max_depth = max(min_depth + 2, n)
    print(f"stretch tree of depth {max_depth + 1}\t check: {check(make(max_depth + 1))}")
    long_lived = make(max_depth)
    for depth in range(min_depth, max_depth + 1, 2):
        iters = 1 << (max_depth - depth + min_depth)
        s = sum(check(make(depth)) for _ in range(iters))
        print(f"{iters}\t trees of depth {depth}\t check: {s}")
    print(f"long lived tree of depth {max_depth}\t check: {check(long_lived)}")
main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
