/* Fuzz target: one HTTP request through the front door as src/http/server.c and
 * src/gateway/pipeline.c handle it. The head (up to the first CRLF CRLF) goes to
 * sg_http_parse_head(); the path is routed to an endpoint as sg_pipeline_on_head() does
 * (sg_api_route, with the other API dialects and a name taken from the path, then the
 * method check); the rest is the body: the chunked decoder, fed once whole and once in
 * fuzzer-chosen pieces, or a Content-Length body. A complete body of a proxied endpoint is
 * decoded as stage_decode() does (sg_api_decode, or for the other dialects the translation
 * and sg_api_validate; for Responses without the stored history) and its model routed as
 * stage_model() does (sg_config_find_route on a fixed configuration with
 * aliases). The same head also goes through the upstream response parser.
 *
 * The pipeline's stages are static and need a running worker, so the order of calls is
 * mirrored here: keep it in step with sg_pipeline_on_head() and stage_decode().
 *
 * Invariants: a parsed head borrows only from the input (but for the "/" of an absolute-form
 * target with an empty path); an absolute-form target is http(s) with an authority and no
 * userinfo, and its path is what follows the authority; names are tokens and values hold
 * no control bytes (nothing can be injected into a forwarded header); framing is never
 * ambiguous (at most one Content-Length, at most one Transfer-Encoding, never both, the
 * body kind agrees with them); refusals carry one of the documented statuses; the
 * chunked decoder gives the same result however its input is cut; an endpoint is found
 * only for its own path (one trailing slash tolerated), a name taken from the path is a
 * piece of it and an Azure deployment is a non-empty path segment; a decoded body has a
 * model, and the route found for it names that model or an alias of it. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "api/dialect.h"
#include "api/openai.h"
#include "config/config.h"
#include "core/json.h"
#include "http/parser.h"

#include "fuzz_util.h"

#define BODY_MAX 65536 /* a small max_body, so that the fuzzer reaches the cap */

static bool inside(const uint8_t *d, size_t n, const char *p, size_t len)
{
    return (const uint8_t *)p >= d && (const uint8_t *)p + len <= d + n;
}

static void check_header(const uint8_t *d, size_t n, const struct sg_http_header *h)
{
    FUZZ_CHECK(h->name_len > 0 && inside(d, n, h->name, h->name_len));
    FUZZ_CHECK(inside(d, n, h->value, h->value_len));
    for (size_t i = 0; i < h->name_len; i++)
        FUZZ_CHECK(h->name[i] > 0x20 && h->name[i] != ':' && h->name[i] < 0x7f);
    for (size_t i = 0; i < h->value_len; i++) {
        unsigned char c = (unsigned char)h->value[i];
        FUZZ_CHECK(c >= 0x20 || c == '\t');
        FUZZ_CHECK(c != 0x7f);
    }
    /* trimmed */
    if (h->value_len) {
        FUZZ_CHECK(h->value[0] != ' ' && h->value[0] != '\t');
        FUZZ_CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
    }
}

static size_t count_headers(const struct sg_http_header *hs, size_t n, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += sg_http_ieq(hs[i].name, hs[i].name_len, name);
    return k;
}

/* The chunked decoder on `in`, whole and in pieces: the same outcome. Returns the decoded
 * body in `whole` (caller frees) and whether it ended. */
