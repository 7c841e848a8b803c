/* Long-poll watch hub (see api-watch.h).
 *
 * One thread owns the parked requests.  The store's commit notification
 * only sets a flag and signals; the hub thread then re-checks every parked
 * request against the feed, answers those with events and those past
 * their deadline.  'mutex' guards the list, 'dirty' and 'stopping'. */
#include "api/api-watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"
#include "store/store.h"

/* Events read per store query for a stream (whole revisions). */
#define WATCH_STREAM_BATCH 256

/* A parked long poll or (with 'sink' set) a streaming watch. */
struct watch_waiter {
    struct watch_waiter *next;  /* list link */
    struct watch_sink sink;     /* stream: where lines go; write NULL = poll */
    uint64_t heartbeat;         /* stream: nanoseconds between heartbeats */
    uint64_t next_heartbeat;    /* stream: time_nsec() of the next one */
    struct api_principal who;   /* requester (owned copy) */
    uint64_t from;              /* first revision wanted */
    char prefix[MODEL_KEY_MAX]; /* API path prefix */
    uint64_t deadline;          /* time_nsec() to give up at */
    size_t max;                 /* events per reply */
    watch_reply_fn *reply;      /* completion */
    void *aux;                  /* its argument */
};

struct api_watch_hub {
    struct store *store;          /* the store */
    pthread_t thread;             /* hub thread */
    pthread_mutex_t mutex;        /* guards the members below */
    pthread_cond_t cond;          /* commit, new waiter or stop */
    struct watch_waiter *waiters; /* parked requests and new streams */
    struct watch_waiter *streams; /* hub thread only: running streams */
    bool dirty;                   /* commits since the last scan */
    bool stopping;                /* destroy requested */
};

/* True if an event on 'path' may be shown to 'w'. */
static bool
watch_visible(const struct watch_waiter *w, const struct model_path *mp,
              const char *path)
{
    size_t plen = strlen(w->prefix);

    if (plen &&
        (strncmp(path, w->prefix, plen) ||
         (path[plen] && path[plen] != '/' && w->prefix[plen - 1] != '/'))) {
        return false;
    }
    if (w->who.role == API_ROLE_PROJECT_ADMIN &&
        mp->types[0]->kind == MODEL_PROJECT &&
        !api_principal_has_project(&w->who, mp->ids[0])) {
        return false;
    }
    return true;
}

/* The JSON of store event 'sev' for 'w', or NULL if it is no object event
 * 'w' may see. */
static json_t *
watch_event(const struct watch_waiter *w, const struct store_event *sev)
{
    struct model_path mp;
    char path[MODEL_KEY_MAX];
    json_t *ev, *obj = NULL;

    if (!model_key_parse(sev->kv.key, &mp)) {
        return NULL;
    }
    model_api_path(&mp, mp.depth, path);
    if (!watch_visible(w, &mp, path)) {
        return NULL;
    }
    if (sev->type == STORE_PUT) {
        obj = json_loadb(sev->kv.value, sev->kv.value_len, 0, NULL);
        if (obj) {
            model_decorate(&mp, obj, sev->kv.mod_rev);
        }
    }
    ev = json_pack("{s:I, s:s, s:s}", "revision", (json_int_t)sev->kv.mod_rev,
                   "type", sev->type == STORE_PUT ? "put" : "delete", "path",
                   path);
    if (obj) {
        json_object_set_new(ev, "object", obj);
    }
    return ev;
}

/* Tries to answer 'w' now: returns true and fills 'r' if there are events
 * (or an error, or 'force'). */
static bool
watch_poll(struct api_watch_hub *hub, struct watch_waiter *w, bool force,
           struct api_reply *r)
{
    json_t *events = json_array();
    uint64_t next = w->from, head = store_revision(hub->store);
    struct api_error e = {0};

    memset(r, 0, sizeof *r);
    for (int rounds = 0; rounds < 64 && next <= head; rounds++) {
        struct store_event *evs;
        size_t n;
        int error =
            store_changes(hub->store, next, "o", w->max, &evs, &n, &next);
        if (error) {
            json_decref(events);
            api_error_set(
                &e, error == ERANGE ? API_ERR_COMPACTED : API_ERR_UNAVAILABLE,
                "from",
                error == ERANGE ? "revision compacted; list again and "
                                  "watch from the list's _revision + 1"
                                : NULL);
            api_reply_error(r, &e);
            return true;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *ev = watch_event(w, &evs[i]);
            if (ev) {
                json_array_append_new(events, ev);
            }
        }
        store_events_free(evs, n);
        if (json_array_size(events) || !n) {
            break;
        }
    }
    if (!json_array_size(events) && !force) {
        w->from = next; /* nothing visible up to 'next': skip it next time */
        json_decref(events);
        return false;
    }
    r->status = 200;
    r->revision = head;
    r->body = json_pack("{s:o, s:I, s:I}", "events", events, "next_revision",
                        (json_int_t)next, "_revision", (json_int_t)head);
    return true;
}

