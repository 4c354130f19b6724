/* Push and pull of store models through an OCI registry (see oci.h), with libcurl. */
#include "model/oci.h"
#include "core/dynlib.h"
#include "core/secret.h"
#include "model/model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* the type-checking macros of curl/typecheck-gcc.h would expand cu.curl_easy_setopt(...) */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <openssl/evp.h>

/* libcurl, opened when a registry is first contacted (core/dynlib.h): a gateway process
 * that never pushes or pulls a model never maps it. */
static struct {
    __typeof__(curl_easy_cleanup) *curl_easy_cleanup;
    __typeof__(curl_easy_escape) *curl_easy_escape;
    __typeof__(curl_easy_getinfo) *curl_easy_getinfo;
    __typeof__(curl_easy_init) *curl_easy_init;
    __typeof__(curl_easy_perform) *curl_easy_perform;
    __typeof__(curl_easy_reset) *curl_easy_reset;
    __typeof__(curl_easy_setopt) *curl_easy_setopt;
    __typeof__(curl_easy_strerror) *curl_easy_strerror;
    __typeof__(curl_free) *curl_free;
    __typeof__(curl_global_init) *curl_global_init;
    __typeof__(curl_slist_append) *curl_slist_append;
    __typeof__(curl_slist_free_all) *curl_slist_free_all;
} cu;
#define CU_SYM(f) SG_DYNSYM(cu, f)
static const struct sg_dynsym cu_syms[] = {
    CU_SYM(curl_easy_cleanup), CU_SYM(curl_easy_escape),   CU_SYM(curl_easy_getinfo),
    CU_SYM(curl_easy_init),    CU_SYM(curl_easy_perform),  CU_SYM(curl_easy_reset),
    CU_SYM(curl_easy_setopt),  CU_SYM(curl_easy_strerror), CU_SYM(curl_free),
    CU_SYM(curl_global_init),  CU_SYM(curl_slist_append),  CU_SYM(curl_slist_free_all),
};
static struct sg_dynlib cu_lib = SG_DYNLIB("libcurl.so.4", "libcurl4", cu_syms);

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.sovgate.model.manifest.v1+json"
#define MT_WEIGHTS "application/vnd.sovgate.model.weights.v1"
#define MT_WEIGHTS_ENC "application/vnd.sovgate.model.weights.encrypted.v1"
#define DOC_MAX (1u << 20)       /* a manifest or config from the registry, at most */
#define UPLOAD_CHUNK (16u << 20) /* bytes per PATCH */
#define UPLOAD_LOSSES 3          /* resumes before what the registry confirmed, per blob */

struct ref {
    char host[256]; /* host[:port] */
    char repo[256]; /* path/name */
    char tag[130];  /* tag, or "sha256:<hex>" */
    bool by_digest;
};

struct oci {
    struct ref r;
    char base[300]; /* https://host[:port] */
    CURL *h;
    char *userpwd;
    char *bearer; /* a token from the registry's token service, once one was needed */
    const char *ca;
    struct sg_error *err;
};

/* One response. The body goes to memory (at most `max` bytes) or to a descriptor (with
 * its SHA-256 and a size cap). */
struct resp {
    long status;
    char location[2048];
    char range[64];
    char crange[96]; /* Content-Range (of a 206) */
    char digest[80];
    char www[1024]; /* WWW-Authenticate */
    CURL *h;
    char *body;
    size_t len, max;
    bool too_big;
    int fd;         /* >= 0: write the body here */
    EVP_MD_CTX *md; /* with fd: hash what is written */
    uint64_t written, cap;
    bool resume;        /* with fd: it holds bytes of an earlier download, a Range was asked for */
    bool range_checked; /* with fd: this 206's Content-Range was checked */
    bool bad_range;     /* with fd: a 206 for another range than the one asked for */
    bool write_failed;
};

static bool ref_part_ok(const char *s, size_t n, bool repo)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-' || (repo && c == '/') || (!repo && c >= 'A' && c <= 'Z')))
            return false;
    }
    return true;
}

