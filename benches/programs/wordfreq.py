# Word frequencies, as benches/programs/wordfreq.kasm: a text of N
# pseudo-random words (1 to 4 syllables of 16, Park-Miller seeded with 42),
# split on spaces and counted in a dict.
import sys

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "an", "el", "is", "or", "um", "ba", "de", "fu"]
seed = 42


def next_random():
    global seed
    seed = seed * 16807 % 2147483647
    return seed


def make_word():
    k = next_random() % 4 + 1
    w = ""
    for _ in range(k):
        w += SYLLABLES[next_random() % 16]
    return w


def make_text(n):
    return " ".join(make_word() for _ in range(n))


def main(n):
    counts = {}
    total = 0
    for w in make_text(n).split():
        counts[w] = counts.get(w, 0) + 1
        total += 1
    best, best_word, squares = 0, "", 0
    for w, c in counts.items():
        squares += c * c
        if c > best or (c == best and w < best_word):
            best, best_word = c, w
    print("words", total)
    print("distinct", len(counts))
    print("most frequent", best_word, best)
    print("sum of squared counts", squares)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
