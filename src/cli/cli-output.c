/* Rendering of API replies as tables, JSON or YAML (see cli.h). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "lib/util.h"

/* A table column: header and how to get the cell from an object. */
struct cli_column {
    const char *header; /* column title */
    const char *field;  /* top-level member, or NULL for 'fn' */
    void (*fn)(const json_t *obj, char *buf, size_t size); /* derived */
};

static void
cli_cell_subnets(const json_t *obj, char *buf, size_t size)
{
    const json_t *v;
    size_t i, n = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(obj, "subnets"), i, v)
    {
        n += (size_t)snprintf(
            buf + n, n < size ? size - n : 0, "%s%s", i ? "," : "",
            json_string_value(json_object_get(v, "gateway_address")));
    }
}

/* The strings of the array 'member' of 'obj', comma-separated. */
static void
cli_cell_join(const json_t *obj, const char *member, char *buf, size_t size)
{
    const json_t *v;
    size_t i, n = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(obj, member), i, v)
    {
        n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
                              i ? "," : "", json_string_value(v));
    }
}

static void
cli_cell_ips(const json_t *obj, char *buf, size_t size)
{
    cli_cell_join(obj, "ip_addresses", buf, size);
}

static void
cli_cell_dynamic(const json_t *obj, char *buf, size_t size)
{
    cli_cell_join(obj, "dynamic_addresses", buf, size);
}

/* A static route's next hops as IP/distance, or "discard/distance". */
static void
cli_cell_next_hops(const json_t *obj, char *buf, size_t size)
{
    const json_t *hop;
    size_t i, n = 0;
    json_int_t d = json_integer_value(json_object_get(obj, "admin_distance"));

    buf[0] = '\0';
    if (json_is_true(json_object_get(obj, "discard"))) {
        snprintf(buf, size, "discard/%" JSON_INTEGER_FORMAT, d ? d : 1);
        return;
    }
    json_array_foreach(json_object_get(obj, "next_hops"), i, hop)
    {
        d = json_integer_value(json_object_get(hop, "admin_distance"));
        n += (size_t)snprintf(
            buf + n, n < size ? size - n : 0, "%s%s/%" JSON_INTEGER_FORMAT,
            i ? "," : "", json_string_value(json_object_get(hop, "ip_address")),
            d ? d : 1);
    }
}

static void
cli_cell_attachment(const json_t *obj, char *buf, size_t size)
{
    const json_t *a = json_object_get(obj, "attachment");
    snprintf(buf, size, "%s%s%s",
             a ? json_string_value(json_object_get(a, "host")) : "",
             a ? "/" : "",
             a ? json_string_value(json_object_get(a, "vif")) : "");
}

static void
cli_cell_tags(const json_t *obj, char *buf, size_t size)
{
    const json_t *v;
    size_t i, n = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(obj, "tags"), i, v)
    {
        const char *scope = json_string_value(json_object_get(v, "scope"));
        n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s|%s",
                              i ? "," : "", scope ? scope : "",
                              json_string_value(json_object_get(v, "tag")));
    }
}

static void
cli_cell_members(const json_t *obj, char *buf, size_t size)
{
    snprintf(buf, size, "%zu",
             json_array_size(json_object_get(obj, "members")));
}

static void
cli_cell_count(const json_t *obj, const char *field, char *buf, size_t size)
{
    const json_t *v = json_object_get(obj, field);
    snprintf(buf, size, "%s", "");
    if (v) {
        snprintf(buf, size, "%zu", json_array_size(v));
    }
}

/* The last path element of every reference in 'field', comma-separated
 * ("any" when there are none). */
static void
cli_cell_refs(const json_t *obj, const char *field, char *buf, size_t size)
{
    const json_t *v;
    size_t i, n = 0;

    snprintf(buf, size, "any");
    json_array_foreach(json_object_get(obj, field), i, v)
    {
        const char *p = json_string_value(v), *slash = strrchr(p, '/');
        n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
                              i ? "," : "", slash ? slash + 1 : p);
    }
}