/* host[:port]/repo[:tag | @sha256:hex] */
static int parse_ref(const char *s, struct ref *r, struct sg_error *err)
{
    memset(r, 0, sizeof(*r));
    const char *sl = strchr(s, '/');
    if (!sl || sl == s || (size_t)(sl - s) >= sizeof(r->host))
        return sg_error_set(err, SG_EINVAL,
                            "registry reference: host[:port]/repository:tag or "
                            "host[:port]/repository@sha256:<hex>");
    memcpy(r->host, s, (size_t)(sl - s));
    for (const char *p = r->host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']'))
            return sg_error_set(err, SG_EINVAL, "registry reference: bad host");
    const char *rest = sl + 1, *at = strchr(rest, '@');
    const char *colon = at ? NULL : strrchr(rest, ':');
    const char *end = at ? at : colon ? colon : rest + strlen(rest);
    if (!ref_part_ok(rest, (size_t)(end - rest), true) || (size_t)(end - rest) >= sizeof(r->repo) ||
        rest[0] == '/' || end[-1] == '/')
        return sg_error_set(err, SG_EINVAL, "registry reference: bad repository name");
    memcpy(r->repo, rest, (size_t)(end - rest));
    if (at) {
        const char *d = at + 1;
        uint8_t raw[32];
        if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71 || sg_hex_decode(d + 7, 64, raw, 32))
            return sg_error_set(err, SG_EINVAL,
                                "registry reference: the digest must be "
                                "sha256:<64 hex digits>");
        snprintf(r->tag, sizeof(r->tag), "%s", d);
        r->by_digest = true;
    } else if (colon) {
        size_t n = strlen(colon + 1);
        if (n > 128 || !ref_part_ok(colon + 1, n, false))
            return sg_error_set(err, SG_EINVAL, "registry reference: bad tag");
        snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
    } else {
        return sg_error_set(err, SG_EINVAL,
                            "registry reference: name a tag (:TAG) or a "
                            "digest (@sha256:...)");
    }
    return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    struct {
        const char *name;
        char *dst;
        size_t cap;
    } want[] = {{"location:", r->location, sizeof(r->location)},
                {"range:", r->range, sizeof(r->range)},
                {"content-range:", r->crange, sizeof(r->crange)},
                {"docker-content-digest:", r->digest, sizeof(r->digest)},
                {"www-authenticate:", r->www, sizeof(r->www)}};
    if (len > 9 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after a redirect) */
        r->location[0] = r->range[0] = r->crange[0] = r->digest[0] = r->www[0] = '\0';
        return len;
    }
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        size_t kl = strlen(want[i].name);
        if (len > kl && strncasecmp(p, want[i].name, kl) == 0) {
            const char *v = p + kl;
            size_t vl = len - kl;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            if (vl < want[i].cap) {
                memcpy(want[i].dst, v, vl);
                want[i].dst[vl] = '\0';
            }
        }
    }
    return len;
}

/* A decimal number of at most 19 digits (no sign, no spaces) at *s; advances *s. */
static bool crange_num(const char **s, uint64_t *v)
{
    const char *p = *s;
    *v = 0;
    while (*p >= '0' && *p <= '9' && p - *s < 19)
        *v = *v * 10 + (uint64_t)(*p++ - '0');
    if (p == *s || (*p >= '0' && *p <= '9'))
        return false;
    *s = p;
    return true;
}

/* Whether a 206's Content-Range ("bytes START-END/TOTAL", TOTAL may be "*") is the range
 * asked for: it starts at `start` (the bytes the partial file holds) and lies inside a blob
 * of `size` bytes (one that ends early is fine: the next pull resumes from there). */
static bool content_range_ok(const char *v, uint64_t start, uint64_t size)
{
    uint64_t a, b, total = size;
    if (strncasecmp(v, "bytes ", 6) != 0)
        return false;
    v += 6;
    if (!crange_num(&v, &a) || *v++ != '-' || !crange_num(&v, &b) || *v++ != '/')
        return false;
    if (!(v[0] == '*' && v[1] == '\0') && (!crange_num(&v, &total) || *v != '\0'))
        return false;
    return a == start && a <= b && b < total && total == size;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = size * n;
    if (r->fd >= 0) {
        long st = 0;
        cu.curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &st);
        if (st != 200 && st != 206)
            return len; /* an error's body never goes into the download */
        if (st == 206 && !r->range_checked) {
            /* Appended at r->written (the offset the Range asked for: nothing of this
             * answer is written yet) only when it is that range: a registry or proxy that
             * sends another one would corrupt the partial file, which the digest would
             * catch only after the whole download. */
            if (!content_range_ok(r->crange, r->written, r->cap)) {
                r->bad_range = true;
                return 0;
            }
            r->range_checked = true;
        }
        if (r->resume && st == 200) {
            /* The registry ignored the Range and sends the whole blob: start over. */
            if (ftruncate(r->fd, 0) != 0 || lseek(r->fd, 0, SEEK_SET) != 0 ||
                EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1) {
                r->write_failed = true;
                return 0;
            }
            r->written = 0;
        }
        r->resume = false;
        if (r->written + len > r->cap) {
            r->too_big = true;
            return 0;
        }
        if (sg_mstore_write_full(r->fd, p, len) != 0) {
            r->write_failed = true;
            return 0;
        }
        EVP_DigestUpdate(r->md, p, len);
        r->written += len;
        return len;
    }
    if (r->len + len > r->max) {
        r->too_big = true;
        return 0;
    }
    char *nb = realloc(r->body, r->len + len + 1);
    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static void resp_init(struct resp *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
    r->fd = -1;
}

/* The TLS, timeout and protocol settings of every request. */
static void tls_opts(struct oci *c, CURL *h)
{
    cu.curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    cu.curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    cu.curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    cu.curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->ca)
        cu.curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
    cu.curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cu.curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    cu.curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* stalled for 60 s: give up */
    cu.curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    cu.curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
}

