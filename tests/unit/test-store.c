/* Unit tests for the store (store.h): both backends, transactions,
 * snapshots, the change feed, compaction, persistence, group commit, and a
 * randomized comparison of the SQLite backend against the naive memory
 * backend. */
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "testlib.h"

/* A fresh temp directory for a sqlite store, removed by tmp_cleanup(). */
static char tmp_dir[64];

static const char *
tmp_url(void)
{
    static char url[128];
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/weft-test-store.XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        abort();
    }
    snprintf(url, sizeof url, "sqlite:%s/db", tmp_dir);
    return url;
}

static void
tmp_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd)) {
        fprintf(stderr, "cleanup failed\n");
    }
}

/* A scripted transaction: puts (value non-NULL) and deletes, then fails
 * with 'fail' if non-zero. */
struct op {
    const char *key;   /* key */
    const char *value; /* value, NULL to delete */
};
struct script {
    const struct op *ops; /* operations */
    size_t n;             /* number of 'ops' */
    int fail;             /* error to return after the ops */
};

static int
run_script(struct store_txn *txn, void *aux)
{
    const struct script *sc = aux;
    for (size_t i = 0; i < sc->n; i++) {
        const struct op *op = &sc->ops[i];
        int error = op->value ? store_txn_put(txn, op->key, op->value,
                                              strlen(op->value))
                              : store_txn_delete(txn, op->key);
        if (error) {
            return error;
        }
    }
    return sc->fail;
}

static int
apply(struct store *s, const struct op *ops, size_t n, int fail, uint64_t *rev)
{
    struct script sc = {ops, n, fail};
    return store_txn_run(s, run_script, &sc, rev);
}

static int
put1(struct store *s, const char *key, const char *value, uint64_t *rev)
{
    struct op op = {key, value};
    return apply(s, &op, 1, 0, rev);
}

static bool
has_value(struct store *s, const char *key, uint64_t rev, const char *value)
{
    struct store_kv kv;
    int error = store_get(s, key, rev, &kv);
    bool ok = value ? !error && !strcmp(kv.value, value) : error == ENOENT;
    store_kv_clear(&kv);
    return ok;
}

static void
basic_ops(const char *url)
{
    struct store *s;
    struct store_kv kv;
    uint64_t rev;

    CHECK_EQ(store_open(url, NULL, &s), 0);
    CHECK_EQ(store_revision(s), 0);
    CHECK_EQ(store_get(s, "a", 0, &kv), ENOENT);
    CHECK_EQ(put1(s, "a", "1", &rev), 0);
    CHECK_EQ(rev, 1);
    CHECK_EQ(put1(s, "a", "2", &rev), 0);
    CHECK_EQ(rev, 2);
    CHECK_EQ(store_get(s, "a", 0, &kv), 0);
    CHECK_STREQ(kv.value, "2");
    CHECK_EQ(kv.create_rev, 1);
    CHECK_EQ(kv.mod_rev, 2);
    store_kv_clear(&kv);
    CHECK(has_value(s, "a", 1, "1"));
    CHECK_EQ(store_get(s, "a", 3, &kv), ERANGE);
    CHECK_EQ(put1(s, "a", NULL, &rev), 0);
    CHECK_EQ(rev, 3);
    CHECK(has_value(s, "a", 0, NULL));
    CHECK_EQ(put1(s, "a", NULL, &rev), ENOENT);
    CHECK_EQ(store_revision(s), 3);
    CHECK_EQ(put1(s, "a", "x", &rev), 0);
    CHECK_EQ(store_get(s, "a", 0, &kv), 0);
    CHECK_EQ(kv.create_rev, 4); /* a new incarnation */
    store_kv_clear(&kv);
    store_close(s);
}

TEST(basic_sqlite)
{
    basic_ops(tmp_url());
    tmp_cleanup();
}

TEST(basic_mem)
{
    basic_ops("mem:");
}

