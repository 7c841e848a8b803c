/* `weft` command-line parsing and commands (see cli.h).
 *
 * Connection settings come from, in order of precedence: flags
 * (--endpoint, --token, --cacert, --insecure), the environment
 * (WEFT_ENDPOINT, WEFT_TOKEN, WEFT_CACERT) and ~/.config/weft/config
 * (lines "endpoint = ...", "token = ...", "cacert = ...", "project = ..."). */
#include "cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define CLI_MAX_REPEAT 64

/* Parsed options shared by all commands. */
struct cli_opts {
    struct cli_conn conn;                /* where to send requests */
    enum cli_format format;              /* -o */
    const char *project;                 /* --project */
    const char *segment;                 /* --segment (ports) */
    const char *file;                    /* -f (apply) */
    const char *vni;                     /* --vni */
    const char *encap;                   /* --encap */
    const char *name;                    /* --name (display_name) */
    const char *mac;                     /* --mac */
    const char *host;                    /* --host */
    const char *vif;                     /* --vif */
    const char *tep;                     /* --tep */
    const char *role;                    /* --role */
    const char *if_match;                /* --revision */
    const char *timeout;                 /* --timeout (wait) */
    const char *ttl;                     /* --ttl (join-token) */
    bool realized;                       /* --realized (wait) */
    const char *subnets[CLI_MAX_REPEAT]; /* --subnet, repeatable */
    size_t n_subnets;
    const char *ips[CLI_MAX_REPEAT]; /* --ip */
    size_t n_ips;
    const char *tags[CLI_MAX_REPEAT]; /* --tag scope|value */
    size_t n_tags;
    const char *members[CLI_MAX_REPEAT]; /* --member */
    size_t n_members;
    const char *filters[CLI_MAX_REPEAT]; /* --filter field=value */
    size_t n_filters;
    const char *projects[CLI_MAX_REPEAT]; /* token --project-scope */
    size_t n_projects;
};

typedef int cli_cmd_fn(struct cli_opts *o, int argc, char *argv[]);

/* A command: words, handler and its help line. */
struct cli_command {
    const char *verb;   /* first word */
    const char *object; /* second word or NULL */
    int min_args;       /* positional arguments after the words */
    int max_args;
    cli_cmd_fn *fn;    /* handler */
    const char *usage; /* synopsis */
    const char *help;  /* one line */
};

static void cli_usage(FILE *f);

static int
cli_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "weft: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'weft --help')\n");
    return CLI_USAGE;
}

/* Maps a kind word to the canonical singular. */
static const char *
cli_kind(const char *word)
{
    static const char *const kinds[][2] = {
        {"project", "project"}, {"projects", "project"},
        {"segment", "segment"}, {"segments", "segment"},
        {"port", "port"},       {"ports", "port"},
        {"host", "host"},       {"hosts", "host"},
        {"group", "group"},     {"groups", "group"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!strcmp(word, kinds[i][0])) {
            return kinds[i][1];
        }
    }
    return NULL;
}

/* Builds the API path of 'kind' (collection if 'id' is NULL).  Ports
 * need --segment or an id of the form SEGMENT/PORT. */
static int
cli_path(const struct cli_opts *o, const char *kind, const char *id, char *buf,
         size_t size)
{
    const char *seg = o->segment;
    char segbuf[128];

    if (!strcmp(kind, "host")) {
        snprintf(buf, size, "/api/v1/hosts%s%s", id ? "/" : "", id ? id : "");
    } else if (!strcmp(kind, "project")) {
        snprintf(buf, size, "/api/v1/projects%s%s", id ? "/" : "",
                 id ? id : "");
    } else if (!strcmp(kind, "segment") || !strcmp(kind, "group")) {
        snprintf(buf, size, "/api/v1/projects/%s/%ss%s%s", o->project, kind,
                 id ? "/" : "", id ? id : "");
    } else {
        const char *slash = id ? strchr(id, '/') : NULL;
        if (slash) {
            snprintf(segbuf, sizeof segbuf, "%.*s", (int)(slash - id), id);
            seg = segbuf;
            id = slash + 1;
        }
        if (!seg) {
            return cli_usage_error("%s needs --segment SEGMENT "
                                   "(or SEGMENT/PORT)",
                                   "port");
        }
        snprintf(buf, size, "/api/v1/projects/%s/segments/%s/ports%s%s",
                 o->project, seg, id ? "/" : "", id ? id : "");
    }
    return CLI_OK;
}

