/*
 * tokenizer.c — the CLIP BPE tokenizer, equal to transformers'
 * CLIPTokenizer (4.57) with ftfy installed, and AUTOMATIC1111's split of a
 * long prompt into 77-token windows.
 *
 * Vocabulary (as OpenAI's SimpleTokenizer and HF's vocab.json build it):
 * ids 0..255 are the 256 bytes in bytes_to_unicode order, 256..511 the same
 * with "</w>", 512 + r the result of merge r (r = 0..48893, lines 1..48894
 * of the gz after its version header), 49406/49407 the start/end tokens.
 * Every merge result is a distinct string, so a symbol is its id and a merge
 * is a pair of ids; create checks this and that each merge only uses symbols
 * defined before it.
 *
 * That last property makes the usual heap BPE (lowest rank first, leftmost
 * first among equal ranks) give exactly the Python loop's result (merge
 * every occurrence of the lowest-ranked pair, left to right, then again):
 * a merge of rank r can only create pairs of rank > r. So a word of n bytes
 * costs O(n log n), never quadratic.
 *
 * The pipeline of df_tokenize, following PreTrainedTokenizer.tokenize:
 *   1. strict UTF-8 decoding (errors name the byte offset);
 *   2. the added-token split: literal "<|startoftext|>" / "<|endoftext|>"
 *      (and "!" when it is the pad token, as in SD 2.x's tokenizer)
 *      in the raw text become their ids (no space stripping: CLIP's
 *      AddedTokens have lstrip = rstrip = False), and each piece between
 *      them is tokenized on its own (so ftfy sees each piece separately);
 *   3. per piece: ftfy.fix_text (text_clean.c), lower(), the CLIP regex
 *      <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|
 *      [\p{N}]|[^\s\p{L}\p{N}]+ with IGNORECASE, where after lower() only
 *      U+017F LONG S still folds onto an ASCII letter of the pattern ('s');
 *   4. BPE of each match's UTF-8 bytes, "</w>" on the last symbol. A match
 *      equal to "<|startoftext|>"/"<|endoftext|>" (e.g. from upper-case or
 *      full-width text) is the special id, as HF's bpe cache makes it.
 * The tokenizer is immutable after create: calls may run concurrently. The
 * BPE cache lives for one call.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "diffuse.h"
#include "runtime/error.h"
#include "text/text_clean.h"
#include "text/tokenizer.h"

#define DF_TOKENIZER_VOCAB_SIZE 49408
#define DF_TOKENIZER_MERGES 48894 /* 49152 - 256 - 2 */
#define DF_TOKENIZER_COMMA 267    /* ",</w>", A1111's comma_token */
#define DF_TOKENIZER_COMMA_BACKTRACK 20 /* A1111's comma_padding_backtrack default */

extern const unsigned char df_clip_vocab_gz[];
extern const unsigned char df_clip_vocab_gz_end[];

struct df_tokenizer {
    df_text_cleaner *cleaner;
    int32_t byte_symbol[256]; /* id of each byte (bytes_to_unicode order) */
    /* (left << 16 | right) -> rank, open addressing, key 0 = empty slot
     * (pair (0, 0) "!!" is stored as key+1 to stay nonzero). */
    uint32_t *merge_keys;
    int32_t *merge_ranks;
    size_t merge_mask;
    /* diffusers' SD 2.x tokenizer has "!" (id 0) as its pad token, an added
     * token: every literal "!" in a prompt is split out as id 0 before
     * cleaning, so "wow!!" is "wow</w>", 0, 0 rather than "wow</w>", "!!</w>". */
    int exclamation_is_pad;
    /* df_tokenizer_add_token's names (codepoints) and their ids */
    struct added_token {
        uint32_t *text;
        size_t length;
        int32_t first_id;
        int count;
    } *added;
    size_t added_count;
};

/* ------------------------------------------------------------------------ */
/* Hashing                                                                  */

static uint32_t df_tokenizer_hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

