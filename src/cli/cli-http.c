/* HTTP(S) requests to weftd with libcurl (see cli.h). */
#include "cli/cli.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

/* Growing response buffer. */
struct cli_buf {
    char *data; /* bytes received, NUL-terminated */
    size_t len; /* their number */
};

static size_t
cli_http_write(char *ptr, size_t size, size_t n, void *buf_)
{
    struct cli_buf *buf = buf_;
    size_t bytes = size * n;

    buf->data = xrealloc(buf->data, buf->len + bytes + 1);
    memcpy(buf->data + buf->len, ptr, bytes);
    buf->len += bytes;
    buf->data[buf->len] = '\0';
    return bytes;
}

int
cli_http(const struct cli_conn *conn, const char *method, const char *path,
         const char *body, long *status, json_t **reply, char *err,
         size_t err_size)
{
    struct curl_slist *headers = NULL;
    struct cli_buf buf = {NULL, 0};
    char url[8192], auth[256];
    CURLcode rc;
    CURL *curl;

    *reply = NULL;
    *status = 0;
    curl = curl_easy_init();
    if (!curl) {
        snprintf(err, err_size, "cannot initialize libcurl");
        return -1;
    }
    snprintf(url, sizeof url, "%s%s", conn->endpoint, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s",
             conn->token ? conn->token : "");
    headers = curl_slist_append(headers, auth);
    if (body) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cli_http_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    if (conn->cacert) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, conn->cacert);
    }
    if (conn->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        if (buf.len) {
            *reply = json_loadb(buf.data, buf.len, 0, NULL);
        }
    } else {
        snprintf(err, err_size, "%s: %s", url, curl_easy_strerror(rc));
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(buf.data);
    return rc == CURLE_OK ? 0 : -1;
}