/* Percent-encodes a query value. */
static void
cli_query_escape(const char *s, char *out, size_t size)
{
    size_t n = 0;

    for (; *s && n + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.') {
            out[n++] = (char)c;
        } else {
            n += (size_t)snprintf(out + n, size - n, "%%%02X", c);
        }
    }
    out[n] = '\0';
}

/* Sends a request and reports an API error; returns a CLI exit code and,
 * on success, the reply in '*reply' (may be NULL). */
static int
cli_call(const struct cli_opts *o, const char *method, const char *path,
         json_t *body, json_t **reply)
{
    char err[512], *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *r = NULL;
    long status;
    int ret;

    if (reply) {
        *reply = NULL;
    }
    if (!o->conn.endpoint) {
        free(text);
        return cli_usage_error("%s", "no endpoint: use --endpoint, "
                                     "WEFT_ENDPOINT or ~/.config/weft/config");
    }
    ret = cli_http(&o->conn, method, path, text, &status, &r, err, sizeof err);
    free(text);
    if (ret) {
        fprintf(stderr, "weft: %s\n", err);
        return CLI_API_ERROR;
    }
    if (status >= 400) {
        const char *msg = json_string_value(json_object_get(r, "message"));
        const char *code = json_string_value(json_object_get(r, "error"));
        const char *field = json_string_value(json_object_get(r, "field"));
        fprintf(stderr, "weft: error: %s (%s, HTTP %ld%s%s)\n",
                msg ? msg : "request failed", code ? code : "?", status,
                field && *field ? ", field " : "", field ? field : "");
        json_decref(r);
        return CLI_API_ERROR;
    }
    if (reply) {
        *reply = r;
    } else {
        json_decref(r);
    }
    return CLI_OK;
}

/* Calls the API and prints the reply (as 'kind', or generically when
 * NULL).  Returns what cli_call() returns. */
static int
cli_call_print(const struct cli_opts *o, const char *method, const char *path,
               json_t *body, const char *kind)
{
    json_t *reply;
    int ret = cli_call(o, method, path, body, &reply);

    if (!ret) {
        cli_print(reply, o->format, kind);
        json_decref(reply);
    }
    return ret;
}

static json_t *
cli_tags_json(const struct cli_opts *o)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < o->n_tags; i++) {
        const char *bar = strchr(o->tags[i], '|');
        json_t *t = json_object();
        if (bar) {
            json_object_set_new(
                t, "scope",
                json_stringn(o->tags[i], (size_t)(bar - o->tags[i])));
        }
        json_object_set_new(t, "tag", json_string(bar ? bar + 1 : o->tags[i]));
        json_array_append_new(tags, t);
    }
    return tags;
}

/* Builds the body of a create from the flags. */
static int
cli_create_body(const struct cli_opts *o, const char *kind, json_t *body)
{
    if (o->name) {
        json_object_set_new(body, "display_name", json_string(o->name));
    }
    if (o->n_tags) {
        json_object_set_new(body, "tags", cli_tags_json(o));
    }
    if (!strcmp(kind, "segment")) {
        if (o->vni) {
            char *end;
            long long v = strtoll(o->vni, &end, 10);
            if (*end || !*o->vni) {
                return cli_usage_error("--vni '%s' is not a number", o->vni);
            }
            json_object_set_new(body, "vni", json_integer(v));
        }
        if (o->encap) {
            /* The server checks the value and names the field. */
            json_object_set_new(body, "encap", json_string(o->encap));
        }
        if (o->n_subnets) {
            json_t *subnets = json_array();
            for (size_t i = 0; i < o->n_subnets; i++) {
                json_array_append_new(
                    subnets,
                    json_pack("{s:s}", "gateway_address", o->subnets[i]));
            }
            json_object_set_new(body, "subnets", subnets);
        }
    } else if (!strcmp(kind, "port")) {
        if (o->mac) {
            json_object_set_new(body, "mac_address", json_string(o->mac));
        }
        if (o->n_ips) {
            json_t *ips = json_array();
            for (size_t i = 0; i < o->n_ips; i++) {
                json_array_append_new(ips, json_string(o->ips[i]));
            }
            json_object_set_new(body, "ip_addresses", ips);
        }
        if (o->host || o->vif) {
            json_object_set_new(body, "attachment",
                                json_pack("{s:s, s:s}", "host",
                                          o->host ? o->host : "", "vif",
                                          o->vif ? o->vif : ""));
        }
    } else if (!strcmp(kind, "host")) {
        if (!o->tep) {
            return cli_usage_error("%s needs --tep IP (tunnel endpoint)",
                                   "host create");
        }
        json_object_set_new(body, "tunnel_endpoint", json_string(o->tep));
    } else if (!strcmp(kind, "group") && o->n_members) {
        json_t *members = json_array();
        for (size_t i = 0; i < o->n_members; i++) {
            json_array_append_new(members, json_string(o->members[i]));
        }
        json_object_set_new(body, "members", members);
    }
    return CLI_OK;
}

