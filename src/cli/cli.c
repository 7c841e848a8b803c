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
    const char *policy;                  /* --policy (rules) */
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
    const char *macs[CLI_MAX_REPEAT]; /* --mac */
    size_t n_macs;
    const char *tags[CLI_MAX_REPEAT]; /* --tag scope|value */
    size_t n_tags;
    const char *members[CLI_MAX_REPEAT]; /* --member */
    size_t n_members;
    const char *filters[CLI_MAX_REPEAT]; /* --filter field=value */
    size_t n_filters;
    const char *scopes[CLI_MAX_REPEAT]; /* --scope: token projects,
                                         * policy/rule groups */
    size_t n_scopes;

    /* Firewall objects. */
    struct cli_cond {
        const char *key, *op, *value; /* key NULL: an --or */
    } conds[CLI_MAX_REPEAT];          /* group --match-* and --or, in order */
    size_t n_conds;
    const char *spoofguard;                   /* update --spoofguard */
    const char *entry_protos[CLI_MAX_REPEAT]; /* --tcp/--udp/--icmp/...: */
    const char *entry_args[CLI_MAX_REPEAT];   /* service entries, in order */
    size_t n_entries;
    const char *category;             /* policy --category */
    const char *sequence;             /* --sequence */
    bool stateless;                   /* policy --stateless */
    const char *action;               /* rule --action */
    const char *srcs[CLI_MAX_REPEAT]; /* rule --src */
    size_t n_srcs;
    const char *dsts[CLI_MAX_REPEAT]; /* rule --dst */
    size_t n_dsts;
    const char *services[CLI_MAX_REPEAT]; /* rule --service */
    size_t n_services;
    const char *direction;   /* rule --direction */
    const char *ip_protocol; /* rule --ip-protocol */
    const char *notes;       /* rule --notes */
    bool logged;             /* rule --logged */
    bool disabled;           /* rule --disabled */

    /* Routing and DHCP. */
    const char *router;                    /* --router (routes, segments) */
    const char *network;                   /* route --network */
    const char *next_hops[CLI_MAX_REPEAT]; /* route --next-hop IP[,D] */
    size_t n_next_hops;
    bool discard;                            /* route --discard */
    const char *distance;                    /* route --distance */
    const char *dhcp_ranges[CLI_MAX_REPEAT]; /* --dhcp-range A-B (IPv4) */
    size_t n_dhcp_ranges;
    const char *dhcp_excludes[CLI_MAX_REPEAT]; /* --dhcp-exclude A-B */
    size_t n_dhcp_excludes;
    const char *dhcp6_ranges[CLI_MAX_REPEAT]; /* --dhcp6-range A-B */
    size_t n_dhcp6_ranges;
    const char *dns[CLI_MAX_REPEAT]; /* --dns IP (by family) */
    size_t n_dns;
    const char *domain;     /* --domain */
    const char *lease_time; /* --lease-time */
    const char *dhcp_mtu;   /* --dhcp-mtu */
    const char *ipv6_mode;  /* --ipv6-mode */
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
        {"project", "project"},   {"projects", "project"},
        {"segment", "segment"},   {"segments", "segment"},
        {"port", "port"},         {"ports", "port"},
        {"host", "host"},         {"hosts", "host"},
        {"group", "group"},       {"groups", "group"},
        {"service", "service"},   {"services", "service"},
        {"policy", "policy"},     {"policies", "policy"},
        {"rule", "rule"},         {"rules", "rule"},
        {"settings", "settings"}, {"router", "router"},
        {"routers", "router"},    {"route", "route"},
        {"routes", "route"},      {"static-route", "route"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!strcmp(word, kinds[i][0])) {
            return kinds[i][1];
        }
    }
    return NULL;
}

/* Splits "PARENT/ID" into 'parent' (a buffer of 'size') and the id;
 * leaves both alone when 'id' has no '/'. */
static void
cli_split_parent(const char **id, const char **parent, char *buf, size_t size)
{
    const char *slash = *id ? strchr(*id, '/') : NULL;

    if (slash) {
        snprintf(buf, size, "%.*s", (int)(slash - *id), *id);
        *parent = buf;
        *id = slash + 1;
    }
}

/* Builds the API path of 'kind' (collection if 'id' is NULL).  Ports
 * need --segment or an id of the form SEGMENT/PORT, rules --policy or
 * POLICY/RULE. */
