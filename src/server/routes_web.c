/*
 * routes_web.c — GET /: the web page, src/server/web/index.html, one
 * self-contained file (inline CSS and JS) that drives the native API.
 *
 * The page is linked into the binary at build time (CMakeLists.txt, "web
 * page": an assembler .incbin between df_routes_web_page and
 * df_routes_web_page_end), so the binary needs no file next to it and no
 * generated C is checked in; editing index.html rebuilds the object.
 *
 * The route is public (DF_HTTP_ACCESS_PUBLIC): with API keys configured the
 * page asks for a key itself and sends it on every API call, so the page
 * must load without one. Because the page has no external assets, the
 * Content-Security-Policy allows only this origin, the page's inline script
 * and style, and data:/blob: images (TAESD previews arrive as base64 in the
 * events; finished images are fetched with the key and shown as blob URLs).
 */
#include <stdlib.h>
#include <string.h>

#include "server/routes.h"

/* Defined by the assembler (the build's web_page.S); not NUL-terminated. */
extern const char df_routes_web_page[];
extern const char df_routes_web_page_end[];

static const df_http_header_pair page_headers[] = {
    /* The page changes with the binary: revalidate rather than run stale JS
     * against a newer API. */
    {"Cache-Control", "no-cache"},
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
     "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
     "form-action 'self'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {NULL, NULL},
};

static enum MHD_Result web_index(df_http_request *request)
{
    size_t size = (size_t)(df_routes_web_page_end - df_routes_web_page);
    /* df_http_send_bytes takes a malloc'ed buffer; a copy of a few tens of KB
     * per page load keeps the HTTP layer's one ownership rule. */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return df_http_send_error(request, 500, "server_error", "out_of_memory", NULL, NULL,
                                  "out of memory");
    memcpy(copy, df_routes_web_page, size);
    return df_http_send_bytes(request, 200, "text/html; charset=utf-8", copy, size, page_headers);
}

const df_http_route df_routes_web[] = {
    {"GET", "/", web_index, NULL, DF_HTTP_ACCESS_PUBLIC},
    {NULL, NULL, NULL, NULL},
};