static int
cli_cmd_create(struct cli_opts *o, int argc, char *argv[])
{
    const char *kind = cli_kind(argv[0]);
    json_t *body = json_object(), *reply = NULL;
    const char *id = argv[1];
    char path[1024], segbuf[128];
    int ret;

    (void)argc;
    if (!strcmp(kind, "port") && strchr(id, '/')) {
        /* SEGMENT/PORT */
        snprintf(segbuf, sizeof segbuf, "%.*s", (int)(strchr(id, '/') - id),
                 id);
        o->segment = segbuf;
        id = strchr(id, '/') + 1;
    }
    ret = cli_path(o, kind, NULL, path, sizeof path);
    if (!ret) {
        json_object_set_new(body, "id", json_string(id));
        ret = cli_create_body(o, kind, body);
    }
    if (!ret) {
        ret = cli_call(o, "POST", path, body, &reply);
    }
    if (!ret) {
        cli_print(reply, o->format, kind);
    }
    json_decref(body);
    json_decref(reply);
    return ret;
}

static int
cli_cmd_get(struct cli_opts *o, int argc, char *argv[])
{
    const char *kind = cli_kind(argv[0]);
    char path[1024];
    json_t *reply;
    int ret;

    (void)argc;
    if (!kind) {
        return cli_usage_error("unknown object kind '%s'", argv[0]);
    }
    ret = cli_path(o, kind, argv[1], path, sizeof path);
    if (!ret && !(ret = cli_call(o, "GET", path, NULL, &reply))) {
        cli_print(reply, o->format, kind);
        json_decref(reply);
    }
    return ret;
}

static int
cli_cmd_list(struct cli_opts *o, int argc, char *argv[])
{
    const char *kind = cli_kind(argv[0]);
    json_t *all = json_array(), *reply, *wrap;
    char base[1024], path[4096], esc[512];
    const char *cursor = NULL;
    char cursor_buf[256] = "";
    int ret;

    (void)argc;
    if (!kind) {
        json_decref(all);
        return cli_usage_error("unknown object kind '%s'", argv[0]);
    }
    ret = cli_path(o, kind, NULL, base, sizeof base);
    /* Follow every page; the cursor keeps them on one snapshot. */
    while (!ret) {
        size_t n =
            (size_t)snprintf(path, sizeof path, "%s?page_size=1000", base);
        for (size_t i = 0; i < o->n_tags && n < sizeof path; i++) {
            cli_query_escape(o->tags[i], esc, sizeof esc);
            n += (size_t)snprintf(path + n, sizeof path - n, "&tag=%s", esc);
        }
        for (size_t i = 0; i < o->n_filters && n < sizeof path; i++) {
            const char *eq = strchr(o->filters[i], '=');
            if (!eq) {
                json_decref(all);
                return cli_usage_error("--filter '%s' is not FIELD=VALUE",
                                       o->filters[i]);
            }
            cli_query_escape(eq + 1, esc, sizeof esc);
            n +=
                (size_t)snprintf(path + n, sizeof path - n, "&%.*s=%s",
                                 (int)(eq - o->filters[i]), o->filters[i], esc);
        }
        if (cursor && n < sizeof path) {
            cli_query_escape(cursor, esc, sizeof esc);
            snprintf(path + n, sizeof path - n, "&cursor=%s", esc);
        }
        ret = cli_call(o, "GET", path, NULL, &reply);
        if (ret) {
            break;
        }
        json_array_extend(all, json_object_get(reply, "results"));
        cursor = json_string_value(json_object_get(reply, "cursor"));
        if (cursor) {
            snprintf(cursor_buf, sizeof cursor_buf, "%s", cursor);
            cursor = cursor_buf;
        }
        json_decref(reply);
        if (!cursor) {
            break;
        }
    }
    if (!ret) {
        wrap = json_pack("{s:O, s:I}", "results", all, "result_count",
                         (json_int_t)json_array_size(all));
        cli_print(wrap, o->format, kind);
        json_decref(wrap);
    }
    json_decref(all);
    return ret;
}

