/* Unit tests for the control socket (agent/ctl.h).
 *
 * Two ways of driving the server: tests that use the real client
 * (ctl_client_call blocks until it has the reply) run the server loop in a
 * thread; tests that speak raw bytes drive ctl_server_run() themselves
 * between their own non-blocking socket calls, which the server's
 * never-block design allows. */
#include "agent/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "testlib.h"

/* A temporary directory with the socket path inside it. */
struct fixture {
    char dir[64];   /* mkdtemp() result */
    char path[128]; /* dir + "/ctl.sock" */
    struct ctl_server *server;
    pthread_t thread;
    atomic_bool stop;
};

static int
cmd_echo(int argc, const char *argv[], struct ctl_reply *r, void *aux)
{
    int *calls = aux;

    (*calls)++;
    for (int i = 1; i < argc; i++) {
        ctl_reply_printf(r, "%s%s", i > 1 ? " " : "", argv[i]);
    }
    ctl_reply_printf(r, "\n");
    return 0;
}

static int
cmd_fail(int argc, const char *argv[], struct ctl_reply *r, void *aux)
{
    (void)aux;
    if (argc > 1) {
        ctl_reply_printf(r, "cannot %s", argv[1]); /* no newline */
    }
    return 3;
}

static int
cmd_argc(int argc, const char *argv[], struct ctl_reply *r, void *aux)
{
    (void)argv;
    (void)aux;
    ctl_reply_printf(r, "%d\n", argc);
    return 0;
}

/* Replies with argv[1] bytes of a repeating pattern. */
static int
cmd_big(int argc, const char *argv[], struct ctl_reply *r, void *aux)
{
    long n = argc > 1 ? atol(argv[1]) : 0;

    (void)aux;
    for (long i = 0; i < n / 64; i++) {
        ctl_reply_printf(r, "%063ld\n", i);
    }
    return 0;
}

static int echo_calls;

static void
fixture_setup(struct fixture *f)
{
    char err[256] = "";

    memset(f, 0, sizeof *f);
    strcpy(f->dir, "/tmp/weft-test-ctl-XXXXXX");
    if (!mkdtemp(f->dir)) {
        abort();
    }
    snprintf(f->path, sizeof f->path, "%s/ctl.sock", f->dir);
    f->server = ctl_server_create(f->path, err, sizeof err);
    if (!f->server) {
        printf("    ctl_server_create: %s\n", err);
        abort();
    }
    ctl_register(f->server, "echo", "[WORD]...", "print the words back",
                 cmd_echo, &echo_calls);
    ctl_register(f->server, "fail", "[WHAT]", "always fails", cmd_fail, NULL);
    ctl_register(f->server, "argc", "", "count the words", cmd_argc, NULL);
    ctl_register(f->server, "big", "BYTES", "a long reply", cmd_big, NULL);
}

static void
fixture_teardown(struct fixture *f)
{
    char lock[160];

    ctl_server_destroy(f->server);
    snprintf(lock, sizeof lock, "%s.lock", f->path);
    unlink(lock);
    unlink(f->path);
    rmdir(f->dir);
}

static void *
server_thread(void *f_)
{
    struct fixture *f = f_;

    while (!atomic_load(&f->stop)) {
        struct pollfd pfd = {.fd = ctl_server_fd(f->server), .events = POLLIN};
        poll(&pfd, 1, 20);
        ctl_server_run(f->server);
    }
    return NULL;
}

static void
thread_start(struct fixture *f)
{
    atomic_store(&f->stop, false);
    pthread_create(&f->thread, NULL, server_thread, f);
}

static void
thread_stop(struct fixture *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
}

/* Runs ctl_client_call with 'argv' (NULL-terminated); returns its exit
 * code and the captured output streams (caller frees). */
