/* `sovgate leakcheck --config FILE [--keep DIR]`: proof that nothing leaks, with the
 * operator's own policy.
 *
 * It starts one capture backend per configured backend (loopback servers that record
 * every byte and echo the prompt back; engines are replaced too), writes a copy of the
 * configuration whose backends point at them (same names, same sovereign flags and
 * jurisdictions, same routes, redaction and policy; a plaintext loopback listener, a
 * temporary keys database), starts `sovgate serve` on it, and replays a corpus of shop
 * requests full of canary values (personal data, restricted data, the configuration's
 * own custom detector terms) through every route: chat, streaming chat, tool calls,
 * multi-turn, completions (streamed and not), embeddings; once per backend of the route,
 * with the backends before it failing (503), so that failover targets are checked too. It
 * fails when
 *   - any canary reached an EXTERNAL backend (in any byte, also as bare digits), or
 *   - any restricted canary (card, IBAN, secret, national ID) reached ANY backend, or
 *   - the gateway answered something other than 200 or a policy refusal, or died.
 * Exit status 0 when clean, 1 when something leaked or failed, 2 for usage errors. */
#include "audit/audit.h"
#include "auth/keys.h"
#include "cli/cli.h"
#include "cli/leakcheck.h"
#include "config/config.h"
#include "core/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <yaml.h>

/* ---- canaries ---- */

enum canary_class { C_PERSONAL, C_RESTRICTED, C_BUSINESS };

struct canary {
    const char *value;
    const char *type;
    enum canary_class cls;
};

static const struct canary canaries[] = {
    {"Margarete Vollbrecht", "PERSON", C_PERSONAL},
    {"margarete.vollbrecht@example.org", "EMAIL", C_PERSONAL},
    {"+49 30 90182736", "PHONE", C_PERSONAL},
    {"Lindenstraße 17, 10969 Berlin", "ADDRESS", C_PERSONAL},
    {"5555 5555 5555 4444", "CARD", C_RESTRICTED},
    {"DE89 3704 0044 0532 0130 00", "IBAN", C_RESTRICTED},
    {"sk-proj-Zq8vR3mN5tW1xY7bK2cD4fG6hJ9lP0sAu", "SECRET", C_RESTRICTED},
    {"86095742719", "NATIONAL_ID", C_RESTRICTED},
};
#define NCANARIES (sizeof(canaries) / sizeof(canaries[0]))

/* The texts of the corpus: shop situations with the canaries in them. */
static const char *const texts[] = {
    "Hello, my name is Margarete Vollbrecht. My order has not arrived yet. You can reach me "
    "at margarete.vollbrecht@example.org or +49 30 90182736.",
    "Please change the delivery address of order 10482 to Lindenstraße 17, 10969 Berlin. "
    "Thanks, Margarete Vollbrecht",
    "I paid with my card 5555 5555 5555 4444 but the payment failed twice. Can you refund to "
    "IBAN DE89 3704 0044 0532 0130 00 instead?",
    "Our developer pasted this into the chat by mistake: OPENAI_API_KEY=sk-proj-"
    "Zq8vR3mN5tW1xY7bK2cD4fG6hJ9lP0sAu",
    "For the invoice my tax ID (Steuer-ID) is 86095742719.",
};
#define NTEXTS (sizeof(texts) / sizeof(texts[0]))

/* ---- YAML to JSON (the configuration, to rewrite its backends) ---- */

static json_t *scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(v, "true") == 0)
            return json_true();
        if (strcmp(v, "false") == 0)
            return json_false();
        if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || len == 0)
            return json_null();
        char *end;
        long long x = strtoll(v, &end, 10);
        if (*v && !*end)
            return json_integer(x);
    }
    return json_stringn(v, len);
}

static json_t *to_json(yaml_document_t *d, yaml_node_t *n, int depth)
{
    if (!n || depth > 64)
        return NULL;
    if (n->type == YAML_SCALAR_NODE)
        return scalar(n);
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++)
            json_array_append_new(a, to_json(d, yaml_document_get_node(d, *i), depth + 1));
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE)
            json_object_set_new(o, (const char *)k->data.scalar.value,
                                to_json(d, yaml_document_get_node(d, p->value), depth + 1));
    }
    return o;
}

