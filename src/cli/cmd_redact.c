/* `sovgate redact`: the redaction engine on the command line.
 *
 *   sovgate redact [--config FILE] [--report FILE] < in.txt > out.txt
 *   sovgate redact [--config FILE] --jsonl < in.jsonl > out.jsonl
 *
 * Text mode reads all of stdin (UTF-8; at most SG_REDACT_MAX_INPUT bytes), writes the
 * transformed text to stdout and, with --report, a JSON array of findings
 * {"type","start","end","action"} (byte offsets into the input, end exclusive).
 * JSONL mode reads one {"text": "..."} object per line and writes one
 * {"text": "...", "findings": [...]} per line; a line that cannot be processed gets
 * {"error": "...", "line": N} instead, and the exit status is then 1. Without --config
 * the built-in settings apply, with a random key (pseudonyms differ between runs). */
#include "cli/cli.h"
#include "config/config.h"
#include "core/json.h"
#include "redact/redaction.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_REDACT_MAX_INPUT ((size_t)256 << 20)
#define SG_REDACT_MAX_LINE ((size_t)64 << 20)

struct ctx {
    struct sg_redaction *r;
    struct sg_detect_scratch *sc;
    struct sg_findings f;
    struct sg_buf out;
};

static int findings_json(const struct ctx *c, struct sg_buf *b)
{
    int rc = sg_buf_append(b, "[", 1);
    for (size_t i = 0; !rc && i < c->f.n; i++) {
        const struct sg_finding *x = &c->f.v[i];
        /* type names are A-Z, 0-9 and _: nothing to escape */
        rc = sg_buf_printf(b, "%s{\"type\":\"%s\"", i ? "," : "",
                           sg_entity_name(c->r->det, x->type));
        rc = rc ? rc
                : sg_buf_printf(b, ",\"start\":%u,\"end\":%u,\"action\":\"%s\"}", x->start, x->end,
                                sg_action_name(c->r->actions[x->type]));
    }
    return rc ? rc : sg_buf_append(b, "]", 1);
}

/* Redacts one text into c->out and c->f. Returns 0 or an SG_E* code with a message. */
static int redact_one(struct ctx *c, const char *text, size_t len, char *msg, size_t cap)
{
    sg_findings_reset(&c->f);
    sg_buf_reset(&c->out);
    struct sg_vault *v = sg_redaction_vault(c->r, SG_REDACT_MAX_INPUT);
    if (!v) {
        snprintf(msg, cap, "out of memory");
        return SG_ENOMEM;
    }
    unsigned blocked = 0;
    int rc = sg_redact_text(c->r, c->sc, v, text, len, &c->f, &c->out, &blocked);
    sg_vault_free(v);
    if (rc == SG_EDENIED)
        snprintf(msg, cap, "blocked: the text contains %s, which may not be sent",
                 sg_entity_name(c->r->det, blocked));
    else if (rc == SG_ETOOBIG)
        snprintf(msg, cap, "too many findings (more than %zu)", c->f.max);
    else if (rc)
        snprintf(msg, cap, "%s", sg_strerror(rc));
    return rc;
}

static int read_all(FILE *in, struct sg_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        if (sg_buf_append(b, chunk, n))
            return SG_ETOOBIG;
    return ferror(in) ? SG_EIO : 0;
}

