/*
 * prompt_weights.c — see prompt_weights.h. The parser walks code points with
 * the alternatives of A1111's re_attention in their order:
 *   \( \) \[ \] \\ \  ( [  :\s*([+-]?[.\d]+)\s*\)  ) ]  [^\\()\[\]:]+  :
 * and splits plain text runs on \s*\bBREAK\b\s* as re_break does.
 * Weights are doubles like Python's floats; they become floats when applied.
 */
#include "text/prompt_weights.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "text/text_clean.h"
#include "text/tokenizer.h"

typedef struct piece_list {
    df_prompt_piece *items;
    size_t count, capacity;
} piece_list;

static df_status append_piece(piece_list *list, const uint32_t *text, size_t length,
                              double weight, df_error *error)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        df_prompt_piece *items = realloc(list->items, capacity * sizeof *items);
        if (!items)
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory parsing the prompt");
        list->items = items;
        list->capacity = capacity;
    }
    char *utf8 = malloc(length * 4 + 1);
    if (!utf8)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory parsing the prompt");
    size_t bytes = 0;
    for (size_t i = 0; i < length; i++)
        bytes += df_text_encode_utf8(text[i], (unsigned char *)utf8 + bytes);
    utf8[bytes] = 0;
    list->items[list->count++] = (df_prompt_piece){utf8, weight};
    return DF_OK;
}

static int is_word(uint32_t c)
{
    df_text_class class = df_text_classify(c);
    return c == '_' || class == DF_TEXT_LETTER || class == DF_TEXT_NUMBER;
}

static int is_digit_or_dot(uint32_t c)
{
    return c == '.' || (c >= '0' && c <= '9');
}

/* re.split(re_break, text) then A1111's loop: parts with ["BREAK", -1]
 * between them. \bBREAK\b: not preceded or followed by a word character. */
static df_status append_text_run(piece_list *list, const uint32_t *s, size_t n, df_error *error)
{
    static const uint32_t break_word[] = {'B', 'R', 'E', 'A', 'K'};
    size_t part_start = 0;
    for (size_t i = 0; i + 5 <= n; i++) {
        if (memcmp(s + i, break_word, sizeof break_word) || (i > 0 && is_word(s[i - 1])) ||
            (i + 5 < n && is_word(s[i + 5])))
            continue;
        size_t cut_start = i, cut_end = i + 5;
        while (cut_start > part_start && df_text_is_space(s[cut_start - 1]))
            cut_start--;
        while (cut_end < n && df_text_is_space(s[cut_end]))
            cut_end++;
        df_status status = append_piece(list, s + part_start, cut_start - part_start, 1.0, error);
        if (!status)
            status = append_piece(list, break_word, 5, -1.0, error);
        if (status)
            return status;
        part_start = cut_end;
        i = cut_end - 1;
    }
    return append_piece(list, s + part_start, n - part_start, 1.0, error);
}

static void multiply_range(piece_list *list, size_t start, double multiplier)
{
    for (size_t p = start; p < list->count; p++)
        list->items[p].weight *= multiplier;
}