static json_t *load_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    yaml_parser_t p;
    yaml_document_t d;
    json_t *out = NULL;
    if (yaml_parser_initialize(&p)) {
        yaml_parser_set_input_file(&p, f);
        if (yaml_parser_load(&p, &d)) {
            out = to_json(&d, yaml_document_get_root_node(&d), 0);
            yaml_document_delete(&d);
        }
        yaml_parser_delete(&p);
    }
    fclose(f);
    return out;
}

/* Rewrites obj[key], a "file:PATH" reference or a path, to an absolute path against
 * `dir`. */
static void absolutize(json_t *obj, const char *key, const char *dir)
{
    const char *v = json_string_value(json_object_get(obj, key));
    if (!v || !dir)
        return;
    bool ref = strncmp(v, "file:", 5) == 0;
    const char *p = ref ? v + 5 : v;
    if (*p == '/' || strncmp(v, "env:", 4) == 0)
        return;
    char full[4200];
    snprintf(full, sizeof(full), "%s%s/%s", ref ? "file:" : "", dir, p);
    json_object_set_new(obj, key, json_string(full));
}

/* ---- the gateway under test ---- */

static pid_t start_gateway(const char *dir, int *port)
{
    char cfg[4200], log[4200];
    snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
    snprintf(log, sizeof(log), "%s/gateway.log", dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        execl("/proc/self/exe", "sovgate", "serve", "--config", cfg, (char *)NULL);
        _exit(127);
    }
    close(fd);
    if (pid < 0)
        return -1;
    /* the port from the "listening" log line */
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(log, "r");
        char line[4096];
        while (f && fgets(line, sizeof(line), f)) {
            const char *e = strstr(line, "\"event\":\"listening\"");
            const char *pp = e ? strstr(line, "\"port\":") : NULL;
            if (pp) {
                *port = atoi(pp + 7);
                fclose(f);
                return pid;
            }
        }
        if (f)
            fclose(f);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return -1;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* POSTs `body` to the gateway; returns the status (0 on a transport failure) and the
 * response in `resp`. */
static int post(int port, const char *key, const char *path, const char *body, struct sg_buf *resp)
{
    sg_buf_reset(resp);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    struct timeval tv = {30, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sg_buf req;
    sg_buf_init(&req, 1u << 24);
    sg_buf_printf(&req,
                  "POST %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                  "Connection: close\r\n\r\n%s",
                  path, key, strlen(body), body);
    int status = 0;
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        send(s, req.data, req.len, MSG_NOSIGNAL) == (ssize_t)req.len) {
        char buf[65536];
        ssize_t n;
        while ((n = recv(s, buf, sizeof(buf), 0)) > 0)
            sg_buf_append(resp, buf, (size_t)n);
        if (resp->len > 12 && memcmp(resp->data, "HTTP/1.1 ", 9) == 0)
            status = atoi(resp->data + 9);
    }
    sg_buf_free(&req);
    close(s);
    return status;
}

/* ---- checks ---- */

/* The digits of a value, when it has at least 8 (so the bare number is looked for too). */
static size_t digits_of(const char *v, char *out, size_t cap)
{
    size_t n = 0;
    for (; *v && n + 1 < cap; v++)
        if (*v >= '0' && *v <= '9')
            out[n++] = *v;
    out[n] = '\0';
    return n >= 8 ? n : 0;
}

static bool contains(const struct sg_buf *b, const char *needle)
{
    return b->len && memmem(b->data, b->len, needle, strlen(needle)) != NULL;
}

/* The value as it is, or inside a JSON string, or inside a JSON string in a JSON string (tool
 * call arguments): a quote, a backslash or a control character changes its bytes. */
static bool contains_value(const struct sg_buf *b, const char *v)
{
    if (contains(b, v))
        return true;
    struct sg_buf e1, e2;
    sg_buf_init(&e1, 1u << 20);
    sg_buf_init(&e2, 1u << 20);
    bool hit = false;
    if (sg_buf_json_escape(&e1, v, strlen(v)) == 0 && sg_buf_append(&e1, "", 1) == 0 &&
        strcmp(e1.data, v) != 0) {
        hit = contains(b, e1.data);
        if (!hit && sg_buf_json_escape(&e2, e1.data, e1.len - 1) == 0 &&
            sg_buf_append(&e2, "", 1) == 0)
            hit = contains(b, e2.data);
    }
    sg_buf_free(&e1);
    sg_buf_free(&e2);
    return hit;
}

/* Digits with anything but digits between them, e.g. "5555 5555" vs "5555-5555". */
static bool contains_digits(const struct sg_buf *b, const char *digits)
{
    size_t nd = strlen(digits);
    for (size_t i = 0; i + nd <= b->len; i++) {
        if (b->data[i] != digits[0])
            continue;
        size_t k = 0, j = i;
        while (j < b->len && k < nd && j - i < nd * 3) {
            char c = b->data[j++];
            if (c >= '0' && c <= '9') {
                if (c != digits[k])
                    break;
                k++;
            } else if (c != ' ' && c != '-' && c != '.' && c != '/') {
                break;
            }
        }
        if (k == nd)
            return true;
    }
    return false;
}

struct run {
    int port;
    const char *key;
    json_t *routes;
    unsigned sent, ok, refused, failed;
    bool failing;      /* a failover pass: backends before the one under test fail */
    unsigned unserved; /* 503 in such a pass: no backend left that the policy allows */
    struct sg_buf resp;
};

static void send_one(struct run *r, const char *path, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s)
        return;
    int st = post(r->port, r->key, path, s, &r->resp);
    free(s);
    r->sent++;
    if (st == 200)
        r->ok++;
    else if ((st == 403 && contains(&r->resp, "policy_violation")) ||
             (st == 400 && contains(&r->resp, "content_blocked")))
        r->refused++;
    else if (r->failing && st == 503 && contains(&r->resp, "backend_unavailable"))
        r->unserved++;
    else {
        r->failed++;
        fprintf(stderr, "leakcheck: %s answered %d\n", path, st);
    }
}