static uint64_t df_tokenizer_hash_bytes(const unsigned char *bytes, size_t length)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < length; i++) {
        h ^= bytes[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int32_t df_tokenizer_merge_rank(const df_tokenizer *tokenizer, int32_t left, int32_t right)
{
    uint32_t key = ((uint32_t)left << 16 | (uint32_t)right) + 1;
    size_t slot = df_tokenizer_hash32(key) & tokenizer->merge_mask;
    for (;;) {
        uint32_t found = tokenizer->merge_keys[slot];
        if (found == key)
            return tokenizer->merge_ranks[slot];
        if (!found)
            return -1;
        slot = (slot + 1) & tokenizer->merge_mask;
    }
}

/* ------------------------------------------------------------------------ */
/* Building the vocabulary                                                  */

/* A string -> id map used only while create parses the merges. */
typedef struct df_tokenizer_strmap {
    const char **keys;
    uint32_t *lengths;
    int32_t *ids;
    size_t mask;
} df_tokenizer_strmap;

static int32_t df_tokenizer_strmap_find(const df_tokenizer_strmap *map, const char *key,
                                        size_t length)
{
    size_t slot = df_tokenizer_hash_bytes((const unsigned char *)key, length) & map->mask;
    while (map->keys[slot]) {
        if (map->lengths[slot] == length && !memcmp(map->keys[slot], key, length))
            return map->ids[slot];
        slot = (slot + 1) & map->mask;
    }
    return -1;
}

/* Inserts; returns 0 if the key was already there. */
static int df_tokenizer_strmap_add(df_tokenizer_strmap *map, const char *key, size_t length,
                                   int32_t id)
{
    size_t slot = df_tokenizer_hash_bytes((const unsigned char *)key, length) & map->mask;
    while (map->keys[slot]) {
        if (map->lengths[slot] == length && !memcmp(map->keys[slot], key, length))
            return 0;
        slot = (slot + 1) & map->mask;
    }
    map->keys[slot] = key;
    map->lengths[slot] = (uint32_t)length;
    map->ids[slot] = id;
    return 1;
}

static df_status df_tokenizer_inflate(unsigned char **out, size_t *out_length, df_error *error)
{
    size_t capacity = 2u << 20, length = 0;
    unsigned char *data = malloc(capacity);
    if (!data)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (vocabulary)");
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
        free(data);
        return df_error_set(error, DF_ERR_INTERNAL, "vocabulary: inflateInit2 failed");
    }
    stream.next_in = (unsigned char *)df_clip_vocab_gz;
    stream.avail_in = (uInt)(df_clip_vocab_gz_end - df_clip_vocab_gz);
    int result = Z_OK;
    while (result != Z_STREAM_END) {
        if (length == capacity) {
            unsigned char *grown = realloc(data, capacity * 2);
            if (!grown) {
                inflateEnd(&stream);
                free(data);
                return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (vocabulary)");
            }
            data = grown;
            capacity *= 2;
        }
        stream.next_out = data + length;
        stream.avail_out = (uInt)(capacity - length);
        result = inflate(&stream, Z_NO_FLUSH);
        length = capacity - stream.avail_out;
        if (result != Z_OK && result != Z_STREAM_END) {
            inflateEnd(&stream);
            free(data);
            return df_error_set(error, DF_ERR_FORMAT, "vocabulary: corrupt gzip data (%d)",
                                result);
        }
    }
    inflateEnd(&stream);
    *out = data;
    *out_length = length;
    return DF_OK;
}

/* Parses the merges and fills tokenizer->merge_*; `text` is the inflated
 * file, `strings` room for the 512 byte symbols' and every merge result's
 * UTF-8 (at most the file's size plus 512 * 6). */
static df_status df_tokenizer_parse(df_tokenizer *tokenizer, const char *text, size_t length,
                                    df_tokenizer_strmap *map, char *strings, df_error *error)
{
    /* bytes_to_unicode: printable Latin-1 bytes map to themselves, the other
     * 68 bytes to U+0100.. in byte order; ids follow the printable ones. */
    int32_t next_id = 0;
    uint32_t byte_char[256];
    for (int b = 0; b < 256; b++) {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            tokenizer->byte_symbol[b] = next_id++;
            byte_char[b] = (uint32_t)b;
        }
    }
    uint32_t extra = 0;
    for (int b = 0; b < 256; b++) {
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
            tokenizer->byte_symbol[b] = next_id++;
            byte_char[b] = 256 + extra++;
        }
    }
    char *cursor = strings;
    for (int pass = 0; pass < 2; pass++) {
        for (int b = 0; b < 256; b++) {
            char *key = cursor;
            cursor += df_text_encode_utf8(byte_char[b], (unsigned char *)cursor);
            if (pass) {
                memcpy(cursor, "</w>", 4);
                cursor += 4;
            }
            df_tokenizer_strmap_add(map, key, (size_t)(cursor - key),
                                    tokenizer->byte_symbol[b] + 256 * pass);
        }
    }
    /* Skip the version header line. */
    const char *line = memchr(text, '\n', length);
    if (!line)
        return df_error_set(error, DF_ERR_FORMAT, "vocabulary: no merges");
    line++;
    const char *end = text + length;
    for (int32_t rank = 0; rank < DF_TOKENIZER_MERGES; rank++) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            return df_error_set(error, DF_ERR_FORMAT, "vocabulary: only %d merges", (int)rank);
        const char *space = memchr(line, ' ', (size_t)(eol - line));
        if (!space || space == line || space + 1 == eol || memchr(space + 1, ' ', (size_t)(eol - space - 1)))
            return df_error_set(error, DF_ERR_FORMAT, "vocabulary: merge line %d is malformed",
                                (int)rank + 1);
        int32_t left = df_tokenizer_strmap_find(map, line, (size_t)(space - line));
        int32_t right = df_tokenizer_strmap_find(map, space + 1, (size_t)(eol - space - 1));
        if (left < 0 || right < 0)
            return df_error_set(error, DF_ERR_FORMAT,
                                "vocabulary: merge %d uses a symbol no earlier merge made",
                                (int)rank + 1);
        char *key = cursor;
        memcpy(cursor, line, (size_t)(space - line));
        cursor += space - line;
        memcpy(cursor, space + 1, (size_t)(eol - space - 1));
        cursor += eol - space - 1;
        if (!df_tokenizer_strmap_add(map, key, (size_t)(cursor - key), 512 + rank))
            return df_error_set(error, DF_ERR_FORMAT, "vocabulary: merge %d repeats a token",
                                (int)rank + 1);
        uint32_t pair = ((uint32_t)left << 16 | (uint32_t)right) + 1;
        size_t slot = df_tokenizer_hash32(pair) & tokenizer->merge_mask;
        while (tokenizer->merge_keys[slot]) {
            if (tokenizer->merge_keys[slot] == pair)
                return df_error_set(error, DF_ERR_FORMAT, "vocabulary: merge %d repeats a pair",
                                    (int)rank + 1);
            slot = (slot + 1) & tokenizer->merge_mask;
        }
        tokenizer->merge_keys[slot] = pair;
        tokenizer->merge_ranks[slot] = rank;
        line = eol + 1;
    }
    return DF_OK;
}