static int
cli_cmd_delete(struct cli_opts *o, int argc, char *argv[])
{
    const char *kind = cli_kind(argv[0]);
    char path[1024];
    int ret;

    (void)argc;
    if (!kind) {
        return cli_usage_error("unknown object kind '%s'", argv[0]);
    }
    ret = cli_path(o, kind, argv[1], path, sizeof path);
    if (!ret) {
        ret = cli_call(o, "DELETE", path, NULL, NULL);
    }
    if (!ret && o->format == CLI_TABLE) {
        printf("deleted %s\n", path);
    }
    return ret;
}

static int
cli_cmd_apply(struct cli_opts *o, int argc, char *argv[])
{
    json_error_t jerr;
    json_t *body, *reply;
    int ret;

    (void)argc;
    (void)argv;
    if (!o->file) {
        return cli_usage_error("%s needs -f FILE", "apply");
    }
    body = !strcmp(o->file, "-") ? json_loadf(stdin, 0, &jerr)
                                 : json_load_file(o->file, 0, &jerr);
    if (!body) {
        fprintf(stderr, "weft: %s: line %d: %s\n", o->file, jerr.line,
                jerr.text);
        return CLI_USAGE;
    }
    ret = cli_call(o, "PATCH", "/api/v1", body, &reply);
    if (!ret) {
        if (o->format == CLI_TABLE) {
            printf("applied at revision %" JSON_INTEGER_FORMAT "\n",
                   json_integer_value(json_object_get(reply, "_revision")));
        } else {
            cli_print(reply, o->format, NULL);
        }
        json_decref(reply);
    }
    json_decref(body);
    return ret;
}

static int
cli_cmd_status(struct cli_opts *o, int argc, char *argv[])
{
    int ret;

    (void)argc;
    (void)argv;
    ret = cli_call_print(o, "GET", "/api/v1/status", NULL, NULL);
    return ret;
}

static int
cli_cmd_token_create(struct cli_opts *o, int argc, char *argv[])
{
    json_t *body;
    int ret;

    (void)argc;
    if (!o->role) {
        return cli_usage_error("%s needs --role ROLE", "token create");
    }
    body = json_pack("{s:s, s:s}", "name", argv[0], "role", o->role);
    if (o->n_projects) {
        json_t *p = json_array();
        for (size_t i = 0; i < o->n_projects; i++) {
            json_array_append_new(p, json_string(o->projects[i]));
        }
        json_object_set_new(body, "projects", p);
    }
    ret = cli_call_print(o, "POST", "/api/v1/tokens", body, NULL);
    json_decref(body);
    return ret;
}

/* ---- Control plane: enrollment, realization. ---- */

static int
cli_cmd_join_token(struct cli_opts *o, int argc, char *argv[])
{
    char path[1024];
    json_t *body = NULL, *reply;
    int ret;

    (void)argc;
    if (o->ttl) {
        char *end;
        long long v = strtoll(o->ttl, &end, 10);
        if (*end || !*o->ttl) {
            return cli_usage_error("--ttl '%s' is not a number", o->ttl);
        }
        body = json_pack("{s:I}", "ttl_s", (json_int_t)v);
    }
    snprintf(path, sizeof path, "/api/v1/hosts/%s/join-token", argv[0]);
    ret = cli_call(o, "POST", path, body, &reply);
    if (!ret) {
        if (o->format == CLI_TABLE) {
            printf("%s\n", json_string_value(json_object_get(reply, "token")));
        } else {
            cli_print(reply, o->format, NULL);
        }
        json_decref(reply);
    }
    json_decref(body);
    return ret;
}

