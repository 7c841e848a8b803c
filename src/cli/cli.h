/* The `weft` CLI: a thin client of weftd's public REST API (it links no
 * server code).  cli.c parses the command line and builds requests,
 * cli-http.c speaks HTTP(S) with libcurl, cli-output.c renders replies as
 * tables, JSON or YAML.
 *
 * Exit codes: 0 success, 1 the API (or the connection) reported an error,
 * 2 usage error. */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H 1

#include <jansson.h>
#include <stdbool.h>

#define CLI_OK        0
#define CLI_API_ERROR 1
#define CLI_USAGE     2

enum cli_format { CLI_TABLE, CLI_JSON, CLI_YAML };

/* Where and how to reach weftd. */
struct cli_conn {
    const char *endpoint; /* e.g. https://127.0.0.1:8443 */
    const char *token;    /* bearer token */
    const char *cacert;   /* CA file for HTTPS, NULL = system store */
    bool insecure;        /* skip TLS verification */
};

/* Sends one request; 'body' may be NULL.  Returns 0 and the status and
 * the parsed JSON reply (NULL when empty or not JSON) or -1 with a message
 * in 'err' on a transport failure. */
int cli_http(const struct cli_conn *conn, const char *method, const char *path,
             const char *body, long *status, json_t **reply, char *err,
             size_t err_size);

/* Prints a reply: a list ({"results": [...]}) as rows, anything else as
 * one object.  'kind' (e.g. "segment") picks table columns;
 * CLI_KIND_GENERIC makes the columns the scalar fields of the rows. */
#define CLI_KIND_GENERIC "*"

void cli_print(const json_t *value, enum cli_format fmt, const char *kind);

/* Prints 'value' as YAML at 'indent'. */
void cli_print_yaml(const json_t *value, int indent);

/* Entry point (weft-main.c). */
int cli_main(int argc, char *argv[]);

#endif