df_status df_tokenizer_create_for_pad(int32_t pad_token, df_tokenizer **out, df_error *error)
{
    if (pad_token < 0 || pad_token >= DF_TOKENIZER_VOCAB_SIZE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "pad token %d is outside the vocabulary (0..%d)", pad_token,
                            DF_TOKENIZER_VOCAB_SIZE - 1);
    df_status status = df_tokenizer_create(out, error);
    if (status == DF_OK)
        (*out)->exclamation_is_pad = pad_token == 0;
    return status;
}

df_status df_tokenizer_create(df_tokenizer **out, df_error *error)
{
    if (!out)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_tokenizer_create: out is NULL");
    *out = NULL;
    df_tokenizer *tokenizer = calloc(1, sizeof *tokenizer);
    if (!tokenizer)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (tokenizer)");
    df_status status = df_text_cleaner_create(&tokenizer->cleaner, error);
    unsigned char *text = NULL;
    size_t length = 0;
    if (status == DF_OK)
        status = df_tokenizer_inflate(&text, &length, error);
    df_tokenizer_strmap map = {0};
    char *strings = NULL;
    if (status == DF_OK) {
        size_t slots = 1u << 17; /* > 2 * 49408 */
        tokenizer->merge_mask = slots - 1;
        tokenizer->merge_keys = calloc(slots, sizeof *tokenizer->merge_keys);
        tokenizer->merge_ranks = malloc(slots * sizeof *tokenizer->merge_ranks);
        map.mask = slots - 1;
        map.keys = calloc(slots, sizeof *map.keys);
        map.lengths = malloc(slots * sizeof *map.lengths);
        map.ids = malloc(slots * sizeof *map.ids);
        strings = malloc(length + 512 * 8);
        if (!tokenizer->merge_keys || !tokenizer->merge_ranks || !map.keys || !map.lengths ||
            !map.ids || !strings)
            status = df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (vocabulary)");
    }
    if (status == DF_OK)
        status = df_tokenizer_parse(tokenizer, (const char *)text, length, &map, strings, error);
    free(map.keys);
    free(map.lengths);
    free(map.ids);
    free(strings);
    free(text);
    if (status) {
        df_tokenizer_free(tokenizer);
        return status;
    }
    *out = tokenizer;
    return DF_OK;
}

df_status df_tokenizer_add_token(df_tokenizer *tokenizer, const char *name, int32_t first_id,
                                 int count, df_error *error)
{
    if (!tokenizer || !name || !*name || count <= 0 || count > 75 ||
        first_id < DF_TOKENIZER_VOCAB_SIZE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "embedding token '%s': %d vectors from id %d (1..75 vectors, ids "
                            "past the vocabulary)",
                            name ? name : "", count, first_id);
    df_text_buffer text = {0};
    df_status status = df_text_decode_utf8(name, strlen(name), &text, error);
    if (status)
        return status;
    for (size_t i = 0; i < tokenizer->added_count; i++)
        if (tokenizer->added[i].length == text.count &&
            !memcmp(tokenizer->added[i].text, text.data, text.count * sizeof *text.data)) {
            free(text.data);
            return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                                "embedding token '%s' is already loaded", name);
        }
    struct added_token *grown =
        realloc(tokenizer->added, (tokenizer->added_count + 1) * sizeof *grown);
    if (!grown) {
        free(text.data);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory adding token '%s'", name);
    }
    tokenizer->added = grown;
    grown[tokenizer->added_count++] =
        (struct added_token){text.data, text.count, first_id, count};
    return DF_OK;
}