static void
watch_finish(struct watch_waiter *w, struct api_reply *r)
{
    w->reply(w->aux, r);
    api_principal_clear(&w->who);
    free(w);
}

/* ---- Streams. ---- */

/* A growable byte buffer for the lines of one write. */
struct watch_buf {
    char *data;    /* bytes, NUL-terminated when not NULL */
    size_t length; /* used bytes */
    size_t cap;    /* allocated bytes */
};

static void
watch_buf_put(struct watch_buf *b, const char *s, size_t n)
{
    if (b->length + n + 1 > b->cap) {
        b->cap = MAX(2 * b->cap, b->length + n + 1);
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->length, s, n);
    b->length += n;
    b->data[b->length] = '\0';
}

/* Appends 'j' as one line to 'buf' and frees it. */
static void
watch_line(struct watch_buf *buf, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);

    watch_buf_put(buf, text ? text : "{}", text ? strlen(text) : 2);
    watch_buf_put(buf, "\n", 1);
    free(text);
    json_decref(j);
}

/* Ends stream 'w' with a final error line (NULL: the client is gone). */
static void
watch_stream_end(struct watch_waiter *w, enum api_err code, const char *message)
{
    struct watch_buf line = {NULL, 0, 0};

    if (code) {
        struct api_error e = {0};
        json_t *j;

        api_error_set(&e, code, "from", "%s", message);
        j = api_error_to_json(&e);
        json_object_set_new(j, "type", json_string("error"));
        json_object_set_new(j, "next_revision",
                            json_integer((json_int_t)w->from));
        watch_line(&line, j);
    }
    w->sink.end(w->sink.aux, code ? line.data : NULL, line.length);
    free(line.data);
    api_principal_clear(&w->who);
    free(w);
}

/* Sends what the feed has for stream 'w' (a bounded amount) and a
 * heartbeat when one is due.  Returns false if the stream ended.  Sets
 * '*more' if it stopped with changes left. */
static bool
watch_stream_pump(struct api_watch_hub *hub, struct watch_waiter *w,
                  uint64_t now, bool *more)
{
    uint64_t head = store_revision(hub->store);
    struct watch_buf buf = {NULL, 0, 0};
    int error = 0;

    for (int rounds = 0; rounds < 8 && w->from <= head && !error; rounds++) {
        struct store_event *evs;
        uint64_t next;
        size_t n;

        error = store_changes(hub->store, w->from, "o", WATCH_STREAM_BATCH,
                              &evs, &n, &next);
        if (error) {
            free(buf.data);
            buf.data = NULL;
            watch_stream_end(
                w, error == ERANGE ? API_ERR_COMPACTED : API_ERR_UNAVAILABLE,
                error == ERANGE ? "revision compacted; list again and "
                                  "watch from the list's _revision + 1"
                                : "store error");
            return false;
        }
        buf.length = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *ev = watch_event(w, &evs[i]);
            if (ev) {
                watch_line(&buf, ev);
            }
        }
        store_events_free(evs, n);
        /* One write per batch of whole revisions: a client never sees half
         * a revision, even when it is cut off. */
        if (buf.length) {
            error = w->sink.write(w->sink.aux, buf.data, buf.length);
        }
        if (!error) {
            w->from = next;
        }
    }
    if (!error && now >= w->next_heartbeat) {
        buf.length = 0;
        watch_line(&buf, json_pack("{s:s, s:I, s:I}", "type", "heartbeat",
                                   "revision", (json_int_t)head,
                                   "next_revision", (json_int_t)w->from));
        error = w->sink.write(w->sink.aux, buf.data, buf.length);
        w->next_heartbeat = now + w->heartbeat;
    }
    free(buf.data);
    buf.data = NULL;
    if (error == ENOBUFS) {
        watch_stream_end(w, API_ERR_SLOW_CONSUMER,
                         "the client reads too slowly; watch again from "
                         "next_revision");
        return false;
    } else if (error) {
        watch_stream_end(w, API_OK, NULL);
        return false;
    }
    *more = w->from <= head;
    return true;
}

static void *
watch_main(void *hub_)
{
    struct api_watch_hub *hub = hub_;

    pthread_mutex_lock(&hub->mutex);
    while (!hub->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!hub->dirty) {
            pthread_cond_timedwait(&hub->cond, &hub->mutex, &ts);
        }
        if (hub->stopping) {
            break;
        }
        /* Take the list, work without the lock, put back the rest. */
        struct watch_waiter *list = hub->waiters, *keep = NULL, **sp;
        bool more = false;
        hub->waiters = NULL;
        hub->dirty = false;
        pthread_mutex_unlock(&hub->mutex);

        uint64_t now = time_nsec();
        while (list) {
            struct watch_waiter *w = list;
            struct api_reply r;
            list = w->next;
            if (w->sink.write) {
                w->next = hub->streams; /* a new stream */
                hub->streams = w;
            } else if (watch_poll(hub, w, now >= w->deadline, &r)) {
                watch_finish(w, &r);
            } else {
                w->next = keep;
                keep = w;
            }
        }
        for (sp = &hub->streams; *sp;) {
            struct watch_waiter *w = *sp, *next = w->next;
            if (watch_stream_pump(hub, w, now, &more)) {
                sp = &w->next;
            } else {
                *sp = next;
            }
        }

        pthread_mutex_lock(&hub->mutex);
        hub->dirty |= more;
        while (keep) {
            struct watch_waiter *w = keep;
            keep = w->next;
            w->next = hub->waiters;
            hub->waiters = w;
        }
    }
    pthread_mutex_unlock(&hub->mutex);
    return NULL;
}

