/* The agent's local control socket, in the manner of ovs-appctl: a running
 * weft-agent answers commands such as "ports" or "macs SEGMENT" on a Unix
 * stream socket in its state directory, and `weft-agent ctl ...` is the
 * client.  Commands live in a table; each row carries its own usage and help
 * text, which the built-in "help" command lists.
 *
 * Wire protocol (one request per connection):
 *   client -> server   one line: words separated by spaces or tabs, ending
 *                      in '\n' (or end of stream); at most CTL_LINE_MAX bytes
 *                      including the '\n', at most CTL_ARGS_MAX words
 *                      (the command name counts), printable ASCII only
 *   server -> client   "OK\n" or "ERR\n", then the reply text (ending in
 *                      '\n' unless empty), then the server closes
 *
 * Server threading: a ctl_server belongs to one thread (the agent's main
 * loop).  It never blocks: ctl_server_fd() becomes readable whenever
 * ctl_server_run() has something to do (a new connection, request bytes, room
 * to write a reply, or a connection's deadline passing), and
 * ctl_server_run() only performs non-blocking socket calls.  Handlers run
 * inside ctl_server_run(), in that same thread. */
#ifndef WEFT_AGENT_CTL_H
#define WEFT_AGENT_CTL_H 1

#include <stddef.h>
#include <stdio.h>

#define CTL_LINE_MAX 4096 /* request bytes, including the '\n' */
#define CTL_ARGS_MAX 32   /* words in a request, including the command */

struct ctl_server;
struct ctl_reply;

/* Runs command argv[0] with arguments argv[1..argc-1] (argc >= 1; the
 * strings live until the handler returns).  Appends its output to 'reply'
 * and returns 0 on success; on failure returns nonzero and the reply text is
 * the error message sent to the client. */
typedef int (*ctl_handler_fn)(int argc, const char *argv[],
                              struct ctl_reply *reply, void *aux);

/* Appends formatted text to 'reply'.  Replies are capped (at 64 MiB); text
 * beyond the cap is dropped and the reply says it was truncated. */
void ctl_reply_printf(struct ctl_reply *reply, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Creates a server listening on the Unix socket 'path' with mode 0600.
 * A stale socket file left by a dead agent is replaced; if a live process
 * answers on 'path', or another server holds its lock file ("<path>.lock"),
 * or 'path' exists and is not a socket, creation fails.  Returns NULL on
 * failure with a message in 'err' (which may be NULL). */
struct ctl_server *ctl_server_create(const char *path, char *err,
                                     size_t err_size);

/* A file descriptor to poll() for POLLIN; when it is readable, call
 * ctl_server_run().  Owned by the server. */
int ctl_server_fd(const struct ctl_server *);

/* Accepts pending connections, reads requests, runs complete ones, writes
 * replies and drops connections whose deadline has passed.  Never blocks. */
void ctl_server_run(struct ctl_server *);

/* Closes every connection and the socket, and unlinks the socket file if it
 * is still the one this server created.  NULL is fine. */
void ctl_server_destroy(struct ctl_server *);

/* Sets how long a client may take, from connecting, to send its request
 * (default 2000 ms), and then to read the reply (default 10000 ms).  Mainly
 * for tests. */
void ctl_server_set_timeouts(struct ctl_server *, unsigned int request_ms,
                             unsigned int reply_ms);

/* Adds command 'name' (printable ASCII without spaces) to the table.
 * 'args_usage' (e.g. "[SEGMENT]", may be "") and 'help' (one line) are
 * shown by "help"; the strings must outlive the server.  'fn' is called with
 * 'aux'.  Registering a name twice (including "help") is a programming
 * error and aborts. */
void ctl_register(struct ctl_server *, const char *name, const char *args_usage,
                  const char *help, ctl_handler_fn fn, void *aux);

/* Client: sends argv[0..argc-1] as one request to the server at 'path',
 * copies the reply text to 'out' (OK) or 'errout' (ERR) and returns the
 * exit code for `weft-agent ctl`: 0 on OK, 1 on ERR, 2 if the request
 * cannot be sent (bad arguments, cannot connect, timeout after 30 s, or a
 * malformed reply), with the reason on 'errout'. */
int ctl_client_call(const char *path, int argc, char *argv[], FILE *out,
                    FILE *errout);

#endif