df_status df_prompt_parse_attention(const char *text, size_t length, df_prompt_piece **pieces,
                                    size_t *count, df_error *error)
{
    *pieces = NULL;
    *count = 0;
    df_text_buffer codepoints = {0};
    df_status status = df_text_decode_utf8(text, length, &codepoints, error);
    if (status) {
        df_text_buffer_free(&codepoints);
        return status;
    }
    const uint32_t *s = codepoints.data;
    const size_t n = codepoints.count;
    piece_list list = {0};
    size_t *round = malloc((n + 1) * sizeof *round), *square = malloc((n + 1) * sizeof *square);
    size_t round_count = 0, square_count = 0;
    if (!round || !square) {
        status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory parsing the prompt");
        goto done;
    }
    const double round_multiplier = 1.1, square_multiplier = 1 / 1.1;
    for (size_t i = 0; i < n && !status;) {
        uint32_t c = s[i];
        if (c == '\\') {
            /* \( \) \[ \] \\ give the character; a lone \ gives "". */
            int escaped = i + 1 < n && (s[i + 1] == '(' || s[i + 1] == ')' || s[i + 1] == '[' ||
                                        s[i + 1] == ']' || s[i + 1] == '\\');
            status = append_piece(&list, s + i + 1, escaped ? 1 : 0, 1.0, error);
            i += escaped ? 2 : 1;
        } else if (c == '(') {
            round[round_count++] = list.count;
            i++;
        } else if (c == '[') {
            square[square_count++] = list.count;
            i++;
        } else if (c == ':') {
            /* :\s*([+-]?[.\d]+)\s*\) — a weight, if an open ( takes it. */
            size_t j = i + 1;
            while (j < n && df_text_is_space(s[j]))
                j++;
            size_t number_start = j;
            if (j < n && (s[j] == '+' || s[j] == '-'))
                j++;
            size_t digits_start = j;
            while (j < n && is_digit_or_dot(s[j]))
                j++;
            size_t number_end = j;
            while (j < n && df_text_is_space(s[j]))
                j++;
            int matched = number_end > digits_start && j < n && s[j] == ')';
            if (matched && round_count) {
                char number[64];
                size_t digits = number_end - number_start;
                if (digits >= sizeof number)
                    digits = sizeof number - 1;
                for (size_t k = 0; k < digits; k++)
                    number[k] = (char)s[number_start + k];
                number[digits] = 0;
                char *end = NULL;
                double weight = strtod(number, &end);
                /* Python's float() takes exactly one number: "1.2.3" and "."
                 * are errors there and here. */
                if (!end || *end || end == number) {
                    status = df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                          "prompt: attention weight '%s' is not a number", number);
                    break;
                }
                multiply_range(&list, round[--round_count], weight);
                i = j + 1;
            } else if (matched) {
                /* No open bracket: the whole match is plain text. */
                status = append_text_run(&list, s + i, j + 1 - i, error);
                i = j + 1;
            } else {
                status = append_text_run(&list, s + i, 1, error);
                i++;
            }
        } else if (c == ')' && round_count) {
            multiply_range(&list, round[--round_count], round_multiplier);
            i++;
        } else if (c == ']' && square_count) {
            multiply_range(&list, square[--square_count], square_multiplier);
            i++;
        } else if (c == ')' || c == ']') {
            status = append_text_run(&list, s + i, 1, error);
            i++;
        } else {
            size_t j = i;
            while (j < n && s[j] != '\\' && s[j] != '(' && s[j] != ')' && s[j] != '[' &&
                   s[j] != ']' && s[j] != ':')
                j++;
            status = append_text_run(&list, s + i, j - i, error);
            i = j;
        }
    }
    if (status)
        goto done;
    for (size_t k = 0; k < round_count; k++)
        multiply_range(&list, round[k], round_multiplier);
    for (size_t k = 0; k < square_count; k++)
        multiply_range(&list, square[k], square_multiplier);
    if (list.count == 0 && (status = append_piece(&list, s, 0, 1.0, error)))
        goto done;
    /* Merge runs of equal weight. */
    size_t kept = 0;
    for (size_t p = 0; p < list.count; p++) {
        if (kept && list.items[kept - 1].weight == list.items[p].weight) {
            df_prompt_piece *previous = &list.items[kept - 1];
            size_t a = strlen(previous->text), b = strlen(list.items[p].text);
            char *joined = realloc(previous->text, a + b + 1);
            if (!joined) {
                status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory parsing the prompt");
                list.count = kept + (list.count - p); /* free the rest below */
                memmove(list.items + kept, list.items + p, (list.count - kept) * sizeof *list.items);
                goto done;
            }
            memcpy(joined + a, list.items[p].text, b + 1);
            previous->text = joined;
            free(list.items[p].text);
        } else {
            list.items[kept++] = list.items[p];
        }
    }
    list.count = kept;