static void replay(struct run *r, const char *model, const char *const *extra, size_t nextra)
{
    for (size_t t = 0; t < NTEXTS + nextra; t++) {
        const char *text = t < NTEXTS ? texts[t] : extra[t - NTEXTS];
        for (int stream = 0; stream < 2; stream++) {
            send_one(r, "/v1/chat/completions",
                     json_pack("{s:s,s:b,s:[{s:s,s:s},{s:s,s:s}]}", "model", model, "stream",
                               stream, "messages", "role", "system", "content",
                               "You are the shop's support assistant.", "role", "user", "content",
                               text));
            send_one(r, "/v1/completions",
                     json_pack("{s:s,s:b,s:s}", "model", model, "stream", stream, "prompt", text));
        }
        /* multi-turn with a tool call whose arguments and result carry the values */
        json_t *args = json_pack("{s:s,s:s}", "customer", text, "billing_email", canaries[1].value);
        char *as = json_dumps(args, JSON_COMPACT);
        json_decref(args);
        send_one(r, "/v1/chat/completions",
                 json_pack("{s:s,s:[{s:s,s:s},{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]},{s:s,s:s,s:s},"
                           "{s:s,s:[{s:s,s:s}]}]}",
                           "model", model, "messages", "role", "user", "content", text, "role",
                           "assistant", "content", "tool_calls", "id", "t1", "type", "function",
                           "function", "name", "lookup", "arguments", as ? as : "{}", "role",
                           "tool", "tool_call_id", "t1", "content", text, "role", "user", "content",
                           "type", "text", "text", text));
        free(as);
        send_one(r, "/v1/embeddings",
                 json_pack("{s:s,s:[s,s]}", "model", model, "input", text, "a plain sentence"));
    }
}

