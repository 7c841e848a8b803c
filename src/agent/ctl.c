/* Implementation of the local control socket (ctl.h).
 *
 * The server never blocks its caller.  Everything it owns -- the listening
 * socket, every client connection and a timerfd -- sits in one epoll set,
 * and the epoll descriptor is what ctl_server_fd() hands to the main loop:
 * it polls readable when any of them needs attention.  Each connection has a
 * fixed request buffer filled by non-blocking reads, a reply buffer drained
 * by non-blocking writes, and a deadline; the timerfd is armed for the
 * earliest deadline, so a client that connects and then says nothing is
 * dropped on time without the main loop having to know about it.
 *
 * (The alternative, a blocking read with a short SO_RCVTIMEO, would stall the
 * agent's main loop -- and with it the control plane -- for the whole timeout
 * per idle client, and a few clients in a row would add up.)
 *
 * A connection lives through two states: READING until a full line (or end
 * of stream, or an error) is in, then WRITING until the reply is sent, then
 * it is closed.  At most CTL_CONN_MAX connections exist at once; more are
 * answered "ERR" at once and closed. */
#include "agent/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define CTL_CONN_MAX          16          /* connections served at once */
#define CTL_REPLY_MAX         (64u << 20) /* bytes of reply text */
#define CTL_REQUEST_MS        2000        /* default: connect to full request */
#define CTL_REPLY_MS          10000 /* default: reply ready to reply read */
#define CTL_ACCEPT_RETRY_MS   100   /* pause after running out of fds */
#define CTL_CLIENT_TIMEOUT_MS 30000 /* client: whole exchange */
#define CTL_STATUS_ROOM       4     /* bytes reserved for "ERR\n" */

#define NS_PER_MS 1000000ull

/* Reply text under construction.  The first CTL_STATUS_ROOM bytes are kept
 * free so the status line can be written in front without copying. */
struct ctl_reply {
    char *buf;      /* CTL_STATUS_ROOM bytes of room, then the text */
    size_t len;     /* bytes used, including the room */
    size_t cap;     /* bytes allocated */
    bool truncated; /* text was dropped at CTL_REPLY_MAX */
};

/* One row of the command table. */
struct ctl_command {
    const char *name;  /* what the client types */
    const char *usage; /* arguments, for "help" */
    const char *help;  /* one line, for "help" */
    ctl_handler_fn fn; /* the handler */
    void *aux;         /* passed to 'fn' */
};

enum ctl_conn_state {
    CONN_READING, /* collecting the request line */
    CONN_WRITING, /* sending the reply */
};

/* One client connection. */
struct ctl_conn {
    int fd;                    /* non-blocking stream socket */
    enum ctl_conn_state state; /* see above */
    uint64_t deadline;         /* time_nsec() after which it is dropped */
    size_t in_len;             /* bytes in 'in' */
    char in[CTL_LINE_MAX + 1]; /* the request, NUL-terminated when done */
    struct ctl_reply reply;    /* in CONN_WRITING: what to send */
    size_t out_ofs;            /* bytes of reply.buf already sent */
};

struct ctl_server {
    char *path;            /* socket file */
    dev_t dev;             /* identity of the socket file we created, so */
    ino_t ino;             /* destroy never unlinks a successor's socket */
    int listen_fd;         /* listening socket */
    int lock_fd;           /* flock()ed "<path>.lock" */
    int epoll_fd;          /* what ctl_server_fd() returns */
    int timer_fd;          /* fires at the earliest deadline */
    bool listening;        /* listen_fd is in the epoll set */
    uint64_t accept_retry; /* when not listening: when to start again */

    uint64_t request_ns; /* time allowed from accept to complete request */
    uint64_t reply_ns;   /* time allowed to drain a reply */

    struct ctl_conn *conns[CTL_CONN_MAX]; /* live connections */
    size_t n_conns;                       /* entries used in 'conns' */

    struct ctl_command *cmds; /* command table, sorted by name */
    size_t n_cmds;            /* entries in 'cmds' */
};

static struct log_ratelimit ctl_rl = LOG_RATELIMIT_INIT(1, 5);

/* ---------------------------------------------------------------------- */
/* Replies. */