void df_tokenizer_free(df_tokenizer *tokenizer)
{
    if (!tokenizer)
        return;
    df_text_cleaner_free(tokenizer->cleaner);
    for (size_t i = 0; i < tokenizer->added_count; i++)
        free(tokenizer->added[i].text);
    free(tokenizer->added);
    free(tokenizer->merge_keys);
    free(tokenizer->merge_ranks);
    free(tokenizer);
}

/* ------------------------------------------------------------------------ */
/* One call's state: output ids, BPE scratch and the word cache             */

typedef struct df_tokenizer_ids {
    int32_t *data;
    size_t count, capacity;
} df_tokenizer_ids;

static df_status df_tokenizer_ids_reserve(df_tokenizer_ids *ids, size_t extra, df_error *error)
{
    if (extra <= ids->capacity - ids->count)
        return DF_OK;
    size_t capacity = ids->capacity ? ids->capacity : 64;
    while (capacity - ids->count < extra) {
        if (capacity > SIZE_MAX / 2 / sizeof(int32_t))
            return df_error_set(error, DF_ERR_NO_MEMORY, "too many tokens");
        capacity *= 2;
    }
    int32_t *data = realloc(ids->data, capacity * sizeof(int32_t));
    if (!data)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (%zu tokens)", capacity);
    ids->data = data;
    ids->capacity = capacity;
    return DF_OK;
}

typedef struct df_tokenizer_cache_entry {
    uint64_t hash;
    size_t bytes;    /* offset into cache_bytes, length in byte_count */
    size_t ids;      /* offset into cache_ids */
    uint32_t byte_count, id_count;
} df_tokenizer_cache_entry;

typedef struct df_tokenizer_call {
    const df_tokenizer *tokenizer;
    df_tokenizer_ids out;
    /* BPE scratch, sized to the longest word so far */
    int32_t *symbol, *next, *prev;
    uint64_t *heap;
    size_t scratch_capacity;
    unsigned char *word;
    size_t word_capacity;
    /* cache: open addressing over entries; pools of bytes and ids */
    df_tokenizer_cache_entry *entries;
    size_t entry_mask, entry_count;
    unsigned char *cache_bytes;
    size_t cache_bytes_count, cache_bytes_capacity;
    df_tokenizer_ids cache_ids;
    df_text_buffer codepoints, fixed, lowered;
} df_tokenizer_call;

static void df_tokenizer_call_free(df_tokenizer_call *call)
{
    free(call->out.data);
    free(call->symbol);
    free(call->next);
    free(call->prev);
    free(call->heap);
    free(call->word);
    free(call->entries);
    free(call->cache_bytes);
    free(call->cache_ids.data);
    df_text_buffer_free(&call->codepoints);
    df_text_buffer_free(&call->fixed);
    df_text_buffer_free(&call->lowered);
}

static df_status df_tokenizer_scratch(df_tokenizer_call *call, size_t n, df_error *error)
{
    if (n <= call->scratch_capacity)
        return DF_OK;
    size_t capacity = call->scratch_capacity ? call->scratch_capacity : 64;
    while (capacity < n)
        capacity *= 2;
    int32_t *symbol = realloc(call->symbol, capacity * sizeof(int32_t));
    if (symbol)
        call->symbol = symbol;
    int32_t *next = realloc(call->next, capacity * sizeof(int32_t));
    if (next)
        call->next = next;
    int32_t *prev = realloc(call->prev, capacity * sizeof(int32_t));
    if (prev)
        call->prev = prev;
    /* Each merge pushes at most two pairs: n - 1 + 2 (n - 1) entries. */
    uint64_t *heap = realloc(call->heap, capacity * 3 * sizeof(uint64_t));
    if (heap)
        call->heap = heap;
    if (!symbol || !next || !prev || !heap)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (BPE of a %zu-byte word)", n);
    call->scratch_capacity = capacity;
    return DF_OK;
}

static void df_tokenizer_heap_push(uint64_t *heap, size_t *count, uint64_t value)
{
    size_t i = (*count)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent] <= value)
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = value;
}

static uint64_t df_tokenizer_heap_pop(uint64_t *heap, size_t *count)
{
    uint64_t top = heap[0];
    uint64_t last = heap[--(*count)];
    size_t n = *count, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && heap[child + 1] < heap[child])
            child++;
        if (last <= heap[child])
            break;
        heap[i] = heap[child];
        i = child;
    }
    if (n)
        heap[i] = last;
    return top;
}

static void df_tokenizer_push_pair(df_tokenizer_call *call, size_t *heap_count, int32_t position)
{
    int32_t right = call->next[position];
    if (right < 0)
        return;
    int32_t rank = df_tokenizer_merge_rank(call->tokenizer, call->symbol[position],
                                           call->symbol[right]);
    if (rank >= 0)
        df_tokenizer_heap_push(call->heap, heap_count,
                               (uint64_t)rank << 32 | (uint64_t)(uint32_t)position);
}