static int
cli_path(const struct cli_opts *o, const char *kind, const char *id, char *buf,
         size_t size)
{
    const char *parent;
    char parentbuf[128];

    if (!strcmp(kind, "host") || !strcmp(kind, "settings")) {
        snprintf(buf, size, "/api/v1/%s%s%s%s", kind,
                 strcmp(kind, "host") ? "" : "s", id ? "/" : "", id ? id : "");
    } else if (!strcmp(kind, "project")) {
        snprintf(buf, size, "/api/v1/projects%s%s", id ? "/" : "",
                 id ? id : "");
    } else if (!strcmp(kind, "segment") || !strcmp(kind, "group") ||
               !strcmp(kind, "service")) {
        snprintf(buf, size, "/api/v1/projects/%s/%ss%s%s", o->project, kind,
                 id ? "/" : "", id ? id : "");
    } else if (!strcmp(kind, "policy")) {
        snprintf(buf, size, "/api/v1/projects/%s/security-policies%s%s",
                 o->project, id ? "/" : "", id ? id : "");
    } else if (!strcmp(kind, "router")) {
        snprintf(buf, size, "/api/v1/projects/%s/routers%s%s", o->project,
                 id ? "/" : "", id ? id : "");
    } else if (!strcmp(kind, "route")) {
        parent = o->router;
        cli_split_parent(&id, &parent, parentbuf, sizeof parentbuf);
        if (!parent) {
            return cli_usage_error("%s needs --router ROUTER "
                                   "(or ROUTER/ROUTE)",
                                   "route");
        }
        snprintf(buf, size, "/api/v1/projects/%s/routers/%s/static-routes%s%s",
                 o->project, parent, id ? "/" : "", id ? id : "");
    } else if (!strcmp(kind, "rule")) {
        parent = o->policy;
        cli_split_parent(&id, &parent, parentbuf, sizeof parentbuf);
        if (!parent) {
            return cli_usage_error("%s needs --policy POLICY "
                                   "(or POLICY/RULE)",
                                   "rule");
        }
        snprintf(buf, size,
                 "/api/v1/projects/%s/security-policies/%s/rules%s%s",
                 o->project, parent, id ? "/" : "", id ? id : "");
    } else {
        parent = o->segment;
        cli_split_parent(&id, &parent, parentbuf, sizeof parentbuf);
        if (!parent) {
            return cli_usage_error("%s needs --segment SEGMENT "
                                   "(or SEGMENT/PORT)",
                                   "port");
        }
        snprintf(buf, size, "/api/v1/projects/%s/segments/%s/ports%s%s",
                 o->project, parent, id ? "/" : "", id ? id : "");
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

/* A JSON array of the strings 'v'. */
static json_t *
cli_strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_string(v[i]));
    }
    return a;
}

/* Sets 'obj'.'name' to the strings 'v' if there are any. */
static void
cli_set_strings(json_t *obj, const char *name, const char *const *v, size_t n)
{
    if (n) {
        json_object_set_new(obj, name, cli_strings(v, n));
    }
}

/* A JSON array of the API paths of the objects 'ids' of collection 'coll'
 * of the current project ("web" -> /api/v1/projects/P/groups/web); an
 * argument that is already a path ("/api/v1/...") is taken as is. */
static json_t *
cli_refs(const struct cli_opts *o, const char *coll, const char *const *ids,
         size_t n)
{
    json_t *a = json_array();
    char path[1024];

    for (size_t i = 0; i < n; i++) {
        if (ids[i][0] == '/') {
            snprintf(path, sizeof path, "%s", ids[i]);
        } else {
            snprintf(path, sizeof path, "/api/v1/projects/%s/%s/%s", o->project,
                     coll, ids[i]);
        }
        json_array_append_new(a, json_string(path));
    }
    return a;
}

/* Parses a decimal 'what' ("--sequence") into 'v'. */
static int
cli_number(const char *what, const char *s, long long *v)
{
    char *end;

    *v = strtoll(s, &end, 10);
    if (*end || !*s) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s '%%s' is not a number", what);
        return cli_usage_error(msg, s);
    }
    return CLI_OK;
}

/* The service entries of --tcp/--udp/--icmp/--icmp6/--proto, in order:
 *   --tcp 80,443,8000-8080   (or "any")      --udp 53
 *   --icmp TYPE[/CODE] (ICMPv4, or "any")    --icmp6 TYPE[/CODE]
 *   --proto N (IP protocol number)
 * Values are passed on as given; the server checks them and names the
 * field. */
static int
cli_service_entries(const struct cli_opts *o, json_t **entriesp)
{
    json_t *entries = json_array();

    for (size_t i = 0; i < o->n_entries; i++) {
        const char *proto = o->entry_protos[i], *arg = o->entry_args[i];
        json_t *e = json_pack("{s:s}", "protocol", proto);
        long long v;
        int ret = CLI_OK;

        json_array_append_new(entries, e);
        if (!strcmp(proto, "TCP") || !strcmp(proto, "UDP")) {
            if (strcmp(arg, "any")) {
                json_t *ports = json_array();
                char buf[512], *save = NULL;
                snprintf(buf, sizeof buf, "%s", arg);
                for (char *t = strtok_r(buf, ",", &save); t;
                     t = strtok_r(NULL, ",", &save)) {
                    json_array_append_new(ports, json_string(t));
                }
                json_object_set_new(e, "destination_ports", ports);
            }
        } else if (!strcmp(proto, "IP")) {
            ret = cli_number("--proto", arg, &v);
            json_object_set_new(e, "protocol_number", json_integer(v));
        } else if (strcmp(arg, "any")) {
            const char *slash = strchr(arg, '/');
            char type[32];
            snprintf(type, sizeof type, "%.*s",
                     slash ? (int)(slash - arg) : (int)strlen(arg), arg);
            ret = cli_number("--icmp type", type, &v);
            json_object_set_new(e, "icmp_type", json_integer(v));
            if (!ret && slash) {
                ret = cli_number("--icmp code", slash + 1, &v);
                json_object_set_new(e, "icmp_code", json_integer(v));
            }
        }
        if (ret) {
            json_decref(entries);
            return ret;
        }
    }
    *entriesp = entries;
    return CLI_OK;
}

/* Group: static members, addresses, and the --match-* options as
 * criteria: the conditions between two --or are ANDed into one criterion,
 * the criteria ORed.  An --or with no condition on one side is a usage
 * error. */