static void
reply_init(struct ctl_reply *r)
{
    r->cap = 256;
    r->buf = xmalloc(r->cap);
    r->len = CTL_STATUS_ROOM;
    r->truncated = false;
}

static void
reply_uninit(struct ctl_reply *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

/* Text bytes in the reply. */
static size_t
reply_text_len(const struct ctl_reply *r)
{
    return r->len - CTL_STATUS_ROOM;
}

static void
reply_vprintf(struct ctl_reply *r, const char *fmt, va_list args)
{
    va_list copy;
    int n;

    if (r->truncated) {
        return;
    }
    va_copy(copy, args);
    n = vsnprintf(r->buf + r->len, r->cap - r->len, fmt, copy);
    va_end(copy);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= r->cap - r->len) {
        size_t need = r->len + (size_t)n + 1;

        if (need - CTL_STATUS_ROOM > CTL_REPLY_MAX) {
            r->truncated = true;
            return;
        }
        while (r->cap < need) {
            r->cap *= 2;
        }
        r->buf = xrealloc(r->buf, r->cap);
        vsnprintf(r->buf + r->len, r->cap - r->len, fmt, args);
    }
    r->len += (size_t)n;
}

void
ctl_reply_printf(struct ctl_reply *r, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    reply_vprintf(r, fmt, args);
    va_end(args);
}

static void __attribute__((format(printf, 2, 3)))
reply_printf_internal(struct ctl_reply *r, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    reply_vprintf(r, fmt, args);
    va_end(args);
}

/* Puts the status line in front of the text and makes sure non-empty text
 * ends with a newline.  Returns the offset in r->buf where the message to
 * send starts. */
static size_t
reply_finish(struct ctl_reply *r, bool ok)
{
    if (r->truncated) {
        /* The cap leaves no room: make some by dropping text. */
        r->len = MIN(r->len, CTL_STATUS_ROOM + CTL_REPLY_MAX - 64);
        r->truncated = false;
        reply_printf_internal(r, "\n[reply truncated at %u bytes]\n",
                              CTL_REPLY_MAX);
    }
    if (!ok && !reply_text_len(r)) {
        reply_printf_internal(r, "command failed\n");
    }
    if (reply_text_len(r) && r->buf[r->len - 1] != '\n') {
        reply_printf_internal(r, "\n");
    }
    if (ok) {
        memcpy(r->buf + 1, "OK\n", 3);
        return 1;
    }
    memcpy(r->buf, "ERR\n", 4);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Command table. */

static const struct ctl_command *
command_find(const struct ctl_server *s, const char *name)
{
    for (size_t i = 0; i < s->n_cmds; i++) {
        if (!strcmp(s->cmds[i].name, name)) {
            return &s->cmds[i];
        }
    }
    return NULL;
}

void
ctl_register(struct ctl_server *s, const char *name, const char *args_usage,
             const char *help, ctl_handler_fn fn, void *aux)
{
    size_t i;

    if (command_find(s, name) || !name[0] || strpbrk(name, " \t\r\n")) {
        LOG_ERROR("ctl", "bad or duplicate command name \"%s\"", name);
        abort();
    }
    s->cmds = xrealloc(s->cmds, (s->n_cmds + 1) * sizeof *s->cmds);
    for (i = s->n_cmds; i > 0 && strcmp(s->cmds[i - 1].name, name) > 0; i--) {
        s->cmds[i] = s->cmds[i - 1];
    }
    s->cmds[i] = (struct ctl_command){name, args_usage ? args_usage : "",
                                      help ? help : "", fn, aux};
    s->n_cmds++;
}

static int
cmd_help(int argc, const char *argv[], struct ctl_reply *r, void *s_)
{
    const struct ctl_server *s = s_;
    int width = 0;

    (void)argc;
    (void)argv;
    for (size_t i = 0; i < s->n_cmds; i++) {
        const struct ctl_command *c = &s->cmds[i];
        int w =
            (int)(strlen(c->name) + (c->usage[0] ? 1 + strlen(c->usage) : 0));
        width = MAX(width, MIN(w, 32));
    }
    ctl_reply_printf(r, "Available commands:\n");
    for (size_t i = 0; i < s->n_cmds; i++) {
        const struct ctl_command *c = &s->cmds[i];
        char syntax[256];

        snprintf(syntax, sizeof syntax, "%s%s%s", c->name,
                 c->usage[0] ? " " : "", c->usage);
        ctl_reply_printf(r, "  %-*s  %s\n", width, syntax, c->help);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Connections. */

static void
conn_close(struct ctl_server *s, size_t idx)
{
    struct ctl_conn *c = s->conns[idx];

    /* Closing also removes the fd from the epoll set. */
    close(c->fd);
    reply_uninit(&c->reply);
    free(c);
    s->conns[idx] = s->conns[--s->n_conns];
}

static size_t
conn_index(const struct ctl_server *s, const struct ctl_conn *c)
{
    for (size_t i = 0; i < s->n_conns; i++) {
        if (s->conns[i] == c) {
            return i;
        }
    }
    abort();
}

/* Sends what is left of the reply; closes the connection when all of it is
 * gone or the client has gone.  Returns false if the connection was closed. */
static bool
conn_write(struct ctl_server *s, struct ctl_conn *c)
{
    while (c->out_ofs < c->reply.len) {
        ssize_t n =
            send(c->fd, c->reply.buf + c->out_ofs, c->reply.len - c->out_ofs,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        } else if (n <= 0) {
            break; /* the client went away */
        }
        c->out_ofs += (size_t)n;
    }
    conn_close(s, conn_index(s, c));
    return false;
}

/* Turns the connection around: from now on it sends 'c->reply' with status
 * 'ok', within the reply deadline. */
static void
conn_reply(struct ctl_server *s, struct ctl_conn *c, bool ok, uint64_t now)
{
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};

    c->out_ofs = reply_finish(&c->reply, ok);
    c->state = CONN_WRITING;
    c->deadline = now + s->reply_ns;
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev)) {
        LOG_WARN("ctl", "epoll_ctl: %s", strerror(errno));
    }
    conn_write(s, c);
}