/* A scalar field, or its default 'def' when absent. */
static void
cli_cell_or(const json_t *obj, const char *field, const char *def, char *buf,
            size_t size)
{
    const json_t *v = json_object_get(obj, field);
    if (json_is_string(v)) {
        snprintf(buf, size, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    } else {
        snprintf(buf, size, "%s", def);
    }
}

/* Service entries as "TCP:80,443 ICMPv4:8/0 IP:47". */
static void
cli_cell_entries(const json_t *obj, char *buf, size_t size)
{
    const json_t *e, *p;
    size_t i, j, n = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(obj, "service_entries"), i, e)
    {
        const json_t *ports = json_object_get(e, "destination_ports");
        const json_t *type = json_object_get(e, "icmp_type");
        const json_t *code = json_object_get(e, "icmp_code");
        const json_t *num = json_object_get(e, "protocol_number");

        n += (size_t)snprintf(
            buf + n, n < size ? size - n : 0, "%s%s", i ? " " : "",
            json_string_value(json_object_get(e, "protocol")));
        json_array_foreach(ports, j, p)
        {
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
                                  j ? "," : ":", json_string_value(p));
        }
        if (type) {
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0,
                                  ":%" JSON_INTEGER_FORMAT,
                                  json_integer_value(type));
        }
        if (code) {
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0,
                                  "/%" JSON_INTEGER_FORMAT,
                                  json_integer_value(code));
        }
        if (num) {
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0,
                                  ":%" JSON_INTEGER_FORMAT,
                                  json_integer_value(num));
        }
    }
}

static void
cli_cell_category(const json_t *obj, char *buf, size_t size)
{
    cli_cell_or(obj, "category", "application", buf, size);
}

static void
cli_cell_sequence(const json_t *obj, char *buf, size_t size)
{
    cli_cell_or(obj, "sequence_number", "0", buf, size);
}

static void
cli_cell_stateful(const json_t *obj, char *buf, size_t size)
{
    cli_cell_or(obj, "stateful", "true", buf, size);
}

static void
cli_cell_scope(const json_t *obj, char *buf, size_t size)
{
    cli_cell_refs(obj, "scope", buf, size);
}

static void
cli_cell_sources(const json_t *obj, char *buf, size_t size)
{
    cli_cell_refs(obj, "source_groups", buf, size);
}

static void
cli_cell_destinations(const json_t *obj, char *buf, size_t size)
{
    cli_cell_refs(obj, "destination_groups", buf, size);
}

static void
cli_cell_services(const json_t *obj, char *buf, size_t size)
{
    char entries[256];

    cli_cell_refs(obj, "services", buf, size);
    cli_cell_entries(obj, entries, sizeof entries);
    if (entries[0] && !strcmp(buf, "any")) {
        snprintf(buf, size, "%s", entries);
    } else if (entries[0]) {
        size_t n = strlen(buf);
        snprintf(buf + n, n < size ? size - n : 0, " %s", entries);
    }
}

static void
cli_cell_direction(const json_t *obj, char *buf, size_t size)
{
    cli_cell_or(obj, "direction", "in_out", buf, size);
}

static void
cli_cell_action(const json_t *obj, char *buf, size_t size)
{
    cli_cell_or(obj, "action", "", buf, size);
    if (json_is_true(json_object_get(obj, "disabled"))) {
        size_t n = strlen(buf);
        snprintf(buf + n, n < size ? size - n : 0, " (disabled)");
    }
}

static void
cli_cell_default_action(const json_t *obj, char *buf, size_t size)
{
    cli_cell_or(obj, "default_action", "allow", buf, size);
}

static void
cli_cell_addresses(const json_t *obj, char *buf, size_t size)
{
    cli_cell_count(obj, "ip_addresses", buf, size);
}

static void
cli_cell_criteria(const json_t *obj, char *buf, size_t size)
{
    cli_cell_count(obj, "criteria", buf, size);
}

#define COLS_END                                                               \
    {                                                                          \
        NULL, NULL, NULL                                                       \
    }