static int
cli_group_body(const struct cli_opts *o, json_t *body)
{
    json_t *criteria = json_array(), *conds = json_array();

    cli_set_strings(body, "members", o->members, o->n_members);
    cli_set_strings(body, "ip_addresses", o->ips, o->n_ips);
    cli_set_strings(body, "mac_addresses", o->macs, o->n_macs);
    for (size_t i = 0; i <= o->n_conds; i++) {
        const struct cli_cond *c = i < o->n_conds ? &o->conds[i] : NULL;
        if (c && c->key) {
            json_t *cond = json_pack("{s:s, s:s, s:s}", "key", c->key,
                                     "operator", c->op, "value", c->value);
            if (!cond) { /* not UTF-8: never drop a condition silently */
                json_decref(conds);
                json_decref(criteria);
                return cli_usage_error("--match-* value '%s' is not UTF-8",
                                       c->value);
            }
            json_array_append_new(conds, cond);
            continue;
        }
        if (!json_array_size(conds) && (c || json_array_size(criteria))) {
            json_decref(conds);
            json_decref(criteria);
            return cli_usage_error("%s needs --match-* options on both sides",
                                   "--or");
        }
        if (json_array_size(conds)) {
            json_array_append_new(criteria,
                                  json_pack("{s:o}", "conditions", conds));
            conds = json_array();
        }
    }
    json_decref(conds);
    if (json_array_size(criteria)) {
        json_object_set_new(body, "criteria", criteria);
    } else {
        json_decref(criteria);
    }
    return CLI_OK;
}

/* Policy and rule: the options they share. */
static int
cli_firewall_body(const struct cli_opts *o, json_t *body)
{
    long long v;

    if (o->sequence) {
        if (cli_number("--sequence", o->sequence, &v)) {
            return CLI_USAGE;
        }
        json_object_set_new(body, "sequence_number", json_integer(v));
    }
    if (o->n_scopes) {
        json_object_set_new(body, "scope",
                            cli_refs(o, "groups", o->scopes, o->n_scopes));
    }
    return CLI_OK;
}

static int
cli_rule_body(const struct cli_opts *o, json_t *body)
{
    json_t *entries;

    if (!o->action) {
        return cli_usage_error("%s needs --action allow|drop|reject",
                               "rule create");
    }
    json_object_set_new(body, "action", json_string(o->action));
    if (o->n_srcs) {
        json_object_set_new(body, "source_groups",
                            cli_refs(o, "groups", o->srcs, o->n_srcs));
    }
    if (o->n_dsts) {
        json_object_set_new(body, "destination_groups",
                            cli_refs(o, "groups", o->dsts, o->n_dsts));
    }
    if (o->n_services) {
        json_object_set_new(
            body, "services",
            cli_refs(o, "services", o->services, o->n_services));
    }
    if (o->n_entries) {
        if (cli_service_entries(o, &entries)) {
            return CLI_USAGE;
        }
        json_object_set_new(body, "service_entries", entries);
    }
    if (o->direction) {
        json_object_set_new(body, "direction", json_string(o->direction));
    }
    if (o->ip_protocol) {
        json_object_set_new(body, "ip_protocol", json_string(o->ip_protocol));
    }
    if (o->notes) {
        json_object_set_new(body, "notes", json_string(o->notes));
    }
    if (o->logged) {
        json_object_set_new(body, "logged", json_true());
    }
    if (o->disabled) {
        json_object_set_new(body, "disabled", json_true());
    }
    return CLI_OK;
}

/* Static route: --network and --next-hop IP[,DISTANCE]... or --discard
 * [--distance D]. */
static int
cli_route_body(const struct cli_opts *o, json_t *body)
{
    long long v;

    if (!o->network) {
        return cli_usage_error("%s needs --network CIDR", "route create");
    }
    if (!o->n_next_hops == !o->discard) {
        return cli_usage_error("%s needs either --next-hop IP[,DISTANCE] "
                               "(repeatable) or --discard",
                               "route create");
    }
    if (o->distance && !o->discard) {
        return cli_usage_error("%s: --distance goes with --discard; give a "
                               "next hop's distance as --next-hop IP,D",
                               "route create");
    }
    json_object_set_new(body, "network", json_string(o->network));
    if (o->discard) {
        json_object_set_new(body, "discard", json_true());
        if (o->distance) {
            if (cli_number("--distance", o->distance, &v)) {
                return CLI_USAGE;
            }
            json_object_set_new(body, "admin_distance", json_integer(v));
        }
        return CLI_OK;
    }
    json_t *hops = json_array();
    json_object_set_new(body, "next_hops", hops);
    for (size_t i = 0; i < o->n_next_hops; i++) {
        const char *comma = strchr(o->next_hops[i], ',');
        json_t *hop = json_object();
        json_array_append_new(hops, hop);
        json_object_set_new(hop, "ip_address",
                            json_stringn(o->next_hops[i],
                                         comma
                                             ? (size_t)(comma - o->next_hops[i])
                                             : strlen(o->next_hops[i])));
        if (comma) {
            if (cli_number("--next-hop distance", comma + 1, &v)) {
                return CLI_USAGE;
            }
            json_object_set_new(hop, "admin_distance", json_integer(v));
        }
    }
    return CLI_OK;
}

