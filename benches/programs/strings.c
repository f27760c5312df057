/* The strings workload, as benches/programs/strings.kasm: a hash table of n
 * malloc'd string keys ("k0", "k1", ...) to ints, then every key built again
 * from its number and looked up; prints the sum of the values found.
 * Open addressing with linear probing, FNV-1a, doubling at half full.
 *   gcc -O2 -o strings strings.c && ./strings [N]   (default 1000000) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    long value;
} Slot;

typedef struct {
    Slot *slots;
    size_t cap, len;
} Table;

static uint64_t hash(const char *s) {
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (!p) {
        perror("calloc");
        exit(1);
    }
    return p;
}

/* The slot holding key, or the empty slot where it would go. */
static Slot *find(const Table *t, const char *key) {
    size_t mask = t->cap - 1, j = hash(key) & mask;
    while (t->slots[j].key && strcmp(t->slots[j].key, key) != 0) j = (j + 1) & mask;
    return &t->slots[j];
}

static void grow(Table *t) {
    Table bigger = {xcalloc(t->cap * 2, sizeof(Slot)), t->cap * 2, t->len};
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key) *find(&bigger, t->slots[i].key) = t->slots[i];
    free(t->slots);
    *t = bigger;
}

static void set(Table *t, const char *key, long value) {
    if (2 * (t->len + 1) > t->cap) grow(t);
    Slot *s = find(t, key);
    if (!s->key) {
        s->key = strdup(key);
        if (!s->key) {
            perror("strdup");
            exit(1);
        }
        t->len++;
    }
    s->value = value;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    Table t = {xcalloc(16, sizeof(Slot)), 16, 0};
    char key[32];
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%ld", i);
        set(&t, key, i);
    }
    long sum = 0;
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%ld", i);
        Slot *s = find(&t, key);
        if (!s->key) {
            fprintf(stderr, "key not found: %s\n", key);
            return 1;
        }
        sum += s->value;
    }
    printf("%ld\n", sum);
    for (size_t i = 0; i < t.cap; i++) free(t.slots[i].key);
    free(t.slots);
    return 0;
}