static int check(struct lc_captures *cs, const json_t *backends, const char *const *terms,
                 size_t nterms)
{
    int leaks = 0;
    struct sg_buf got;
    sg_buf_init(&got, (size_t)512 << 20);
    size_t i;
    const json_t *b;
    json_array_foreach(backends, i, b)
    {
        const char *name = json_string_value(json_object_get(b, "name"));
        bool external = json_is_false(json_object_get(b, "sovereign"));
        sg_buf_reset(&got);
        lc_capture_bytes(cs, i, &got);
        printf("  backend %-20s %-9s %5u requests, %8zu bytes received\n", name,
               external ? "external" : "sovereign", lc_capture_requests(cs, i), got.len);
        for (size_t c = 0; c < NCANARIES + nterms; c++) {
            const char *v = c < NCANARIES ? canaries[c].value : terms[c - NCANARIES];
            const char *type = c < NCANARIES ? canaries[c].type : "custom detector term";
            bool restricted = c < NCANARIES && canaries[c].cls == C_RESTRICTED;
            if (!external && !restricted)
                continue;
            char digits[64];
            bool hit = contains_value(&got, v) ||
                       (digits_of(v, digits, sizeof(digits)) && contains_digits(&got, digits));
            if (hit) {
                leaks++;
                printf("  LEAK: %s (%s) reached %s backend %s\n", v, type,
                       external ? "external" : "sovereign", name);
            }
        }
    }
    sg_buf_free(&got);
    return leaks;
}

/* The trail must say what was sent: per backend, as many answered requests recorded with
 * that backend as API requests the backend received, and for an external backend as
 * many decision records. */
struct audit_count {
    const json_t *backends;
    unsigned requests[64], decisions[64];
    unsigned records;
};