static bool chunked_both(const uint8_t *in, size_t n, struct sg_buf *whole)
{
    struct sg_http_chunked c1 = {0};
    ssize_t k1 = sg_http_chunked_feed(&c1, (const char *)in, n, whole);
    FUZZ_CHECK(k1 < 0 || (size_t)k1 <= n);
    FUZZ_CHECK(k1 < 0 || c1.done || (size_t)k1 == n);
    FUZZ_CHECK(k1 < 0 || whole->len <= (size_t)k1);

    struct sg_http_chunked c2 = {0};
    struct sg_buf split;
    sg_buf_init(&split, BODY_MAX);
    struct fuzz_split s;
    fuzz_split_init(&s, in, n);
    const uint8_t *p;
    size_t len;
    ssize_t k2 = 0;
    /* as read_body() does: feed until the body ends or fails; the rest stays unread */
    while (!c2.done && (p = fuzz_split_next(&s, &len))) {
        ssize_t k = sg_http_chunked_feed(&c2, (const char *)p, len, &split);
        if (k < 0) {
            k2 = k;
            break;
        }
        FUZZ_CHECK((size_t)k <= len);
        FUZZ_CHECK(c2.done || (size_t)k == len);
        k2 += k;
    }
    FUZZ_CHECK((k1 < 0) == (k2 < 0));
    if (k1 < 0) {
        FUZZ_CHECK(k1 == k2);
    } else {
        FUZZ_CHECK(c1.done == c2.done);
        FUZZ_CHECK(k1 == k2);
        FUZZ_CHECK(whole->len == split.len);
        FUZZ_CHECK(!whole->len || memcmp(whole->data, split.data, whole->len) == 0);
    }
    sg_buf_free(&split);
    return k1 >= 0 && c1.done;
}

static int count_field(json_t *s, const char *path, void *ctx)
{
    FUZZ_CHECK(json_is_string(s) && path && path[0]);
    (*(size_t *)ctx)++;
    return 0;
}

/* The routing configuration: models with aliases, as stage_model() looks them up. */
static const char routes_yaml[] =
    "listen: {address: \"127.0.0.1:0\", plaintext: true}\n"
    "backends: [{name: a, url: \"http://127.0.0.1:1\"}, {name: b, url: \"http://127.0.0.1:2\"}]\n"
    "routes:\n"
    "  - {model: gpt-4o-mini, aliases: [shop-small, gpt-4o], backends: [a]}\n"
    "  - {model: text-embedding-3-small, backends: [b, a]}\n"
    "  - {model: claude-3-5-sonnet, aliases: [claude], backends: [b]}\n";

static struct sg_config *cfg;