static int
cli_cmd_revoke(struct cli_opts *o, int argc, char *argv[])
{
    char path[1024];
    int ret;

    (void)argc;
    snprintf(path, sizeof path, "/api/v1/hosts/%s/revoke", argv[0]);
    ret = cli_call(o, "POST", path, NULL, NULL);
    if (!ret && o->format == CLI_TABLE) {
        printf("revoked the certificate of host %s\n", argv[0]);
    }
    return ret;
}

static int
cli_cmd_state(struct cli_opts *o, int argc, char *argv[])
{
    const char *kind = cli_kind(argv[0]);
    char path[1024];
    json_t *reply;
    int ret;

    (void)argc;
    if (!kind || (strcmp(kind, "host") && strcmp(kind, "segment") &&
                  strcmp(kind, "port"))) {
        return cli_usage_error("state of '%s'? (host, segment or port)",
                               argv[0]);
    }
    ret = cli_path(o, kind, argv[1], path, sizeof path);
    if (!ret) {
        strncat(path, "/state", sizeof path - strlen(path) - 1);
        ret = cli_call(o, "GET", path, NULL, &reply);
    }
    if (!ret) {
        cli_print(reply, o->format == CLI_TABLE ? CLI_YAML : o->format, NULL);
        json_decref(reply);
    }
    return ret;
}

static double
cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls /realization until the revision is realized everywhere. */
static int
cli_cmd_wait(struct cli_opts *o, int argc, char *argv[])
{
    double timeout = 60, deadline;
    uint64_t rev = 0;
    json_t *reply = NULL;
    char path[128];
    int ret;

    (void)argc;
    (void)argv;
    if (!o->realized) {
        return cli_usage_error("%s: say what to wait for (--realized)", "wait");
    }
    if (o->timeout) {
        char *end;
        timeout = strtod(o->timeout, &end);
        if (*end || !*o->timeout || timeout < 0 || timeout > 86400) {
            return cli_usage_error("--timeout '%s' is not 0..86400 seconds",
                                   o->timeout);
        }
    }
    if (o->if_match) {
        char *end;
        rev = strtoull(o->if_match, &end, 10);
        if (*end || !*o->if_match) {
            return cli_usage_error("--revision '%s' is not a number",
                                   o->if_match);
        }
    } else {
        /* The head revision now: everything committed so far. */
        ret = cli_call(o, "GET", "/api/v1/status", NULL, &reply);
        if (ret) {
            return ret;
        }
        rev = (uint64_t)json_integer_value(json_object_get(reply, "revision"));
        json_decref(reply);
    }
    snprintf(path, sizeof path, "/api/v1/realization?revision=%" PRIu64, rev);
    deadline = cli_now() + timeout;
    for (unsigned delay_ms = 20;;
         delay_ms = delay_ms < 200 ? delay_ms * 2 : 200) {
        ret = cli_call(o, "GET", path, NULL, &reply);
        if (ret) {
            return ret;
        }
        json_t *failed = json_object_get(reply, "failed");
        if (json_array_size(failed)) {
            fprintf(stderr, "weft: revision %" PRIu64 " has failures:\n", rev);
            for (size_t i = 0; i < json_array_size(failed); i++) {
                json_t *f = json_array_get(failed, i);
                fprintf(stderr, "  host %s: %s: %s\n",
                        json_string_value(json_object_get(f, "host")),
                        json_string_value(json_object_get(f, "object")),
                        json_string_value(json_object_get(f, "reason")));
            }
            json_decref(reply);
            return CLI_API_ERROR;
        }
        if (json_is_true(json_object_get(reply, "realized"))) {
            if (o->format == CLI_TABLE) {
                printf("revision %" PRIu64 " realized\n", rev);
            } else {
                cli_print(reply, o->format, NULL);
            }
            json_decref(reply);
            return CLI_OK;
        }
        if (cli_now() >= deadline) {
            json_t *pending = json_object_get(reply, "pending_hosts");
            fprintf(stderr,
                    "weft: revision %" PRIu64 " not realized within %g s "
                    "(controller at %" JSON_INTEGER_FORMAT "); pending hosts:",
                    rev, timeout,
                    json_integer_value(
                        json_object_get(reply, "processed_revision")));
            for (size_t i = 0; i < json_array_size(pending); i++) {
                fprintf(stderr, " %s",
                        json_string_value(json_array_get(pending, i)));
            }
            fprintf(stderr, "\n");
            json_decref(reply);
            return CLI_API_ERROR;
        }
        json_decref(reply);
        usleep(delay_ms * 1000);
    }
}

