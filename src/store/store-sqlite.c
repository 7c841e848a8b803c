/* SQLite backend of the store (store-provider.h): the embedded default.
 *
 * Layout: one database '<dir>/store.db' in WAL mode with
 *   log(key, rev, create_rev, value)  every retained version of every key,
 *                                     clustered by (key, rev); value NULL
 *                                     marks a delete
 *   log_rev index on (rev)            for the change feed and compaction
 *   meta(name, value)                 'head' and 'compacted' revisions
 * A read at revision R of key K is the newest row of K with rev <= R; the
 * key is absent if there is none or it is a delete marker.  The head is
 * not stored separately: it is the newest version, so nothing is written
 * twice.
 *
 * Durability: synchronous=FULL, so every COMMIT syncs the WAL before it
 * returns; store.c commits a whole batch of transactions per COMMIT.
 *
 * Threads: one writer connection used only by the committer thread, and a
 * pool of reader connections, one per concurrent reader, each used by one
 * thread at a time.  WAL lets readers run while the writer commits. */
#include "store/store-provider.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

/* Prepared statements of one connection. */
enum sq_stmt {
    SQ_GET,          /* newest version of ?1 with rev <= ?2 */
    SQ_RANGE,        /* newest versions in [?1, ?2) with rev <= ?3 */
    SQ_RANGE_OPEN,   /* newest versions in [?1, end) with rev <= ?3 */
    SQ_CHANGES,      /* versions in [?1, ?2] revs, keys [?3, ?4) */
    SQ_CHANGES_OPEN, /* versions in [?1, ?2] revs, keys [?3, end) */
    SQ_BEFORE,       /* newest version of ?1 with rev < ?2 */
    SQ_INSERT,       /* insert or replace a version */
    SQ_REMOVE,       /* delete version (?1, ?2) */
    SQ_PRUNE,        /* delete versions of ?1 older than ?2 */
    SQ_SET_META,     /* set meta ?1 to ?2 */
    SQ_N
};

static const char *const sq_sql[SQ_N] = {
    [SQ_GET] = "SELECT rev, create_rev, value FROM log "
               "WHERE key = ?1 AND rev <= ?2 ORDER BY rev DESC LIMIT 1",
    [SQ_RANGE] = "SELECT key, max(rev), create_rev, value FROM log "
                 "WHERE key >= ?1 AND key < ?2 AND rev <= ?3 "
                 "GROUP BY key ORDER BY key",
    [SQ_RANGE_OPEN] = "SELECT key, max(rev), create_rev, value FROM log "
                      "WHERE key >= ?1 AND rev <= ?3 "
                      "GROUP BY key ORDER BY key",
    [SQ_CHANGES] = "SELECT key, rev, create_rev, value FROM log "
                   "WHERE rev >= ?1 AND rev <= ?2 AND key >= ?3 AND key < ?4 "
                   "ORDER BY rev, key",
    [SQ_CHANGES_OPEN] = "SELECT key, rev, create_rev, value FROM log "
                        "WHERE rev >= ?1 AND rev <= ?2 AND key >= ?3 "
                        "ORDER BY rev, key",
    [SQ_BEFORE] = "SELECT rev, create_rev, value IS NULL FROM log "
                  "WHERE key = ?1 AND rev < ?2 ORDER BY rev DESC LIMIT 1",
    [SQ_INSERT] = "INSERT OR REPLACE INTO log (key, rev, create_rev, value) "
                  "VALUES (?1, ?2, ?3, ?4)",
    [SQ_REMOVE] = "DELETE FROM log WHERE key = ?1 AND rev = ?2",
    [SQ_PRUNE] = "DELETE FROM log WHERE key = ?1 AND rev < ?2",
    [SQ_SET_META] = "INSERT OR REPLACE INTO meta (name, value) "
                    "VALUES (?1, ?2)",
};

/* One SQLite connection with its statements. */
struct sq_conn {
    sqlite3 *db;               /* the connection */
    sqlite3_stmt *stmts[SQ_N]; /* prepared on first use */
    struct sq_conn *next;      /* free-list link (readers) */
};

struct store_backend {
    char *path;                   /* database file */
    char *dir;                    /* its directory */
    struct sq_conn *writer;       /* committer's connection */
    pthread_mutex_t mutex;        /* guards 'free_readers' */
    struct sq_conn *free_readers; /* idle reader connections */
};

