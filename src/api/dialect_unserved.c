/* Endpoints of the APIs the gateway speaks that it does not serve (images, audio, files,
 * assistants, threads, batches, fine-tuning, realtime, vector stores, moderations; Anthropic's
 * message batches and token counting; Gemini's files, caches, tuned models and other model
 * methods; Ollama's model management). Each is answered with a clear refusal in the
 * client's own error shape, counted under a fixed route label and audited; nothing is
 * passed on. */
#include "api/dialect.h"

#include <stdio.h>
#include <string.h>

struct family {
    const char *prefix; /* matches the prefix itself, or followed by '/' or ':' */
    struct sg_endpoint_info info;
};

#define U(label, d)                                                                                \
    {                                                                                              \
        SG_EP_COUNT, label, "*", true, true, d                                                     \
    }
#define OPENAI_FAMILIES(D)                                                                         \
    {"/v1/images", U("/v1/images/*", D)}, {"/v1/audio", U("/v1/audio/*", D)},                      \
        {"/v1/files", U("/v1/files/*", D)}, {"/v1/uploads", U("/v1/uploads/*", D)},                \
        {"/v1/assistants", U("/v1/assistants/*", D)}, {"/v1/threads", U("/v1/threads/*", D)},      \
        {"/v1/batches", U("/v1/batches/*", D)}, {"/v1/fine_tuning", U("/v1/fine_tuning/*", D)},    \
        {"/v1/fine-tunes", U("/v1/fine_tuning/*", D)}, {"/v1/realtime", U("/v1/realtime/*", D)},   \
        {"/v1/vector_stores", U("/v1/vector_stores/*", D)},                                        \
        {"/v1/moderations", U("/v1/moderations", D)}, {"/v1/videos", U("/v1/videos/*", D)},        \
        {"/v1/containers", U("/v1/containers/*", D)}, {"/v1/evals", U("/v1/evals/*", D)},          \
        {"/v1/conversations", U("/v1/conversations/*", D)},                                        \
        {"/v1/organization", U("/v1/organization/*", D)}, {"/v1/edits", U("/v1/edits", D)},        \
        {"/v1/engines", U("/v1/engines/*", D)}, {"/v1/models", U("/v1/models/*", D)},              \
        {"/v1/skills", U("/v1/skills/*", D)},                                                      \
    {                                                                                              \
        "/openai", U("/openai/*", D)                                                               \
    }

static const struct family openai_families[] = {OPENAI_FAMILIES(SG_DIALECT_OPENAI)};
/* the same paths, asked by a client that sent Anthropic headers */
static const struct family anthropic_families[] = {
    {"/v1/messages", U("/v1/messages/*", SG_DIALECT_ANTHROPIC)},
    {"/v1/complete", U("/v1/complete", SG_DIALECT_ANTHROPIC)},
    OPENAI_FAMILIES(SG_DIALECT_ANTHROPIC)};
static const struct family other_families[] = {
    {"/v1/messages", U("/v1/messages/*", SG_DIALECT_ANTHROPIC)},
    {"/v1/complete", U("/v1/complete", SG_DIALECT_ANTHROPIC)},
    {"/upload/v1beta", U("/upload/v1beta/*", SG_DIALECT_GEMINI)},
    {"/v1beta/files", U("/v1beta/files/*", SG_DIALECT_GEMINI)},
    {"/v1beta/cachedContents", U("/v1beta/cachedContents/*", SG_DIALECT_GEMINI)},
    {"/v1beta/tunedModels", U("/v1beta/tunedModels/*", SG_DIALECT_GEMINI)},
    {"/v1beta/batches", U("/v1beta/batches/*", SG_DIALECT_GEMINI)},
    {"/v1beta/models", U("/v1beta/models/*", SG_DIALECT_GEMINI)},
    {"/v1beta", U("/v1beta/*", SG_DIALECT_GEMINI)},
    {"/api/pull", U("/api/pull", SG_DIALECT_OLLAMA)},
    {"/api/push", U("/api/push", SG_DIALECT_OLLAMA)},
    {"/api/create", U("/api/create", SG_DIALECT_OLLAMA)},
    {"/api/copy", U("/api/copy", SG_DIALECT_OLLAMA)},
    {"/api/delete", U("/api/delete", SG_DIALECT_OLLAMA)},
    {"/api/show", U("/api/show", SG_DIALECT_OLLAMA)},
    {"/api/ps", U("/api/ps", SG_DIALECT_OLLAMA)},
    {"/api/blobs", U("/api/blobs/*", SG_DIALECT_OLLAMA)},
    {"/api/version", U("/api/version", SG_DIALECT_OLLAMA)},
    {"/api", U("/api/*", SG_DIALECT_OLLAMA)},
};
/* Gemini methods on a model under /v1/models/{model}:method */
static const struct sg_endpoint_info gemini_v1_methods = U("/v1beta/models/*", SG_DIALECT_GEMINI);

static const struct sg_endpoint_info *find(const struct family *f, size_t n, const char *path,
                                           size_t len)
{
    for (size_t i = 0; i < n; i++) {
        size_t pl = strlen(f[i].prefix);
        if (len >= pl && memcmp(path, f[i].prefix, pl) == 0 &&
            (len == pl || path[pl] == '/' || path[pl] == ':'))
            return &f[i].info;
    }
    return NULL;
}

const struct sg_endpoint_info *sg_api_unserved(const char *path, size_t len, bool anthropic)
{
    if (len > 1 && path[len - 1] == '/')
        len--;
    static const char v1m[] = "/v1/models/";
    if (len > sizeof(v1m) - 1 && memcmp(path, v1m, sizeof(v1m) - 1) == 0 &&
        memchr(path + sizeof(v1m) - 1, ':', len - (sizeof(v1m) - 1)))
        return &gemini_v1_methods;
    const struct sg_endpoint_info *u =
        find(other_families, sizeof(other_families) / sizeof(other_families[0]), path, len);
    if (u)
        return u;
    if (anthropic)
        return find(anthropic_families, sizeof(anthropic_families) / sizeof(anthropic_families[0]),
                    path, len);
    return find(openai_families, sizeof(openai_families) / sizeof(openai_families[0]), path, len);
}

void sg_api_unserved_error(const struct sg_endpoint_info *u, const char *method, size_t mlen,
                           const char *path, size_t plen, struct sg_api_error *e)
{
    /* 404 is what OpenAI, Anthropic and Ollama answer for a path they do not have (and their
     * clients do not retry it); Google APIs answer 501 UNIMPLEMENTED for a method a
     * service does not implement. */
    int status = u->dialect == SG_DIALECT_GEMINI ? 501 : 404;
    sg_api_error_set(e, status, "invalid_request_error", "endpoint_not_served", NULL,
                     "%.*s %.*s is not served by this deployment: this gateway answers text "
                     "generation, embeddings and model lists only (%s).",
                     (int)(mlen > 16 ? 16 : mlen), method, (int)(plen > 128 ? 128 : plen), path,
                     u->path);
}