static void
atomic_txn(const char *url)
{
    static const struct op ops[] = {{"x/1", "a"}, {"x/2", "b"}, {"x/3", "c"}};
    struct store *s;
    uint64_t rev;
    struct store_kv *kvs;
    size_t n;

    CHECK_EQ(store_open(url, NULL, &s), 0);
    CHECK_EQ(apply(s, ops, 3, EINVAL, &rev), EINVAL);
    CHECK_EQ(store_revision(s), 0);
    CHECK(has_value(s, "x/1", 0, NULL));
    CHECK_EQ(apply(s, ops, 3, 0, &rev), 0);
    CHECK_EQ(rev, 1);
    CHECK_EQ(store_range(s, "x/", "x0", 0, 0, &kvs, &n, NULL), 0);
    CHECK_EQ(n, 3);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(kvs[i].mod_rev, 1);
    }
    store_kvs_free(kvs, n);
    /* A failing delete in a txn undoes the txn's earlier puts. */
    static const struct op bad[] = {{"x/4", "d"}, {"nope", NULL}};
    CHECK_EQ(apply(s, bad, 2, 0, &rev), ENOENT);
    CHECK(has_value(s, "x/4", 0, NULL));
    /* Put then delete of a new key in one txn leaves no trace. */
    static const struct op tmp[] = {{"t", "1"}, {"t", NULL}, {"u", "1"}};
    CHECK_EQ(apply(s, tmp, 3, 0, &rev), 0);
    CHECK_EQ(rev, 2);
    struct store_event *evs;
    uint64_t next;
    CHECK_EQ(store_changes(s, 2, NULL, 100, &evs, &n, &next), 0);
    CHECK_EQ(n, 1);
    CHECK_STREQ(evs[0].kv.key, "u");
    CHECK_EQ(next, 3);
    store_events_free(evs, n);
    store_close(s);
}

TEST(atomic_sqlite)
{
    atomic_txn(tmp_url());
    tmp_cleanup();
}

TEST(atomic_mem)
{
    atomic_txn("mem:");
}

static void
range_and_feed(const char *url)
{
    struct store *s;
    struct store_kv *kvs;
    struct store_event *evs;
    size_t n;
    uint64_t rev, next, read_rev;
    char key[32];

    CHECK_EQ(store_open(url, NULL, &s), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "p/%02d", i);
        CHECK_EQ(put1(s, key, "v", &rev), 0);
    }
    CHECK_EQ(put1(s, "q/0", "v", &rev), 0);
    CHECK_EQ(put1(s, "p/03", NULL, &rev), 0); /* rev 12 */
    char *end = store_prefix_end("p/");
    CHECK_EQ(store_range(s, "p/", end, 0, 4, &kvs, &n, &read_rev), 0);
    CHECK_EQ(n, 4);
    CHECK_EQ(read_rev, 12);
    CHECK_STREQ(kvs[3].key, "p/04");
    store_kvs_free(kvs, n);
    /* The same range at revision 11 still has p/03. */
    CHECK_EQ(store_range(s, "p/", end, 11, 0, &kvs, &n, NULL), 0);
    CHECK_EQ(n, 10);
    store_kvs_free(kvs, n);
    CHECK_EQ(store_range(s, "p/05", end, 0, 0, &kvs, &n, NULL), 0);
    CHECK_EQ(n, 5);
    store_kvs_free(kvs, n);
    free(end);

    CHECK_EQ(store_changes(s, 5, "p/", 3, &evs, &n, &next), 0);
    CHECK_EQ(n, 3);
    CHECK_EQ(evs[0].kv.mod_rev, 5);
    CHECK_EQ(next, 8);
    store_events_free(evs, n);
    CHECK_EQ(store_changes(s, 10, "p/", 100, &evs, &n, &next), 0);
    CHECK_EQ(n, 2); /* rev 11 is under q/ */
    CHECK_EQ(evs[1].type, STORE_DELETE);
    CHECK_EQ(evs[1].kv.mod_rev, 12);
    CHECK(evs[1].kv.value == NULL);
    CHECK_EQ(next, 13);
    store_events_free(evs, n);
    CHECK_EQ(store_changes(s, 13, NULL, 100, &evs, &n, &next), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(next, 13);
    store_events_free(evs, n);
    CHECK(!store_wait(s, 13, 10));
    CHECK(store_wait(s, 12, 10));

    CHECK_EQ(store_compact(s, 8), 0);
    CHECK_EQ(store_compacted(s), 8);
    CHECK_EQ(store_get(s, "p/00", 5, NULL ? NULL : &(struct store_kv){0}),
             ERANGE);
    CHECK(has_value(s, "p/00", 8, "v"));
    CHECK(has_value(s, "p/00", 0, "v"));
    CHECK_EQ(store_changes(s, 8, NULL, 100, &evs, &n, &next), ERANGE);
    CHECK_EQ(store_changes(s, 9, NULL, 100, &evs, &n, &next), 0);
    CHECK_EQ(n, 4);
    store_events_free(evs, n);
    CHECK_EQ(store_compact(s, 12), 0);
    CHECK(has_value(s, "p/03", 12, NULL));
    CHECK_EQ(store_range(s, "", NULL, 0, 0, &kvs, &n, NULL), 0);
    CHECK_EQ(n, 10);
    store_kvs_free(kvs, n);
    store_close(s);
}

