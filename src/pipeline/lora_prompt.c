/*
 * lora_prompt.c — AUTOMATIC1111's <lora:...> prompt tags (see
 * lora_prompt.h). A hand-written scanner of A1111's regular expression
 * <(\w+):([^>]+)>: at a '<', a run of word characters, a ':', then at least
 * one character up to the next '>'. Word characters are ASCII here where
 * Python's are Unicode; the two differ only for a type holding a non-ASCII
 * letter, which is never "lora" or "lyco" either way. Argument parsing
 * follows A1111's ExtraNetworkParams (items split at ':', an item with '='
 * is named) and its Lora extension's use of them.
 */
#include "pipeline/lora_prompt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

/* What the messages quote of a tag at most: a tag's arguments may run to
 * the prompt's end, and the message must stay one line of reasonable size. */
#define QUOTE_MAX 120

static int is_word(unsigned char c)
{
    return isalnum(c) || c == '_';
}

/* A match of <(\w+):([^>]+)> at text[0] == '<': 1 with the type's length
 * and the whole match's length, else 0. */
static int match_tag(const char *text, size_t *type_length, size_t *length)
{
    size_t i = 1;
    while (is_word((unsigned char)text[i]))
        i++;
    if (i == 1 || text[i] != ':')
        return 0;
    *type_length = i - 1;
    const char *close = strchr(text + i + 1, '>');
    if (!close || close == text + i + 1) /* [^>]+ needs one character */
        return 0;
    *length = (size_t)(close - text) + 1;
    return 1;
}

static int is_lora_type(const char *type, size_t length)
{
    return length == 4 && (!strncmp(type, "lora", 4) || !strncmp(type, "lyco", 4));
}

/* Python's float() of a scale, without its extras that mean nothing in a
 * prompt (hex, underscores) and refusing inf and nan: 0 and *out, or -1. */
static int parse_scale(const char *text, size_t length, double *out)
{
    char buffer[64];
    while (length && isspace((unsigned char)*text))
        text++, length--;
    while (length && isspace((unsigned char)text[length - 1]))
        length--;
    if (!length || length >= sizeof buffer)
        return -1;
    for (size_t i = 0; i < length; i++)
        if (!strchr("0123456789.eE+-", text[i]))
            return -1;
    memcpy(buffer, text, length);
    buffer[length] = 0;
    char *end = NULL;
    errno = 0;
    double value = strtod(buffer, &end);
    if (*end || errno || !isfinite(value) || fabs(value) > 1e30)
        return -1;
    *out = value;
    return 0;
}

/* The tag quoted for a message, cut at QUOTE_MAX bytes. */
static void quote_tag(const char *tag, size_t length, char *out, size_t size)
{
    size_t n = length < QUOTE_MAX ? length : QUOTE_MAX;
    if (n >= size)
        n = size - 1;
    memcpy(out, tag, n);
    out[n] = 0;
    if (n < length && n + 4 < size)
        strcat(out, "...");
}

/* One tag's arguments (between the type's ':' and the '>') into `tag`. */
static df_status parse_arguments(const char *tag, size_t tag_length, const char *args,
                                 size_t length, df_lora_prompt_tag *out, df_error *error)
{
    char quoted[QUOTE_MAX + 8];
    quote_tag(tag, tag_length, quoted, sizeof quoted);
    const char *positional[4] = {0};
    size_t positional_length[4] = {0};
    int positional_count = 0, have_te = 0, have_unet = 0;
    double te = 1, unet = 1;
    const char *item = args, *end = args + length;
    while (item <= end) {
        const char *colon = memchr(item, ':', (size_t)(end - item));
        const char *item_end = colon ? colon : end;
        size_t item_length = (size_t)(item_end - item);
        const char *equals = memchr(item, '=', item_length);
        if (equals) {
            size_t key_length = (size_t)(equals - item);
            double value;
            int te_key = key_length == 2 && !strncmp(item, "te", 2);
            int unet_key = key_length == 4 && !strncmp(item, "unet", 4);
            if (!te_key && !unet_key)
                return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                    "LoRA tag '%s': unknown argument '%.*s' (te=, unet=)",
                                    quoted, (int)(key_length < 40 ? key_length : 40), item);
            if (parse_scale(equals + 1, (size_t)(item_end - equals - 1), &value))
                return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                    "LoRA tag '%s': %.*s is not a finite number", quoted,
                                    (int)(item_length < 40 ? item_length : 40), item);
            if (te_key)
                te = value, have_te = 1;
            else
                unet = value, have_unet = 1;
        } else {
            if (positional_count == 3)
                return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                    "LoRA tag '%s': at most a name and two scales (text "
                                    "encoder, then UNet); a third (A1111's dyn) is not "
                                    "supported", quoted);
            positional[positional_count] = item;
            positional_length[positional_count++] = item_length;
        }
        if (!colon)
            break;
        item = colon + 1;
    }
    if (!positional_count || !positional_length[0])
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "LoRA tag '%s': the name is empty",
                            quoted);
    for (int i = 1; i < positional_count; i++) {
        double value;
        if (parse_scale(positional[i], positional_length[i], &value))
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "LoRA tag '%s': scale '%.*s' is not a finite number", quoted,
                                (int)(positional_length[i] < 40 ? positional_length[i] : 40),
                                positional[i]);
        /* A1111: te from the first number, unet from the second, named
         * ones win over positional ones. */
        if (i == 1 && !have_te)
            te = value;
        if (i == 2 && !have_unet)
            unet = value, have_unet = 1;
    }
    out->name = malloc(positional_length[0] + 1);
    if (!out->name)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    memcpy(out->name, positional[0], positional_length[0]);
    out->name[positional_length[0]] = 0;
    out->text_scale = te;
    out->unet_scale = have_unet ? unet : te; /* A1111: unet defaults to te */
    return DF_OK;
}