static int write_file(const char *path, const char *p, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "sovgate: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(p, 1, n, f);
    int bad = w != n || fputc('\n', f) == EOF;
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "sovgate: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int run_text(struct ctx *c, const char *report)
{
    struct sg_buf in;
    sg_buf_init(&in, SG_REDACT_MAX_INPUT);
    int rc = read_all(stdin, &in);
    if (rc) {
        fprintf(stderr, "sovgate: %s\n",
                rc == SG_ETOOBIG ? "the input is larger than 256 MiB" : "cannot read the input");
        sg_buf_free(&in);
        return 1;
    }
    char msg[256];
    rc = redact_one(c, in.data ? in.data : "", in.len, msg, sizeof(msg));
    sg_buf_free(&in);
    if (rc) {
        fprintf(stderr, "sovgate: %s\n", msg);
        return rc == SG_EDENIED ? 3 : 1;
    }
    if (fwrite(c->out.data ? c->out.data : "", 1, c->out.len, stdout) != c->out.len ||
        fflush(stdout) != 0) {
        fprintf(stderr, "sovgate: cannot write the output\n");
        return 1;
    }
    if (report) {
        struct sg_buf b;
        sg_buf_init(&b, SIZE_MAX / 2);
        int r2 = findings_json(c, &b) ? -1 : write_file(report, b.data, b.len);
        sg_buf_free(&b);
        if (r2)
            return 1;
    }
    return 0;
}

/* Reads one line of at most SG_REDACT_MAX_LINE bytes (longer lines are skipped to their
 * end). Returns 1 with a line, 0 at the end of input, SG_ETOOBIG for a skipped line. */
static int read_line(FILE *in, struct sg_buf *line)
{
    sg_buf_reset(line);
    int c, got = 0;
    bool big = false;
    while ((c = getc_unlocked(in)) != EOF) {
        got = 1;
        if (c == '\n')
            break;
        char ch = (char)c;
        if (!big && sg_buf_append(line, &ch, 1))
            big = true;
    }
    if (big)
        return SG_ETOOBIG;
    return got;
}

static int run_jsonl(struct ctx *c)
{
    struct sg_buf line, o;
    sg_buf_init(&line, SG_REDACT_MAX_LINE);
    sg_buf_init(&o, SIZE_MAX / 2);
    int status = 0;
    for (size_t no = 1;; no++) {
        int got = read_line(stdin, &line);
        if (got == 0)
            break;
        char msg[256] = "";
        json_t *j = NULL;
        const json_t *text = NULL;
        if (got < 0) {
            snprintf(msg, sizeof(msg), "the line is longer than 64 MiB");
        } else {
            struct sg_json_error je;
            j = sg_json_parse(line.data ? line.data : "", line.len, SG_JSON_REJECT_DUPLICATES, &je);
            text = json_object_get(j, "text");
            if (!j)
                snprintf(msg, sizeof(msg), "not JSON: %s", je.text);
            else if (!json_is_object(j))
                snprintf(msg, sizeof(msg), "not a JSON object");
            else if (!json_is_string(text))
                snprintf(msg, sizeof(msg), "\"text\" must be a string");
        }
        int rc = msg[0] ? SG_EINVAL : 0;
        if (!rc)
            rc = redact_one(c, json_string_value(text), json_string_length(text), msg, sizeof(msg));
        json_decref(j);
        sg_buf_reset(&o);
        int w;
        if (rc) {
            status = 1;
            w = sg_buf_append(&o, "{\"error\":\"", 10);
            w = w ? w : sg_buf_json_escape(&o, msg, strlen(msg));
            w = w ? w : sg_buf_printf(&o, "\",\"line\":%zu}\n", no);
        } else {
            w = sg_buf_append(&o, "{\"text\":\"", 9);
            w = w ? w : sg_buf_json_escape(&o, c->out.data ? c->out.data : "", c->out.len);
            w = w ? w : sg_buf_append(&o, "\",\"findings\":", 13);
            w = w ? w : findings_json(c, &o);
            w = w ? w : sg_buf_append(&o, "}\n", 2);
        }
        if (w || fwrite(o.data, 1, o.len, stdout) != o.len) {
            fprintf(stderr, "sovgate: cannot write the output\n");
            status = 1;
            break;
        }
    }
    sg_buf_free(&line);
    sg_buf_free(&o);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

int sg_cmd_redact(int argc, char **argv)
{
    const char *config = NULL, *report = NULL;
    bool jsonl = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            report = argv[++i];
        else if (strcmp(argv[i], "--jsonl") == 0)
            jsonl = true;
        else
            return sg_cli_usage_error("redact takes [--config FILE] [--report FILE] [--jsonl]");
    }
    if (jsonl && report)
        return sg_cli_usage_error("--report is for text input; --jsonl output has the findings");
    struct ctx c = {0};
    struct sg_error err = {0};
    int rc;
    if (config) {
        struct sg_config *cfg = NULL;
        struct sg_config_diags d = {0};
        rc = sg_config_load_file(config, &cfg, &d);
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s\n", d.v[i].msg);
        sg_config_diags_free(&d);
        if (rc)
            return 1;
        rc = sg_redaction_new(cfg, &c.r, &err);
        sg_config_free(cfg);
    } else {
        rc = sg_redaction_default(&c.r, &err);
    }
    if (rc) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        return 1;
    }
    c.sc = sg_detect_scratch_new(c.r->det);
    sg_findings_init(&c.f, (size_t)1 << 20);
    sg_buf_init(&c.out, SG_REDACT_MAX_INPUT * 2);
    int status = 1;
    if (c.sc)
        status = jsonl ? run_jsonl(&c) : run_text(&c, report);
    else
        fprintf(stderr, "sovgate: out of memory\n");
    sg_buf_free(&c.out);
    sg_findings_free(&c.f);
    sg_detect_scratch_free(c.sc);
    sg_redaction_free(c.r);
    return status;
}