/* The first subnet of 'subnets' whose gateway is IPv6 ('v6') or IPv4. */
static json_t *
cli_subnet_of(json_t *subnets, bool v6)
{
    json_t *s;
    size_t i;

    json_array_foreach(subnets, i, s)
    {
        const char *gw =
            json_string_value(json_object_get(s, "gateway_address"));
        if (gw && (strchr(gw, ':') != NULL) == v6) {
            return s;
        }
    }
    return NULL;
}

/* The object 'name' of 'parent', created if absent. */
static json_t *
cli_child(json_t *parent, const char *name)
{
    json_t *c = json_object_get(parent, name);

    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(parent, name, c);
    }
    return c;
}

/* Sets 'obj'.'name' to the number 'arg' (flag 'what'), if given. */
static int
cli_set_number(json_t *obj, const char *name, const char *what, const char *arg)
{
    long long v;

    if (arg) {
        if (cli_number(what, arg, &v)) {
            return CLI_USAGE;
        }
        json_object_set_new(obj, name, json_integer(v));
    }
    return CLI_OK;
}

/* Applies the subnet service flags to 'subnets' (in place): the DHCPv4
 * ones to the first IPv4 subnet, --ipv6-mode and --dhcp6-range to the
 * first IPv6 one; --dns by the server's family, --domain to each subnet
 * that gets DHCP settings. */
static int
cli_subnet_services(const struct cli_opts *o, json_t *subnets)
{
    json_t *v4 = cli_subnet_of(subnets, false),
           *v6 = cli_subnet_of(subnets, true);
    json_t *dhcp = NULL, *dhcp6 = NULL;
    size_t n_dns4 = 0, n_dns6 = 0;

    for (size_t i = 0; i < o->n_dns; i++) {
        *(strchr(o->dns[i], ':') ? &n_dns6 : &n_dns4) += 1;
    }
    if (o->n_dhcp_ranges || o->n_dhcp_excludes || o->lease_time ||
        o->dhcp_mtu || n_dns4) {
        if (!v4) {
            return cli_usage_error("%s: the DHCP options need an IPv4 subnet "
                                   "(--subnet GW/LEN)",
                                   "segment");
        }
        dhcp = cli_child(v4, "dhcp");
    }
    if (o->ipv6_mode || o->n_dhcp6_ranges || n_dns6) {
        if (!v6) {
            return cli_usage_error("%s: --ipv6-mode, --dhcp6-range and IPv6 "
                                   "--dns need an IPv6 subnet (--subnet "
                                   "GW/LEN)",
                                   "segment");
        }
        if (o->ipv6_mode) {
            json_object_set_new(v6, "ipv6_address_mode",
                                json_string(o->ipv6_mode));
        }
        if (o->n_dhcp6_ranges || n_dns6) {
            dhcp6 = cli_child(v6, "dhcpv6");
        }
    }
    if (o->domain && !dhcp && !dhcp6) {
        return cli_usage_error("%s: --domain goes with other DHCP options",
                               "segment");
    }
    for (int f = 0; f < 2; f++) {
        json_t *d = f ? dhcp6 : dhcp, *dns = json_array();
        for (size_t i = 0; d && i < o->n_dns; i++) {
            if ((strchr(o->dns[i], ':') != NULL) == f) {
                json_array_append_new(dns, json_string(o->dns[i]));
            }
        }
        if (json_array_size(dns)) {
            json_object_set_new(d, "dns_servers", dns);
        } else {
            json_decref(dns);
        }
        if (d && o->domain) {
            json_object_set_new(d, "domain_name", json_string(o->domain));
        }
    }
    cli_set_strings(dhcp, "ranges", o->dhcp_ranges, o->n_dhcp_ranges);
    cli_set_strings(dhcp, "excluded_ranges", o->dhcp_excludes,
                    o->n_dhcp_excludes);
    cli_set_strings(dhcp6, "ranges", o->dhcp6_ranges, o->n_dhcp6_ranges);
    return cli_set_number(dhcp, "lease_time", "--lease-time", o->lease_time) ||
                   cli_set_number(dhcp, "mtu", "--dhcp-mtu", o->dhcp_mtu)
               ? CLI_USAGE
               : CLI_OK;
}

/* True if any subnet service flag is set. */
static bool
cli_has_subnet_services(const struct cli_opts *o)
{
    return o->n_dhcp_ranges || o->n_dhcp_excludes || o->n_dhcp6_ranges ||
           o->n_dns || o->domain || o->lease_time || o->dhcp_mtu ||
           o->ipv6_mode;
}