static void
watch_on_commit(void *hub_, uint64_t rev)
{
    struct api_watch_hub *hub = hub_;

    (void)rev;
    pthread_mutex_lock(&hub->mutex);
    hub->dirty = true;
    pthread_cond_signal(&hub->cond);
    pthread_mutex_unlock(&hub->mutex);
}

struct api_watch_hub *
watch_hub_create(struct store *store)
{
    struct api_watch_hub *hub = xcalloc(1, sizeof *hub);

    hub->store = store;
    pthread_mutex_init(&hub->mutex, NULL);
    pthread_cond_init(&hub->cond, NULL);
    if (pthread_create(&hub->thread, NULL, watch_main, hub)) {
        abort();
    }
    store_subscribe(store, watch_on_commit, hub);
    return hub;
}

void
watch_hub_destroy(struct api_watch_hub *hub)
{
    if (!hub) {
        return;
    }
    store_unsubscribe(hub->store, watch_on_commit, hub);
    pthread_mutex_lock(&hub->mutex);
    hub->stopping = true;
    pthread_cond_signal(&hub->cond);
    pthread_mutex_unlock(&hub->mutex);
    pthread_join(hub->thread, NULL);
    while (hub->streams) {
        struct watch_waiter *w = hub->streams;
        hub->streams = w->next;
        watch_stream_end(w, API_ERR_UNAVAILABLE, "server is shutting down");
    }
    while (hub->waiters) {
        struct watch_waiter *w = hub->waiters;
        struct api_reply r;
        hub->waiters = w->next;
        if (w->sink.write) {
            watch_stream_end(w, API_ERR_UNAVAILABLE, "server is shutting down");
            continue;
        }
        watch_poll(hub, w, true, &r);
        watch_finish(w, &r);
    }
    pthread_mutex_destroy(&hub->mutex);
    pthread_cond_destroy(&hub->cond);
    free(hub);
}

void
watch_request(struct api_watch_hub *hub, const struct api_principal *who,
              uint64_t from, const char *prefix, int timeout_ms, size_t max,
              watch_reply_fn *reply, void *aux)
{
    struct watch_waiter *w = xcalloc(1, sizeof *w);
    struct api_reply r;

    w->who = *who;
    w->who.projects = json_incref(who->projects);
    w->from = from ? from : 1;
    snprintf(w->prefix, sizeof w->prefix, "%s", prefix);
    w->deadline = time_nsec() + (uint64_t)timeout_ms * 1000000ull;
    w->max = max;
    w->reply = reply;
    w->aux = aux;
    if (watch_poll(hub, w, timeout_ms <= 0, &r)) {
        watch_finish(w, &r);
        return;
    }
    pthread_mutex_lock(&hub->mutex);
    if (hub->stopping) {
        pthread_mutex_unlock(&hub->mutex);
        watch_poll(hub, w, true, &r);
        watch_finish(w, &r);
        return;
    }
    w->next = hub->waiters;
    hub->waiters = w;
    pthread_mutex_unlock(&hub->mutex);
}

bool
watch_check_from(struct api_watch_hub *hub, uint64_t from, struct api_reply *r)
{
    uint64_t compacted = store_compacted(hub->store);
    struct api_error e = {0};

    if (!compacted || (from ? from : 1) > compacted) {
        return true;
    }
    api_error_set(&e, API_ERR_COMPACTED, "from",
                  "revision compacted; list again and watch from the list's "
                  "_revision + 1");
    api_reply_error(r, &e);
    return false;
}

void
watch_stream(struct api_watch_hub *hub, const struct api_principal *who,
             uint64_t from, const char *prefix, int heartbeat_ms,
             const struct watch_sink *sink)
{
    struct watch_waiter *w = xcalloc(1, sizeof *w);

    w->who = *who;
    w->who.projects = json_incref(who->projects);
    w->from = from ? from : 1;
    snprintf(w->prefix, sizeof w->prefix, "%s", prefix);
    w->sink = *sink;
    w->heartbeat = (uint64_t)heartbeat_ms * 1000000ull;
    w->next_heartbeat = time_nsec() + w->heartbeat;
    pthread_mutex_lock(&hub->mutex);
    if (hub->stopping) {
        pthread_mutex_unlock(&hub->mutex);
        watch_stream_end(w, API_ERR_UNAVAILABLE, "server is shutting down");
        return;
    }
    w->next = hub->waiters;
    hub->waiters = w;
    hub->dirty = true; /* send the backlog now */
    pthread_cond_signal(&hub->cond);
    pthread_mutex_unlock(&hub->mutex);
}