static int
call(const char *path, const char *const *argv, char **outp, char **errp)
{
    size_t out_len, err_len;
    FILE *out = open_memstream(outp, &out_len);
    FILE *err = open_memstream(errp, &err_len);
    int argc = 0, rc;

    while (argv[argc]) {
        argc++;
    }
    rc = ctl_client_call(path, argc, (char **)argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static uint64_t
now_ms(void)
{
    return time_nsec() / 1000000;
}

/* Connects a raw non-blocking client to 'path'. */
static int
raw_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

    strcpy(sun.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until end of stream on raw client 'fd', driving the server between
 * reads; gives up after 'ms'.  Returns a malloc'd NUL-terminated reply, or
 * NULL on timeout. */
static char *
raw_collect(struct ctl_server *s, int fd, int ms)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    uint64_t deadline = now_ms() + (uint64_t)ms;

    while (now_ms() < deadline) {
        ssize_t n;

        ctl_server_run(s);
        if (len + 1024 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
        if (n > 0) {
            len += (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            buf[len] = '\0';
            return buf;
        } else {
            struct pollfd pfd[2] = {{.fd = ctl_server_fd(s), .events = POLLIN},
                                    {.fd = fd, .events = POLLIN}};
            poll(pfd, 2, 10);
        }
    }
    free(buf);
    return NULL;
}

/* Sends 'len' bytes as one raw request and returns the whole reply. */
static char *
raw_request(struct ctl_server *s, const char *path, const void *data,
            size_t len, bool shut)
{
    int fd = raw_connect(path);
    size_t ofs = 0;
    char *reply;

    if (fd < 0) {
        return NULL;
    }
    /* Send what the socket takes, driving the server so it drains. */
    for (int tries = 0; ofs < len && tries < 1000; tries++) {
        ssize_t n = send(fd, (const char *)data + ofs, len - ofs,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            ofs += (size_t)n;
        } else if (n < 0 && errno != EAGAIN) {
            break; /* the server answered and closed early */
        }
        ctl_server_run(s);
    }
    if (shut) {
        shutdown(fd, SHUT_WR);
    }
    reply = raw_collect(s, fd, 3000);
    close(fd);
    return reply;
}

static bool
starts_with(const char *s, const char *prefix)
{
    return s && !strncmp(s, prefix, strlen(prefix));
}

/* ---- through the real client ---- */

TEST(client_ok_and_err)
{
    struct fixture f;
    char *out, *err;
    int rc;

    fixture_setup(&f);
    thread_start(&f);

    echo_calls = 0;
    rc = call(f.path, (const char *[]){"echo", "a", "b-c", "d", NULL}, &out,
              &err);
    CHECK_EQ(rc, 0);
    CHECK_STREQ(out, "a b-c d\n");
    CHECK_STREQ(err, "");
    CHECK_EQ(echo_calls, 1);
    free(out), free(err);

    /* Error text without a newline gets one. */
    rc = call(f.path, (const char *[]){"fail", "fly", NULL}, &out, &err);
    CHECK_EQ(rc, 1);
    CHECK_STREQ(out, "");
    CHECK_STREQ(err, "cannot fly\n");
    free(out), free(err);

    /* A failure with no text still says something. */
    rc = call(f.path, (const char *[]){"fail", NULL}, &out, &err);
    CHECK_EQ(rc, 1);
    CHECK_STREQ(err, "command failed\n");
    free(out), free(err);

    rc = call(f.path, (const char *[]){"nosuch", "x", NULL}, &out, &err);
    CHECK_EQ(rc, 1);
    CHECK_STREQ(err, "unknown command \"nosuch\"; try \"help\"\n");
    free(out), free(err);

    thread_stop(&f);
    fixture_teardown(&f);
}

TEST(client_help_lists_commands)
{
    struct fixture f;
    char *out, *err;

    fixture_setup(&f);
    thread_start(&f);
    CHECK_EQ(call(f.path, (const char *[]){"help", NULL}, &out, &err), 0);
    CHECK(starts_with(out, "Available commands:\n"));
    CHECK(strstr(out, "  argc            count the words\n") != NULL);
    CHECK(strstr(out, "  big BYTES       a long reply\n") != NULL);
    CHECK(strstr(out, "  echo [WORD]...  print the words back\n") != NULL);
    CHECK(strstr(out, "  fail [WHAT]     always fails\n") != NULL);
    CHECK(strstr(out, "  help            list the available commands\n") !=
          NULL);
    /* Sorted by name. */
    CHECK(strstr(out, "argc") < strstr(out, "big"));
    CHECK(strstr(out, "fail") < strstr(out, "help"));
    free(out), free(err);
    thread_stop(&f);
    fixture_teardown(&f);
}

TEST(client_usage_errors)
{
    struct fixture f;
    char *out, *err, *long_arg;
    const char *many[40];
    int rc;

    fixture_setup(&f);
    thread_start(&f);

    rc = call(f.path, (const char *[]){NULL}, &out, &err);
    CHECK_EQ(rc, 2);
    CHECK(strstr(err, "no command given") != NULL);
    free(out), free(err);

    rc = call(f.path, (const char *[]){"echo", "a b", NULL}, &out, &err);
    CHECK_EQ(rc, 2);
    CHECK(strstr(err, "argument 1 contains whitespace") != NULL);
    free(out), free(err);

    rc = call(f.path, (const char *[]){"echo", "", NULL}, &out, &err);
    CHECK_EQ(rc, 2);
    CHECK(strstr(err, "argument 1 is empty") != NULL);
    free(out), free(err);

    rc = call(f.path, (const char *[]){"echo", "\x01", NULL}, &out, &err);
    CHECK_EQ(rc, 2);
    free(out), free(err);

    long_arg = malloc(5000);
    memset(long_arg, 'x', 4999);
    long_arg[4999] = '\0';
    rc = call(f.path, (const char *[]){"echo", long_arg, NULL}, &out, &err);
    CHECK_EQ(rc, 2);
    CHECK(strstr(err, "request too long") != NULL);
    free(out), free(err);

    /* 4096 bytes with the newline is the most that fits. */
    long_arg[4096 - 6] = '\0'; /* "echo " + arg + "\n" == 4096 */
    rc = call(f.path, (const char *[]){"echo", long_arg, NULL}, &out, &err);
    CHECK_EQ(rc, 0);
    CHECK_EQ(strlen(out), 4096 - 6 + 1);
    free(out), free(err);
    free(long_arg);

    for (int i = 0; i < 33; i++) {
        many[i] = "argc";
    }
    many[33] = NULL;
    rc = call(f.path, many, &out, &err);
    CHECK_EQ(rc, 2);
    CHECK(strstr(err, "too many arguments") != NULL);
    free(out), free(err);
    many[32] = NULL;
    rc = call(f.path, many, &out, &err);
    CHECK_EQ(rc, 0);
    CHECK_STREQ(out, "32\n");
    free(out), free(err);

    thread_stop(&f);
    fixture_teardown(&f);
}

TEST(client_cannot_connect)
{
    char *out, *err;
    int rc = call("/nonexistent/weft/ctl.sock", (const char *[]){"help", NULL},
                  &out, &err);

    CHECK_EQ(rc, 2);
    CHECK(strstr(err, "cannot connect to /nonexistent/weft/ctl.sock") != NULL);
    free(out), free(err);
}

TEST(client_large_reply)
{
    struct fixture f;
    char *out, *err;

    /* Far more than a socket buffer: the server must wait for room to
     * write without blocking. */
    fixture_setup(&f);
    thread_start(&f);
    CHECK_EQ(call(f.path, (const char *[]){"big", "4194304", NULL}, &out, &err),
             0);
    CHECK_EQ(strlen(out), 4194304);
    CHECK(starts_with(out, "000000000000000000000000000000000000000000000000000"
                           "000000000000\n"));
    free(out), free(err);
    thread_stop(&f);
    fixture_teardown(&f);
}

/* A fake server that accepts one connection, reads, answers 'reply'. */
struct fake {
    int fd;
    const char *reply;
};

static void *
fake_thread(void *f_)
{
    struct fake *f = f_;
    int c = accept(f->fd, NULL, NULL);
    char buf[256];

    if (c >= 0) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        (void)n;
        n = send(c, f->reply, strlen(f->reply), MSG_NOSIGNAL);
        (void)n;
        close(c);
    }
    return NULL;
}

static int
fake_listen(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    strcpy(sun.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) || listen(fd, 4)) {
        abort();
    }
    return fd;
}

TEST(client_malformed_replies)
{
    static const char *const replies[] = {"HELLO\n", "", "OK", "ok\nx\n",
                                          "ERRORS\n"};
    const char *path = "/tmp/weft-test-ctl-fake.sock";

    for (size_t i = 0; i < ARRAY_SIZE(replies); i++) {
        struct fake f = {fake_listen(path), replies[i]};
        pthread_t t;
        char *out, *err;

        pthread_create(&t, NULL, fake_thread, &f);
        CHECK_EQ(call(path, (const char *[]){"help", NULL}, &out, &err), 2);
        CHECK(strstr(err, "ctl: ") != NULL);
        pthread_join(t, NULL);
        close(f.fd);
        free(out), free(err);
    }
    unlink(path);
}

/* ---- raw requests, server driven in this thread ---- */

TEST(raw_protocol_basics)
{
    struct fixture f;
    char *r;

    fixture_setup(&f);
    r = raw_request(f.server, f.path, "echo x  y\t z\n", 13, false);
    CHECK_STREQ(r, "OK\nx y z\n");
    free(r);
    /* CRLF is tolerated. */
    r = raw_request(f.server, f.path, "echo a\r\n", 8, false);
    CHECK_STREQ(r, "OK\na\n");
    free(r);
    /* End of stream ends the line. */
    r = raw_request(f.server, f.path, "echo eof", 8, true);
    CHECK_STREQ(r, "OK\neof\n");
    free(r);
    /* Bytes after the newline are ignored. */
    r = raw_request(f.server, f.path, "echo 1\necho 2\n", 14, false);
    CHECK_STREQ(r, "OK\n1\n");
    free(r);
    /* Empty request. */
    r = raw_request(f.server, f.path, "  \t \n", 5, false);
    CHECK_STREQ(r, "ERR\nempty request; try \"help\"\n");
    free(r);
    /* A client that connects and closes gets nothing, harms nothing. */
    r = raw_request(f.server, f.path, "", 0, true);
    CHECK_STREQ(r, "");
    free(r);
    fixture_teardown(&f);
}

TEST(raw_overlong_request)
{
    struct fixture f;
    char *big = malloc(100000), *r;

    fixture_setup(&f);
    memset(big, 'a', 100000);
    r = raw_request(f.server, f.path, big, 100000, false);
    CHECK_STREQ(r, "ERR\nrequest too long (more than 4096 bytes)\n");
    free(r);

    /* 4096 bytes with no newline is too long; 4095 + newline is not. */
    r = raw_request(f.server, f.path, big, 4096, false);
    CHECK(starts_with(r, "ERR\nrequest too long"));
    free(r);
    memcpy(big, "echo ", 5);
    big[4095] = '\n';
    r = raw_request(f.server, f.path, big, 4096, false);
    CHECK(starts_with(r, "OK\naaaa"));
    CHECK_EQ(r ? strlen(r) : 0, 3 + 4090 + 1);
    free(r);
    free(big);
    fixture_teardown(&f);
}

TEST(raw_too_many_args)
{
    struct fixture f;
    char line[256] = "argc", *r;

    fixture_setup(&f);
    for (int i = 1; i < 32; i++) {
        strcat(line, " x");
    }
    strcat(line, "\n");
    r = raw_request(f.server, f.path, line, strlen(line), false);
    CHECK_STREQ(r, "OK\n32\n");
    free(r);
    strcpy(line + strlen(line) - 1, " x\n");
    r = raw_request(f.server, f.path, line, strlen(line), false);
    CHECK_STREQ(r, "ERR\ntoo many arguments (at most 32 words)\n");
    free(r);
    fixture_teardown(&f);
}

TEST(raw_garbage)
{
    struct fixture f;
    unsigned char buf[600];
    unsigned int seed = 12345;
    char *r;

    fixture_setup(&f);
    /* NUL inside the line. */
    r = raw_request(f.server, f.path, "echo a\0b\n", 9, false);
    CHECK_STREQ(r, "ERR\nrequest contains byte 0x00 at offset 6: only "
                   "printable ASCII is accepted\n");
    free(r);
    r = raw_request(f.server, f.path, "echo \xff\xfe\n", 8, false);
    CHECK(starts_with(r, "ERR\nrequest contains byte 0xff at offset 5"));
    free(r);
    r = raw_request(f.server, f.path, "\x1b[2J\n", 5, false);
    CHECK(starts_with(r, "ERR\n"));
    free(r);

    /* Random binary: always an answer, never a crash. */
    for (int round = 0; round < 50; round++) {
        size_t len = (size_t)(rand_r(&seed) % sizeof buf) + 1;
        for (size_t i = 0; i < len; i++) {
            buf[i] = (unsigned char)rand_r(&seed);
        }
        r = raw_request(f.server, f.path, buf, len, true);
        CHECK(r != NULL && (starts_with(r, "ERR\n") || starts_with(r, "OK\n") ||
                            r[0] == '\0'));
        free(r);
    }
    fixture_teardown(&f);
}

TEST(idle_client_does_not_block)
{
    struct fixture f;
    int idle, idle2;
    uint64_t t0;
    char *r, buf[128];
    ssize_t n;

    fixture_setup(&f);
    ctl_server_set_timeouts(f.server, 200, 1000);
    idle = raw_connect(f.path);
    idle2 = raw_connect(f.path);
    if (!CHECK(idle >= 0 && idle2 >= 0)) {
        fixture_teardown(&f);
        return;
    }
    n = send(idle2, "ech", 3, 0); /* a partial line, then silence */
    CHECK_EQ(n, 3);

    t0 = now_ms();
    ctl_server_run(f.server);
    ctl_server_run(f.server);
    CHECK(now_ms() - t0 < 50);

    /* Others are served while the idle ones wait. */
    r = raw_request(f.server, f.path, "echo hi\n", 8, false);
    CHECK_STREQ(r, "OK\nhi\n");
    free(r);
    CHECK(recv(idle, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN);

    /* The server's fd wakes the loop when the deadline passes. */
    {
        struct pollfd pfd = {.fd = ctl_server_fd(f.server), .events = POLLIN};
        t0 = now_ms();
        CHECK_EQ(poll(&pfd, 1, 2000), 1);
        CHECK(now_ms() - t0 < 1000);
    }
    r = raw_collect(f.server, idle, 2000);
    CHECK_STREQ(r, "ERR\ntimed out waiting for the request\n");
    free(r);
    r = raw_collect(f.server, idle2, 2000);
    CHECK_STREQ(r, "ERR\ntimed out waiting for the request\n");
    free(r);
    close(idle);
    close(idle2);
    fixture_teardown(&f);
}

TEST(too_many_connections)
{
    struct fixture f;
    int fds[20];
    char *r;

    fixture_setup(&f);
    for (int i = 0; i < 20; i++) {
        fds[i] = raw_connect(f.path);
    }
    ctl_server_run(f.server);
    /* The first 16 are held, waiting for their requests. */
    r = raw_collect(f.server, fds[19], 1000);
    CHECK_STREQ(r, "ERR\ntoo many control connections, try again\n");
    free(r);
    /* Held ones still work. */
    CHECK_EQ(send(fds[0], "echo ok\n", 8, 0), 8);
    r = raw_collect(f.server, fds[0], 1000);
    CHECK_STREQ(r, "OK\nok\n");
    free(r);
    for (int i = 0; i < 20; i++) {
        close(fds[i]);
    }
    fixture_teardown(&f);
}

/* ---- socket file lifecycle ---- */

TEST(socket_mode_and_unlink)
{
    struct fixture f;
    struct stat st;

    fixture_setup(&f);
    CHECK_EQ(stat(f.path, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_EQ(st.st_mode & 0777, 0600);
    ctl_server_destroy(f.server);
    f.server = NULL;
    CHECK(stat(f.path, &st) < 0 && errno == ENOENT);
    ctl_server_destroy(NULL);
    fixture_teardown(&f);
}

TEST(stale_socket_replaced)
{
    struct fixture f;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char err[256] = "", *r;
    int fd;

    fixture_setup(&f);
    ctl_server_destroy(f.server);

    /* A socket file nobody listens on, as a crashed agent leaves it. */
    strcpy(sun.sun_path, f.path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK_EQ(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);

    f.server = ctl_server_create(f.path, err, sizeof err);
    if (CHECK(f.server != NULL)) {
        ctl_register(f.server, "echo", "", "", cmd_echo, &echo_calls);
        r = raw_request(f.server, f.path, "echo again\n", 11, false);
        CHECK_STREQ(r, "OK\nagain\n");
        free(r);
    } else {
        printf("    %s\n", err);
    }
    fixture_teardown(&f);
}

TEST(live_server_not_replaced)
{
    struct fixture f;
    struct ctl_server *second;
    char err[256] = "", *r;
    int fd;

    fixture_setup(&f);

    /* Another ctl server on the same path: its lock says no. */
    second = ctl_server_create(f.path, err, sizeof err);
    CHECK(second == NULL);
    CHECK(strstr(err, "locked by another process") != NULL);
    /* ... and the first still answers. */
    r = raw_request(f.server, f.path, "echo still\n", 11, false);
    CHECK_STREQ(r, "OK\nstill\n");
    free(r);
    ctl_server_destroy(f.server);

    /* Something else listening there (no lock): the probe says no. */
    fd = fake_listen(f.path);
    f.server = ctl_server_create(f.path, err, sizeof err);
    CHECK(f.server == NULL);
    CHECK(strstr(err, "another process is listening") != NULL);
    close(fd);
    fixture_teardown(&f);
}

TEST(non_socket_not_replaced)
{
    struct fixture f;
    struct ctl_server *s;
    char err[256] = "";
    struct stat st;
    int fd;

    fixture_setup(&f);
    ctl_server_destroy(f.server);
    f.server = NULL;
    fd = open(f.path, O_CREAT | O_WRONLY, 0644);
    close(fd);
    s = ctl_server_create(f.path, err, sizeof err);
    CHECK(s == NULL);
    CHECK(strstr(err, "exists and is not a socket") != NULL);
    CHECK(stat(f.path, &st) == 0 && S_ISREG(st.st_mode));

    s = ctl_server_create("/nonexistent-dir/x.sock", err, sizeof err);
    CHECK(s == NULL);
    CHECK(strstr(err, "/nonexistent-dir/x.sock") != NULL);

    {
        char longpath[200];
        memset(longpath, 'a', sizeof longpath - 1);
        longpath[0] = '/';
        longpath[sizeof longpath - 1] = '\0';
        s = ctl_server_create(longpath, err, sizeof err);
        CHECK(s == NULL);
        CHECK(strstr(err, "too long") != NULL);
    }
    fixture_teardown(&f);
}