/* The --subnet flags as a "subnets" array. */
static json_t *
cli_subnets_json(const struct cli_opts *o)
{
    json_t *subnets = json_array();

    for (size_t i = 0; i < o->n_subnets; i++) {
        json_array_append_new(
            subnets, json_pack("{s:s}", "gateway_address", o->subnets[i]));
    }
    return subnets;
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
        if (o->router && *o->router) {
            json_object_set_new(body, "router", json_string(o->router));
        }
        if (o->n_subnets || cli_has_subnet_services(o)) {
            json_t *subnets = cli_subnets_json(o);
            json_object_set_new(body, "subnets", subnets);
            return cli_subnet_services(o, subnets);
        }
    } else if (!strcmp(kind, "port")) {
        if (o->n_macs > 1) {
            return cli_usage_error("%s takes one --mac", "port create");
        }
        if (o->n_macs) {
            json_object_set_new(body, "mac_address", json_string(o->macs[0]));
        }
        if (o->n_ips) {
            json_object_set_new(body, "ip_addresses",
                                cli_strings(o->ips, o->n_ips));
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
    } else if (!strcmp(kind, "group")) {
        if (cli_group_body(o, body) != CLI_OK) {
            return CLI_USAGE;
        }
    } else if (!strcmp(kind, "service")) {
        json_t *entries;
        if (!o->n_entries) {
            return cli_usage_error("%s needs at least one of --tcp PORTS, "
                                   "--udp PORTS, --icmp TYPE[/CODE], "
                                   "--icmp6 TYPE[/CODE], --proto N",
                                   "service create");
        }
        if (cli_service_entries(o, &entries)) {
            return CLI_USAGE;
        }
        json_object_set_new(body, "service_entries", entries);
    } else if (!strcmp(kind, "policy")) {
        if (o->category) {
            json_object_set_new(body, "category", json_string(o->category));
        }
        if (o->stateless) {
            json_object_set_new(body, "stateful", json_false());
        }
        return cli_firewall_body(o, body);
    } else if (!strcmp(kind, "rule")) {
        if (cli_firewall_body(o, body)) {
            return CLI_USAGE;
        }
        return cli_rule_body(o, body);
    } else if (!strcmp(kind, "route")) {
        return cli_route_body(o, body);
    }
    return CLI_OK;
}

