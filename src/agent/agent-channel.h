/* weft-agent's side of the control channel: enrollment, the TLS session
 * with the controller, and turning its updates into datapath state.
 *
 * State directory (--state-dir):
 *   key.pem, cert.pem   the host's key and certificate (from enrollment)
 *   ca.pem              the deployment CA, pinned at enrollment
 *   controller          the controller's address ("host:port")
 *   state.cache         the last realized desired state (agent-state.h)
 *
 * At start the cached state, if any, is applied at once, so a restarted
 * agent forwards with its last state even when the controller is
 * unreachable; the controller's snapshot or deltas then bring it up to
 * date.  Each update is applied to the desired state, turned into a
 * configuration, swapped into the datapath in one step (agent_apply()),
 * written to the cache and acknowledged with the objects that failed.
 * When the channel drops, the datapath keeps forwarding with what it has
 * (headless) while the agent reconnects with exponential backoff (250 ms
 * doubling to 5 s, with jitter).
 *
 * Runs on the agent's main thread: agent_channel_fd()/events()/
 * timeout_ms() say what to poll, agent_channel_run() does the work. */
#ifndef WEFT_AGENT_AGENT_CHANNEL_H
#define WEFT_AGENT_AGENT_CHANNEL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct agent_channel;
struct ctl_server;

#define AGENT_CONTROLLER_PORT 6643 /* default controller port */

struct agent_channel_config {
    const char *state_dir;  /* required */
    const char *controller; /* "host[:port]"; NULL: from the state dir */
    uint32_t mtu;           /* underlay MTU for the datapath */
    bool offloads;          /* VIF offloads */
    bool kernel_fastpath;   /* options.kernel_fastpath (decision 70) */
    unsigned keepalive_ms;  /* idle keepalive period (0 = 5000) */
};

/* Enrolls: makes a key, sends a CSR with 'token' to the controller at
 * 'addr' (after checking that it holds the CA the token names), and
 * stores key, certificate, CA and address in 'state_dir' (created 0700).
 * Blocks up to 30 s.  Returns 0, or an errno value with a message in
 * 'err'; on success '*host_id' (65 bytes) names the enrolled host. */
int agent_channel_enroll(const char *state_dir, const char *addr,
                         const char *token, char *host_id, char *err,
                         size_t err_size);

/* Loads the identity from the state directory, applies the cached state
 * to 'agent' and starts connecting.  NULL with a message in 'err' if the
 * host is not enrolled. */
struct agent_channel *agent_channel_create(struct agent *agent,
                                           const struct agent_channel_config *,
                                           char *err, size_t err_size);
void agent_channel_destroy(struct agent_channel *); /* NULL is fine */

/* The socket to poll (-1 while waiting to reconnect) and for what
 * (POLLIN/POLLOUT). */
int agent_channel_fd(const struct agent_channel *);
short agent_channel_events(const struct agent_channel *);
/* Milliseconds until agent_channel_run() has timed work (>= 0). */
int agent_channel_timeout_ms(const struct agent_channel *);
/* Does whatever is due: connect, I/O, updates, keepalives. */
void agent_channel_run(struct agent_channel *);

/* Adds the "controller" command (channel state) to the control socket. */
void agent_channel_register_ctl(struct agent_channel *, struct ctl_server *);

#endif