/* BPE of one word's bytes, appended to call->out (through the cache). */
static df_status df_tokenizer_bpe(df_tokenizer_call *call, const unsigned char *bytes,
                                  size_t length, df_error *error)
{
    const df_tokenizer *tokenizer = call->tokenizer;
    uint64_t hash = df_tokenizer_hash_bytes(bytes, length);
    size_t slot = (size_t)hash & call->entry_mask;
    if (call->entries) {
        for (;;) {
            df_tokenizer_cache_entry *entry = &call->entries[slot];
            if (!entry->byte_count)
                break;
            if (entry->hash == hash && entry->byte_count == length &&
                !memcmp(call->cache_bytes + entry->bytes, bytes, length)) {
                if (df_tokenizer_ids_reserve(&call->out, entry->id_count, error))
                    return DF_ERR_NO_MEMORY;
                memcpy(call->out.data + call->out.count, call->cache_ids.data + entry->ids,
                       entry->id_count * sizeof(int32_t));
                call->out.count += entry->id_count;
                return DF_OK;
            }
            slot = (slot + 1) & call->entry_mask;
        }
    }
    if (length > INT32_MAX / 4)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "word of %zu bytes is too long",
                            length);
    if (df_tokenizer_scratch(call, length, error))
        return DF_ERR_NO_MEMORY;
    int32_t n = (int32_t)length;
    for (int32_t i = 0; i < n; i++) {
        call->symbol[i] = tokenizer->byte_symbol[bytes[i]];
        call->next[i] = i + 1 < n ? i + 1 : -1;
        call->prev[i] = i - 1;
    }
    call->symbol[n - 1] += 256; /* "</w>" on the last symbol */
    size_t heap_count = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        df_tokenizer_push_pair(call, &heap_count, i);
    while (heap_count) {
        uint64_t top = df_tokenizer_heap_pop(call->heap, &heap_count);
        int32_t rank = (int32_t)(top >> 32);
        int32_t left = (int32_t)(uint32_t)top;
        int32_t right = call->next[left];
        /* Stale entries: the left symbol was absorbed or changed. */
        if (call->symbol[left] < 0 || right < 0 ||
            df_tokenizer_merge_rank(tokenizer, call->symbol[left], call->symbol[right]) != rank)
            continue;
        call->symbol[left] = 512 + rank;
        call->symbol[right] = -1;
        call->next[left] = call->next[right];
        if (call->next[right] >= 0)
            call->prev[call->next[right]] = left;
        if (call->prev[left] >= 0)
            df_tokenizer_push_pair(call, &heap_count, call->prev[left]);
        df_tokenizer_push_pair(call, &heap_count, left);
    }
    size_t first = call->out.count;
    if (df_tokenizer_ids_reserve(&call->out, length, error))
        return DF_ERR_NO_MEMORY;
    for (int32_t i = 0; i >= 0; i = call->next[i])
        call->out.data[call->out.count++] = call->symbol[i];
    size_t id_count = call->out.count - first;

    /* Remember the word; the table stays at most half full. */
    if (call->entry_count * 2 >= call->entry_mask) {
        size_t slots = call->entries ? (call->entry_mask + 1) * 2 : 256;
        df_tokenizer_cache_entry *entries = calloc(slots, sizeof *entries);
        if (!entries)
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (BPE cache)");
        for (size_t i = 0; call->entries && i <= call->entry_mask; i++) {
            if (!call->entries[i].byte_count)
                continue;
            size_t s = (size_t)call->entries[i].hash & (slots - 1);
            while (entries[s].byte_count)
                s = (s + 1) & (slots - 1);
            entries[s] = call->entries[i];
        }
        free(call->entries);
        call->entries = entries;
        call->entry_mask = slots - 1;
        slot = (size_t)hash & call->entry_mask;
        while (call->entries[slot].byte_count)
            slot = (slot + 1) & call->entry_mask;
    }
    if (length > call->cache_bytes_capacity - call->cache_bytes_count) {
        size_t capacity = call->cache_bytes_capacity ? call->cache_bytes_capacity : 4096;
        while (capacity - call->cache_bytes_count < length)
            capacity *= 2;
        unsigned char *grown = realloc(call->cache_bytes, capacity);
        if (!grown)
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (BPE cache)");
        call->cache_bytes = grown;
        call->cache_bytes_capacity = capacity;
    }
    if (df_tokenizer_ids_reserve(&call->cache_ids, id_count, error))
        return DF_ERR_NO_MEMORY;
    df_tokenizer_cache_entry *entry = &call->entries[slot];
    entry->hash = hash;
    entry->bytes = call->cache_bytes_count;
    entry->byte_count = (uint32_t)length;
    entry->ids = call->cache_ids.count;
    entry->id_count = (uint32_t)id_count;
    memcpy(call->cache_bytes + call->cache_bytes_count, bytes, length);
    call->cache_bytes_count += length;
    memcpy(call->cache_ids.data + call->cache_ids.count, call->out.data + first,
           id_count * sizeof(int32_t));
    call->cache_ids.count += id_count;
    call->entry_count++;
    return DF_OK;
}