static int
cli_cmd_create(struct cli_opts *o, int argc, char *argv[])
{
    const char *kind = cli_kind(argv[0]);
    json_t *body = json_object(), *reply = NULL;
    const char *id = argv[1];
    char path[1024], parentbuf[128];
    int ret;

    (void)argc;
    /* SEGMENT/PORT, POLICY/RULE */
    if (!strcmp(kind, "port")) {
        cli_split_parent(&id, &o->segment, parentbuf, sizeof parentbuf);
    } else if (!strcmp(kind, "rule")) {
        cli_split_parent(&id, &o->policy, parentbuf, sizeof parentbuf);
    } else if (!strcmp(kind, "route")) {
        cli_split_parent(&id, &o->router, parentbuf, sizeof parentbuf);
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
    if (o->n_scopes) {
        json_object_set_new(body, "projects",
                            cli_strings(o->scopes, o->n_scopes));
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

/* GETs 'suffix' below the object 'kind' 'id' and prints the reply
 * generically (a list as a table of its fields, an object as rows). */
static int
cli_get_sub(struct cli_opts *o, const char *kind, const char *id,
            const char *suffix)
{
    char path[1024];
    int ret = cli_path(o, kind, id, path, sizeof path);

    if (!ret) {
        strncat(path, suffix, sizeof path - strlen(path) - 1);
        ret = cli_call_print(o, "GET", path, NULL, CLI_KIND_GENERIC);
    }
    return ret;
}

static int
cli_cmd_group_members(struct cli_opts *o, int argc, char *argv[])
{
    (void)argc;
    return cli_get_sub(o, "group", argv[0], "/members");
}

static int
cli_cmd_rule_stats(struct cli_opts *o, int argc, char *argv[])
{
    (void)argc;
    return cli_get_sub(o, "rule", argv[0], "/statistics");
}

/* Sets fields of the deployment's firewall settings, keeping the others:
 * a merge PATCH when the object exists, else a PUT that creates it. */
static int
cli_firewall_settings(struct cli_opts *o, json_t *fields)
{
    static const char path[] = "/api/v1/settings/firewall";
    char err[512];
    json_t *r = NULL;
    long status = 0;

    if (o->conn.endpoint &&
        !cli_http(&o->conn, "GET", path, NULL, &status, &r, err, sizeof err)) {
        json_decref(r);
    }
    return cli_call_print(o, status == 200 ? "PATCH" : "PUT", path, fields,
                          "settings");
}

static int
cli_cmd_firewall_default(struct cli_opts *o, int argc, char *argv[])
{
    json_t *body;
    int ret;

    (void)argc;
    if (strcmp(argv[0], "allow") && strcmp(argv[0], "drop")) {
        return cli_usage_error("firewall default '%s'? (allow or drop)",
                               argv[0]);
    }
    body = json_pack("{s:s}", "default_action", argv[0]);
    ret = cli_firewall_settings(o, body);
    json_decref(body);
    return ret;
}

static int
cli_cmd_firewall_tcp(struct cli_opts *o, int argc, char *argv[])
{
    json_t *body;
    int ret;

    (void)argc;
    if (strcmp(argv[0], "strict") && strcmp(argv[0], "loose")) {
        return cli_usage_error("firewall tcp '%s'? (strict or loose)", argv[0]);
    }
    body = json_pack("{s:b}", "tcp_strict", !strcmp(argv[0], "strict"));
    ret = cli_firewall_settings(o, body);
    json_decref(body);
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
        if (!str_to_u64(o->if_match, UINT64_MAX, &rev)) {
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

/* The fields every update may change: display name, tags (--tag replaces
 * them all), SpoofGuard. */
static void
cli_update_common(const struct cli_opts *o, json_t *body)
{
    if (o->name) {
        json_object_set_new(body, "display_name", json_string(o->name));
    }
    if (o->n_tags) {
        json_object_set_new(body, "tags", cli_tags_json(o));
    }
    if (o->spoofguard) {
        json_object_set_new(body, "spoofguard", json_string(o->spoofguard));
    }
}

/* PATCHes a segment's or port's display name, tags (--tag replaces them
 * all) or SpoofGuard setting. */
static int
cli_cmd_update(struct cli_opts *o, int argc, char *argv[], const char *kind)
{
    json_t *body = json_object();
    char path[1024];
    int ret;

    (void)argc;
    cli_update_common(o, body);
    if (!json_object_size(body)) {
        json_decref(body);
        return cli_usage_error("%s update needs --name, --tag or --spoofguard",
                               kind);
    }
    ret = cli_path(o, kind, argv[0], path, sizeof path);
    if (!ret) {
        ret = cli_call_print(o, "PATCH", path, body, kind);
    }
    json_decref(body);
    return ret;
}

static int
cli_cmd_port_update(struct cli_opts *o, int argc, char *argv[])
{
    return cli_cmd_update(o, argc, argv, "port");
}

/* Segment update: --router (empty: detach) and --subnet / subnet
 * services, which rewrite the segment's subnets (read first, written back
 * conditional on the revision read); the rest as cli_cmd_update(). */
static int
cli_cmd_segment_update(struct cli_opts *o, int argc, char *argv[])
{
    json_t *body, *subnets = NULL, *cur = NULL;
    char path[1024];
    int ret;

    if (!o->router && !o->n_subnets && !cli_has_subnet_services(o)) {
        return cli_cmd_update(o, argc, argv, "segment");
    }
    ret = cli_path(o, "segment", argv[0], path, sizeof path);
    if (ret) {
        return ret;
    }
    body = json_object();
    cli_update_common(o, body);
    if (o->router) {
        json_object_set_new(body, "router",
                            *o->router ? json_string(o->router) : json_null());
    }
    if (o->n_subnets) {
        subnets = cli_subnets_json(o);
    } else if (cli_has_subnet_services(o)) {
        ret = cli_call(o, "GET", path, NULL, &cur);
        subnets = ret ? NULL : json_deep_copy(json_object_get(cur, "subnets"));
        subnets = subnets ? subnets : json_array();
        if (!ret) {
            json_object_set(body, "_revision",
                            json_object_get(cur, "_revision"));
        }
    }
    if (!ret && subnets) {
        json_object_set(body, "subnets", subnets);
        ret = cli_subnet_services(o, subnets);
    }
    if (!ret) {
        ret = cli_call_print(o, "PATCH", path, body, "segment");
    }
    json_decref(subnets);
    json_decref(cur);
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
     "[--encap geneve|vxlan] [--router R] [--tag S|V]... [DHCP]",
     "create a segment (VNI from the pool unless --vni; GENEVE unless "
     "--encap).  DHCP: [--dhcp-range A-B]... [--dhcp-exclude A-B]... "
     "[--lease-time S] [--dhcp-mtu N] [--dns IP]... [--domain D] for the "
     "first IPv4 subnet; [--ipv6-mode slaac|dhcpv6_stateful|"
     "dhcpv6_stateless|static] [--dhcp6-range A-B]... for the first IPv6 "
     "one"},
    {"segment", "update", 1, 1, cli_cmd_segment_update,
     "segment update ID [--name N] [--tag S|V]... "
     "[--spoofguard enabled|disabled] [--router R|''] [--subnet GW/LEN]... "
     "[DHCP]",
     "change a segment's name, tags (replaced), SpoofGuard, router ('' "
     "detaches), subnets (replaced) or their DHCP options (merged)"},
    {"router", "create", 1, 1, cli_cmd_create,
     "router create ID [--name N] [--tag S|V]...",
     "create a distributed router"},
    {"router", "get", 1, 1, cli_cmd_get, "router get ID", "show a router"},
    {"router", "list", 0, 0, cli_cmd_list, "router list", "list routers"},
    {"router", "delete", 1, 1, cli_cmd_delete, "router delete ID",
     "delete a router (its routes first; no segment may use it)"},
    {"route", "create", 1, 1, cli_cmd_create,
     "route create ID --router R --network CIDR "
     "(--next-hop IP[,DISTANCE]... | --discard [--distance D])",
     "create a static route (distance 1..255, default 1; equal distances "
     "are ECMP)"},
    {"route", "get", 1, 1, cli_cmd_get, "route get ID --router R",
     "show a static route"},
    {"route", "list", 0, 0, cli_cmd_list, "route list --router R",
     "list a router's static routes"},
    {"route", "delete", 1, 1, cli_cmd_delete, "route delete ID --router R",
     "delete a static route"},
    {"port", "create", 1, 1, cli_cmd_create,
     "port create ID --segment SEG [--mac MAC] [--ip IP]... "
     "[--host H --vif IF] [--tag S|V]...",
     "create a port on a segment"},
    {"port", "update", 1, 1, cli_cmd_port_update,
     "port update ID --segment SEG [--name N] [--tag S|V]... "
     "[--spoofguard inherit|enabled|disabled]",
     "change a port's name, tags (replaced) or SpoofGuard"},
    {"host", "create", 1, 1, cli_cmd_create,
     "host create ID --tep IP [--tag S|V]...", "register a host"},
    {"group", "create", 1, 1, cli_cmd_create,
     "group create ID [--member PATH]... [--ip IP|CIDR]... [--mac MAC]... "
     "[--match-tag SCOPE|TAG] [--match-name N] [--match-name-prefix P] "
     "[--match-name-contains S] [--match-name-suffix S] [--match-segment SEG] "
     "[--or]...",
     "create a group: static members (ports, segments, groups), addresses, "
     "and ports matching ALL --match-* conditions between two --or, for any "
     "of the groups of conditions --or separates"},
    {"group", "members", 1, 1, cli_cmd_group_members, "group members ID",
     "the group's effective members"},
    {"service", "create", 1, 1, cli_cmd_create,
     "service create ID (--tcp PORTS | --udp PORTS | --icmp TYPE[/CODE] | "
     "--icmp6 TYPE[/CODE] | --proto N)...",
     "create a service; each option is one entry (PORTS: 80,443,8000-8080 "
     "or any; TYPE: a number or any)"},
    {"policy", "create", 1, 1, cli_cmd_create,
     "policy create ID [--category C] [--sequence N] [--scope GROUP]... "
     "[--stateless]",
     "create a security policy (C: emergency, infrastructure, environment, "
     "application)"},
    {"rule", "create", 1, 1, cli_cmd_create,
     "rule create ID --policy POL --action allow|drop|reject [--sequence N] "
     "[--src GROUP]... [--dst GROUP]... [--service SVC]... [--tcp PORTS]... "
     "[--udp PORTS]... [--icmp T[/C]]... [--icmp6 T[/C]]... [--proto N]... "
     "[--direction in|out|in_out] "
     "[--ip-protocol ipv4|ipv6|ipv4_ipv6] [--logged] [--scope GROUP]... "
     "[--disabled] [--notes TEXT]",
     "create a rule in a policy (GROUP, SVC: ids in the project)"},
    {"rule", "stats", 1, 1, cli_cmd_rule_stats, "rule stats ID --policy POL",
     "the rule's hit counters"},
    {"firewall", "default", 1, 1, cli_cmd_firewall_default,
     "firewall default allow|drop",
     "what happens to traffic no rule matches (admin only)"},
    {"firewall", "tcp", 1, 1, cli_cmd_firewall_tcp, "firewall tcp strict|loose",
     "TCP tracking for new connections: strict (only a SYN opens one, "
     "sequence windows checked) or loose (default: mid-stream pickup)"},
    {"project", "create", 1, 1, cli_cmd_create, "project create ID",
     "create a project"},
    {"get", NULL, 2, 2, cli_cmd_get, "get KIND ID",
     "show one object (KIND: project, segment, port, host, group, service, "
     "policy, rule, settings; a port needs --segment or SEG/ID, a rule "
     "--policy or POL/ID)"},
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
            "  --policy P        security policy of a rule\n"
            "  --router R        router of a static route\n"
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
        O_POLICY,
        O_MATCH_TAG,
        O_MATCH_NAME,
        O_MATCH_NAME_PREFIX,
        O_MATCH_NAME_CONTAINS,
        O_MATCH_NAME_SUFFIX,
        O_MATCH_SEGMENT,
        O_OR,
        O_SPOOFGUARD,
        O_TCP,
        O_UDP,
        O_ICMP,
        O_ICMP6,
        O_PROTO,
        O_CATEGORY,
        O_SEQUENCE,
        O_STATELESS,
        O_ACTION,
        O_SRC,
        O_DST,
        O_SERVICE,
        O_DIRECTION,
        O_IP_PROTOCOL,
        O_NOTES,
        O_LOGGED,
        O_DISABLED,
        O_ROUTER,
        O_NETWORK,
        O_NEXT_HOP,
        O_DISCARD,
        O_DISTANCE,
        O_DHCP_RANGE,
        O_DHCP_EXCLUDE,
        O_DHCP6_RANGE,
        O_DNS,
        O_DOMAIN,
        O_LEASE_TIME,
        O_DHCP_MTU,
        O_IPV6_MODE,
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
        {"policy", required_argument, NULL, O_POLICY},
        {"match-tag", required_argument, NULL, O_MATCH_TAG},
        {"match-name", required_argument, NULL, O_MATCH_NAME},
        {"match-name-prefix", required_argument, NULL, O_MATCH_NAME_PREFIX},
        {"match-name-contains", required_argument, NULL, O_MATCH_NAME_CONTAINS},
        {"match-name-suffix", required_argument, NULL, O_MATCH_NAME_SUFFIX},
        {"match-segment", required_argument, NULL, O_MATCH_SEGMENT},
        {"or", no_argument, NULL, O_OR},
        {"spoofguard", required_argument, NULL, O_SPOOFGUARD},
        {"tcp", required_argument, NULL, O_TCP},
        {"udp", required_argument, NULL, O_UDP},
        {"icmp", required_argument, NULL, O_ICMP},
        {"icmp6", required_argument, NULL, O_ICMP6},
        {"proto", required_argument, NULL, O_PROTO},
        {"category", required_argument, NULL, O_CATEGORY},
        {"sequence", required_argument, NULL, O_SEQUENCE},
        {"stateless", no_argument, NULL, O_STATELESS},
        {"action", required_argument, NULL, O_ACTION},
        {"src", required_argument, NULL, O_SRC},
        {"dst", required_argument, NULL, O_DST},
        {"service", required_argument, NULL, O_SERVICE},
        {"direction", required_argument, NULL, O_DIRECTION},
        {"ip-protocol", required_argument, NULL, O_IP_PROTOCOL},
        {"notes", required_argument, NULL, O_NOTES},
        {"logged", no_argument, NULL, O_LOGGED},
        {"disabled", no_argument, NULL, O_DISABLED},
        {"router", required_argument, NULL, O_ROUTER},
        {"network", required_argument, NULL, O_NETWORK},
        {"next-hop", required_argument, NULL, O_NEXT_HOP},
        {"discard", no_argument, NULL, O_DISCARD},
        {"distance", required_argument, NULL, O_DISTANCE},
        {"dhcp-range", required_argument, NULL, O_DHCP_RANGE},
        {"dhcp-exclude", required_argument, NULL, O_DHCP_EXCLUDE},
        {"dhcp6-range", required_argument, NULL, O_DHCP6_RANGE},
        {"dns", required_argument, NULL, O_DNS},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"lease-time", required_argument, NULL, O_LEASE_TIME},
        {"dhcp-mtu", required_argument, NULL, O_DHCP_MTU},
        {"ipv6-mode", required_argument, NULL, O_IPV6_MODE},
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
            ret = cli_push(o.macs, &o.n_macs, optarg);
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
            ret = cli_push(o.scopes, &o.n_scopes, optarg);
            break;
        case O_POLICY:
            o.policy = optarg;
            break;
        case O_MATCH_TAG:
        case O_MATCH_NAME:
        case O_MATCH_NAME_PREFIX:
        case O_MATCH_NAME_CONTAINS:
        case O_MATCH_NAME_SUFFIX:
        case O_MATCH_SEGMENT:
        case O_OR: {
            struct cli_cond cond = {NULL, "equals", NULL}; /* --or */
            if (c != O_OR) {
                cond.key = c == O_MATCH_TAG       ? "tag"
                           : c == O_MATCH_SEGMENT ? "segment"
                                                  : "name";
                cond.op = c == O_MATCH_NAME_PREFIX     ? "starts_with"
                          : c == O_MATCH_NAME_CONTAINS ? "contains"
                          : c == O_MATCH_NAME_SUFFIX   ? "ends_with"
                                                       : "equals";
                cond.value = optarg;
            }
            if (o.n_conds >= CLI_MAX_REPEAT) {
                ret = cli_usage_error("too many --match-* options%s", "");
                break;
            }
            o.conds[o.n_conds++] = cond;
            break;
        }
        case O_SPOOFGUARD:
            o.spoofguard = optarg;
            break;
        case O_TCP:
        case O_UDP:
        case O_ICMP:
        case O_ICMP6:
        case O_PROTO: {
            static const char *const protos[] = {"TCP", "UDP", "ICMPv4",
                                                 "ICMPv6", "IP"};
            size_t n = o.n_entries;
            ret = cli_push(o.entry_args, &o.n_entries, optarg);
            if (!ret) {
                o.entry_protos[n] = protos[c - O_TCP];
            }
            break;
        }
        case O_CATEGORY:
            o.category = optarg;
            break;
        case O_SEQUENCE:
            o.sequence = optarg;
            break;
        case O_STATELESS:
            o.stateless = true;
            break;
        case O_ACTION:
            o.action = optarg;
            break;
        case O_SRC:
            ret = cli_push(o.srcs, &o.n_srcs, optarg);
            break;
        case O_DST:
            ret = cli_push(o.dsts, &o.n_dsts, optarg);
            break;
        case O_SERVICE:
            ret = cli_push(o.services, &o.n_services, optarg);
            break;
        case O_DIRECTION:
            o.direction = optarg;
            break;
        case O_IP_PROTOCOL:
            o.ip_protocol = optarg;
            break;
        case O_NOTES:
            o.notes = optarg;
            break;
        case O_LOGGED:
            o.logged = true;
            break;
        case O_DISABLED:
            o.disabled = true;
            break;
        case O_ROUTER:
            o.router = optarg;
            break;
        case O_NETWORK:
            o.network = optarg;
            break;
        case O_NEXT_HOP:
            ret = cli_push(o.next_hops, &o.n_next_hops, optarg);
            break;
        case O_DISCARD:
            o.discard = true;
            break;
        case O_DISTANCE:
            o.distance = optarg;
            break;
        case O_DHCP_RANGE:
            ret = cli_push(o.dhcp_ranges, &o.n_dhcp_ranges, optarg);
            break;
        case O_DHCP_EXCLUDE:
            ret = cli_push(o.dhcp_excludes, &o.n_dhcp_excludes, optarg);
            break;
        case O_DHCP6_RANGE:
            ret = cli_push(o.dhcp6_ranges, &o.n_dhcp6_ranges, optarg);
            break;
        case O_DNS:
            ret = cli_push(o.dns, &o.n_dns, optarg);
            break;
        case O_DOMAIN:
            o.domain = optarg;
            break;
        case O_LEASE_TIME:
            o.lease_time = optarg;
            break;
        case O_DHCP_MTU:
            o.dhcp_mtu = optarg;
            break;
        case O_IPV6_MODE:
            o.ipv6_mode = optarg;
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
        /* Per-kind rows of the generic handlers ("router get ID") get
         * (kind, id) like "get router ID"; token create gets (name);
         * others get their arguments. */
        if (cmd->object &&
            (cmd->fn == cli_cmd_create || cmd->fn == cli_cmd_get ||
             cmd->fn == cli_cmd_list || cmd->fn == cli_cmd_delete)) {
            char *args[2] = {words[0], nargs ? words[2] : NULL};
            return cmd->fn(&o, 1 + nargs, args);
        }
        return cmd->fn(&o, nargs, words + skip);
    }
    return cli_usage_error("unknown command '%s'", words[0]);
}