/* PATCHes a port's attachment (attach) or removes it (detach). */
static int
cli_cmd_attach(struct cli_opts *o, int argc, char *argv[], bool attach)
{
    char path[1024];
    json_t *body;
    int ret;

    (void)argc;
    if (attach && (!o->host || !o->vif)) {
        return cli_usage_error("%s needs --host HOST and --vif IFNAME",
                               "port attach");
    }
    ret = cli_path(o, "port", argv[0], path, sizeof path);
    if (ret) {
        return ret;
    }
    body = attach ? json_pack("{s:{s:s, s:s}}", "attachment", "host", o->host,
                              "vif", o->vif)
                  : json_pack("{s:n}", "attachment");
    ret = cli_call_print(o, "PATCH", path, body, "port");
    json_decref(body);
    return ret;
}

static int
cli_cmd_port_attach(struct cli_opts *o, int argc, char *argv[])
{
    return cli_cmd_attach(o, argc, argv, true);
}

static int
cli_cmd_port_detach(struct cli_opts *o, int argc, char *argv[])
{
    return cli_cmd_attach(o, argc, argv, false);
}

static const struct cli_command cli_commands[] = {
    {"segment", "create", 1, 1, cli_cmd_create,
     "segment create ID [--subnet GW/LEN]... [--vni N] "
     "[--encap geneve|vxlan] [--tag S|V]...",
     "create a segment (VNI from the pool unless --vni; GENEVE unless "
     "--encap)"},
    {"port", "create", 1, 1, cli_cmd_create,
     "port create ID --segment SEG [--mac MAC] [--ip IP]... "
     "[--host H --vif IF]",
     "create a port on a segment"},
    {"host", "create", 1, 1, cli_cmd_create,
     "host create ID --tep IP [--tag S|V]...", "register a host"},
    {"group", "create", 1, 1, cli_cmd_create,
     "group create ID [--member PATH]...", "create a group"},
    {"project", "create", 1, 1, cli_cmd_create, "project create ID",
     "create a project"},
    {"get", NULL, 2, 2, cli_cmd_get, "get KIND ID",
     "show one object (KIND: project, segment, port, host, group)"},
    {"list", NULL, 1, 1, cli_cmd_list,
     "list KIND [--tag S|V]... [--filter FIELD=VALUE]...",
     "list objects (all pages)"},
    {"delete", NULL, 2, 2, cli_cmd_delete, "delete KIND ID",
     "delete an object"},
    {"apply", NULL, 0, 0, cli_cmd_apply, "apply -f FILE|-",
     "apply a topology (JSON) as one atomic subtree PATCH of /api/v1"},
    {"status", NULL, 0, 0, cli_cmd_status, "status",
     "show the server's revision and store statistics"},
    {"token", "create", 1, 1, cli_cmd_token_create,
     "token create NAME --role admin|project-admin|auditor "
     "[--scope PROJECT]...",
     "create an API token (prints its secret once)"},
    {"host", "join-token", 1, 1, cli_cmd_join_token,
     "host join-token HOST [--ttl SECONDS]",
     "a single-use token for weft-agent --join (default ttl 3600 s)"},
    {"host", "revoke", 1, 1, cli_cmd_revoke, "host revoke HOST",
     "revoke the host's certificate (its agent is refused)"},
    {"port", "attach", 1, 1, cli_cmd_port_attach,
     "port attach ID --segment SEG --host H --vif IF",
     "plug a port into a host's interface"},
    {"port", "detach", 1, 1, cli_cmd_port_detach,
     "port detach ID --segment SEG", "unplug a port"},
    {"state", NULL, 2, 2, cli_cmd_state, "state KIND ID",
     "realization state of a host, segment or port, per host"},
    {"wait", NULL, 0, 0, cli_cmd_wait,
     "wait --realized [--revision N] [--timeout S]",
     "wait until revision N (default: now) is realized on every host it "
     "applies to (exit 1 on failure or timeout, default 60 s)"},
};