/* One parameter of a WWW-Authenticate challenge: key="value". */
static bool challenge_param(const char *www, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = www; (p = strstr(p, key)); p += kl) {
        if ((p != www && p[-1] != ' ' && p[-1] != ',') || strncmp(p + kl, "=\"", 2) != 0)
            continue;
        const char *v = p + kl + 2, *e = strchr(v, '"');
        if (!e || (size_t)(e - v) >= cap)
            return false;
        memcpy(out, v, (size_t)(e - v));
        out[e - v] = '\0';
        return true;
    }
    return false;
}

static size_t on_token(char *p, size_t size, size_t n, void *arg)
{
    struct resp *r = arg;
    return on_body(p, size, n, r);
}

/* Answers a Bearer challenge: asks the token service named by its realm (HTTPS, verified
 * like the registry; with the basic credential when there is one) for a token for its
 * service and scope. */
static int fetch_token(struct oci *c, const char *www)
{
    char realm[512], service[256] = "", scope[512] = "", url[2048];
    if (!challenge_param(www, "realm", realm, sizeof(realm)) || strncmp(realm, "https://", 8) != 0)
        return sg_error_set(c->err, SG_EPROTO,
                            "registry %s: a bearer challenge without an "
                            "https realm",
                            c->r.host);
    challenge_param(www, "service", service, sizeof(service));
    challenge_param(www, "scope", scope, sizeof(scope));
    CURL *h = c->h;
    cu.curl_easy_reset(h);
    char *es = cu.curl_easy_escape(h, service, 0), *esc = cu.curl_easy_escape(h, scope, 0);
    snprintf(url, sizeof(url), "%s%sservice=%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
             es ? es : "", scope[0] ? "&scope=" : "", scope[0] && esc ? esc : "");
    cu.curl_free(es);
    cu.curl_free(esc);
    struct resp r;
    resp_init(&r, 64 * 1024);
    tls_opts(c, h);
    cu.curl_easy_setopt(h, CURLOPT_URL, url);
    if (c->userpwd) {
        cu.curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        cu.curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd);
    }
    cu.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_token);
    cu.curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    CURLcode cc = cu.curl_easy_perform(h);
    cu.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    int rc = 0;
    if (cc != CURLE_OK)
        rc = sg_error_set(c->err, SG_EUNAVAIL, "token service of %s: %s", c->r.host,
                          cu.curl_easy_strerror(cc));
    else if (r.status == 401 || r.status == 403)
        rc = sg_error_set(c->err, SG_EDENIED,
                          "registry %s: authentication failed at its token service (HTTP %ld): "
                          "check the credential",
                          c->r.host, r.status);
    else if (r.status != 200 || !r.body)
        rc = sg_error_set(c->err, SG_EPROTO, "token service of %s answered HTTP %ld", c->r.host,
                          r.status);
    json_t *j = rc ? NULL : json_loadb(r.body, r.len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (!rc && (!tok || !tok[0] || strlen(tok) > 16384 || strpbrk(tok, "\r\n")))
        rc = sg_error_set(c->err, SG_EPROTO, "token service of %s sent no usable token", c->r.host);
    if (!rc) {
        free(c->bearer);
        c->bearer = strdup(tok);
        if (!c->bearer)
            rc = sg_error_set(c->err, SG_ENOMEM, "out of memory");
    }
    json_decref(j);
    free(r.body);
    return rc;
}

static int request_once(struct oci *c, const char *method, const char *url, const char *ctype,
                        const char *accept, const void *body, size_t blen, const char *range,
                        struct resp *r);

/* Makes a request, answering a Bearer challenge once (a token for the scope the registry
 * asks for) and trying again. `url` is absolute (it must be on the registry's origin). */
static int request(struct oci *c, const char *method, const char *url, const char *ctype,
                   const char *accept, const void *body, size_t blen, const char *range,
                   struct resp *r)
{
    int rc = request_once(c, method, url, ctype, accept, body, blen, range, r);
    if (r->status != 401 || strncasecmp(r->www, "Bearer ", 7) != 0)
        return rc;
    char www[sizeof(r->www)];
    snprintf(www, sizeof(www), "%s", r->www);
    if ((rc = fetch_token(c, www)))
        return rc;
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = 0;
    return request_once(c, method, url, ctype, accept, body, blen, range, r);
}

