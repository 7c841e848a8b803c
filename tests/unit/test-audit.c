/* Unit tests for the audit log (api-audit.h): entries are recorded in the
 * write's transaction, listed oldest first, and pruned past their maximum
 * age a few per write, so the log stays bounded. */
#include "api/api-audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "testlib.h"

static const struct api_principal who = {.token_id = "t1", .name = "alice"};

static int
record_txn(struct store_txn *txn, void *aux)
{
    return audit_txn_record(txn, &who, "POST", aux);
}

/* An entry written by hand with time 'time_ms'. */
struct old_entry {
    uint64_t rev;
    int64_t time_ms;
};

static int
old_entry_txn(struct store_txn *txn, void *aux)
{
    const struct old_entry *e = aux;
    char key[32], value[128];

    snprintf(key, sizeof key, "a/%016" PRIu64, store_txn_revision(txn));
    snprintf(value, sizeof value,
             "{\"revision\":%" PRIu64 ",\"time\":%" PRId64
             ",\"token\":\"t0\",\"user\":\"old\",\"method\":\"PUT\","
             "\"path\":\"/x\"}",
             store_txn_revision(txn), e->time_ms);
    return store_txn_put(txn, key, value, strlen(value));
}

static int
prune_txn(struct store_txn *txn, void *aux)
{
    int r = audit_txn_prune(txn, *(int64_t *)aux);
    *(int64_t *)aux = r;
    return r < 0 ? -r : 0;
}

static size_t
count_entries(struct store *s, uint64_t *first_rev)
{
    uint64_t next;
    json_t *list = audit_list(s, 0, 1000, &next);
    size_t n = json_array_size(list);

    *first_rev = n ? (uint64_t)json_integer_value(
                         json_object_get(json_array_get(list, 0), "revision"))
                   : 0;
    json_decref(list);
    return n;
}

TEST(record_and_list)
{
    struct store *s;
    uint64_t rev, first, next;

    audit_set_max_age_ms((int64_t)AUDIT_DEFAULT_DAYS * 86400 * 1000);
    CHECK_EQ(store_open("mem:", NULL, &s), 0);
    CHECK_EQ(store_txn_run(s, record_txn, "/api/v1/a", &rev), 0);
    CHECK_EQ(store_txn_run(s, record_txn, "/api/v1/b", &rev), 0);
    CHECK_EQ(count_entries(s, &first), 2);
    CHECK_EQ(first, 1);
    json_t *list = audit_list(s, 2, 10, &next);
    CHECK_EQ(json_array_size(list), 1);
    CHECK_STREQ(
        json_string_value(json_object_get(json_array_get(list, 0), "path")),
        "/api/v1/b");
    CHECK_STREQ(
        json_string_value(json_object_get(json_array_get(list, 0), "user")),
        "alice");
    CHECK_EQ(next, 3);
    json_decref(list);
    store_close(s);
}

/* Entries older than the cutoff go, oldest first, a batch at a time;
 * younger ones and everything after the first young one stay. */
TEST(prune_by_age_in_batches)
{
    struct store *s;
    uint64_t rev, first;
    int64_t arg;

    CHECK_EQ(store_open("mem:", NULL, &s), 0);
    for (int i = 0; i < 6; i++) { /* revisions 1-6 at times 100..600 */
        struct old_entry e = {0, 100 * (i + 1)};
        CHECK_EQ(store_txn_run(s, old_entry_txn, &e, &rev), 0);
    }
    struct old_entry young = {0, 10000};
    CHECK_EQ(store_txn_run(s, old_entry_txn, &young, &rev), 0);
    CHECK_EQ(count_entries(s, &first), 7);

    arg = 550; /* 1-5 are older */
    CHECK_EQ(store_txn_run(s, prune_txn, &arg, &rev), 0);
    CHECK_EQ(arg, AUDIT_PRUNE_BATCH);
    CHECK_EQ(count_entries(s, &first), 7 - AUDIT_PRUNE_BATCH);
    CHECK_EQ(first, AUDIT_PRUNE_BATCH + 1);
    arg = 550;
    CHECK_EQ(store_txn_run(s, prune_txn, &arg, &rev), 0);
    CHECK_EQ(arg, 5 - AUDIT_PRUNE_BATCH);
    CHECK_EQ(count_entries(s, &first), 2);
    CHECK_EQ(first, 6);
    arg = 550; /* nothing left that old */
    CHECK_EQ(store_txn_run(s, prune_txn, &arg, &rev), 0);
    CHECK_EQ(arg, 0);
    CHECK_EQ(count_entries(s, &first), 2);
    store_close(s);
}

/* Each recorded write prunes: with a short maximum age, a log full of
 * old entries shrinks by AUDIT_PRUNE_BATCH - 1 per write; with age 0
 * nothing is pruned. */
TEST(writes_keep_the_log_bounded)
{
    struct store *s;
    uint64_t rev, first;

    CHECK_EQ(store_open("mem:", NULL, &s), 0);
    for (int i = 0; i < 10; i++) {
        struct old_entry e = {0, 1000}; /* 1970: older than any age */
        CHECK_EQ(store_txn_run(s, old_entry_txn, &e, &rev), 0);
    }
    audit_set_max_age_ms(0);
    CHECK_EQ(store_txn_run(s, record_txn, "/api/v1/kept", &rev), 0);
    CHECK_EQ(count_entries(s, &first), 11);

    audit_set_max_age_ms(86400 * 1000);
    CHECK_EQ(store_txn_run(s, record_txn, "/api/v1/p1", &rev), 0);
    CHECK_EQ(count_entries(s, &first), 12 - AUDIT_PRUNE_BATCH);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(store_txn_run(s, record_txn, "/api/v1/pn", &rev), 0);
    }
    /* All 10 old ones are gone; the 7 recorded ones are young. */
    CHECK_EQ(count_entries(s, &first), 7);
    CHECK_EQ(first, 11);
    audit_set_max_age_ms((int64_t)AUDIT_DEFAULT_DAYS * 86400 * 1000);
    store_close(s);
}