static void init(void)
{
    struct sg_config_diags d = {0};
    int rc =
        sg_config_load_string(routes_yaml, sizeof(routes_yaml) - 1, "fuzz.yaml", "/tmp", &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    FUZZ_CHECK(rc == 0);
}

/* stage_model(): the route of `model`, which must name it. */
static void route_model(const char *model)
{
    const struct sg_config_route *r = sg_config_find_route(cfg, model);
    if (!r)
        return;
    bool named = strcmp(r->model, model) == 0;
    for (size_t i = 0; i < r->naliases; i++)
        named |= strcmp(r->aliases[i], model) == 0;
    FUZZ_CHECK(named);
    FUZZ_CHECK(r->ntargets > 0 && sg_config_find_backend(cfg, r->targets[0].backend));
}

/* stage_decode() for the other dialects (decode_dialect() in pipeline.c): parsed,
 * translated into the OpenAI request, validated. Returns the body or NULL. */
static json_t *decode_dialect(const struct sg_endpoint_info *ep, const char *path_model,
                              const char *body, size_t len, const char **model, bool *stream,
                              struct sg_api_error *e)
{
    struct sg_json_error je;
    json_t *j = sg_json_parse(body, len, SG_JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    json_t *chat = j;
    if (ep->dialect == SG_DIALECT_ANTHROPIC) {
        chat = sg_anthropic_request(j, e);
        json_decref(j);
        if (!chat) {
            FUZZ_CHECK(e->status >= 400 && e->status < 500 && e->message[0]);
            return NULL;
        }
    } else if (ep->dialect == SG_DIALECT_AZURE) {
        json_object_set_new(chat, "model", json_string(path_model));
    } else if (ep->dialect == SG_DIALECT_GEMINI || ep->dialect == SG_DIALECT_OLLAMA) {
        const char *p = ep->path;
        chat = ep->dialect == SG_DIALECT_OLLAMA ? sg_ollama_request(ep, j, e)
               : ep->ep == SG_EP_EMBEDDINGS
                   ? sg_gemini_embed_request(j, path_model, strstr(p, ":batch") != NULL, e)
                   : sg_gemini_request(j, path_model, strstr(p, ":stream") != NULL, e);
        json_decref(j);
        if (!chat) {
            FUZZ_CHECK(e->status >= 400 && e->status < 500 && e->message[0]);
            return NULL;
        }
    } else if (ep->dialect == SG_DIALECT_RESPONSES) {
        /* the translation; the stored history (sg_responses_decode) needs a gateway */
        struct sg_responses_params rp = {0};
        chat = sg_responses_request(j, &rp, e);
        sg_responses_params_free(&rp);
        json_decref(j);
        if (!chat) {
            FUZZ_CHECK(e->status >= 400 && e->status < 500 && e->message[0]);
            return NULL;
        }
    } else {
        json_decref(j);
        return NULL;
    }
    if (sg_api_validate(ep->ep, chat, model, stream, e) != 0) {
        FUZZ_CHECK(e->status == 400 && e->message[0]);
        json_decref(chat);
        return NULL;
    }
    return chat;
}

static void decode_body(const struct sg_endpoint_info *ep, const char *path_model, const char *body,
                        size_t len)
{
    json_t *j = NULL;
    const char *model = NULL;
    bool stream = false;
    struct sg_api_error e = {0};
    if (ep->dialect != SG_DIALECT_OPENAI) {
        j = decode_dialect(ep, path_model, body, len, &model, &stream, &e);
    } else if (sg_api_decode(ep->ep, body, len, &j, &model, &stream, &e) != 0) {
        FUZZ_CHECK(!j && e.status == 400 && e.message[0]);
        return;
    }
    if (!j)
        return;
    FUZZ_CHECK(json_is_object(j) && model && model[0]);
    FUZZ_CHECK(ep->ep != SG_EP_EMBEDDINGS || !stream);
    size_t nfields = 0;
    FUZZ_CHECK(sg_api_text_fields(ep->ep, j, count_field, &nfields) == 0);
    route_model(model);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg)
        init();
    const uint8_t *end = size >= 4 ? memmem(data, size, "\r\n\r\n", 4) : NULL;
    size_t head_len = end ? (size_t)(end - data) + 4 : size;
    const uint8_t *rest = data + head_len;
    size_t nrest = size - head_len;

    struct sg_http_head *h = calloc(1, sizeof(*h));
    struct sg_http_response_head *rh = calloc(1, sizeof(*rh));
    FUZZ_CHECK(h && rh);
    int status = -1;
    struct sg_error err = {0};
    int rc = sg_http_parse_head((const char *)data, head_len, h, &status, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc == SG_EPROTO && err.msg[0]);
        FUZZ_CHECK(status == 400 || status == 413 || status == 417 || status == 431 ||
                   status == 501 || status == 505);
    } else {
        FUZZ_CHECK(end != NULL); /* only a head that ends with CRLF CRLF is whole */
        FUZZ_CHECK(h->method_len > 0 && inside(data, head_len, h->method, h->method_len));
        FUZZ_CHECK(h->target_len > 0 && inside(data, head_len, h->target, h->target_len));
        FUZZ_CHECK(!memchr(h->target, '#', h->target_len));
        FUZZ_CHECK(h->path_len > 0 && h->path[0] == '/' && !memchr(h->path, '?', h->path_len));
        if (h->authority) {
            /* absolute-form: http(s)://host[:port], no userinfo; the path is the rest of the
             * target up to '?', or "/" when that is empty */
            FUZZ_CHECK(sg_http_ieq(h->target, 7, "http://") ||
                       sg_http_ieq(h->target, 8, "https://"));
            FUZZ_CHECK(h->authority_len > 0 && inside((const uint8_t *)h->target, h->target_len,
                                                      h->authority, h->authority_len));
            FUZZ_CHECK(!memchr(h->authority, '@', h->authority_len) &&
                       !memchr(h->authority, '/', h->authority_len));
            FUZZ_CHECK(inside((const uint8_t *)h->target, h->target_len, h->path, h->path_len)
                           ? h->path == h->authority + h->authority_len
                           : h->path_len == 1);
        } else {
            FUZZ_CHECK(h->target[0] == '/' && h->path == h->target && h->path_len <= h->target_len);
        }
        FUZZ_CHECK(!h->query || (h->query > h->target && h->query[-1] == '?' &&
                                 h->query + h->query_len == h->target + h->target_len));
        FUZZ_CHECK(h->minor == 0 || h->minor == 1);
        FUZZ_CHECK(h->nheaders <= SG_HTTP_MAX_HEADERS);
        for (size_t i = 0; i < h->nheaders; i++)
            check_header(data, head_len, &h->headers[i]);
        /* no framing two parsers could read differently */
        size_t ncl = count_headers(h->headers, h->nheaders, "content-length");
        size_t nte = count_headers(h->headers, h->nheaders, "transfer-encoding");
        FUZZ_CHECK(ncl <= 1 && nte <= 1 && !(ncl && nte));
        FUZZ_CHECK((h->body == SG_HTTP_BODY_CHUNKED) == (nte == 1));
        FUZZ_CHECK(h->body != SG_HTTP_BODY_LENGTH || (ncl == 1 && h->content_length > 0));
        FUZZ_CHECK(h->minor == 0 || sg_http_find_header(h, "host"));
        const struct sg_http_header *cl = sg_http_find_header(h, "content-length");
        FUZZ_CHECK(!cl || (cl >= h->headers && cl < h->headers + h->nheaders));

        /* routing, as sg_pipeline_on_head() */
        char path_model[128];
        const struct sg_endpoint_info *ep =
            sg_api_route(h->path, h->path_len, path_model, sizeof(path_model));
        FUZZ_CHECK(strlen(path_model) < sizeof(path_model));
        /* a name taken from the path (an Azure deployment, a Gemini model, a response
         * id) is a piece of the path */
        if (path_model[0])
            FUZZ_CHECK(ep && memmem(h->path, h->path_len, path_model, strlen(path_model)));
        if (ep && ep->dialect == SG_DIALECT_AZURE)
            FUZZ_CHECK(path_model[0] && !strchr(path_model, '/'));
        if (ep && ep->dialect == SG_DIALECT_OPENAI) {
            size_t pl = strlen(ep->path);
            FUZZ_CHECK(pl == h->path_len || (pl + 1 == h->path_len && h->path[pl] == '/'));
            FUZZ_CHECK(memcmp(ep->path, h->path, pl) == 0);
            FUZZ_CHECK(sg_api_endpoint_info(ep->ep) == ep);
            FUZZ_CHECK(sg_api_endpoint(h->path, h->path_len) == ep);
        }
        /* a wrong method is refused (405) before the body is read */
        if (ep && !sg_http_ieq(h->method, h->method_len, ep->method))
            ep = NULL;

        /* the body, as read_body() */
        struct sg_buf body;
        sg_buf_init(&body, BODY_MAX);
        bool complete = false;
        if (h->body == SG_HTTP_BODY_CHUNKED) {
            complete = chunked_both(rest, nrest, &body);
        } else if (h->body == SG_HTTP_BODY_LENGTH) {
            complete = h->content_length <= nrest && h->content_length <= BODY_MAX;
            if (complete)
                FUZZ_CHECK(sg_buf_append(&body, rest, (size_t)h->content_length) == 0);
        } else {
            complete = true;
        }
        if (ep && ep->proxied && complete)
            decode_body(ep, path_model, body.data ? body.data : "", body.len);
        sg_buf_free(&body);
    }

    /* the chunked decoder also on its own, for bodies behind heads it refused */
    if (rc != 0 && nrest) {
        struct sg_buf b;
        sg_buf_init(&b, BODY_MAX);
        chunked_both(rest, nrest, &b);
        sg_buf_free(&b);
    }

    /* the upstream response parser on the same head */
    struct sg_error rerr = {0};
    if (sg_http_parse_response_head((const char *)data, head_len, rh, &rerr) == 0) {
        FUZZ_CHECK(rh->nheaders <= SG_HTTP_MAX_HEADERS);
        FUZZ_CHECK(rh->status >= 100 && rh->status <= 999);
        for (size_t i = 0; i < rh->nheaders; i++)
            check_header(data, head_len, &rh->headers[i]);
        size_t ncl = count_headers(rh->headers, rh->nheaders, "content-length");
        size_t nte = count_headers(rh->headers, rh->nheaders, "transfer-encoding");
        FUZZ_CHECK(ncl <= 1 && nte <= 1);
        FUZZ_CHECK(rh->body != SG_HTTP_BODY_CHUNKED || ncl == 0);
    }
    free(h);
    free(rh);
    return 0;
}
