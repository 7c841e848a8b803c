/* Bulk loader for bench-api.sh: writes N host objects straight into a
 * weftd store (same keys and JSON as the API writes), in transactions of
 * 10,000, so the "start with 1,000,000 objects" figure can be measured
 * without pushing a million objects through HTTP first.
 *   usage: bench-api-load STATE_DIR N */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"

struct load_batch {
    unsigned long first, count; /* host numbers */
};

static int
load_txn(struct store_txn *txn, void *aux)
{
    const struct load_batch *b = aux;
    char key[64], value[160];

    for (unsigned long i = b->first; i < b->first + b->count; i++) {
        snprintf(key, sizeof key, "o1/hosts/bulk%07lu", i);
        snprintf(value, sizeof value,
                 "{\"tunnel_endpoint\":\"10.%lu.%lu.%lu\",\"status\":"
                 "\"unknown\",\"_create_time\":0,\"_last_modified\":0}",
                 (i >> 16) & 255, (i >> 8) & 255, i & 255);
        int error = store_txn_put(txn, key, value, strlen(value));
        if (error) {
            return error;
        }
    }
    return 0;
}

int
main(int argc, char *argv[])
{
    struct store *store;
    char url[4096];
    unsigned long n;
    int error;

    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE_DIR N\n", argv[0]);
        return 2;
    }
    n = strtoul(argv[2], NULL, 10);
    mkdir(argv[1], 0700);
    snprintf(url, sizeof url, "sqlite:%s/store", argv[1]);
    error = store_open(url, NULL, &store);
    if (error) {
        fprintf(stderr, "store_open: %s\n", strerror(error));
        return 1;
    }
    for (unsigned long first = 0; first < n && !error; first += 10000) {
        struct load_batch b = {first, n - first < 10000 ? n - first : 10000};
        error = store_txn_run(store, load_txn, &b, NULL);
    }
    store_close(store);
    if (error) {
        fprintf(stderr, "load: %s\n", strerror(error));
        return 1;
    }
    return 0;
}
