/* JSON Schema -> GBNF: turns the JSON schemas of `response_format` and of tool parameters
 * into a llama.cpp grammar (GBNF, the format llama_sampler_init_grammar parses), so that
 * sampling can only produce JSON that validates against the schema. Pure: no I/O, no
 * llama.cpp; it only builds text.
 *
 * The JSON it admits is compact (no whitespace at all) and bounded, so that even a model
 * with random weights ends its answer: strings have at most `max_string` characters (or
 * their maxLength when smaller), arrays at most `max_items` items (or maxItems), numbers at
 * most 16 digits, and free-form JSON (`{}`, `json_object`) at most `SG_GBNF_ANY_DEPTH`
 * levels of nesting and 8 members or items per level. Bounding is always valid: a shorter
 * string or array still satisfies maxLength/maxItems; a schema whose minimum cannot be met
 * within the bounds is refused. So is a schema whose alternatives can match the same
 * text in more than SG_GBNF_MAX_WIDTH ways (nested alternatives multiply).
 *
 * Supported (everything else is refused with SG_EINVAL naming the keyword, never ignored):
 *   type (a name or a list), enum, const, properties, required, additionalProperties
 *   (false/absent: only the listed properties are produced; true or a schema: also only the
 *   listed ones, or a free-form object when none are listed), items, minItems, maxItems,
 *   minLength, maxLength, format (date, time, date-time, uuid, email), minimum, maximum,
 *   exclusiveMinimum, exclusiveMaximum (integers: any range within +-(10^16-1); numbers:
 *   only integral, non-negative bounds), anyOf, oneOf (as anyOf: the alternatives should
 *   not overlap), allOf with one schema, $ref to #/$defs/NAME or #/definitions/NAME (not
 *   recursive), nullable, and the annotations title, description, default, examples,
 *   $schema, $id, $comment, deprecated, readOnly, writeOnly, $defs, definitions.
 * Properties come out in the schema's order, required ones first.
 * The non-ASCII characters of enum/const values and property names may come as they are or
 * as their \uXXXX escape (for vocabularies that have them only as byte tokens).
 *
 * Ownership: the caller owns the builder and the schemas it passes (borrowed during each
 * call). Not thread-safe; one builder per grammar. */
#ifndef SG_ENGINE_SCHEMA_GBNF_H
#define SG_ENGINE_SCHEMA_GBNF_H

#include <stddef.h>

#include <jansson.h>

#include "core/error.h"

#define SG_GBNF_MAX_DEPTH 32         /* nesting of schemas (and $ref hops) */
#define SG_GBNF_MAX_ENUM 1024        /* values of one enum */
#define SG_GBNF_MAX_PROPS 256        /* properties of one object */
#define SG_GBNF_MAX_ALTS 64          /* anyOf / oneOf / type list entries */
#define SG_GBNF_MAX_RULES 20000      /* rules of one grammar */
#define SG_GBNF_MAX_BYTES (1u << 20) /* text of one grammar (the engine's limit) */
#define SG_GBNF_ANY_DEPTH 4          /* nesting of free-form JSON */
/* Parses that can be alive at once in llama.cpp's grammar sampler, each checked against the
 * vocabulary: alternatives (anyOf, oneOf, enum values, type lists, nullable) add, nested
 * ones multiply. Twice the largest enum; a wider schema is refused with SG_ETOOBIG. */
#define SG_GBNF_MAX_WIDTH 2048

struct sg_gbnf_opts {
    int max_string; /* characters of a string without a smaller maxLength; 0 = 256 (max 1024) */
    int max_items;  /* items of an array without a smaller maxItems; 0 = 64 (max 1024) */
};

struct sg_gbnf;

/* A new, empty grammar. o NULL means the defaults. NULL when out of memory. */
struct sg_gbnf *sg_gbnf_new(const struct sg_gbnf_opts *o);
void sg_gbnf_free(struct sg_gbnf *g);

/* Adds rules for `schema` (a JSON object or boolean; `$ref`s resolve inside `schema` itself)
 * and writes the name of its top rule into name (size bytes; 32 is enough). Returns 0, or
 * SG_EINVAL / SG_ETOOBIG with a message naming the keyword and where it is ("the keyword
 * 'pattern' is not supported (at properties.code)"), or SG_ENOMEM. On failure the grammar
 * is unusable. */
int sg_gbnf_schema(struct sg_gbnf *g, const json_t *schema, char *name, size_t size,
                   struct sg_error *err);
/* Adds the rules of a free-form JSON object (`json_object`) and writes its rule's name. */
int sg_gbnf_any_object(struct sg_gbnf *g, char *name, size_t size, struct sg_error *err);
/* Adds a rule of the caller's: `name ::= body`. body is GBNF; names start with a letter and
 * contain letters, digits and '-', and must not start with "sg" (the builder's own). */
int sg_gbnf_rule(struct sg_gbnf *g, const char *name, const char *body, struct sg_error *err);
/* Appends s (n bytes) as a GBNF string literal, quotes included. Returns 0 or an SG_E*. */
struct sg_buf;
int sg_gbnf_literal(struct sg_buf *b, const char *s, size_t n);
/* The grammar so far, NUL-terminated, owned by g (valid until the next call on g). */
const char *sg_gbnf_text(const struct sg_gbnf *g);

/* Convenience: the whole grammar for one schema, root rule "root". On success *out is a
 * malloc'd grammar the caller frees. schema NULL means a free-form JSON object. */
int sg_schema_to_gbnf(const json_t *schema, const struct sg_gbnf_opts *o, char **out,
                      struct sg_error *err);

#endif