static int request_once(struct oci *c, const char *method, const char *url, const char *ctype,
                        const char *accept, const void *body, size_t blen, const char *range,
                        struct resp *r)
{
    if (strncmp(url, c->base, strlen(c->base)) != 0 || (url[strlen(c->base)] != '/'))
        return sg_error_set(c->err, SG_EPROTO, "the registry sent us to another origin: %.120s",
                            url);
    CURL *h = c->h;
    cu.curl_easy_reset(h);
    r->h = h;
    struct curl_slist *hd = NULL;
    char line[256];
    if (c->bearer) {
        size_t n = strlen(c->bearer) + 32;
        char *ah = malloc(n);
        if (ah) {
            snprintf(ah, n, "Authorization: Bearer %s", c->bearer);
            hd = cu.curl_slist_append(hd, ah);
            sg_secure_zero(ah, n);
            free(ah);
        }
    }
    if (ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        hd = cu.curl_slist_append(hd, line);
    }
    if (accept) {
        snprintf(line, sizeof(line), "Accept: %s", accept);
        hd = cu.curl_slist_append(hd, line);
    }
    if (range) {
        snprintf(line, sizeof(line), "%s", range);
        hd = cu.curl_slist_append(hd, line);
    }
    cu.curl_easy_setopt(h, CURLOPT_URL, url);
    tls_opts(c, h);
    if (c->userpwd && !c->bearer) {
        cu.curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        cu.curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd);
    }
    cu.curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    cu.curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    cu.curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    cu.curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    cu.curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (strcmp(method, "HEAD") == 0)
        cu.curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        cu.curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0 ||
        strcmp(method, "PATCH") == 0) {
        cu.curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        cu.curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    CURLcode cc = cu.curl_easy_perform(h);
    cu.curl_slist_free_all(hd);
    cu.curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->too_big)
        return sg_error_set(c->err, SG_EPROTO,
                            "the registry's answer to %s is larger than "
                            "expected",
                            method);
    if (r->write_failed)
        return sg_error_set(c->err, SG_EIO, "cannot write the download: %s", strerror(errno));
    if (r->bad_range)
        return sg_error_set(c->err, SG_EPROTO,
                            "registry %s: asked for the weights from byte %llu, it answered "
                            "206 with Content-Range \"%.64s\"",
                            c->r.host, (unsigned long long)r->written, r->crange);
    if (cc != CURLE_OK)
        return sg_error_set(c->err, SG_EUNAVAIL, "registry %s: %s", c->r.host,
                            cu.curl_easy_strerror(cc));
    if (r->status == 401 || r->status == 403)
        return sg_error_set(c->err, SG_EDENIED,
                            "registry %s: authentication failed (HTTP %ld): check the "
                            "credential",
                            c->r.host, r->status);
    return 0;
}

static int status_err(struct oci *c, const char *what, const struct resp *r)
{
    return sg_error_set(c->err, SG_EPROTO, "registry %s: %s answered HTTP %ld", c->r.host, what,
                        r->status);
}

static int oci_open(struct oci *c, const char *ref, const struct sg_oci_opts *o,
                    struct sg_error *err)
{
    memset(c, 0, sizeof(*c));
    c->err = err;
    int rc = parse_ref(ref, &c->r, err);
    if (rc)
        return rc;
    snprintf(c->base, sizeof(c->base), "https://%s", c->r.host);
    c->ca = o ? o->ca_file : NULL;
    if (o && o->credential) {
        struct sg_secret sec = {0};
        if (!sg_secret_is_ref(o->credential))
            return sg_error_set(err, SG_EINVAL,
                                "the registry credential must be a reference "
                                "file:PATH or env:NAME");
        if ((rc = sg_secret_load(o->credential, o->base_dir, &sec, err)))
            return rc;
        if (!sec.data || !strchr(sec.data, ':')) {
            sg_secret_free(&sec);
            return sg_error_set(err, SG_EINVAL, "the registry credential is not user:password");
        }
        c->userpwd = strdup(sec.data);
        sg_secret_free(&sec);
        if (!c->userpwd)
            return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    rc = sg_dynlib_open(&cu_lib, err);
    if (rc)
        return rc;
    cu.curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(c->h = cu.curl_easy_init()))
        return sg_error_set(err, SG_ENOMEM, "cannot start libcurl");
    return 0;
}

static void oci_close(struct oci *c)
{
    if (c->h)
        cu.curl_easy_cleanup(c->h);
    if (c->userpwd) {
        sg_secure_zero(c->userpwd, strlen(c->userpwd));
        free(c->userpwd);
    }
    if (c->bearer) {
        sg_secure_zero(c->bearer, strlen(c->bearer));
        free(c->bearer);
    }
}

/* An absolute URL from a Location header (absolute on our origin, or a path). */
static int abs_url(struct oci *c, const char *loc, char *out, size_t cap)
{
    int n;
    if (loc[0] == '/')
        n = snprintf(out, cap, "%s%s", c->base, loc);
    else
        n = snprintf(out, cap, "%s", loc);
    if (n < 0 || (size_t)n >= cap)
        return sg_error_set(c->err, SG_EPROTO, "the registry sent an overlong location");
    return 0;
}

/* ---- push ---- */

/* Uploads `len` bytes (from `data`, or from `fd` when data is NULL) as blob `digest`
 * ("sha256:<hex>") unless the registry has it. */
