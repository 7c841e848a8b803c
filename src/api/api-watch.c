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

struct watch_waiter {
    struct watch_waiter *next;  /* list link */
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
    struct watch_waiter *waiters; /* parked requests */
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
            struct model_path mp;
            char path[MODEL_KEY_MAX];
            json_t *ev, *obj = NULL;

            if (!model_key_parse(evs[i].kv.key, &mp)) {
                continue;
            }
            model_api_path(&mp, mp.depth, path);
            if (!watch_visible(w, &mp, path)) {
                continue;
            }
            if (evs[i].type == STORE_PUT) {
                obj = json_loadb(evs[i].kv.value, evs[i].kv.value_len, 0, NULL);
                if (obj) {
                    model_decorate(&mp, obj, evs[i].kv.mod_rev);
                }
            }
            ev = json_pack("{s:I, s:s, s:s}", "revision",
                           (json_int_t)evs[i].kv.mod_rev, "type",
                           evs[i].type == STORE_PUT ? "put" : "delete", "path",
                           path);
            if (obj) {
                json_object_set_new(ev, "object", obj);
            }
            json_array_append_new(events, ev);
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
        struct watch_waiter *list = hub->waiters, *keep = NULL;
        hub->waiters = NULL;
        hub->dirty = false;
        pthread_mutex_unlock(&hub->mutex);

        uint64_t now = time_nsec();
        while (list) {
            struct watch_waiter *w = list;
            struct api_reply r;
            list = w->next;
            if (watch_poll(hub, w, now >= w->deadline, &r)) {
                watch_finish(w, &r);
            } else {
                w->next = keep;
                keep = w;
            }
        }

        pthread_mutex_lock(&hub->mutex);
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
    while (hub->waiters) {
        struct watch_waiter *w = hub->waiters;
        struct api_reply r;
        hub->waiters = w->next;
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
