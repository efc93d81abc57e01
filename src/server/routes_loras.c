/*
 * routes_loras.c — the LoRAs `diffuse serve --lora-dir DIR` offers, in the
 * native API:
 *   GET /v1/loras   {"object": "list", "data": [{"object": "lora", "name",
 *                   "size", "modified", "hash", "shorthash"}]}
 * A LoRA is named as requests name it (the file name without
 * .safetensors); no path is shown (where the server keeps its files is
 * none of a client's business). "hash" is A1111's autov3 (loras.h), the
 * value whose first 12 digits ("shorthash") an infotext's Lora hashes
 * carries: the first listing reads each file once, later ones use the
 * cache; ?hashes=false lists without reading any file (hashes already
 * computed are shown, others null). Without --lora-dir the list is empty. AUTOMATIC1111's GET
 * /sdapi/v1/loras and POST /sdapi/v1/refresh-loras are in routes_a1111.c;
 * SIGHUP reads the directory again too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/routes.h"

static enum MHD_Result list_loras(df_http_request *request)
{
    df_server *server = request->context;
    const char *hashes = df_http_query(request, "hashes");
    if (hashes && strcmp(hashes, "true") && strcmp(hashes, "false"))
        return df_http_send_error(request, 400, "invalid_request_error", "invalid_parameter",
                                  "hashes", NULL, "hashes: expected true or false");
    const int compute = !hashes || !strcmp(hashes, "true");
    json_t *data = json_array();
    df_lora_entry *entries = NULL;
    int count = 0;
    df_error error = {0};
    if (server->loras && df_loras_list(server->loras, &entries, &count, &error)) {
        json_decref(data);
        return df_http_send_error(request, 500, "server_error", "out_of_memory", NULL, NULL,
                                  "%s", error.message);
    }
    for (int i = 0; data && i < count; i++) {
        char hex[DF_LORA_HASH_SIZE];
        df_error hash_error = {0};
        /* A file that cannot be hashed (unreadable, truncated) is listed
         * with a null hash: it is offered, and a request naming it says
         * what is wrong. */
        int hashed = compute ? !df_loras_hash(server->loras, entries[i].name, hex, &hash_error)
                             : entries[i].hash[0] != 0;
        if (!compute && hashed)
            memcpy(hex, entries[i].hash, sizeof hex);
        char shorthash[13];
        snprintf(shorthash, sizeof shorthash, "%.12s", hashed ? hex : "");
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:f, s:s?, s:s?}", "object",
                                              "lora", "name", entries[i].name, "size",
                                              (json_int_t)entries[i].size, "modified",
                                              entries[i].modified, "hash", hashed ? hex : NULL,
                                              "shorthash", hashed ? shorthash : NULL));
    }
    free(entries);
    return df_http_send_json(request, 200, json_pack("{s:s, s:o}", "object", "list", "data",
                                                     data ? data : json_array()),
                             NULL);
}

const df_http_route df_routes_loras[] = {
    {"GET", "/v1/loras", list_loras, NULL},
    {NULL, NULL, NULL, NULL},
};