/* Replies ERR with a formatted message. */
static void __attribute__((format(printf, 4, 5)))
conn_error(struct ctl_server *s, struct ctl_conn *c, uint64_t now,
           const char *fmt, ...)
{
    va_list args;

    c->reply.len = CTL_STATUS_ROOM;
    va_start(args, fmt);
    reply_vprintf(&c->reply, fmt, args);
    va_end(args);
    conn_reply(s, c, false, now);
}

/* Parses and runs the request line in c->in (c->in_len bytes, no '\n'). */
static void
conn_execute(struct ctl_server *s, struct ctl_conn *c, uint64_t now)
{
    const char *argv[CTL_ARGS_MAX + 1];
    const struct ctl_command *cmd;
    size_t len = c->in_len;
    int argc = 0, rc;
    char *p;

    if (len && c->in[len - 1] == '\r') {
        len--; /* tolerate CRLF from line-oriented tools */
    }
    c->in[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)c->in[i];
        if ((ch < 0x20 && ch != '\t') || ch > 0x7e) {
            conn_error(s, c, now,
                       "request contains byte 0x%02x at offset %zu: only "
                       "printable ASCII is accepted",
                       ch, i);
            return;
        }
    }

    for (p = c->in; *p;) {
        p += strspn(p, " \t");
        if (!*p) {
            break;
        }
        if (argc == CTL_ARGS_MAX) {
            conn_error(s, c, now, "too many arguments (at most %d words)",
                       CTL_ARGS_MAX);
            return;
        }
        argv[argc++] = p;
        p += strcspn(p, " \t");
        if (*p) {
            *p++ = '\0';
        }
    }
    argv[argc] = NULL;

    if (!argc) {
        conn_error(s, c, now, "empty request; try \"help\"");
        return;
    }
    cmd = command_find(s, argv[0]);
    if (!cmd) {
        conn_error(s, c, now, "unknown command \"%.64s\"; try \"help\"",
                   argv[0]);
        return;
    }
    rc = cmd->fn(argc, argv, &c->reply, cmd->aux);
    conn_reply(s, c, rc == 0, now);
}

/* Reads what the client has sent; runs the request once the line is
 * complete. */