static int push_blob(struct oci *c, const char *digest, const uint8_t *data, int fd, uint64_t len)
{
    char url[4096];
    struct resp r;
    resp_init(&r, 4096);
    snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", c->base, c->r.repo, digest);
    int rc = request(c, "HEAD", url, NULL, NULL, NULL, 0, NULL, &r);
    free(r.body);
    if (rc)
        return rc;
    if (r.status == 200)
        return 0; /* already there */
    resp_init(&r, 4096);
    snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", c->base, c->r.repo);
    rc = request(c, "POST", url, NULL, NULL, NULL, 0, NULL, &r);
    free(r.body);
    if (rc)
        return rc;
    if (r.status != 202 || !r.location[0])
        return status_err(c, "starting an upload", &r);
    char loc[4096];
    if ((rc = abs_url(c, r.location, loc, sizeof(loc))))
        return rc;
    uint8_t *buf = data ? NULL : malloc(UPLOAD_CHUNK);
    if (!data && !buf)
        return sg_error_set(c->err, SG_ENOMEM, "out of memory");
    /* `acked`: what the registry confirmed with a 202. A resume goes back to what the
     * registry says it has; before `acked` only UPLOAD_LOSSES times: a registry that keeps
     * forgetting what it confirmed would otherwise keep the upload going round for ever
     * (each confirmed chunk starts the count of retries afresh). */
    uint64_t off = 0, acked = 0;
    int retries = 0, losses = 0;
    while (off < len) {
        size_t n = len - off > UPLOAD_CHUNK ? UPLOAD_CHUNK : (size_t)(len - off);
        const uint8_t *p = data ? data + off : buf;
        if (!data) {
            ssize_t got = pread(fd, buf, n, (off_t)off);
            if (got != (ssize_t)n) {
                free(buf);
                return sg_error_set(c->err, SG_EIO, "cannot read the blob to upload");
            }
        }
        char crange[80];
        snprintf(crange, sizeof(crange), "Content-Range: %llu-%llu", (unsigned long long)off,
                 (unsigned long long)(off + n - 1));
        resp_init(&r, 4096);
        rc = request(c, "PATCH", loc, "application/octet-stream", NULL, p, n, crange, &r);
        free(r.body);
        if (!rc && r.status == 202 && r.location[0]) {
            if ((rc = abs_url(c, r.location, loc, sizeof(loc))))
                break;
            off += n;
            acked = off;
            retries = 0;
            continue;
        }
        if (rc == SG_EDENIED || ++retries > 3) {
            if (!rc)
                rc = status_err(c, "an upload chunk", &r);
            break;
        }
        /* Resume: ask the registry how much it has. */
        resp_init(&r, 4096);
        int rc2 = request(c, "GET", loc, NULL, NULL, NULL, 0, NULL, &r);
        free(r.body);
        unsigned long long a, b;
        bool ranged = sscanf(r.range, "%llu-%llu", &a, &b) == 2 && a == 0 && b + 1 <= len;
        if (rc2 || r.status != 204 || (r.range[0] && !ranged))
            break;
        uint64_t has = r.range[0] ? (uint64_t)b + 1 : 0;
        if (has < acked && ++losses > UPLOAD_LOSSES) {
            rc = sg_error_set(c->err, SG_EPROTO,
                              "the registry keeps losing parts of the upload it had confirmed "
                              "(it has %llu bytes of %llu)",
                              (unsigned long long)has, (unsigned long long)acked);
            break;
        }
        off = has;
        rc = 0;
    }
    free(buf);
    if (rc || off < len)
        return rc ? rc : sg_error_set(c->err, SG_EPROTO, "the upload could not be resumed");
    char put[4200];
    snprintf(put, sizeof(put), "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", digest);
    resp_init(&r, 4096);
    rc = request(c, "PUT", put, NULL, NULL, NULL, 0, NULL, &r);
    free(r.body);
    if (!rc && r.status != 201)
        rc = status_err(c, "completing an upload", &r);
    return rc;
}