done:
    free(round);
    free(square);
    df_text_buffer_free(&codepoints);
    if (status) {
        df_prompt_pieces_free(list.items, list.count);
        return status;
    }
    *pieces = list.items;
    *count = list.count;
    return DF_OK;
}

void df_prompt_pieces_free(df_prompt_piece *pieces, size_t count)
{
    for (size_t i = 0; pieces && i < count; i++)
        free(pieces[i].text);
    free(pieces);
}

df_status df_tokenize_weighted_windows(const df_tokenizer *tokenizer, const char *text,
                                       size_t length, int32_t pad_token, df_token_windows *out,
                                       df_error *error)
{
    memset(out, 0, sizeof *out);
    df_prompt_piece *pieces = NULL;
    size_t piece_count = 0;
    df_status status = df_prompt_parse_attention(text, length, &pieces, &piece_count, error);
    if (status)
        return status;
    int32_t *ids = NULL;
    float *weights = NULL;
    size_t count = 0;
    for (size_t p = 0; p < piece_count && !status; p++) {
        int32_t *piece_ids = NULL;
        size_t piece_length = 0;
        int is_break = pieces[p].weight == -1.0 && !strcmp(pieces[p].text, "BREAK");
        if (is_break) {
            piece_ids = malloc(sizeof *piece_ids);
            if (piece_ids)
                piece_ids[0] = DF_TOKEN_BREAK, piece_length = 1;
        } else {
            status = df_tokenize(tokenizer, pieces[p].text, strlen(pieces[p].text), &piece_ids,
                                 &piece_length, error);
        }
        if (!status && !piece_ids && piece_length)
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory tokenizing the prompt");
        if (!status && piece_length) {
            int32_t *grown_ids = realloc(ids, (count + piece_length) * sizeof *ids);
            if (grown_ids)
                ids = grown_ids;
            float *grown_weights = realloc(weights, (count + piece_length) * sizeof *weights);
            if (grown_weights)
                weights = grown_weights;
            if (!grown_ids || !grown_weights) {
                status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory tokenizing the prompt");
            } else {
                memcpy(ids + count, piece_ids, piece_length * sizeof *ids);
                for (size_t k = 0; k < piece_length; k++)
                    weights[count + k] = (float)pieces[p].weight;
                count += piece_length;
            }
        }
        free(piece_ids);
    }
    if (!status)
        status = df_token_windows_build(ids, weights, count, pad_token, out, error);
    free(ids);
    free(weights);
    df_prompt_pieces_free(pieces, piece_count);
    return status;
}

void df_prompt_apply_weights_strided(float *hidden, int stride, int dim, const float *weights)
{
    int weighted = 0;
    for (int t = 0; t < DF_CLIP_WINDOW; t++)
        weighted |= weights[t] != 1.0f;
    if (!weighted)
        return; /* bit-identical to the unweighted encoding */
    double original = 0, scaled = 0;
    for (int t = 0; t < DF_CLIP_WINDOW; t++)
        for (int d = 0; d < dim; d++)
            original += hidden[(size_t)t * (size_t)stride + (size_t)d];
    for (int t = 0; t < DF_CLIP_WINDOW; t++)
        for (int d = 0; d < dim; d++) {
            float *value = &hidden[(size_t)t * (size_t)stride + (size_t)d];
            *value *= weights[t];
            scaled += *value;
        }
    float ratio = (float)(original / scaled);
    for (int t = 0; t < DF_CLIP_WINDOW; t++)
        for (int d = 0; d < dim; d++)
            hidden[(size_t)t * (size_t)stride + (size_t)d] *= ratio;
}

void df_prompt_apply_weights(float *hidden, const float *weights, int dim)
{
    df_prompt_apply_weights_strided(hidden, dim, dim, weights);
}