static void
conn_read(struct ctl_server *s, struct ctl_conn *c, uint64_t now)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, CTL_LINE_MAX - c->in_len,
                         MSG_DONTWAIT);
        char *nl;

        if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else if (n < 0) {
            conn_close(s, conn_index(s, c));
            return;
        } else if (n == 0) {
            /* End of stream ends the line too; nothing at all gets no
             * answer (a liveness probe, or a client that changed its
             * mind). */
            if (c->in_len) {
                conn_execute(s, c, now);
            } else {
                conn_close(s, conn_index(s, c));
            }
            return;
        }

        nl = memchr(c->in + c->in_len, '\n', (size_t)n);
        c->in_len += (size_t)n;
        if (nl) {
            c->in_len = (size_t)(nl - c->in);
            conn_execute(s, c, now);
            return;
        }
        if (c->in_len == CTL_LINE_MAX) {
            conn_error(s, c, now, "request too long (more than %d bytes)",
                       CTL_LINE_MAX);
            return;
        }
    }
}

/* Answers a client we cannot serve, without waiting for it. */
static void
reject(int fd, const char *msg)
{
    ssize_t n = send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    close(fd);
}

static void
listener_enable(struct ctl_server *s, bool enable)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};

    if (enable != s->listening &&
        !epoll_ctl(s->epoll_fd, enable ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
                   s->listen_fd, &ev)) {
        s->listening = enable;
    }
}

static void
accept_all(struct ctl_server *s, uint64_t now)
{
    /* Bounded, so a flood of connections cannot keep us here; the listener
     * stays readable and we come back on the next run. */
    for (int i = 0; i < 64; i++) {
        struct epoll_event ev;
        struct ctl_conn *c;
        int fd =
            accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Out of descriptors: the listener would stay readable and
                 * the main loop would spin, so pause it for a moment. */
                if (log_ratelimit_ok(&ctl_rl)) {
                    LOG_WARN("ctl", "accept: %s", strerror(errno));
                }
                listener_enable(s, false);
                s->accept_retry = now + CTL_ACCEPT_RETRY_MS * NS_PER_MS;
            }
            return; /* EAGAIN, ECONNABORTED, EINTR: nothing more now */
        }
        if (s->n_conns == CTL_CONN_MAX) {
            reject(fd, "ERR\ntoo many control connections, try again\n");
            continue;
        }

        c = xcalloc(1, sizeof *c);
        c->fd = fd;
        c->state = CONN_READING;
        c->deadline = now + s->request_ns;
        reply_init(&c->reply);
        ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev)) {
            LOG_WARN("ctl", "epoll_ctl: %s", strerror(errno));
            reply_uninit(&c->reply);
            free(c);
            close(fd);
            continue;
        }
        s->conns[s->n_conns++] = c;
        /* The request is usually there already: serve it now. */
        conn_read(s, c, now);
    }
}

/* Drops connections past their deadline and arms the timer for the next
 * one (or for re-enabling the listener). */
static void
expire_and_arm(struct ctl_server *s, uint64_t now)
{
    struct itimerspec its = {{0, 0}, {0, 0}};
    uint64_t next = UINT64_MAX;

    if (!s->listening && now >= s->accept_retry) {
        listener_enable(s, true);
    }
    if (!s->listening) {
        next = s->accept_retry;
    }
    for (size_t i = 0; i < s->n_conns;) {
        struct ctl_conn *c = s->conns[i];

        if (now >= c->deadline) {
            if (c->state == CONN_READING) {
                reject(c->fd, "ERR\ntimed out waiting for the request\n");
                c->fd = -1;
                reply_uninit(&c->reply);
                free(c);
                s->conns[i] = s->conns[--s->n_conns];
            } else {
                conn_close(s, i);
            }
            continue;
        }
        next = MIN(next, c->deadline);
        i++;
    }
    if (next != UINT64_MAX) {
        its.it_value.tv_sec = (time_t)(next / 1000000000ull);
        its.it_value.tv_nsec = (long)(next % 1000000000ull);
        if (!its.it_value.tv_sec && !its.it_value.tv_nsec) {
            its.it_value.tv_nsec = 1; /* zero would disarm */
        }
    }
    timerfd_settime(s->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void
ctl_server_run(struct ctl_server *s)
{
    struct epoll_event evs[CTL_CONN_MAX + 2];
    uint64_t now = time_nsec();
    int n = epoll_wait(s->epoll_fd, evs, (int)ARRAY_SIZE(evs), 0);

    for (int i = 0; i < n; i++) {
        void *ptr = evs[i].data.ptr;

        if (ptr == &s->listen_fd) {
            accept_all(s, now);
        } else if (ptr == &s->timer_fd) {
            uint64_t ticks;
            ssize_t r = read(s->timer_fd, &ticks, sizeof ticks);
            (void)r; /* only to clear readiness; expiry is checked below */
        } else {
            /* Each connection has one event per batch, and only its own
             * event can close it, so 'c' is still valid here. */
            struct ctl_conn *c = ptr;
            if (c->state == CONN_READING) {
                conn_read(s, c, now);
            } else {
                conn_write(s, c);
            }
        }
    }
    expire_and_arm(s, time_nsec());
}

/* ---------------------------------------------------------------------- */
/* Server lifecycle. */

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t size, const char *fmt, ...)
{
    va_list args;

    if (err && size) {
        va_start(args, fmt);
        vsnprintf(err, size, fmt, args);
        va_end(args);
    }
}

static int
make_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (!path[0] || strlen(path) >= sizeof sun->sun_path) {
        return ENAMETOOLONG;
    }
    strcpy(sun->sun_path, path);
    return 0;
}