int sg_model_push(struct sg_model_store *s, const char *name, const char *version, const char *ref,
                  const struct sg_oci_opts *o, char digest[72], struct sg_error *err)
{
    digest[0] = '\0';
    json_t *doc = sg_mstore_load_manifest(s, name, version, err);
    if (!doc)
        return err && err->code ? err->code : SG_EINVAL;
    json_decref(doc);
    char mpath[PATH_MAX], what[2 * SG_MODEL_NAME_MAX + 16];
    sg_mstore_path(s, mpath, sizeof(mpath), "manifests/%s/%s.json", name, version);
    snprintf(what, sizeof(what), "manifest %s %s", name, version);
    char *cfg = NULL;
    size_t cfglen = 0;
    int rc = sg_mstore_read_file(mpath, DOC_MAX, what, &cfg, &cfglen, err);
    if (rc)
        return rc;
    /* The weights are checked before they leave. */
    json_error_t je;
    json_t *d2 = json_loadb(cfg, cfglen, 0, &je);
    json_t *p = json_object_get(d2, "payload");
    int bfd = -1;
    if ((rc = sg_mstore_check_blob(s, p, &bfd, err))) {
        json_decref(d2);
        free(cfg);
        return rc;
    }
    const char *bhex = json_string_value(json_object_get(json_object_get(p, "blob"), "sha256"));
    json_int_t bsize = json_integer_value(json_object_get(json_object_get(p, "blob"), "size"));
    bool enc = json_is_object(json_object_get(json_object_get(p, "blob"), "encryption"));
    uint8_t ch[32];
    char chex[65], cdig[80], bdig[80];
    sg_sha256(cfg, cfglen, ch);
    sg_hex_encode(ch, 32, chex);
    snprintf(cdig, sizeof(cdig), "sha256:%s", chex);
    snprintf(bdig, sizeof(bdig), "sha256:%s", bhex);
    struct oci c;
    if (!(rc = oci_open(&c, ref, o, err)) && c.r.by_digest)
        rc = sg_error_set(err, SG_EINVAL, "push to a tag, not to a digest");
    if (!rc)
        rc = push_blob(&c, cdig, (const uint8_t *)cfg, -1, cfglen);
    if (!rc)
        rc = push_blob(&c, bdig, NULL, bfd, (uint64_t)bsize);
    char *man = NULL;
    if (!rc) {
        char title[2 * SG_MODEL_NAME_MAX + 2];
        snprintf(title, sizeof(title), "%s:%s", name, version);
        json_t *m = json_pack(
            "{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}],s:{s:s}}", "schemaVersion", 2, "mediaType",
            MT_MANIFEST, "config", "mediaType", MT_CONFIG, "digest", cdig, "size",
            (json_int_t)cfglen, "layers", "mediaType", enc ? MT_WEIGHTS_ENC : MT_WEIGHTS, "digest",
            bdig, "size", bsize, "annotations", "org.opencontainers.image.title", title);
        man = m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(m);
        if (!man)
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    if (!rc) {
        char url[4096];
        struct resp r;
        resp_init(&r, 4096);
        snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", c.base, c.r.repo, c.r.tag);
        rc = request(&c, "PUT", url, MT_MANIFEST, NULL, man, strlen(man), NULL, &r);
        free(r.body);
        if (!rc && r.status != 201)
            rc = status_err(&c, "storing the manifest", &r);
        uint8_t mh[32];
        char mhex[65];
        sg_sha256(man, strlen(man), mh);
        sg_hex_encode(mh, 32, mhex);
        snprintf(digest, 72, "sha256:%s", mhex);
    }
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s}", "name", name, "version", version, "ref", ref,
                            "digest", digest);
    oci_close(&c);
    if (man) {
        json_free_t f = NULL;
        json_get_alloc_funcs(NULL, &f);
        (f ? f : free)(man);
    }
    close(bfd);
    json_decref(d2);
    free(cfg);
    if (rc) {
        json_decref(rec);
        return rc;
    }
    return sg_mstore_audit(s, "model.push", rec, err);
}

/* ---- pull ---- */

static int get_doc(struct oci *c, const char *path, const char *accept, struct resp *r)
{
    char url[4096];
    resp_init(r, DOC_MAX);
    snprintf(url, sizeof(url), "%s/v2/%s/%s", c->base, c->r.repo, path);
    int rc = request(c, "GET", url, NULL, accept, NULL, 0, NULL, r);
    if (!rc && r->status != 200)
        rc = r->status == 404 ? sg_error_set(c->err, SG_ENOTFOUND, "registry %s: %s/%s not found",
                                             c->r.host, c->r.repo, path)
                              : status_err(c, path, r);
    if (!rc && !r->body)
        rc = sg_error_set(c->err, SG_EPROTO, "registry %s: empty answer for %s", c->r.host, path);
    return rc;
}

static bool digest_of(const char *data, size_t len, const char *want)
{
    uint8_t h[32];
    char hex[65];
    sg_sha256(data, len, h);
    sg_hex_encode(h, 32, hex);
    return strncmp(want, "sha256:", 7) == 0 && strcmp(want + 7, hex) == 0;
}

/* GETs the weights from r->written on (with a Range when that is not 0), written to r->fd
 * at that offset (on_body). */
static int get_weights(struct oci *c, const char *url, struct resp *r)
{
    char range[64];
    snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)r->written);
    r->resume = r->written > 0;
    r->range_checked = r->bad_range = false;
    int rc = request(c, "GET", url, NULL, NULL, NULL, 0, r->written ? range : NULL, r);
    if (!rc && r->status != 200 && r->status != 206)
        rc = status_err(c, "the weights", r);
    return rc;
}

/* Downloads the weights into <store>/partial/<hex> (resuming what is there), checks the
 * digest, and moves it into blobs/. */