static void
cli_usage(FILE *f)
{
    fprintf(f, "usage: weft [OPTIONS] COMMAND ...\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(cli_commands); i++) {
        fprintf(f, "  weft %s\n      %s\n", cli_commands[i].usage,
                cli_commands[i].help);
    }
    fprintf(f,
            "\noptions:\n"
            "  --endpoint URL    weftd URL (env WEFT_ENDPOINT)\n"
            "  --token TOKEN     bearer token (env WEFT_TOKEN)\n"
            "  --cacert FILE     CA certificate for HTTPS (env WEFT_CACERT)\n"
            "  --insecure        do not verify the server certificate\n"
            "  -o FORMAT         table (default), json or yaml\n"
            "  -p, --project P   project (default 'default')\n"
            "  --segment S       segment of a port\n"
            "  --name NAME       display name\n"
            "  -h, --help        this help\n"
            "Settings may also live in ~/.config/weft/config as "
            "'key = value'\n(endpoint, token, cacert, project).\n"
            "exit status: 0 ok, 1 API error, 2 usage error\n");
}

/* Reads ~/.config/weft/config into static storage. */
static void
cli_load_config(struct cli_opts *o)
{
    static char values[4][1024];
    static const char *const keys[] = {"endpoint", "token", "cacert",
                                       "project"};
    const char *home = getenv("HOME");
    char path[1024], line[1200];
    FILE *f;

    if (!home) {
        return;
    }
    snprintf(path, sizeof path, "%s/.config/weft/config", home);
    f = fopen(path, "r");
    if (!f) {
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char *p = line, *sep, *v, *end;
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '#' || !(sep = strpbrk(p, "=:"))) {
            continue;
        }
        for (end = sep; end > p && (end[-1] == ' ' || end[-1] == '\t');) {
            *--end = '\0';
        }
        *sep = '\0';
        v = sep + 1;
        v += strspn(v, " \t\"");
        v[strcspn(v, "\"\r\n")] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
            if (!strcmp(p, keys[i])) {
                snprintf(values[i], sizeof values[i], "%s", v);
            }
        }
    }
    fclose(f);
    o->conn.endpoint = values[0][0] ? values[0] : o->conn.endpoint;
    o->conn.token = values[1][0] ? values[1] : o->conn.token;
    o->conn.cacert = values[2][0] ? values[2] : o->conn.cacert;
    o->project = values[3][0] ? values[3] : o->project;
}

static int
cli_push(const char **list, size_t *n, const char *v)
{
    if (*n >= CLI_MAX_REPEAT) {
        return cli_usage_error("too many repetitions of '%s'", v);
    }
    list[(*n)++] = v;
    return CLI_OK;
}