static int count_row(void *arg, const struct sg_audit_row *row)
{
    struct audit_count *c = arg;
    json_t *j = sg_json_parse(row->content, row->len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *be = json_string_value(json_object_get(j, "backend"));
    size_t i;
    const json_t *b;
    json_array_foreach(c->backends, i, b)
    {
        if (!be || i >= 64 || strcmp(be, json_string_value(json_object_get(b, "name"))) != 0)
            continue;
        if (type && strcmp(type, "decision") == 0)
            c->decisions[i]++;
        else if (type && strcmp(type, "request") == 0 &&
                 json_integer_value(json_object_get(j, "status")) == 200)
            c->requests[i]++;
    }
    c->records++;
    json_decref(j);
    return 0;
}

/* API requests capture i answered; `failed` gets those it answered 503 on purpose. */
static unsigned api_requests(struct lc_captures *cs, size_t i, unsigned *failed)
{
    struct sg_buf b;
    sg_buf_init(&b, (size_t)512 << 20);
    lc_capture_bytes(cs, i, &b);
    unsigned n = 0;
    *failed = 0;
    for (size_t k = 0; k + 13 <= b.len; k++) {
        if (k != 0 && b.data[k - 1] != '\n')
            continue;
        if (memcmp(b.data + k, "POST /v1/", 9) == 0)
            n++;
        else if (memcmp(b.data + k, "503 POST /v1/", 13) == 0)
            (*failed)++;
    }
    sg_buf_free(&b);
    return n;
}

static int audit_check(const char *db, struct lc_captures *cs, const json_t *backends)
{
    struct audit_count c = {.backends = backends};
    struct sg_error err = {0};
    if (sg_audit_scan(db, NULL, count_row, &c, &err) != 0) {
        printf("  FAIL: the audit trail cannot be read: %s\n", err.msg);
        return 1;
    }
    struct sg_audit_verify_report rep;
    if (sg_audit_verify(db, NULL, &rep, &err) != 0) {
        printf("  FAIL: the audit trail does not verify: %s\n", err.msg);
        return 1;
    }
    int bad = 0;
    size_t i;
    const json_t *b;
    json_array_foreach(backends, i, b)
    {
        if (i >= 64)
            break;
        unsigned failed, got = api_requests(cs, i, &failed);
        bool external = json_is_false(json_object_get(b, "sovereign"));
        const char *name = json_string_value(json_object_get(b, "name"));
        /* an external backend's decision comes before the attempt, also a failed one */
        if (got != c.requests[i] || (external && got + failed != c.decisions[i])) {
            printf("  FAIL: backend %s answered %u requests (and failed %u); the audit trail "
                   "records %u (and %u decisions)\n",
                   name, got, failed, c.requests[i], c.decisions[i]);
            bad++;
        }
    }
    if (!bad)
        printf("  audit trail: %u records, chain intact, agrees with what every backend "
               "received\n",
               c.records);
    return bad;
}

/* ---- the command ---- */

int sg_cmd_leakcheck(int argc, char **argv)
{
    const char *config = NULL, *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = argv[++i];
        else
            return sg_cli_usage_error("leakcheck takes --config FILE [--keep DIR]");
    }
    if (!config)
        return sg_cli_usage_error("leakcheck needs --config FILE");
    /* the configuration must be valid as it is */
    struct sg_config *cfg = NULL;
    struct sg_config_diags d = {0};
    int rc = sg_config_load_file(config, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    if (rc)
        return 1;
    json_t *j = load_json(config);
    if (!json_is_object(j)) {
        fprintf(stderr, "sovgate: cannot read %s as YAML\n", config);
        sg_config_free(cfg);
        json_decref(j);
        return 1;
    }
    char dir[4096];
    if (keep) {
        snprintf(dir, sizeof(dir), "%s", keep);
        mkdir(dir, 0700);
    } else {
        snprintf(dir, sizeof(dir), "/tmp/sovgate-leakcheck-XXXXXX");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "sovgate: cannot make a temporary folder: %s\n", strerror(errno));
            sg_config_free(cfg);
            json_decref(j);
            return 1;
        }
    }
    /* capture backends, one per configured backend, in the configuration's order */
    const char **names = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*names));
    for (size_t i = 0; i < cfg->nbackends; i++)
        names[i] = cfg->backends[i].name;
    struct lc_captures *cs = NULL;
    struct sg_error err = {0};
    int status = 1;
    pid_t gw = -1;
    if (lc_captures_start(cfg->nbackends, names, &cs, &err) != 0) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        goto out;
    }
    json_t *backends = json_array();
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const struct sg_config_backend *b = &cfg->backends[i];
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", lc_capture_port(cs, i));
        json_t *o = json_pack("{s:s,s:s,s:b,s:s}", "name", b->name, "url", url, "sovereign",
                              b->sovereign, "health_path", "/health");
        if (b->jurisdiction)
            json_object_set_new(o, "jurisdiction", json_string(b->jurisdiction));
        json_array_append_new(backends, o);
    }
    char path[4200];
    json_object_set_new(j, "backends", backends);
    json_object_set_new(j, "listen",
                        json_pack("{s:s,s:b}", "address", "127.0.0.1:0", "plaintext", 1));
    json_object_set_new(j, "workers", json_integer(1));
    json_object_del(j, "clients");
    snprintf(path, sizeof(path), "%s/keys.db", dir);
    unlink(path);
    json_object_set_new(j, "keys_db", json_string(path));
    json_object_set_new(j, "runtime_dir", json_string(dir));
    json_object_set_new(
        j, "health",
        json_pack("{s:s,s:s,s:s}", "interval", "200ms", "timeout", "1s", "max_backoff", "1s"));
    json_object_set_new(j, "log", json_pack("{s:s}", "level", "info"));
    /* always an audit trail: what it says is checked against what the backends got */
    json_t *audit = json_object_get(j, "audit");
    if (!json_is_object(audit)) {
        audit = json_object();
        json_object_set_new(j, "audit", audit);
    }
    snprintf(path, sizeof(path), "%s/audit.db", dir);
    unlink(path);
    json_object_set_new(audit, "path", json_string(path));
    json_object_del(audit, "postgres");
    /* relative file references of the original stay valid from the work folder */
    absolutize(json_object_get(j, "redaction"), "key", cfg->dir);
    absolutize(audit, "signing_key", cfg->dir);
    char key[SG_KEY_LEN + 1];
    snprintf(path, sizeof(path), "%s/keys.db", dir);
    if (sg_keydb_create(path, "leakcheck", NULL, 0, key, &err) != 0) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (json_dump_file(j, path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "sovgate: cannot write %s\n", path);
        goto out;
    }
    chmod(path, 0600);
    int port = 0;
    if ((gw = start_gateway(dir, &port)) < 0) {
        fprintf(stderr,
                "sovgate: the gateway did not start on the rewritten configuration; "
                "see %s/gateway.log\n",
                dir);
        goto out;
    }
    /* the custom detectors' terms are canaries too (business secrets) */
    size_t nterms = 0;
    for (size_t i = 0; i < cfg->redaction.ndetectors; i++)
        nterms += cfg->redaction.detectors[i].nterms;
    const char **terms = calloc(nterms ? nterms : 1, sizeof(*terms));
    char **term_texts = calloc(nterms ? nterms : 1, sizeof(*term_texts));
    size_t k = 0;
    for (size_t i = 0; i < cfg->redaction.ndetectors; i++)
        for (size_t t = 0; t < cfg->redaction.detectors[i].nterms; t++, k++) {
            terms[k] = cfg->redaction.detectors[i].terms[t];
            size_t need = strlen(terms[k]) + 96;
            term_texts[k] = malloc(need);
            if (term_texts[k])
                snprintf(term_texts[k], need,
                         "Write a teaser for our coming product %s, due in "
                         "spring.",
                         terms[k]);
        }
    struct run r = {.port = port, .key = key};
    sg_buf_init(&r.resp, 64u << 20);
    printf("leakcheck: %s, gateway on 127.0.0.1:%d, work folder %s\n", config, port, dir);
    /* Every backend of a route gets the corpus, also one that is only a failover target: in
     * pass t the backends before the t-th fail (503), as when they are down in production. */
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct sg_config_route *rt = &cfg->routes[i];
        for (size_t t = 0; t < rt->ntargets; t++) {
            bool again = false;
            for (size_t u = 0; u < t; u++)
                again = again || strcmp(rt->targets[u].backend, rt->targets[t].backend) == 0;
            if (again)
                continue;
            for (size_t u = 0; u < t; u++)
                for (size_t b = 0; b < cfg->nbackends; b++)
                    if (strcmp(cfg->backends[b].name, rt->targets[u].backend) == 0)
                        lc_capture_set_fail(cs, b, true);
            r.failing = t > 0;
            replay(&r, rt->model, (const char *const *)term_texts, nterms);
            for (size_t b = 0; b < cfg->nbackends; b++)
                lc_capture_set_fail(cs, b, false);
        }
    }
    int alive = waitpid(gw, NULL, WNOHANG) == 0;
    printf("  %u requests: %u answered, %u refused by the policy, %u failed\n", r.sent, r.ok,
           r.refused, r.failed);
    if (r.unserved)
        printf("  %u requests unserved while the backends before failed (the policy allows no "
               "backend after them)\n",
               r.unserved);
    int leaks = check(cs, backends, terms, nterms);
    /* stop the gateway (its trail is closed and complete), then compare */
    int exit_st = 0;
    kill(gw, SIGTERM);
    waitpid(gw, &exit_st, 0);
    gw = -1;
    bool clean_exit = WIFEXITED(exit_st) && WEXITSTATUS(exit_st) == 0;
    if (!clean_exit)
        printf("  FAIL: the gateway exited with status %d (see %s/gateway.log)\n",
               WIFEXITED(exit_st) ? WEXITSTATUS(exit_st) : 128 + WTERMSIG(exit_st), dir);
    snprintf(path, sizeof(path), "%s/audit.db", dir);
    int disagree = audit_check(path, cs, backends);
    alive = alive && clean_exit;
    leaks += disagree;
    if (!alive)
        printf("  FAIL: the gateway died or did not exit cleanly (see %s/gateway.log)\n", dir);
    if (leaks || r.failed || !alive)
        printf("leakcheck: FAILED (%d leaks, %u failed requests)\n", leaks, r.failed);
    else
        printf("leakcheck: OK: no canary reached an external backend, no restricted value "
               "reached any backend, the audit trail agrees\n");
    status = leaks || r.failed || !alive ? 1 : 0;
    sg_buf_free(&r.resp);
    for (size_t i = 0; i < nterms; i++)
        free(term_texts[i]);
    free(term_texts);
    free(terms);
out:
    if (gw > 0) {
        int st = 0;
        kill(gw, SIGTERM);
        waitpid(gw, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            /* a clean drain exits 0; anything else (a sanitizer report) is a failure */
            printf("leakcheck: FAILED: the gateway exited with status %d (see %s/gateway.log)\n",
                   WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), dir);
            status = 1;
        }
    }
    lc_captures_stop(cs);
    free(names);
    json_decref(j);
    sg_config_free(cfg);
    if (!keep && status == 0) {
        const char *files[] = {"config.json", "gateway.log", "keys.db",      "keys.db-wal",
                               "keys.db-shm", "audit.db",    "audit.db-wal", "audit.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    return status;
}
