/* The Benchmarks Game binary-trees, same algorithm as
 * examples/binary_trees.kasm: every node malloc'd, every tree freed after
 * its check.
 *   gcc -O2 -o binary_trees binary_trees.c && ./binary_trees [MAX_DEPTH] */
#include <stdio.h>
#include <stdlib.h>

typedef struct Node {
    struct Node *left, *right;
} Node;

static Node *make(int d) {
    Node *n = malloc(sizeof *n);
    if (!n) {
        perror("malloc");
        exit(1);
    }
    if (d > 0) {
        n->left = make(d - 1);
        n->right = make(d - 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

static long check(const Node *t) {
    return t->left ? 1 + check(t->left) + check(t->right) : 1;
}

static void release(Node *t) {
    if (t->left) {
        release(t->left);
        release(t->right);
    }
    free(t);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10;
    int min_depth = 4;
    int max_depth = n > min_depth + 2 ? n : min_depth + 2;

    Node *stretch = make(max_depth + 1);
    printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, check(stretch));
    release(stretch);

    Node *long_lived = make(max_depth);
    for (int depth = min_depth; depth <= max_depth; depth += 2) {
        long iters = 1L << (max_depth - depth + min_depth), sum = 0;
        for (long i = 0; i < iters; i++) {
            Node *t = make(depth);
            sum += check(t);
            release(t);
        }
        printf("%ld\t trees of depth %d\t check: %ld\n", iters, depth, sum);
    }
    printf("long lived tree of depth %d\t check: %ld\n", max_depth, check(long_lived));
    release(long_lived);
    return 0;
}