static int
sq_error(sqlite3 *db, const char *what)
{
    int code = sqlite3_errcode(db);

    LOG_ERROR("store", "sqlite %s: %s", what, sqlite3_errmsg(db));
    return code == SQLITE_FULL ? ENOSPC : code == SQLITE_BUSY ? EBUSY : EIO;
}

static int
sq_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        LOG_ERROR("store", "sqlite '%s': %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return EIO;
    }
    return 0;
}

/* Returns the reset statement 'id' of 'c', preparing it if needed. */
static sqlite3_stmt *
sq_stmt(struct sq_conn *c, enum sq_stmt id)
{
    sqlite3_stmt *s = c->stmts[id];

    if (!s) {
        if (sqlite3_prepare_v3(c->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                               &s, NULL) != SQLITE_OK) {
            sq_error(c->db, "prepare");
            return NULL;
        }
        c->stmts[id] = s;
    }
    return s;
}

static void
sq_conn_close(struct sq_conn *c)
{
    if (c) {
        for (int i = 0; i < SQ_N; i++) {
            sqlite3_finalize(c->stmts[i]);
        }
        sqlite3_close(c->db);
        free(c);
    }
}

static int
sq_conn_open(const char *path, bool writer, struct sq_conn **cp)
{
    struct sq_conn *c = xcalloc(1, sizeof *c);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_CREATE : 0);
    int error;

    *cp = NULL;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        error = sq_error(c->db, "open");
        sq_conn_close(c);
        return error;
    }
    sqlite3_busy_timeout(c->db, 10000);
    error = sq_exec(c->db, "PRAGMA mmap_size = 1073741824;"
                           "PRAGMA temp_store = MEMORY;");
    if (!error && writer) {
        error = sq_exec(c->db, "PRAGMA journal_mode = WAL;"
                               "PRAGMA synchronous = FULL;"
                               "PRAGMA cache_size = -65536;");
    } else if (!error) {
        error = sq_exec(c->db, "PRAGMA query_only = 1;"
                               "PRAGMA cache_size = -16384;");
    }
    if (error) {
        sq_conn_close(c);
        return error;
    }
    *cp = c;
    return 0;
}

/* Copies a column into a malloc'd NUL-terminated buffer. */
static char *
sq_column_dup(sqlite3_stmt *s, int col, size_t *lenp)
{
    const void *p = sqlite3_column_blob(s, col);
    size_t len = (size_t)sqlite3_column_bytes(s, col);
    char *copy = xmalloc(len + 1);

    if (len) {
        memcpy(copy, p, len);
    }
    copy[len] = '\0';
    if (lenp) {
        *lenp = len;
    }
    return copy;
}

static uint64_t
sq_meta(sqlite3 *db, const char *name)
{
    sqlite3_stmt *s;
    uint64_t value = 0;

    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name = ?1", -1, &s,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            value = (uint64_t)sqlite3_column_int64(s, 0);
        }
        sqlite3_finalize(s);
    }
    return value;
}

static int
sq_set_meta(struct sq_conn *c, const char *name, uint64_t value)
{
    sqlite3_stmt *s = sq_stmt(c, SQ_SET_META);
    int rc;

    if (!s) {
        return EIO;
    }
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)value);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sq_error(c->db, "set meta");
}

/* Makes the directory entry of new files durable. */
static void
sq_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int
sq_open(const char *arg, struct store_backend **bep,
        struct store_backend_state *state)
{
    struct store_backend *be;
    int error;

    *bep = NULL;
    if (!*arg) {
        return EINVAL;
    }
    if (mkdir(arg, 0700) && errno != EEXIST) {
        return errno;
    }
    be = xcalloc(1, sizeof *be);
    be->dir = xstrdup(arg);
    be->path = xmalloc(strlen(arg) + sizeof "/store.db");
    sprintf(be->path, "%s/store.db", arg);
    pthread_mutex_init(&be->mutex, NULL);

    error = sq_conn_open(be->path, true, &be->writer);
    if (!error) {
        error = sq_exec(be->writer->db,
                        "CREATE TABLE IF NOT EXISTS log ("
                        "  key TEXT NOT NULL, rev INTEGER NOT NULL,"
                        "  create_rev INTEGER NOT NULL, value BLOB,"
                        "  PRIMARY KEY (key, rev)) WITHOUT ROWID;"
                        "CREATE INDEX IF NOT EXISTS log_rev ON log (rev);"
                        "CREATE TABLE IF NOT EXISTS meta ("
                        "  name TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
                        "INSERT OR IGNORE INTO meta VALUES ('format', 1),"
                        "  ('head', 0), ('compacted', 0);");
    }
    if (error) {
        sq_conn_close(be->writer);
        pthread_mutex_destroy(&be->mutex);
        free(be->dir);
        free(be->path);
        free(be);
        return error;
    }
    sq_sync_dir(be->dir);
    state->head = sq_meta(be->writer->db, "head");
    state->compacted = sq_meta(be->writer->db, "compacted");
    *bep = be;
    return 0;
}