TEST(range_feed_compact_sqlite)
{
    range_and_feed(tmp_url());
    tmp_cleanup();
}

TEST(range_feed_compact_mem)
{
    range_and_feed("mem:");
}

TEST(sqlite_persists)
{
    const char *url = tmp_url();
    struct store *s;
    uint64_t rev;

    CHECK_EQ(store_open(url, NULL, &s), 0);
    CHECK_EQ(put1(s, "a", "1", &rev), 0);
    CHECK_EQ(put1(s, "b", "2", &rev), 0);
    CHECK_EQ(put1(s, "a", "3", &rev), 0);
    CHECK_EQ(store_compact(s, 2), 0);
    store_close(s);
    CHECK_EQ(store_open(url, NULL, &s), 0);
    CHECK_EQ(store_revision(s), 3);
    CHECK_EQ(store_compacted(s), 2);
    CHECK(has_value(s, "a", 0, "3"));
    CHECK(has_value(s, "b", 0, "2"));
    CHECK_EQ(put1(s, "c", "4", &rev), 0);
    CHECK_EQ(rev, 4);
    store_close(s);
    tmp_cleanup();
}

TEST(bad_url)
{
    struct store *s;
    CHECK_EQ(store_open("nope", NULL, &s), EINVAL);
    CHECK_EQ(store_open("etcd2:x", NULL, &s), EPROTONOSUPPORT);
    CHECK(s == NULL);
    store_close(NULL);
}

/* Group commit: concurrent writers share syncs. */
struct writer_arg {
    struct store *s; /* store */
    int id;          /* writer number */
    int n;           /* writes to make */
    int failures;    /* writes that failed */
};

static void *
writer_main(void *arg_)
{
    struct writer_arg *arg = arg_;
    char key[32];

    for (int i = 0; i < arg->n; i++) {
        uint64_t rev;
        snprintf(key, sizeof key, "w/%d/%d", arg->id, i);
        arg->failures += put1(arg->s, key, "v", &rev) != 0;
    }
    return NULL;
}

TEST(group_commit)
{
    enum { THREADS = 8, PER = 150 };
    struct writer_arg args[THREADS];
    pthread_t threads[THREADS];
    struct store_stats st;
    struct store *s;
    struct store_kv *kvs;
    size_t n;

    CHECK_EQ(store_open(tmp_url(), NULL, &s), 0);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct writer_arg){s, i, PER, 0};
        pthread_create(&threads[i], NULL, writer_main, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK_EQ(args[i].failures, 0);
    }
    store_get_stats(s, &st);
    CHECK_EQ(st.commits, THREADS * PER);
    CHECK(st.syncs < st.commits);
    CHECK(st.disk_bytes > 0);
    CHECK_EQ(store_revision(s), THREADS * PER);
    CHECK_EQ(store_range(s, "w/", "w0", 0, 0, &kvs, &n, NULL), 0);
    CHECK_EQ(n, THREADS * PER);
    store_kvs_free(kvs, n);
    printf("group commit: %llu commits in %llu syncs\n",
           (unsigned long long)st.commits, (unsigned long long)st.syncs);
    store_close(s);
    tmp_cleanup();
}