static int pull_blob(struct oci *c, struct sg_model_store *s, const char *hex, uint64_t size)
{
    char dir[PATH_MAX], part[PATH_MAX], blob[PATH_MAX], bdir[PATH_MAX];
    sg_mstore_path(s, blob, sizeof(blob), "blobs/sha256/%s", hex);
    /* lstat: a symbolic link under the blob's name is not taken for it, it is replaced. */
    struct stat st;
    if (lstat(blob, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size)
        return 0; /* verified by `model verify` like any blob; the manifest binds it */
    sg_mstore_path(s, dir, sizeof(dir), "partial");
    sg_mstore_path(s, part, sizeof(part), "partial/%s", hex);
    sg_mstore_path(s, bdir, sizeof(bdir), "blobs/sha256");
    if (sg_mstore_mkdir_p(dir) != 0)
        return sg_error_set(c->err, SG_EIO, "cannot create %s: %s", dir, strerror(errno));
    /* O_NOFOLLOW: a symbolic link planted as the partial file would have the download
     * resumed into, or truncated, whatever file it names. */
    int fd = open(part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0 && errno == ELOOP)
        return sg_error_set(c->err, SG_EIO,
                            "%s is not a regular file (a symbolic link, which the store does not "
                            "follow): refused",
                            part);
    if (fd < 0)
        return sg_error_set(c->err, SG_EIO, "cannot write %s: %s", part, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sg_error_set(c->err, SG_EIO, "%s is not a regular file: refused", part);
    }
    struct resp r;
    resp_init(&r, 0);
    r.fd = fd;
    r.md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(r.md, EVP_sha256(), NULL);
    r.cap = size;
    /* Rehash what an earlier pull left, then ask for the rest. */
    uint64_t have = 0;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size <= size)
        have = (uint64_t)st.st_size;
    else if (ftruncate(fd, 0) != 0)
        have = 0;
    uint8_t *buf = malloc(1 << 20);
    for (uint64_t off = 0; buf && off < have;) {
        ssize_t n = pread(fd, buf, 1 << 20, (off_t)off);
        if (n <= 0) {
            have = off;
            break;
        }
        EVP_DigestUpdate(r.md, buf, (size_t)n);
        off += (uint64_t)n;
    }
    free(buf);
    r.written = have;
    int rc = 0;
    if (lseek(fd, (off_t)have, SEEK_SET) < 0 || ftruncate(fd, (off_t)have) != 0)
        rc = sg_error_set(c->err, SG_EIO, "cannot resume %s: %s", part, strerror(errno));
    if (!rc && have < size) {
        char url[4096];
        snprintf(url, sizeof(url), "%s/v2/%s/blobs/sha256:%s", c->base, c->r.repo, hex);
        rc = get_weights(c, url, &r);
        if (rc && r.bad_range && have > 0) {
            /* A 206 for another range than asked for: the registry (or a proxy before it)
             * does not resume correctly, and its bytes were not written. Start over from
             * byte 0 without a Range, as for a 200 that ignored it (on_body); that needs a
             * second request, since this answer's bytes are not the ones wanted. Once: a
             * failed start over fails the pull (failing every pull instead would keep a
             * partial file that such a registry can never complete). */
            if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 ||
                EVP_DigestInit_ex(r.md, EVP_sha256(), NULL) != 1) {
                rc =
                    sg_error_set(c->err, SG_EIO, "cannot start %s over: %s", part, strerror(errno));
            } else {
                if (c->err)
                    memset(c->err, 0, sizeof(*c->err));
                r.written = 0;
                rc = get_weights(c, url, &r);
            }
        }
    }
    uint8_t got[32];
    unsigned int hl = 0;
    EVP_DigestFinal_ex(r.md, got, &hl);
    EVP_MD_CTX_free(r.md);
    char ghex[65];
    sg_hex_encode(got, 32, ghex);
    if (!rc && r.written != size)
        rc = sg_error_set(c->err, SG_EPROTO,
                          "the download of the weights stopped at %llu of %llu bytes (run the "
                          "pull again to resume)",
                          (unsigned long long)r.written, (unsigned long long)size);
    if (!rc && strcmp(ghex, hex) != 0) {
        unlink(part); /* useless: start over next time */
        rc = sg_error_set(c->err, SG_ECRYPTO,
                          "the registry's weights have digest sha256:%.16s..., not the signed "
                          "sha256:%.16s...: refused",
                          ghex, hex);
    }
    if (!rc && (fsync(fd) != 0 || fchmod(fd, SG_MSTORE_BLOB_MODE) != 0 || rename(part, blob) != 0 ||
                sg_mstore_fsync_dir(bdir) != 0))
        rc = sg_error_set(c->err, SG_EIO, "cannot store the weights: %s", strerror(errno));
    close(fd);
    return rc;
}