static void
sq_close(struct store_backend *be)
{
    if (!be) {
        return;
    }
    while (be->free_readers) {
        struct sq_conn *c = be->free_readers;
        be->free_readers = c->next;
        sq_conn_close(c);
    }
    sq_conn_close(be->writer);
    pthread_mutex_destroy(&be->mutex);
    free(be->dir);
    free(be->path);
    free(be);
}

/* Reader pool. */
static int
sq_reader_get(struct store_backend *be, struct sq_conn **cp)
{
    pthread_mutex_lock(&be->mutex);
    *cp = be->free_readers;
    if (*cp) {
        be->free_readers = (*cp)->next;
    }
    pthread_mutex_unlock(&be->mutex);
    return *cp ? 0 : sq_conn_open(be->path, false, cp);
}

static void
sq_reader_put(struct store_backend *be, struct sq_conn *c)
{
    pthread_mutex_lock(&be->mutex);
    c->next = be->free_readers;
    be->free_readers = c;
    pthread_mutex_unlock(&be->mutex);
}

/* Committer side. */
static int
sq_batch_begin(struct store_backend *be)
{
    return sq_exec(be->writer->db, "BEGIN IMMEDIATE");
}

static int
sq_batch_commit(struct store_backend *be, uint64_t head)
{
    int error = sq_set_meta(be->writer, "head", head);

    if (!error) {
        error = sq_exec(be->writer->db, "COMMIT");
    }
    if (error) {
        sq_exec(be->writer->db, "ROLLBACK");
    }
    return error;
}

static void
sq_batch_abort(struct store_backend *be)
{
    sq_exec(be->writer->db, "ROLLBACK");
}

static int
sq_txn_begin(struct store_backend *be)
{
    return sq_exec(be->writer->db, "SAVEPOINT txn");
}

static int
sq_txn_end(struct store_backend *be, bool commit)
{
    if (!commit) {
        int error = sq_exec(be->writer->db, "ROLLBACK TO txn");
        return sq_exec(be->writer->db, "RELEASE txn") ? EIO : error;
    }
    return sq_exec(be->writer->db, "RELEASE txn");
}

/* Reads the newest version of 'key' at or before 'rev' on 'c'. */
static int
sq_get_on(struct sq_conn *c, const char *key, uint64_t rev, struct store_kv *kv)
{
    sqlite3_stmt *s = sq_stmt(c, SQ_GET);
    int rc, error = ENOENT;

    memset(kv, 0, sizeof *kv);
    if (!s) {
        return EIO;
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)MIN(rev, (uint64_t)INT64_MAX));
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(s, 2) != SQLITE_NULL) {
            kv->key = xstrdup(key);
            kv->mod_rev = (uint64_t)sqlite3_column_int64(s, 0);
            kv->create_rev = (uint64_t)sqlite3_column_int64(s, 1);
            kv->value = sq_column_dup(s, 2, &kv->value_len);
            error = 0;
        }
    } else if (rc != SQLITE_DONE) {
        error = sq_error(c->db, "get");
    }
    sqlite3_reset(s);
    return error;
}

static int
sq_range_on(struct sq_conn *c, const char *start, const char *end, uint64_t rev,
            size_t limit, struct store_kv **kvs, size_t *n)
{
    sqlite3_stmt *s = sq_stmt(c, end ? SQ_RANGE : SQ_RANGE_OPEN);
    size_t cap = 0;
    int rc = SQLITE_DONE, error = 0;

    *kvs = NULL;
    *n = 0;
    if (!s) {
        return EIO;
    }
    sqlite3_bind_text(s, 1, start ? start : "", -1, SQLITE_STATIC);
    if (end) {
        sqlite3_bind_text(s, 2, end, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 3, (sqlite3_int64)MIN(rev, (uint64_t)INT64_MAX));
    while ((!limit || *n < limit) && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_kv *kv;

        if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
            continue; /* deleted at this revision */
        }
        kv = store_kv_append(kvs, n, &cap);
        kv->key = sq_column_dup(s, 0, NULL);
        kv->mod_rev = (uint64_t)sqlite3_column_int64(s, 1);
        kv->create_rev = (uint64_t)sqlite3_column_int64(s, 2);
        kv->value = sq_column_dup(s, 3, &kv->value_len);
    }
    if ((!limit || *n < limit) && rc != SQLITE_DONE) {
        error = sq_error(c->db, "range");
        store_kvs_free(*kvs, *n);
        *kvs = NULL;
        *n = 0;
    }
    sqlite3_reset(s);
    return error;
}

