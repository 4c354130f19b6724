/* The request body of every dialect but OpenAI's own, from bytes to the OpenAI request the
 * rest of the gateway works on: parsed (one JSON object, duplicate keys refused), then
 * translated by the dialect's endpoint (Anthropic Messages, OpenAI Responses, Gemini,
 * Ollama, Azure deployments). The gateway's decode stage (src/gateway/pipeline.c) and the
 * dry run `sovgate policy explain` (src/cli/cmd_policy.c) both go through here, so what a
 * body becomes, and which bodies are refused with which error, cannot differ between
 * them. */
#include "api/dialect.h"
#include "core/json.h"

#include <string.h>

json_t *sg_dialect_parse(const char *body, size_t len, struct sg_api_error *e)
{
    struct sg_json_error je;
    json_t *j = sg_json_parse(body ? body : "", len, SG_JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        sg_api_error_set(e, 400, "invalid_request_error", "invalid_json", NULL,
                         "The request body is not a JSON object%s%s.", j ? "" : ": ",
                         j ? "" : je.text);
        return NULL;
    }
    return j;
}

json_t *sg_dialect_translate(const struct sg_endpoint_info *ep, const char *path_model, json_t *in,
                             struct sg_responses_params *rp, struct sg_api_error *e)
{
    const char *p = ep->path;
    switch (ep->dialect) {
    case SG_DIALECT_ANTHROPIC:
        return sg_anthropic_request(in, e);
    case SG_DIALECT_RESPONSES: {
        struct sg_responses_params own; /* a caller that does not want them */
        json_t *c = sg_responses_request(in, rp ? rp : &own, e);
        if (!rp)
            sg_responses_params_free(&own);
        return c;
    }
    case SG_DIALECT_GEMINI:
        return ep->ep == SG_EP_EMBEDDINGS
                   ? sg_gemini_embed_request(in, path_model, strstr(p, ":batch") != NULL, e)
                   : sg_gemini_request(in, path_model, strstr(p, ":stream") != NULL, e);
    case SG_DIALECT_OLLAMA:
        return sg_ollama_request(ep, in, e);
    case SG_DIALECT_AZURE:
        /* the deployment in the path is the model */
        json_object_set_new(in, "model", json_string(path_model));
        return json_incref(in);
    case SG_DIALECT_OPENAI:
        break;
    }
    return json_incref(in);
}

const char *sg_dialect_name(enum sg_dialect d)
{
    switch (d) {
    case SG_DIALECT_ANTHROPIC:
        return "anthropic";
    case SG_DIALECT_AZURE:
        return "azure";
    case SG_DIALECT_RESPONSES:
        return "responses";
    case SG_DIALECT_GEMINI:
        return "gemini";
    case SG_DIALECT_OLLAMA:
        return "ollama";
    case SG_DIALECT_OPENAI:
        break;
    }
    return "openai";
}
