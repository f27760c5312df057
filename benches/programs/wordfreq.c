/* Word frequencies, as benches/programs/wordfreq.kasm: a text of N
 * pseudo-random words (1 to 4 syllables of 16, Park-Miller seeded with 42),
 * split on spaces and counted in an open-addressing hash table of
 * strdup'ed words.
 *   gcc -O2 -o wordfreq wordfreq.c && ./wordfreq [N]   (default 1000000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *syllables[16] = {"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo",
                                    "an", "el", "is", "or", "um", "ba", "de", "fu"};
static long seed = 42;

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n);
    if (!p) {
        perror("realloc");
        exit(1);
    }
    return p;
}

static long next_random(void) {
    seed = seed * 16807 % 2147483647;
    return seed;
}

/* Writes a word into w (room for 4 syllables and the NUL). */
static void make_word(char *w) {
    long k = next_random() % 4 + 1;
    w[0] = '\0';
    for (long i = 0; i < k; i++) strcat(w, syllables[next_random() % 16]);
}

static char *make_text(long n) {
    size_t len = 0, cap = 16;
    char *text = xrealloc(NULL, cap);
    char w[9];
    for (long i = 0; i < n; i++) {
        make_word(w);
        size_t wl = strlen(w);
        if (len + wl + 2 > cap) {
            while (len + wl + 2 > cap) cap *= 2;
            text = xrealloc(text, cap);
        }
        if (i > 0) text[len++] = ' ';
        memcpy(text + len, w, wl);
        len += wl;
    }
    text[len] = '\0';
    return text;
}

struct entry {
    char *word;
    long count;
};
static struct entry *table;
static size_t cap = 1024, used;

static size_t hash(const char *s) {
    size_t h = 14695981039346656037u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct entry *slot(struct entry *t, size_t c, const char *w) {
    size_t i = hash(w) & (c - 1);
    while (t[i].word && strcmp(t[i].word, w) != 0) i = (i + 1) & (c - 1);
    return &t[i];
}

static void add(const char *w) {
    if (2 * (used + 1) > cap) {
        size_t nc = cap * 2;
        struct entry *nt = calloc(nc, sizeof *nt);
        if (!nt) {
            perror("calloc");
            exit(1);
        }
        for (size_t i = 0; i < cap; i++)
            if (table[i].word) *slot(nt, nc, table[i].word) = table[i];
        free(table);
        table = nt;
        cap = nc;
    }
    struct entry *e = slot(table, cap, w);
    if (!e->word) {
        e->word = strdup(w);
        used++;
    }
    e->count++;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    table = calloc(cap, sizeof *table);
    if (!table) {
        perror("calloc");
        return 1;
    }
    char *text = make_text(n);
    long total = 0;
    for (char *w = strtok(text, " "); w; w = strtok(NULL, " ")) {
        add(w);
        total++;
    }
    long best = 0, squares = 0;
    const char *best_word = "";
    for (size_t i = 0; i < cap; i++) {
        struct entry *e = &table[i];
        if (!e->word) continue;
        squares += e->count * e->count;
        if (e->count > best || (e->count == best && strcmp(e->word, best_word) < 0)) {
            best = e->count;
            best_word = e->word;
        }
    }
    printf("words %ld\ndistinct %zu\nmost frequent %s %ld\nsum of squared counts %ld\n", total, used, best_word, best,
           squares);
    return 0;
}