TEST(auto_compaction)
{
    struct store_options opts = {.retention_revs = 100};
    struct store *s;
    uint64_t rev;

    CHECK_EQ(store_open(tmp_url(), &opts, &s), 0);
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(put1(s, i % 2 ? "odd" : "even", "v", &rev), 0);
    }
    /* The committer compacts after a commit; one more commit lets it. */
    CHECK_EQ(put1(s, "last", "v", &rev), 0);
    CHECK(store_compacted(s) >= 1000 - 100 - 2000 / 4);
    CHECK(store_compacted(s) > 0);
    CHECK(has_value(s, "odd", 0, "v"));
    CHECK(has_value(s, "even", store_compacted(s), "v"));
    store_close(s);
    tmp_cleanup();
}

/* Randomized: drive the SQLite and memory backends with the same random
 * transactions and compare every read. */
static uint32_t rnd_state = 12345;
static uint32_t
rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static bool
same_kvs(const struct store_kv *a, size_t na, const struct store_kv *b,
         size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i].key, b[i].key) || strcmp(a[i].value, b[i].value) ||
            a[i].mod_rev != b[i].mod_rev ||
            a[i].create_rev != b[i].create_rev) {
            return false;
        }
    }
    return true;
}

static bool
same_events(const struct store_event *a, size_t na, const struct store_event *b,
            size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (a[i].type != b[i].type || strcmp(a[i].kv.key, b[i].kv.key) ||
            a[i].kv.mod_rev != b[i].kv.mod_rev ||
            (a[i].kv.value && strcmp(a[i].kv.value, b[i].kv.value))) {
            return false;
        }
    }
    return true;
}

TEST(randomized_vs_reference)
{
    struct store *sq, *mem;
    struct op ops[6];
    char keys[6][16], vals[6][16];
    int mismatches = 0;

    CHECK_EQ(store_open(tmp_url(), NULL, &sq), 0);
    CHECK_EQ(store_open("mem:", NULL, &mem), 0);
    for (int round = 0; round < 600; round++) {
        size_t n = 1 + rnd(5);
        uint64_t r1 = 0, r2 = 0;
        for (size_t i = 0; i < n; i++) {
            snprintf(keys[i], sizeof keys[i], "k%u/%u", rnd(3), rnd(8));
            snprintf(vals[i], sizeof vals[i], "v%d", round);
            ops[i].key = keys[i];
            ops[i].value = rnd(4) ? vals[i] : NULL;
        }
        int fail = rnd(10) ? 0 : EINVAL;
        int e1 = apply(sq, ops, n, fail, &r1);
        int e2 = apply(mem, ops, n, fail, &r2);
        mismatches += e1 != e2 || r1 != r2;

        if (rnd(50) == 0 && store_revision(sq) > 10) {
            uint64_t to = store_revision(sq) - rnd(10);
            mismatches += store_compact(sq, to) != store_compact(mem, to);
        }
        /* Compare a random snapshot range and a feed slice. */
        uint64_t head = store_revision(sq), low = store_compacted(sq);
        if (head) {
            uint64_t at = low + rnd((uint32_t)(head - low + 1));
            struct store_kv *a, *b;
            struct store_event *ea_ev, *eb_ev;
            uint64_t na_next, nb_next;
            const char *start = rnd(2) ? "k1" : "";
            size_t limit = rnd(5), max = 1 + rnd(6), na, nb;
            int ea, eb;

            at = at ? at : 1;
            ea = store_range(sq, start, NULL, at, limit, &a, &na, NULL);
            eb = store_range(mem, start, NULL, at, limit, &b, &nb, NULL);
            mismatches += ea != eb || !same_kvs(a, na, b, nb);
            store_kvs_free(a, na);
            store_kvs_free(b, nb);

            start = rnd(2) ? "k2" : NULL;
            ea = store_changes(sq, at, start, max, &ea_ev, &na, &na_next);
            eb = store_changes(mem, at, start, max, &eb_ev, &nb, &nb_next);
            mismatches += ea != eb || na_next != nb_next ||
                          !same_events(ea_ev, na, eb_ev, nb);
            store_events_free(ea_ev, na);
            store_events_free(eb_ev, nb);
        }
    }
    CHECK_EQ(mismatches, 0);
    CHECK_EQ(store_revision(sq), store_revision(mem));

    /* Full feeds from just after the compaction point must agree. */
    struct store_event *a, *b;
    size_t na, nb;
    uint64_t next_a, next_b, from = store_compacted(sq) + 1;
    CHECK_EQ(store_changes(sq, from, "k1", 1 << 20, &a, &na, &next_a), 0);
    CHECK_EQ(store_changes(mem, from, "k1", 1 << 20, &b, &nb, &next_b), 0);
    CHECK(same_events(a, na, b, nb));
    CHECK_EQ(next_a, next_b);
    store_events_free(a, na);
    store_events_free(b, nb);
    store_close(sq);
    store_close(mem);
    tmp_cleanup();
}

