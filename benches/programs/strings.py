# The strings workload, as benches/programs/strings.kasm: a dict of n string
# keys to ints, then every key built again and looked up; prints the sum.
import sys
def main(n):
    m = {}
    for i in range(n):
        m["k" + str(i)] = i
    total = 0
    for i in range(n):
        total += m["k" + str(i)]
    print(total)
main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