int
cli_main(int argc, char *argv[])
{
    enum {
        O_ENDPOINT = 256,
        O_TOKEN,
        O_CACERT,
        O_INSECURE,
        O_SEGMENT,
        O_SUBNET,
        O_VNI,
        O_ENCAP,
        O_TAG,
        O_NAME,
        O_MAC,
        O_IP,
        O_HOST,
        O_VIF,
        O_TEP,
        O_MEMBER,
        O_FILTER,
        O_ROLE,
        O_SCOPE,
        O_REVISION,
        O_TIMEOUT,
        O_TTL,
        O_REALIZED,
    };
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"token", required_argument, NULL, O_TOKEN},
        {"cacert", required_argument, NULL, O_CACERT},
        {"insecure", no_argument, NULL, O_INSECURE},
        {"project", required_argument, NULL, 'p'},
        {"segment", required_argument, NULL, O_SEGMENT},
        {"subnet", required_argument, NULL, O_SUBNET},
        {"vni", required_argument, NULL, O_VNI},
        {"encap", required_argument, NULL, O_ENCAP},
        {"tag", required_argument, NULL, O_TAG},
        {"name", required_argument, NULL, O_NAME},
        {"mac", required_argument, NULL, O_MAC},
        {"ip", required_argument, NULL, O_IP},
        {"host", required_argument, NULL, O_HOST},
        {"vif", required_argument, NULL, O_VIF},
        {"tep", required_argument, NULL, O_TEP},
        {"member", required_argument, NULL, O_MEMBER},
        {"filter", required_argument, NULL, O_FILTER},
        {"role", required_argument, NULL, O_ROLE},
        {"scope", required_argument, NULL, O_SCOPE},
        {"revision", required_argument, NULL, O_REVISION},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"ttl", required_argument, NULL, O_TTL},
        {"realized", no_argument, NULL, O_REALIZED},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli_opts o;
    int c, ret = CLI_OK;

    memset(&o, 0, sizeof o);
    o.project = "default";
    cli_load_config(&o);
    if (getenv("WEFT_ENDPOINT")) {
        o.conn.endpoint = getenv("WEFT_ENDPOINT");
    }
    if (getenv("WEFT_TOKEN")) {
        o.conn.token = getenv("WEFT_TOKEN");
    }
    if (getenv("WEFT_CACERT")) {
        o.conn.cacert = getenv("WEFT_CACERT");
    }
    /* GNU getopt permutes: options may come before or after the words. */
    while (!ret &&
           (c = getopt_long(argc, argv, "ho:p:f:", longopts, NULL)) != -1) {
        switch (c) {
        case O_ENDPOINT:
            o.conn.endpoint = optarg;
            break;
        case O_TOKEN:
            o.conn.token = optarg;
            break;
        case O_CACERT:
            o.conn.cacert = optarg;
            break;
        case O_INSECURE:
            o.conn.insecure = true;
            break;
        case 'p':
            o.project = optarg;
            break;
        case O_SEGMENT:
            o.segment = optarg;
            break;
        case O_VNI:
            o.vni = optarg;
            break;
        case O_ENCAP:
            o.encap = optarg;
            break;
        case O_NAME:
            o.name = optarg;
            break;
        case O_MAC:
            o.mac = optarg;
            break;
        case O_HOST:
            o.host = optarg;
            break;
        case O_VIF:
            o.vif = optarg;
            break;
        case O_TEP:
            o.tep = optarg;
            break;
        case O_ROLE:
            o.role = optarg;
            break;
        case 'f':
            o.file = optarg;
            break;
        case O_REVISION:
            o.if_match = optarg;
            break;
        case O_TIMEOUT:
            o.timeout = optarg;
            break;
        case O_TTL:
            o.ttl = optarg;
            break;
        case O_REALIZED:
            o.realized = true;
            break;
        case O_SUBNET:
            ret = cli_push(o.subnets, &o.n_subnets, optarg);
            break;
        case O_IP:
            ret = cli_push(o.ips, &o.n_ips, optarg);
            break;
        case O_TAG:
            ret = cli_push(o.tags, &o.n_tags, optarg);
            break;
        case O_MEMBER:
            ret = cli_push(o.members, &o.n_members, optarg);
            break;
        case O_FILTER:
            ret = cli_push(o.filters, &o.n_filters, optarg);
            break;
        case O_SCOPE:
            ret = cli_push(o.projects, &o.n_projects, optarg);
            break;
        case 'o':
            if (!strcmp(optarg, "table")) {
                o.format = CLI_TABLE;
            } else if (!strcmp(optarg, "json")) {
                o.format = CLI_JSON;
            } else if (!strcmp(optarg, "yaml")) {
                o.format = CLI_YAML;
            } else {
                ret = cli_usage_error("unknown output format '%s'", optarg);
            }
            break;
        case 'h':
            cli_usage(stdout);
            return CLI_OK;
        default:
            return CLI_USAGE; /* getopt printed why */
        }
    }
    if (ret) {
        return ret;
    }
    char **words = argv + optind;
    int n_words = argc - optind;
    if (!n_words) {
        cli_usage(stderr);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < ARRAY_SIZE(cli_commands); i++) {
        const struct cli_command *cmd = &cli_commands[i];
        int skip = cmd->object ? 2 : 1, nargs = n_words - skip;

        if (strcmp(words[0], cmd->verb) ||
            (cmd->object && (n_words < 2 || strcmp(words[1], cmd->object)))) {
            continue;
        }
        if (nargs < cmd->min_args || nargs > cmd->max_args) {
            fprintf(stderr, "usage: weft %s\n", cmd->usage);
            return CLI_USAGE;
        }
        /* create handlers get (kind, id); token create gets (name);
         * others get their arguments. */
        if (cmd->fn == cli_cmd_create) {
            char *args[2] = {words[0], words[2]};
            return cmd->fn(&o, 2, args);
        }
        return cmd->fn(&o, nargs, words + skip);
    }
    return cli_usage_error("unknown command '%s'", words[0]);
}