static int
sq_txn_get(struct store_backend *be, const char *key, struct store_kv *kv)
{
    return sq_get_on(be->writer, key, UINT64_MAX, kv);
}

static int
sq_txn_range(struct store_backend *be, const char *start, const char *end,
             size_t limit, struct store_kv **kvs, size_t *n)
{
    return sq_range_on(be->writer, start, end, UINT64_MAX, limit, kvs, n);
}

static int
sq_txn_write(struct store_backend *be, uint64_t rev, const char *key,
             const void *value, size_t len)
{
    struct sq_conn *c = be->writer;
    sqlite3_stmt *s = sq_stmt(c, SQ_BEFORE);
    bool existed_before = false, exists_now;
    uint64_t create_rev = rev;
    struct store_kv cur;
    int rc, error;

    if (!s) {
        return EIO;
    }
    /* Did the key exist before this transaction? */
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)rev);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && !sqlite3_column_int(s, 2)) {
        existed_before = true;
        create_rev = (uint64_t)sqlite3_column_int64(s, 1);
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_reset(s);
        return sq_error(c->db, "read before write");
    }
    sqlite3_reset(s);

    if (!value) {
        /* Does it exist now, including this transaction's writes? */
        error = sq_get_on(c, key, rev, &cur);
        exists_now = !error;
        store_kv_clear(&cur);
        if (error && error != ENOENT) {
            return error;
        }
        if (!exists_now) {
            return ENOENT;
        }
        if (!existed_before) {
            /* Created by this transaction: forget it entirely. */
            s = sq_stmt(c, SQ_REMOVE);
            if (!s) {
                return EIO;
            }
            sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, (sqlite3_int64)rev);
            rc = sqlite3_step(s);
            sqlite3_reset(s);
            return rc == SQLITE_DONE ? 0 : sq_error(c->db, "remove");
        }
    }

    s = sq_stmt(c, SQ_INSERT);
    if (!s) {
        return EIO;
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)rev);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)create_rev);
    if (value) {
        sqlite3_bind_blob(s, 4, value, (int)len, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(s, 4);
    }
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : sq_error(c->db, "insert");
}

/* A (key, rev) pair collected during compaction. */
struct sq_keyrev {
    char *key;    /* key */
    uint64_t rev; /* version */
};

static int
sq_compact(struct store_backend *be, uint64_t from, uint64_t to)
{
    struct sq_conn *c = be->writer;
    const uint64_t chunk = 1000;
    sqlite3_stmt *q = NULL, *del = NULL;
    int error = 0;

    if (sqlite3_prepare_v2(c->db,
                           "SELECT key, rev FROM log WHERE rev > ?1 AND "
                           "rev <= ?2",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "DELETE FROM log WHERE rev > ?1 AND rev <= ?2 "
                           "AND value IS NULL",
                           -1, &del, NULL) != SQLITE_OK) {
        error = sq_error(c->db, "prepare compact");
    }
    for (uint64_t lo = from; !error && lo < to; lo += chunk) {
        uint64_t hi = MIN(to, lo + chunk);
        struct sq_keyrev *krs = NULL;
        size_t n = 0, cap = 0;
        int rc;

        /* Versions in (lo, hi] supersede every older version of their key;
         * collect them first, then prune, so no scan sees its own
         * deletions. */
        sqlite3_bind_int64(q, 1, (sqlite3_int64)lo);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)hi);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            if (n >= cap) {
                cap = cap ? 2 * cap : 256;
                krs = xrealloc(krs, cap * sizeof *krs);
            }
            krs[n].key = sq_column_dup(q, 0, NULL);
            krs[n++].rev = (uint64_t)sqlite3_column_int64(q, 1);
        }
        if (rc != SQLITE_DONE) {
            error = sq_error(c->db, "compact scan");
        }
        sqlite3_reset(q);
        for (size_t i = 0; i < n; i++) {
            sqlite3_stmt *p = error ? NULL : sq_stmt(c, SQ_PRUNE);
            if (p) {
                sqlite3_bind_text(p, 1, krs[i].key, -1, SQLITE_STATIC);
                sqlite3_bind_int64(p, 2, (sqlite3_int64)krs[i].rev);
                if (sqlite3_step(p) != SQLITE_DONE) {
                    error = sq_error(c->db, "compact prune");
                }
                sqlite3_reset(p);
            }
            free(krs[i].key);
        }
        free(krs);
        /* A delete marker <= 'to' is now the oldest version of its key:
         * reading "absent" needs no marker.  Older versions of the key were
         * pruned above, or by an earlier compaction. */
        if (!error) {
            sqlite3_bind_int64(del, 1, (sqlite3_int64)lo);
            sqlite3_bind_int64(del, 2, (sqlite3_int64)hi);
            if (sqlite3_step(del) != SQLITE_DONE) {
                error = sq_error(c->db, "compact markers");
            }
            sqlite3_reset(del);
        }
    }
    sqlite3_finalize(q);
    sqlite3_finalize(del);
    return error ? error : sq_set_meta(c, "compacted", to);
}