/* ------------------------------------------------------------------------ */
/* Pre-tokenization                                                         */

/* Compares text[i..] with an ASCII literal under the regex's IGNORECASE
 * (after lower(), only U+017F still folds: onto 's'). */
static int df_tokenizer_match(const uint32_t *text, size_t count, size_t i, const char *literal)
{
    for (size_t k = 0; literal[k]; k++, i++) {
        if (i >= count)
            return 0;
        uint32_t c = text[i];
        if (c != (unsigned char)literal[k] && !(literal[k] == 's' && c == 0x17F))
            return 0;
    }
    return 1;
}

static df_status df_tokenizer_emit_word(df_tokenizer_call *call, const uint32_t *text,
                                        size_t start, size_t end, df_error *error)
{
    size_t needed = (end - start) * 4;
    if (needed > call->word_capacity) {
        unsigned char *word = realloc(call->word, needed);
        if (!word)
            return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (word)");
        call->word = word;
        call->word_capacity = needed;
    }
    size_t length = 0;
    for (size_t i = start; i < end; i++)
        length += df_text_encode_utf8(text[i], call->word + length);
    /* HF's bpe cache holds the two specials as themselves. */
    int32_t special = 0;
    if (length == 15 && !memcmp(call->word, "<|startoftext|>", 15))
        special = DF_CLIP_START_TOKEN;
    else if (length == 13 && !memcmp(call->word, "<|endoftext|>", 13))
        special = DF_CLIP_END_TOKEN;
    if (special) {
        if (df_tokenizer_ids_reserve(&call->out, 1, error))
            return DF_ERR_NO_MEMORY;
        call->out.data[call->out.count++] = special;
        return DF_OK;
    }
    return df_tokenizer_bpe(call, call->word, length, error);
}

/* re.findall(CLIP pattern, text) followed by BPE of each match. */
static df_status df_tokenizer_pretokenize(df_tokenizer_call *call, const uint32_t *text,
                                          size_t count, df_error *error)
{
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    size_t i = 0;
    while (i < count) {
        size_t end = i;
        if (text[i] == '<' && df_tokenizer_match(text, count, i, "<|startoftext|>")) {
            end = i + 15;
        } else if (text[i] == '<' && df_tokenizer_match(text, count, i, "<|endoftext|>")) {
            end = i + 13;
        } else if (text[i] == '\'') {
            for (size_t k = 0; k < sizeof contractions / sizeof contractions[0]; k++) {
                if (df_tokenizer_match(text, count, i, contractions[k])) {
                    end = i + strlen(contractions[k]);
                    break;
                }
            }
        }
        if (end == i) {
            df_text_class kind = df_text_classify(text[i]);
            if (kind == DF_TEXT_SPACE) {
                i++;
                continue;
            }
            end = i + 1;
            if (kind != DF_TEXT_NUMBER)
                while (end < count && df_text_classify(text[end]) == kind)
                    end++;
        }
        df_status status = df_tokenizer_emit_word(call, text, i, end, error);
        if (status)
            return status;
        i = end;
    }
    return DF_OK;
}

/* _tokenize of one piece between added tokens. */
static df_status df_tokenizer_piece(df_tokenizer_call *call, const uint32_t *text, size_t count,
                                    df_error *error)
{
    df_status status = df_text_fix(call->tokenizer->cleaner, text, count, &call->fixed, error);
    if (status)
        return status;
    call->lowered.count = 0;
    status = df_text_lower(call->fixed.data, call->fixed.count, &call->lowered, error);
    if (status)
        return status;
    return df_tokenizer_pretokenize(call, call->lowered.data, call->lowered.count, error);
}

