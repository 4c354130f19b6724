/* `sovgate serve`: run the gateway from a configuration file, or with --dev on the
 * embedded development defaults: a local CA and server certificate, a client key, and
 * one backend, all kept in a state folder (default .sovgate-dev). */
#include "auth/keys.h"
#include "cli/cli.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/secret.h"
#include "gateway/gateway.h"
#include "http/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The embedded development configuration; %d is the port, %s the backend (a URL, or the
 * settings of an engine the gateway runs). */
static const char dev_config[] =
    "# Sovgate development defaults (sovgate serve --dev)\n"
    "listen:\n"
    "  address: \"127.0.0.1:%d\"\n"
    "  tls: {cert: cert.pem, key: key.pem}\n"
    "workers: 2\n"
    "keys_db: keys.db\n"
    "runtime_dir: .\n"
    "backends:\n"
    "  - %s\n"
    "routes:\n"
    "  - model: assistant\n"
    "    aliases: [gpt-4o-mini, gpt-4o, gpt-4.1-mini, gpt-4.1, gpt-5-mini, gpt-5, "
    "gpt-3.5-turbo]\n"
    "    backends: [dev]\n"
    "  - model: embed\n"
    "    aliases: [text-embedding-3-small, text-embedding-3-large, text-embedding-ada-002]\n"
    "    backends: [dev]\n";

/* Reads the development client key, creating it (and its hash in keys.db) when needed. */
static int dev_key(const char *dir, char key[SG_KEY_LEN + 1])
{
    char kpath[PATH_MAX], db[PATH_MAX];
    snprintf(kpath, sizeof(kpath), "%s/dev-client.key", dir);
    snprintf(db, sizeof(db), "%s/keys.db", dir);
    struct sg_error err = {0};
    if (access(db, F_OK) == 0) {
        char *text = NULL;
        size_t len = 0;
        if (sg_read_file(kpath, 256, &text, &len, &err) == 0) {
            size_t n = strcspn(text, "\r\n");
            if (n == SG_KEY_LEN) {
                memcpy(key, text, n);
                key[n] = '\0';
                sg_secure_zero(text, len);
                free(text);
                return 0;
            }
            free(text);
        }
    }
    unlink(db);
    if (sg_keydb_create(db, "dev", NULL, 0, key, &err) != 0) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        return -1;
    }
    /* The development key is kept in the state folder so `make run` can show it again. */
    int fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, key, SG_KEY_LEN) != SG_KEY_LEN || write(fd, "\n", 1) != 1) {
        fprintf(stderr, "sovgate: cannot write %s\n", kpath);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int serve_dev(const char *state, const char *backend, const char *model, int port)
{
    char dir[PATH_MAX];
    if (mkdir(state, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "sovgate: cannot create %s: %s\n", state, strerror(errno));
        return 1;
    }
    if (!realpath(state, dir)) {
        fprintf(stderr, "sovgate: %s: %s\n", state, strerror(errno));
        return 1;
    }
    struct sg_error err = {0};
    if (sg_tls_make_dev_certs(dir, &err) != 0) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        return 1;
    }
    char key[SG_KEY_LEN + 1];
    if (dev_key(dir, key) != 0)
        return 1;
    char sock[PATH_MAX + 16], line[2 * PATH_MAX + 128];
    char absmodel[PATH_MAX];
    if (model) {
        if (!realpath(model, absmodel)) {
            fprintf(stderr, "sovgate: model %s: %s\n", model, strerror(errno));
            return 1;
        }
        /* The engine: two slots of 4096 tokens, on the CPU. */
        snprintf(line, sizeof(line),
                 "{name: dev, kind: engine, model: \"%s\", ctx: 4096, parallel: 2}", absmodel);
        snprintf(sock, sizeof(sock), "engine %s", absmodel);
        backend = sock;
    } else {
        if (!backend) {
            snprintf(sock, sizeof(sock), "unix:%s/backend.sock", dir);
            backend = sock;
        }
        snprintf(line, sizeof(line), "{name: dev, url: \"%s\", health_path: /health}", backend);
    }
    struct sg_buf cfg, banner;
    sg_buf_init(&cfg, 64 * 1024);
    sg_buf_init(&banner, 64 * 1024);
    sg_buf_printf(&cfg, dev_config, port, line);
    sg_buf_printf(&banner,
                  "\nSovgate is running on its development defaults.\n"
                  "  URL (OpenAI base URL): https://127.0.0.1:%d/v1\n"
                  "  Client key:            %s\n"
                  "  Development CA:        %s/ca.pem\n"
                  "  Backend:               %s\n"
                  "Try:\n"
                  "  curl --cacert %s/ca.pem -H 'Authorization: Bearer %s' \\\n"
                  "       https://127.0.0.1:%d/v1/models\n"
                  "WordPress trusts the gateway when the Sovgate plugin's CA bundle setting "
                  "points to %s/ca.pem.\n\n",
                  port, key, dir, backend, dir, key, port, dir);
    sg_secure_zero(key, sizeof(key));
    struct sg_serve_opts o = {NULL, cfg.data, dir, banner.data};
    int rc = sg_gateway_serve(&o);
    sg_buf_free(&cfg);
    sg_secure_zero(banner.data, banner.len);
    sg_buf_free(&banner);
    return rc;
}

int sg_cmd_serve(int argc, char **argv)
{
    const char *config = NULL, *state = ".sovgate-dev", *backend = NULL, *model = NULL;
    int dev = 0, port = 8443;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--dev") == 0) {
            dev = 1;
        } else if (strcmp(o, "--config") == 0 && v) {
            config = v;
            i++;
        } else if (strcmp(o, "--state-dir") == 0 && v) {
            state = v;
            i++;
        } else if (strcmp(o, "--backend") == 0 && v) {
            backend = v;
            i++;
        } else if (strcmp(o, "--model") == 0 && v) {
            model = v;
            i++;
        } else if (strcmp(o, "--port") == 0 && v) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 0 || p > 65535)
                return sg_cli_usage_error("--port needs a number from 0 to 65535");
            port = (int)p;
            i++;
        } else {
            return sg_cli_usage_error("unknown option for serve");
        }
    }
    if (dev && config)
        return sg_cli_usage_error("serve takes either --config or --dev");
    if (backend && model)
        return sg_cli_usage_error("serve --dev takes either --backend or --model");
    if (dev)
        return serve_dev(state, backend, model, port);
    if (!config)
        return sg_cli_usage_error("serve needs --config FILE (or --dev)");
    struct sg_serve_opts o = {config, NULL, NULL, NULL};
    return sg_gateway_serve(&o);
}