/* Returns 0 if nothing listens on 'sun' (a stale socket file), EADDRINUSE if
 * something does, or another errno if we cannot tell. */
static int
probe_live(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int error;

    if (fd < 0) {
        return errno;
    }
    if (!connect(fd, (const struct sockaddr *)sun, sizeof *sun)) {
        error = EADDRINUSE;
    } else if (errno == ECONNREFUSED) {
        error = 0;
    } else if (errno == EAGAIN) {
        error = EADDRINUSE; /* alive, with a full backlog */
    } else {
        error = errno;
    }
    close(fd);
    return error;
}

/* Binds 'fd' to 'path', replacing a stale socket file. */
static int
bind_socket(int fd, const char *path, char *err, size_t err_size)
{
    struct sockaddr_un sun;
    struct stat st;
    int error;

    if (make_addr(path, &sun)) {
        set_err(err, err_size, "%s: socket path too long", path);
        return ENAMETOOLONG;
    }
    /* Linux gives the socket file the mode of the socket inode (less the
     * umask), so the file is created 0600 with no window in between. */
    if (fchmod(fd, S_IRUSR | S_IWUSR)) {
        error = errno;
        set_err(err, err_size, "%s: fchmod: %s", path, strerror(error));
        return error;
    }
    if (!bind(fd, (struct sockaddr *)&sun, sizeof sun)) {
        return 0;
    }
    if (errno != EADDRINUSE) {
        error = errno;
        set_err(err, err_size, "%s: bind: %s", path, strerror(error));
        return error;
    }

    if (lstat(path, &st)) {
        error = errno;
        set_err(err, err_size, "%s: %s", path, strerror(error));
        return error;
    }
    if (!S_ISSOCK(st.st_mode)) {
        set_err(err, err_size, "%s: exists and is not a socket", path);
        return EEXIST;
    }
    error = probe_live(&sun);
    if (error == EADDRINUSE) {
        set_err(err, err_size,
                "%s: another process is listening on this socket (is "
                "another weft-agent running?)",
                path);
        return error;
    } else if (error) {
        set_err(err, err_size, "%s: connect: %s", path, strerror(error));
        return error;
    }
    LOG_INFO("ctl", "replacing stale socket %s", path);
    if (unlink(path) && errno != ENOENT) {
        error = errno;
        set_err(err, err_size, "%s: unlink: %s", path, strerror(error));
        return error;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun)) {
        error = errno;
        set_err(err, err_size, "%s: bind: %s", path, strerror(error));
        return error;
    }
    return 0;
}

/* Takes "<path>.lock", so that two agents starting at once cannot both
 * decide the socket is stale and unlink each other's. */