int sg_model_pull(struct sg_model_store *s, const char *ref, const struct sg_oci_opts *o,
                  char *name, char *version, struct sg_error *err)
{
    name[0] = version[0] = '\0';
    int rc = sg_mstore_lock(s, err);
    if (rc)
        return rc;
    struct oci c;
    struct resp mr, cr;
    resp_init(&mr, 0);
    resp_init(&cr, 0);
    json_t *man = NULL, *doc = NULL;
    if ((rc = oci_open(&c, ref, o, err)))
        goto out;
    char path[300];
    snprintf(path, sizeof(path), "manifests/%s", c.r.tag);
    if ((rc = get_doc(&c, path, MT_MANIFEST, &mr)))
        goto out;
    if (c.r.by_digest && !digest_of(mr.body, mr.len, c.r.tag)) {
        rc = sg_error_set(err, SG_ECRYPTO,
                          "the registry answered %s with a manifest of another "
                          "digest: refused",
                          c.r.tag);
        goto out;
    }
    json_error_t je;
    man = json_loadb(mr.body, mr.len, JSON_REJECT_DUPLICATES, &je);
    json_t *cfgd = json_object_get(man, "config"), *layers = json_object_get(man, "layers");
    json_t *layer = json_array_get(layers, 0);
    const char *cmt = json_string_value(json_object_get(cfgd, "mediaType"));
    const char *cdig = json_string_value(json_object_get(cfgd, "digest"));
    const char *lmt = json_string_value(json_object_get(layer, "mediaType"));
    const char *ldig = json_string_value(json_object_get(layer, "digest"));
    json_int_t lsize = json_integer_value(json_object_get(layer, "size"));
    if (!man || !cmt || strcmp(cmt, MT_CONFIG) != 0 || !cdig || strlen(cdig) != 71 ||
        json_array_size(layers) != 1 || !lmt ||
        (strcmp(lmt, MT_WEIGHTS) != 0 && strcmp(lmt, MT_WEIGHTS_ENC) != 0) || !ldig ||
        strlen(ldig) != 71 || strncmp(ldig, "sha256:", 7) != 0 || lsize <= 0) {
        rc = sg_error_set(err, SG_EPROTO,
                          "%s is not a Sovgate model (OCI manifest with our "
                          "config and one weights layer)",
                          ref);
        goto out;
    }
    snprintf(path, sizeof(path), "blobs/%s", cdig);
    if ((rc = get_doc(&c, path, NULL, &cr)))
        goto out;
    if (!digest_of(cr.body, cr.len, cdig)) {
        rc = sg_error_set(err, SG_ECRYPTO,
                          "the registry's model manifest does not have the "
                          "digest its OCI manifest names: refused");
        goto out;
    }
    doc = json_loadb(cr.body, cr.len, JSON_REJECT_DUPLICATES, &je);
    json_t *p = doc ? sg_mstore_check_manifest(s, doc, err) : NULL;
    if (!p) {
        rc = doc ? (err && err->code ? err->code : SG_ECRYPTO)
                 : sg_error_set(err, SG_EPROTO, "the model manifest is not JSON");
        goto out;
    }
    const char *n = json_string_value(json_object_get(p, "name"));
    const char *v = json_string_value(json_object_get(p, "version"));
    json_t *blob = json_object_get(p, "blob");
    const char *bhex = json_string_value(json_object_get(blob, "sha256"));
    json_int_t bsize = json_integer_value(json_object_get(blob, "size"));
    if (!n || !v || !sg_model_name_ok(n) || !sg_model_name_ok(v) || !bhex ||
        strcmp(bhex, ldig + 7) != 0 || bsize != lsize || strlen(bhex) != 64 ||
        strspn(bhex, "0123456789abcdef") != 64) {
        /* (a blob's name is 64 lower-case hex digits: it becomes a path) */
        rc = sg_error_set(err, SG_EPROTO,
                          "the OCI manifest's weights are not the ones the "
                          "signed manifest names: refused");
        goto out;
    }
    snprintf(name, SG_MODEL_NAME_MAX + 1, "%s", n);
    snprintf(version, SG_MODEL_NAME_MAX + 1, "%s", v);
    char mpath[PATH_MAX], mdir[PATH_MAX];
    sg_mstore_path(s, mpath, sizeof(mpath), "manifests/%s/%s.json", n, v);
    sg_mstore_path(s, mdir, sizeof(mdir), "manifests/%s", n);
    struct stat st;
    if (lstat(mpath, &st) == 0) {
        char *old = NULL;
        size_t ol = 0;
        bool same = sg_mstore_read_file(mpath, DOC_MAX, "", &old, &ol, NULL) == 0 && ol == cr.len &&
                    memcmp(old, cr.body, ol) == 0;
        free(old);
        if (!same)
            rc = sg_error_set(err, SG_EEXIST,
                              "model %s version %s already exists here with other contents", n, v);
        else
            rc = pull_blob(&c, s, bhex, (uint64_t)bsize); /* repair a missing blob */
        goto out;
    }
    /* The blob goes into blobs/ before the manifest that names it (never a manifest
     * without its blob); both under the lock, so `model gc` never sees the blob alone
     * unless this process died in between. If the manifest cannot be written, a blob that
     * this pull stored is removed again, as an import does. */
    char bpath[PATH_MAX], bdir[PATH_MAX];
    sg_mstore_path(s, bpath, sizeof(bpath), "blobs/sha256/%s", bhex);
    sg_mstore_path(s, bdir, sizeof(bdir), "blobs/sha256");
    bool existed = lstat(bpath, &st) == 0;
    if ((rc = pull_blob(&c, s, bhex, (uint64_t)bsize)))
        ; /* (stored but its folder not synced: removed below) */
    else if (sg_mstore_mkdir_p(mdir) != 0)
        rc = sg_error_set(err, SG_EIO, "cannot create %s: %s", mdir, strerror(errno));
    else
        rc = sg_mstore_write_atomic(s, mpath, cr.body, cr.len, err);
    if (rc) {
        if (!existed && unlink(bpath) == 0)
            sg_mstore_fsync_dir(bdir);
        goto out;
    }
    rc = sg_mstore_audit(
        s, "model.pull",
        json_pack("{s:s,s:s,s:s,s:s}", "name", n, "version", v, "ref", ref, "blob", bhex), err);
out:
    json_decref(man);
    json_decref(doc);
    free(mr.body);
    free(cr.body);
    oci_close(&c);
    return rc;
}