static df_status df_tokenizer_run(df_tokenizer_call *call, const char *text, size_t length,
                                  df_error *error)
{
    if (!text && length)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "tokenize: text is NULL");
    df_status status = df_text_decode_utf8(text ? text : "", length, &call->codepoints, error);
    if (status)
        return status;
    const uint32_t *s = call->codepoints.data;
    size_t n = call->codepoints.count;
    size_t piece = 0;
    for (size_t i = 0; i <= n;) {
        int32_t special = 0;
        size_t special_length = 0;
        const struct added_token *added = NULL;
        for (size_t a = 0; i < n && a < call->tokenizer->added_count; a++) {
            const struct added_token *t = &call->tokenizer->added[a];
            if (t->length <= n - i && (!added || t->length > added->length) &&
                !memcmp(s + i, t->text, t->length * sizeof *s))
                added = t;
        }
        if (added) {
            special = -2;
            special_length = added->length;
        } else if (i < n && s[i] == '!' && call->tokenizer->exclamation_is_pad) {
            special = -1; /* id 0, see df_tokenizer_create_for_pad */
            special_length = 1;
        } else if (i < n && s[i] == '<') {
            /* The added-token split is exact: no case folding, no long s. */
            if (n - i >= 15) {
                int exact = 1;
                for (size_t k = 0; k < 15; k++)
                    exact &= s[i + k] == (uint32_t)"<|startoftext|>"[k];
                if (exact)
                    special = DF_CLIP_START_TOKEN, special_length = 15;
            }
            if (!special && n - i >= 13) {
                int exact = 1;
                for (size_t k = 0; k < 13; k++)
                    exact &= s[i + k] == (uint32_t)"<|endoftext|>"[k];
                if (exact)
                    special = DF_CLIP_END_TOKEN, special_length = 13;
            }
        }
        if (!special && i < n) {
            i++;
            continue;
        }
        if (i > piece && (status = df_tokenizer_piece(call, s + piece, i - piece, error)))
            return status;
        if (!special)
            break;
        if (added) {
            if (df_tokenizer_ids_reserve(&call->out, (size_t)added->count, error))
                return DF_ERR_NO_MEMORY;
            for (int k = 0; k < added->count; k++)
                call->out.data[call->out.count++] = added->first_id + k;
        } else {
            if (df_tokenizer_ids_reserve(&call->out, 1, error))
                return DF_ERR_NO_MEMORY;
            call->out.data[call->out.count++] = special < 0 ? 0 : special;
        }
        i += special_length;
        piece = i;
    }
    return DF_OK;
}

df_status df_tokenize(const df_tokenizer *tokenizer, const char *text, size_t length,
                      int32_t **out_ids, size_t *out_count, df_error *error)
{
    if (!tokenizer || !out_ids || !out_count)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_tokenize: NULL argument");
    *out_ids = NULL;
    *out_count = 0;
    df_tokenizer_call call = {.tokenizer = tokenizer};
    df_status status = df_tokenizer_run(&call, text, length, error);
    if (status == DF_OK)
        status = df_tokenizer_ids_reserve(&call.out, 1, error); /* never return NULL */
    if (status == DF_OK) {
        *out_ids = call.out.data;
        *out_count = call.out.count;
        call.out.data = NULL;
    }
    df_tokenizer_call_free(&call);
    return status;
}

/* ------------------------------------------------------------------------ */
/* AUTOMATIC1111's windows                                                  */

/*
 * FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line / next_chunk
 * (modules/sd_hijack_clip.py, stable-diffusion-webui 1.x), with no
 * emphasis parsing and no textual-inversion embeddings:
 *   - a window takes up to 75 prompt tokens;
 *   - when the next token would not fit, is not a comma, and the window's
 *     last comma is at most 20 tokens back from its end, the tokens after
 *     that comma move to the next window;
 *   - a window is [start] + tokens + [end] * (76 - count); a prompt of
 *     exactly 75 tokens is one window, 76 are two; an empty prompt is one;
 *   - process_tokens: when the pad token is not the end token (SD 2.x),
 *     everything after the FIRST end token of each window becomes pad,
 *     which is also what A1111 does to a literal <|endoftext|> in a prompt.
 */
/* AUTOMATIC1111's tokenize_line/next_chunk (modules/sd_hijack_clip.py):
 * prompt tokens go into windows of 75 between a start and an end token; when
 * a window is full and a comma lies within the last 20 tokens, the window is
 * cut after that comma and the rest moves on; DF_TOKEN_BREAK ends a window
 * early. Weights travel with their tokens; start, end and padding get 1.0.
 * A1111 pads with the end token, then, where the pad token differs (OpenCLIP),
 * replaces everything after each window's first end token with it. */
df_status df_token_windows_build(const int32_t *ids, const float *weights, size_t count,
                                 int32_t pad_token, df_token_windows *out, df_error *error)
{
    if (!out)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_token_windows_build: out is NULL");
    memset(out, 0, sizeof *out);
    if (pad_token < 0 || pad_token >= DF_TOKENIZER_VOCAB_SIZE)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT,
                            "pad token %d is outside the vocabulary [0, %d]", (int)pad_token,
                            DF_TOKENIZER_VOCAB_SIZE - 1);
    size_t breaks = 0;
    for (size_t i = 0; i < count; i++)
        breaks += ids[i] == DF_TOKEN_BREAK;
    /* A window that is not the last keeps at least 56 tokens (a backtrack
     * cuts after a comma at index >= 55) unless a BREAK ends it, so this is
     * enough. */
    size_t max_windows = count / (DF_CLIP_WINDOW_CONTENT - DF_TOKENIZER_COMMA_BACKTRACK) + breaks + 2;
    out->ids = malloc(max_windows * DF_CLIP_WINDOW * sizeof(int32_t));
    out->weights = malloc(max_windows * DF_CLIP_WINDOW * sizeof(float));
    out->content_lengths = malloc(max_windows * sizeof(int32_t));
    /* The window being filled, as lists (a BREAK makes windows non-contiguous
     * in `ids`, so copy). */
    int32_t chunk_ids[DF_CLIP_WINDOW_CONTENT];
    float chunk_weights[DF_CLIP_WINDOW_CONTENT];
    if (!out->ids || !out->weights || !out->content_lengths) {
        df_token_windows_free(out);
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory (%zu windows)", max_windows);
    }
    size_t chunk_count = 0, windows = 0, tokens = 0;
    long last_comma = -1;