static int
take_lock(const char *path, char *err, size_t err_size)
{
    char *lock_path;
    int fd;

    if (asprintf(&lock_path, "%s.lock", path) < 0) {
        set_err(err, err_size, "%s: out of memory", path);
        return -1;
    }
    fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        set_err(err, err_size, "%s: %s", lock_path, strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno == EWOULDBLOCK) {
            set_err(err, err_size,
                    "%s: locked by another process (is another weft-agent "
                    "running?)",
                    lock_path);
        } else {
            set_err(err, err_size, "%s: flock: %s", lock_path, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    free(lock_path);
    return fd;
}

struct ctl_server *
ctl_server_create(const char *path, char *err, size_t err_size)
{
    struct ctl_server *s = xcalloc(1, sizeof *s);
    struct epoll_event ev;
    struct stat st;

    s->path = xstrdup(path);
    s->listen_fd = s->lock_fd = s->epoll_fd = s->timer_fd = -1;
    s->request_ns = CTL_REQUEST_MS * NS_PER_MS;
    s->reply_ns = CTL_REPLY_MS * NS_PER_MS;

    if (strlen(path) >= sizeof((struct sockaddr_un *)0)->sun_path || !path[0]) {
        set_err(err, err_size, "%s: socket path empty or too long", path);
        goto fail;
    }
    s->lock_fd = take_lock(path, err, err_size);
    if (s->lock_fd < 0) {
        goto fail;
    }

    s->listen_fd =
        socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0) {
        set_err(err, err_size, "socket: %s", strerror(errno));
        goto fail;
    }
    if (bind_socket(s->listen_fd, path, err, err_size)) {
        /* Not ours: do not unlink it in destroy. */
        close(s->listen_fd);
        s->listen_fd = -1;
        goto fail;
    }
    if (lstat(path, &st) || chmod(path, S_IRUSR | S_IWUSR)) {
        set_err(err, err_size, "%s: %s", path, strerror(errno));
        goto fail;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    if (listen(s->listen_fd, 64)) {
        set_err(err, err_size, "%s: listen: %s", path, strerror(errno));
        goto fail;
    }

    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->epoll_fd < 0 || s->timer_fd < 0) {
        set_err(err, err_size, "epoll/timerfd: %s", strerror(errno));
        goto fail;
    }
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &s->timer_fd};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->timer_fd, &ev)) {
        set_err(err, err_size, "epoll_ctl: %s", strerror(errno));
        goto fail;
    }
    listener_enable(s, true);
    if (!s->listening) {
        set_err(err, err_size, "epoll_ctl: %s", strerror(errno));
        goto fail;
    }

    ctl_register(s, "help", "", "list the available commands", cmd_help, s);
    return s;

fail:
    ctl_server_destroy(s);
    return NULL;
}

int
ctl_server_fd(const struct ctl_server *s)
{
    return s->epoll_fd;
}

void
ctl_server_set_timeouts(struct ctl_server *s, unsigned int request_ms,
                        unsigned int reply_ms)
{
    s->request_ns = request_ms * NS_PER_MS;
    s->reply_ns = reply_ms * NS_PER_MS;
}

void
ctl_server_destroy(struct ctl_server *s)
{
    if (!s) {
        return;
    }
    while (s->n_conns) {
        conn_close(s, s->n_conns - 1);
    }
    if (s->listen_fd >= 0) {
        struct stat st;

        close(s->listen_fd);
        if (!lstat(s->path, &st) && st.st_dev == s->dev &&
            st.st_ino == s->ino) {
            unlink(s->path);
        }
    }
    if (s->epoll_fd >= 0) {
        close(s->epoll_fd);
    }
    if (s->timer_fd >= 0) {
        close(s->timer_fd);
    }
    if (s->lock_fd >= 0) {
        close(s->lock_fd); /* releases the lock; the file stays */
    }
    free(s->cmds);
    free(s->path);
    free(s);
}

/* ---------------------------------------------------------------------- */
/* Client. */

/* Waits until 'fd' is ready for 'events' or the deadline passes.  Returns 0
 * when ready, ETIMEDOUT or an errno. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = time_nsec();
        struct pollfd pfd = {.fd = fd, .events = events};
        int n;

        if (now >= deadline) {
            return ETIMEDOUT;
        }
        n = poll(&pfd, 1, (int)MIN((deadline - now) / NS_PER_MS + 1, 60000));
        if (n > 0) {
            return 0;
        } else if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
}

/* Builds the request line from argv; returns false with a reason on
 * 'errout' if the arguments cannot be sent. */