/* Reader side. */
static int
sq_get(struct store_backend *be, const char *key, uint64_t rev,
       struct store_kv *kv)
{
    struct sq_conn *c;
    int error = sq_reader_get(be, &c);

    if (error) {
        return error;
    }
    error = sq_get_on(c, key, rev, kv);
    sq_reader_put(be, c);
    return error;
}

static int
sq_range(struct store_backend *be, const char *start, const char *end,
         uint64_t rev, size_t limit, struct store_kv **kvs, size_t *n)
{
    struct sq_conn *c;
    int error = sq_reader_get(be, &c);

    if (error) {
        return error;
    }
    error = sq_range_on(c, start, end, rev, limit, kvs, n);
    sq_reader_put(be, c);
    return error;
}

static int
sq_changes(struct store_backend *be, uint64_t from, uint64_t to,
           const char *start, const char *end, size_t max,
           struct store_event **events, size_t *n)
{
    struct sq_conn *c;
    sqlite3_stmt *s;
    size_t cap = 0;
    int rc, error = sq_reader_get(be, &c);

    if (error) {
        return error;
    }
    s = sq_stmt(c, end ? SQ_CHANGES : SQ_CHANGES_OPEN);
    if (!s) {
        sq_reader_put(be, c);
        return EIO;
    }
    sqlite3_bind_int64(s, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)to);
    sqlite3_bind_text(s, 3, start, -1, SQLITE_STATIC);
    if (end) {
        sqlite3_bind_text(s, 4, end, -1, SQLITE_STATIC);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint64_t rev = (uint64_t)sqlite3_column_int64(s, 1);
        struct store_event *ev;

        if (*n >= max && (*events)[*n - 1].kv.mod_rev != rev) {
            rc = SQLITE_DONE; /* stop at a revision boundary */
            break;
        }
        ev = store_event_append(events, n, &cap);
        ev->kv.key = sq_column_dup(s, 0, NULL);
        ev->kv.mod_rev = rev;
        ev->kv.create_rev = (uint64_t)sqlite3_column_int64(s, 2);
        if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
            ev->type = STORE_DELETE;
        } else {
            ev->type = STORE_PUT;
            ev->kv.value = sq_column_dup(s, 3, &ev->kv.value_len);
        }
    }
    if (rc != SQLITE_DONE) {
        error = sq_error(c->db, "changes");
        store_events_free(*events, *n);
        *events = NULL;
        *n = 0;
    }
    sqlite3_reset(s);
    sq_reader_put(be, c);
    return error;
}

static uint64_t
sq_file_size(const char *path, const char *suffix)
{
    char name[PATH_MAX];
    struct stat st;

    snprintf(name, sizeof name, "%s%s", path, suffix);
    return stat(name, &st) ? 0 : (uint64_t)st.st_size;
}

static void
sq_stats(struct store_backend *be, struct store_stats *stats)
{
    stats->disk_bytes = sq_file_size(be->path, "") +
                        sq_file_size(be->path, "-wal") +
                        sq_file_size(be->path, "-shm");
}

const struct store_class store_sqlite_class = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .batch_begin = sq_batch_begin,
    .batch_commit = sq_batch_commit,
    .batch_abort = sq_batch_abort,
    .txn_begin = sq_txn_begin,
    .txn_end = sq_txn_end,
    .txn_get = sq_txn_get,
    .txn_range = sq_txn_range,
    .txn_write = sq_txn_write,
    .compact = sq_compact,
    .get = sq_get,
    .range = sq_range,
    .changes = sq_changes,
    .stats = sq_stats,
};