/* Calls `found` for each match left to right; returns the first error. */
typedef df_status (*tag_fn)(void *user, const char *at, size_t length, size_t type_length,
                            df_error *error);

static df_status scan(const char *text, tag_fn found, void *user, df_error *error)
{
    const char *p = text;
    while ((p = strchr(p, '<'))) {
        size_t type_length, length;
        if (!match_tag(p, &type_length, &length)) {
            p++;
            continue;
        }
        df_status status = found(user, p, length, type_length, error);
        if (status)
            return status;
        p += length; /* re.sub resumes after a match, whatever its type */
    }
    return DF_OK;
}

typedef struct parse_state {
    df_lora_prompt *out;
    char *write;         /* into out->prompt */
    const char *copied;  /* the input up to here is copied or dropped */
    int capacity;
} parse_state;

static df_status on_tag(void *user, const char *at, size_t length, size_t type_length,
                        df_error *error)
{
    parse_state *state = user;
    if (!is_lora_type(at + 1, type_length))
        return DF_OK; /* another network's tag: text, copied with the rest */
    df_lora_prompt *out = state->out;
    if (out->count == state->capacity) {
        int capacity = state->capacity ? state->capacity * 2 : 4;
        df_lora_prompt_tag *tags = realloc(out->tags, (size_t)capacity * sizeof *tags);
        if (!tags)
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
        out->tags = tags;
        state->capacity = capacity;
    }
    const char *args = at + 1 + type_length + 1;
    df_lora_prompt_tag tag = {0};
    df_status status = parse_arguments(at, length, args, (size_t)(at + length - 1 - args), &tag,
                                       error);
    if (status)
        return status;
    out->tags[out->count++] = tag;
    size_t keep = (size_t)(at - state->copied);
    memcpy(state->write, state->copied, keep);
    state->write += keep;
    state->copied = at + length;
    return DF_OK;
}

int df_lora_prompt_has_tags(const char *text)
{
    const char *p = text;
    while ((p = strchr(p, '<'))) {
        size_t type_length, length;
        if (!match_tag(p, &type_length, &length)) {
            p++;
            continue;
        }
        if (is_lora_type(p + 1, type_length))
            return 1;
        p += length;
    }
    return 0;
}

df_status df_lora_prompt_parse(const char *prompt, df_lora_prompt *out, df_error *error)
{
    memset(out, 0, sizeof *out);
    size_t length = strlen(prompt);
    if (!(out->prompt = malloc(length + 1)))
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    parse_state state = {out, out->prompt, prompt, 0};
    df_status status = scan(prompt, on_tag, &state, error);
    if (!status) {
        size_t rest = length - (size_t)(state.copied - prompt);
        memcpy(state.write, state.copied, rest);
        state.write[rest] = 0;
        if (out->count && df_lora_prompt_has_tags(out->prompt))
            status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                  "deleting its LoRA tags leaves another LoRA tag in the "
                                  "prompt (tags inside tags?): write each tag on its own");
    }
    if (status)
        df_lora_prompt_free(out);
    return status;
}

void df_lora_prompt_free(df_lora_prompt *parsed)
{
    if (!parsed)
        return;
    for (int i = 0; i < parsed->count; i++)
        free(parsed->tags[i].name);
    free(parsed->tags);
    free(parsed->prompt);
    memset(parsed, 0, sizeof *parsed);
}