static bool
build_request(int argc, char *argv[], char *line, size_t *lenp, FILE *errout)
{
    size_t len = 0;

    if (argc < 1) {
        fprintf(errout, "ctl: no command given (try \"help\")\n");
        return false;
    }
    if (argc > CTL_ARGS_MAX) {
        fprintf(errout, "ctl: too many arguments (at most %d words)\n",
                CTL_ARGS_MAX);
        return false;
    }
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);

        if (!n) {
            fprintf(errout, "ctl: argument %d is empty\n", i);
            return false;
        }
        for (size_t j = 0; j < n; j++) {
            unsigned char ch = (unsigned char)argv[i][j];
            if (ch <= 0x20 || ch > 0x7e) {
                fprintf(errout,
                        "ctl: argument %d contains whitespace or a byte that "
                        "is not printable ASCII\n",
                        i);
                return false;
            }
        }
        if (len + (i ? 1 : 0) + n + 1 > CTL_LINE_MAX) {
            fprintf(errout, "ctl: request too long (at most %d bytes)\n",
                    CTL_LINE_MAX);
            return false;
        }
        if (i) {
            line[len++] = ' ';
        }
        memcpy(line + len, argv[i], n);
        len += n;
    }
    line[len++] = '\n';
    *lenp = len;
    return true;
}

/* Sends the request.  A send error is not final: the server may have
 * answered (and closed) before reading everything, so the caller still
 * reads the reply. */
static void
send_request(int fd, const char *line, size_t len, uint64_t deadline)
{
    size_t ofs = 0;

    while (ofs < len) {
        ssize_t n = send(fd, line + ofs, len - ofs, MSG_NOSIGNAL);
        if (n > 0) {
            ofs += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, deadline)) {
                return;
            }
        } else {
            return;
        }
    }
}

int
ctl_client_call(const char *path, int argc, char *argv[], FILE *out,
                FILE *errout)
{
    uint64_t deadline = time_nsec() + CTL_CLIENT_TIMEOUT_MS * NS_PER_MS;
    char line[CTL_LINE_MAX], buf[65536], status[5];
    size_t len, status_len = 0;
    FILE *dst = NULL;
    struct sockaddr_un sun;
    int fd, rc = 2, error = 0;

    if (!build_request(argc, argv, line, &len, errout)) {
        return 2;
    }
    if (make_addr(path, &sun)) {
        fprintf(errout, "ctl: %s: socket path empty or too long\n", path);
        return 2;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(errout, "ctl: socket: %s\n", strerror(errno));
        return 2;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun)) {
        /* A Unix-domain connect does not go "in progress": EAGAIN means
         * the server's backlog is full. */
        fprintf(errout, "ctl: cannot connect to %s: %s\n", path,
                strerror(errno));
        close(fd);
        return 2;
    }
    send_request(fd, line, len, deadline);

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        size_t ofs = 0;

        if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            error = wait_fd(fd, POLLIN, deadline);
            if (error) {
                break;
            }
            continue;
        } else if (n < 0) {
            error = errno;
            break;
        } else if (n == 0) {
            break;
        }

        /* The status line first ("OK\n" or "ERR\n"), then the text. */
        while (!dst && ofs < (size_t)n) {
            char ch = buf[ofs++];
            if (ch != '\n' && status_len < 4) {
                status[status_len++] = ch;
                continue;
            }
            status[status_len] = '\0';
            if (ch == '\n' && !strcmp(status, "OK")) {
                dst = out, rc = 0;
            } else if (ch == '\n' && !strcmp(status, "ERR")) {
                dst = errout, rc = 1;
            } else {
                fprintf(errout, "ctl: %s: malformed reply\n", path);
                close(fd);
                return 2;
            }
        }
        if (dst && ofs < (size_t)n) {
            fwrite(buf + ofs, 1, (size_t)n - ofs, dst);
        }
    }
    close(fd);

    if (error) {
        fprintf(errout, "ctl: %s: %s\n", path,
                error == ETIMEDOUT ? "timed out waiting for a reply"
                                   : strerror(error));
        return 2;
    }
    if (!dst) {
        fprintf(errout, "ctl: %s: connection closed without a reply\n", path);
        return 2;
    }
    fflush(dst);
    return rc;
}