/* The read cache (store.c) against concurrent commits: every store_get()
 * answer must be the key's true version at the revision asked for, never
 * older than a write already acknowledged, whether it came from the cache
 * or the backend. */
struct cache_race {
    struct store *s;           /* the store */
    _Atomic uint64_t acked[8]; /* per key: newest acknowledged revision */
    _Atomic bool stop;         /* writer finished */
    _Atomic unsigned bad;      /* inconsistent reads seen */
};

static int
cache_race_txn(struct store_txn *txn, void *aux)
{
    const char *key = aux;
    char value[32];

    snprintf(value, sizeof value, "%" PRIu64, store_txn_revision(txn));
    return store_txn_put(txn, key, value, strlen(value));
}

static void *
cache_race_reader(void *cr_)
{
    struct cache_race *cr = cr_;
    unsigned seed = 7;

    while (!atomic_load(&cr->stop)) {
        unsigned k = rand_r(&seed) % 8;
        char key[8];
        uint64_t floor = atomic_load(&cr->acked[k]);
        uint64_t head = store_revision(cr->s);
        uint64_t at = rand_r(&seed) % 2 ? 0 : head;
        struct store_kv kv;

        snprintf(key, sizeof key, "k%u", k);
        if (store_get(cr->s, key, at, &kv)) {
            atomic_fetch_add(&cr->bad, floor != 0);
            continue;
        }
        if (strtoull(kv.value, NULL, 10) != kv.mod_rev || kv.mod_rev < floor ||
            (at && kv.mod_rev > at)) {
            atomic_fetch_add(&cr->bad, 1);
        }
        store_kv_clear(&kv);
    }
    return NULL;
}

TEST(read_cache_coherent)
{
    static struct cache_race cr;
    static const char *const keys[8] = {"k0", "k1", "k2", "k3",
                                        "k4", "k5", "k6", "k7"};
    struct store_stats st;
    pthread_t readers[3];
    uint64_t rev;

    CHECK_EQ(store_open(tmp_url(), NULL, &cr.s), 0);
    for (int i = 0; i < 3; i++) {
        pthread_create(&readers[i], NULL, cache_race_reader, &cr);
    }
    for (int i = 0; i < 600; i++) {
        unsigned k = (unsigned)(i * 5) % 8;
        CHECK_EQ(store_txn_run(cr.s, cache_race_txn, (void *)keys[k], &rev), 0);
        atomic_store(&cr.acked[k], rev);
    }
    atomic_store(&cr.stop, true);
    for (int i = 0; i < 3; i++) {
        pthread_join(readers[i], NULL);
    }
    CHECK_EQ(atomic_load(&cr.bad), 0);
    /* Cached, then overwritten: the head read sees the new version, a
     * snapshot read the old one. */
    uint64_t old = atomic_load(&cr.acked[0]);
    char want[32];
    snprintf(want, sizeof want, "%" PRIu64, old);
    CHECK(has_value(cr.s, "k0", 0, want));
    CHECK(has_value(cr.s, "k0", 0, want));
    CHECK_EQ(store_txn_run(cr.s, cache_race_txn, (void *)keys[0], &rev), 0);
    CHECK(has_value(cr.s, "k0", old, want));
    snprintf(want, sizeof want, "%" PRIu64, rev);
    CHECK(has_value(cr.s, "k0", 0, want));
    store_get_stats(cr.s, &st);
    CHECK(st.cache_hits > 0);
    store_close(cr.s);
    tmp_cleanup();
}