static const struct cli_column cols_default[] = {
    {"ID", "id", NULL},
    {"NAME", "display_name", NULL},
    {"TAGS", NULL, cli_cell_tags},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_segment[] = {
    {"ID", "id", NULL},
    {"VNI", "vni", NULL},
    {"SUBNETS", NULL, cli_cell_subnets},
    {"ROUTER", "router", NULL},
    {"TAGS", NULL, cli_cell_tags},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_port[] = {
    {"ID", "id", NULL},
    {"MAC", "mac_address", NULL},
    {"IPS", NULL, cli_cell_ips},
    {"DYNAMIC", NULL, cli_cell_dynamic},
    {"HOST/VIF", NULL, cli_cell_attachment},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_host[] = {
    {"ID", "id", NULL},
    {"TUNNEL_ENDPOINT", "tunnel_endpoint", NULL},
    {"STATUS", "status", NULL},
    {"TAGS", NULL, cli_cell_tags},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_group[] = {
    {"ID", "id", NULL},
    {"NAME", "display_name", NULL},
    {"MEMBERS", NULL, cli_cell_members},
    {"ADDRESSES", NULL, cli_cell_addresses},
    {"CRITERIA", NULL, cli_cell_criteria},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_service[] = {
    {"ID", "id", NULL},
    {"NAME", "display_name", NULL},
    {"ENTRIES", NULL, cli_cell_entries},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_policy[] = {
    {"ID", "id", NULL},
    {"CATEGORY", NULL, cli_cell_category},
    {"SEQUENCE", NULL, cli_cell_sequence},
    {"SCOPE", NULL, cli_cell_scope},
    {"STATEFUL", NULL, cli_cell_stateful},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_rule[] = {
    {"ID", "id", NULL},
    {"SEQUENCE", NULL, cli_cell_sequence},
    {"SOURCES", NULL, cli_cell_sources},
    {"DESTINATIONS", NULL, cli_cell_destinations},
    {"SERVICES", NULL, cli_cell_services},
    {"DIRECTION", NULL, cli_cell_direction},
    {"ACTION", NULL, cli_cell_action},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_route[] = {
    {"ID", "id", NULL},
    {"NETWORK", "network", NULL},
    {"NEXT_HOPS/DISTANCE", NULL, cli_cell_next_hops},
    {"REVISION", "_revision", NULL},
    COLS_END};
static const struct cli_column cols_settings[] = {
    {"ID", "id", NULL},
    {"DEFAULT_ACTION", NULL, cli_cell_default_action},
    {"REVISION", "_revision", NULL},
    COLS_END};

static const struct cli_column *
cli_columns(const char *kind)
{
    return !kind                       ? cols_default
           : !strcmp(kind, "segment")  ? cols_segment
           : !strcmp(kind, "port")     ? cols_port
           : !strcmp(kind, "host")     ? cols_host
           : !strcmp(kind, "group")    ? cols_group
           : !strcmp(kind, "service")  ? cols_service
           : !strcmp(kind, "policy")   ? cols_policy
           : !strcmp(kind, "rule")     ? cols_rule
           : !strcmp(kind, "route")    ? cols_route
           : !strcmp(kind, "settings") ? cols_settings
                                       : cols_default;
}

static void
cli_cell(const struct cli_column *c, const json_t *obj, char *buf, size_t size)
{
    const json_t *v;

    if (c->fn) {
        c->fn(obj, buf, size);
        return;
    }
    v = json_object_get(obj, c->field);
    if (json_is_string(v)) {
        snprintf(buf, size, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, size, "%g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    } else {
        snprintf(buf, size, "%s", v ? "..." : "");
    }
}

#define CLI_MAX_COLS 8

/* Columns for rows of unknown shape: the first CLI_MAX_COLS - 1 scalar
 * members in order of appearance ("id" first when present). */
static void
cli_generic_columns(const json_t *rows, struct cli_column *cols)
{
    const json_t *row, *v;
    const char *key;
    size_t i, n = 0;

    json_array_foreach(rows, i, row)
    {
        json_object_foreach((json_t *)row, key, v)
        {
            bool have = false;
            if (json_is_object(v) || json_is_array(v)) {
                continue;
            }
            for (size_t c = 0; c < n; c++) {
                have |= !strcmp(cols[c].field, key);
            }
            if (!have && n < CLI_MAX_COLS - 1) {
                cols[n].header = key;
                cols[n++].field = key;
            }
        }
    }
    for (size_t c = 1; c < n; c++) {
        if (!strcmp(cols[c].field, "id")) {
            struct cli_column t = cols[0];
            cols[0] = cols[c];
            cols[c] = t;
        }
    }
    cols[n].header = NULL;
}

static void
cli_print_table(const json_t *rows, const char *kind)
{
    struct cli_column generic[CLI_MAX_COLS] = {{NULL, NULL, NULL}};
    const struct cli_column *cols = cli_columns(kind);
    size_t ncols = 0, widths[CLI_MAX_COLS] = {0};
    char cell[512];
    const json_t *row;
    size_t i;

    if (kind && !strcmp(kind, CLI_KIND_GENERIC)) {
        cli_generic_columns(rows, generic);
        cols = generic;
    }
    while (cols[ncols].header && ncols < CLI_MAX_COLS) {
        widths[ncols] = strlen(cols[ncols].header);
        ncols++;
    }
    json_array_foreach(rows, i, row)
    {
        for (size_t c = 0; c < ncols; c++) {
            cli_cell(&cols[c], row, cell, sizeof cell);
            widths[c] = MAX(widths[c], strlen(cell));
        }
    }
    for (size_t c = 0; c < ncols; c++) {
        printf("%-*s%s", (int)widths[c], cols[c].header,
               c + 1 < ncols ? "  " : "\n");
    }
    json_array_foreach(rows, i, row)
    {
        for (size_t c = 0; c < ncols; c++) {
            cli_cell(&cols[c], row, cell, sizeof cell);
            printf("%-*s%s", (int)widths[c], cell, c + 1 < ncols ? "  " : "\n");
        }
    }
}

static void
cli_yaml_scalar(const json_t *v)
{
    if (json_is_string(v)) {
        /* JSON string syntax is valid YAML and needs no further quoting
         * rules. */
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        printf("%s", s);
        free(s);
    } else if (json_is_integer(v)) {
        printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        printf("%g", json_real_value(v));
    } else if (json_is_true(v)) {
        printf("true");
    } else if (json_is_false(v)) {
        printf("false");
    } else {
        printf("null");
    }
}

void
cli_print_yaml(const json_t *value, int indent)
{
    const char *key;
    const json_t *v;
    size_t i;

    if (json_is_object(value)) {
        if (!json_object_size(value)) {
            printf("%*s{}\n", indent, "");
        }
        json_object_foreach((json_t *)value, key, v)
        {
            printf("%*s%s:", indent, "", key);
            if ((json_is_object(v) && json_object_size(v)) ||
                (json_is_array(v) && json_array_size(v))) {
                printf("\n");
                cli_print_yaml(v, indent + 2);
            } else {
                printf(" ");
                if (json_is_object(v)) {
                    printf("{}");
                } else if (json_is_array(v)) {
                    printf("[]");
                } else {
                    cli_yaml_scalar(v);
                }
                printf("\n");
            }
        }
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, v)
        {
            printf("%*s-", indent, "");
            if (json_is_object(v) || json_is_array(v)) {
                printf("\n");
                cli_print_yaml(v, indent + 2);
            } else {
                printf(" ");
                cli_yaml_scalar(v);
                printf("\n");
            }
        }
    } else {
        printf("%*s", indent, "");
        cli_yaml_scalar(value);
        printf("\n");
    }
}

void
cli_print(const json_t *value, enum cli_format fmt, const char *kind)
{
    const json_t *results = json_object_get(value, "results");

    if (fmt == CLI_JSON) {
        char *s = json_dumps(value, JSON_INDENT(2) | JSON_ENCODE_ANY);
        printf("%s\n", s);
        free(s);
    } else if (fmt == CLI_YAML) {
        cli_print_yaml(value, 0);
    } else if (json_is_array(results)) {
        cli_print_table(results, kind);
    } else {
        /* One object: field / value rows. */
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)value, key, v)
        {
            char *s = json_is_string(v)
                          ? xstrdup(json_string_value(v))
                          : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%-16s %s\n", key, s);
            free(s);
        }
    }
}