#define DF_NEXT_CHUNK()                                                                   \
    do {                                                                                  \
        int32_t *w = out->ids + windows * DF_CLIP_WINDOW;                                 \
        float *m = out->weights + windows * DF_CLIP_WINDOW;                               \
        w[0] = DF_CLIP_START_TOKEN;                                                       \
        m[0] = 1.0f;                                                                      \
        memcpy(w + 1, chunk_ids, chunk_count * sizeof(int32_t));                          \
        memcpy(m + 1, chunk_weights, chunk_count * sizeof(float));                        \
        for (size_t k = 1 + chunk_count; k < DF_CLIP_WINDOW; k++) {                       \
            w[k] = DF_CLIP_END_TOKEN;                                                     \
            m[k] = 1.0f;                                                                  \
        }                                                                                 \
        out->content_lengths[windows++] = (int32_t)chunk_count;                           \
        chunk_count = 0;                                                                  \
        last_comma = -1;                                                                  \
    } while (0)
    for (size_t position = 0; position < count; position++) {
        if (ids[position] == DF_TOKEN_BREAK) {
            DF_NEXT_CHUNK();
            continue;
        }
        if (ids[position] == DF_TOKENIZER_COMMA) {
            last_comma = (long)chunk_count;
        } else if (chunk_count == DF_CLIP_WINDOW_CONTENT && last_comma != -1 &&
                   (long)chunk_count - last_comma <= DF_TOKENIZER_COMMA_BACKTRACK) {
            size_t keep = (size_t)last_comma + 1;
            size_t moved = chunk_count - keep;
            int32_t moved_ids[DF_CLIP_WINDOW_CONTENT];
            float moved_weights[DF_CLIP_WINDOW_CONTENT];
            memcpy(moved_ids, chunk_ids + keep, moved * sizeof(int32_t));
            memcpy(moved_weights, chunk_weights + keep, moved * sizeof(float));
            chunk_count = keep;
            DF_NEXT_CHUNK();
            memcpy(chunk_ids, moved_ids, moved * sizeof(int32_t));
            memcpy(chunk_weights, moved_weights, moved * sizeof(float));
            chunk_count = moved;
        }
        if (chunk_count == DF_CLIP_WINDOW_CONTENT)
            DF_NEXT_CHUNK();
        chunk_ids[chunk_count] = ids[position];
        chunk_weights[chunk_count] = weights ? weights[position] : 1.0f;
        chunk_count++;
        tokens++;
    }
    if (chunk_count || windows == 0)
        DF_NEXT_CHUNK();
#undef DF_NEXT_CHUNK
    if (pad_token != DF_CLIP_END_TOKEN) {
        for (size_t i = 0; i < windows; i++) {
            int32_t *w = out->ids + i * DF_CLIP_WINDOW;
            size_t k = 0;
            while (w[k] != DF_CLIP_END_TOKEN)
                k++;
            for (k++; k < DF_CLIP_WINDOW; k++)
                w[k] = pad_token;
        }
    }
    out->window_count = windows;
    out->token_count = tokens;
    return DF_OK;
}

df_status df_tokenize_windows(const df_tokenizer *tokenizer, const char *text, size_t length,
                              int32_t pad_token, df_token_windows *out, df_error *error)
{
    if (!out)
        return df_error_set(error, DF_ERR_INVALID_ARGUMENT, "df_tokenize_windows: out is NULL");
    memset(out, 0, sizeof *out);
    int32_t *ids = NULL;
    size_t count = 0;
    df_status status = df_tokenize(tokenizer, text, length, &ids, &count, error);
    if (status)
        return status;
    status = df_token_windows_build(ids, NULL, count, pad_token, out, error);
    free(ids);
    return status;
}

void df_token_windows_free(df_token_windows *windows)
{
    if (!windows)
        return;
    free(windows->ids);
    free(windows->weights);
    free(windows->content_lengths);
    windows->ids = NULL;
    windows->weights = NULL;
    windows->content_lengths = NULL;
    windows->window_count = windows->token_count = 0;
}
