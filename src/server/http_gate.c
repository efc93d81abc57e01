/*
 * http_gate.c — the gate in front of libmicrohttpd: one thread accepts every
 * connection and holds it, cheaply (a descriptor in a poll set, no thread),
 * until its first request line and headers have arrived complete and well
 * formed; only then does MHD get it (MHD_add_connection), with the bytes
 * still unread in the socket (the gate only peeks).
 *
 * Why: MHD gives each connection a thread from the moment it is accepted,
 * so idle or trickling sockets used to occupy the connection limit and lock
 * health probes out; and MHD answers malformed or oversized requests itself,
 * with HTML bodies (and, for a bad Content-Length, its status line and
 * headers twice). The gate answers those in the route family's JSON shape,
 * with one status line, and lets MHD see only requests it can parse.
 *
 * Limits here: connections per client address (pending here and open in MHD
 * together; --trust-proxy addresses are exempt, a proxy carries many
 * clients), connections held here at all, a request line due within
 * --request-line-timeout and the whole head within --header-timeout of
 * connecting. A refused connection gets a 503 and is closed at once; refusals
 * are counted (metrics) and logged at most once per interval. A complete
 * request that finds MHD full waits here (until --header-timeout, then 503)
 * while the kept-alive connection idle the longest is closed to make room.
 *
 * Every request passes here: each response says "Connection: close"
 * (http.c), so a second request comes on a new connection, and chunked
 * request bodies, whose framing only MHD would see, are refused with a 411.
 * Nothing a client sends reaches MHD's own (HTML) error pages.
 *
 * Peeking: after a peek that found the head incomplete, SO_RCVLOWAT is set
 * past what is already queued, so poll() wakes on new bytes rather than
 * spinning on the old ones; it is reset to 1 before MHD takes the socket.
 */
#define _GNU_SOURCE /* accept4, pipe2, POLLRDHUP */
#include "server/http_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/error.h"
#include "server/log.h"
#include "server/util.h"

#define LINGER_S 2.0         /* after an error: read and drop what the client still sends */
#define ACCEPTS_PER_ROUND 64 /* then the pending connections get a turn */
#define TICK_MS 250
#define WAITING_TICK_MS 20   /* a complete head waits for a free MHD slot */

enum { GATE_READING, GATE_WAITING, GATE_LINGERING };

struct gate_connection {
    int fd;
    int state;
    struct sockaddr_storage address;
    socklen_t address_size;
    unsigned char key[DF_HTTP_KEY_SIZE];
    double accepted, line_deadline, head_deadline, linger_deadline;
};

/* What check_head found wrong (status 0: nothing). */
typedef struct head_problem {
    unsigned status;
    const char *code;
    char message[256];
    char method[16];
    char path[512]; /* the target without its query: which family answers */
} head_problem;

/* ------------------------------------------------------------------------ */
/* Responses written by the gate itself                                     */

static void send_error(df_http *http, gate_connection *c, const head_problem *problem)
{
    df_http_error_info info = {problem->status,
                               problem->status == 503 ? "server_error" : "invalid_request_error",
                               problem->code, NULL, problem->message};
    size_t size = 0;
    char *body = df_http_error_text(http, problem->path[0] ? problem->path : NULL, &info, &size);
    char id[DF_SERVER_ID_SIZE];
    df_server_random_id(id);
    const char *reason = MHD_get_reason_phrase_for(problem->status);
    char head[512];
    int length = snprintf(head, sizeof head,
                          "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\nx-request-id: %s\r\n%s\r\n",
                          problem->status, reason && *reason ? reason : "Error", body ? size : 0,
                          id, problem->status == 503 ? "Retry-After: 1\r\n" : "");
    /* Small enough for an empty socket buffer: one non-blocking try each. */
    if (send(c->fd, head, (size_t)length, MSG_NOSIGNAL | MSG_DONTWAIT) == length && body)
        (void)!send(c->fd, body, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (http->config.observer && problem->status != 503) {
        char remote[64];
        df_http_address_text((const struct sockaddr *)&c->address, remote, sizeof remote);
        df_http_caller nobody = {0};
        df_http_log_entry entry = {id, problem->method, problem->path[0] ? problem->path : "",
                                   NULL, problem->status, body ? (long long)size : 0,
                                   df_server_monotonic() - c->accepted, remote, "", &nobody,
                                   "error"};
        http->config.observer(http->config.context, &entry);
    }
    free(body);
}

/* ------------------------------------------------------------------------ */
/* The request head                                                         */

static int tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int problem(head_problem *p, unsigned status, const char *code, const char *message)
{
    p->status = status;
    p->code = code;
    snprintf(p->message, sizeof p->message, "%s", message);
    return -1;
}

static int equal_nocase(const char *a, size_t length, const char *b)
{
    if (strlen(b) != length)
        return 0;
    for (size_t i = 0; i < length; i++)
        if ((a[i] | 0x20) != (b[i] | 0x20))
            return 0;
    return 1;
}

/* The request line: "METHOD SP TARGET SP HTTP/1.x". */
static int check_request_line(const char *line, size_t length, head_problem *p)
{
    size_t method = 0;
    while (method < length && tchar((unsigned char)line[method]))
        method++;
    if (!method || method >= sizeof p->method || method >= length || line[method] != ' ')
        return problem(p, 400, "malformed_request", "malformed request line (expected METHOD "
                       "TARGET HTTP/1.1)");
    memcpy(p->method, line, method);
    p->method[method] = 0;
    const char *target = line + method + 1;
    const char *space = memchr(target, ' ', length - method - 1);
    size_t target_length = space ? (size_t)(space - target) : length - method - 1;
    size_t path_length = strcspn(target, "? ");
    if (path_length > target_length)
        path_length = target_length;
    if (path_length >= sizeof p->path)
        path_length = sizeof p->path - 1;
    memcpy(p->path, target, path_length);
    p->path[path_length] = 0;
    if (target_length > DF_HTTP_MAX_URI_BYTES) {
        char message[128];
        snprintf(message, sizeof message, "the request target is longer than %d bytes",
                 DF_HTTP_MAX_URI_BYTES);
        return problem(p, 414, "uri_too_long", message);
    }
    if (!space || !target_length)
        return problem(p, 400, "malformed_request", "malformed request line (expected METHOD "
                       "TARGET HTTP/1.1)");
    for (size_t i = 0; i < target_length; i++)
        if ((unsigned char)target[i] <= ' ' || target[i] == 0x7f)
            return problem(p, 400, "malformed_request", "control character in the request "
                           "target");
    const char *version = space + 1;
    size_t version_length = length - (size_t)(version - line);
    if (version_length == 8 && (!memcmp(version, "HTTP/1.1", 8) || !memcmp(version, "HTTP/1.0", 8)))
        return 0;
    if (version_length == 8 && !memcmp(version, "HTTP/", 5) && version[5] >= '0' &&
        version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9')
        return problem(p, 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are "
                       "supported");
    return problem(p, 400, "malformed_request", "malformed HTTP version in the request line");
}

/* One header line (without its line end). Content-Length and
 * Transfer-Encoding are checked here because MHD's own answers to bad ones
 * are the ones that went out twice. */
static int check_header(const char *line, size_t length, head_problem *p, const char **content_length,
                        size_t *content_length_size, int *chunked)
{
    if (line[0] == ' ' || line[0] == '\t')
        return problem(p, 400, "malformed_request", "folded header lines are not accepted");
    const char *colon = memchr(line, ':', length);
    if (!colon)
        return problem(p, 400, "malformed_request", "a header line without a colon");
    size_t name = (size_t)(colon - line);
    for (size_t i = 0; i < name; i++)
        if (!tchar((unsigned char)line[i]))
            return problem(p, 400, "malformed_request", "a malformed header name");
    if (!name)
        return problem(p, 400, "malformed_request", "a header with an empty name");
    /* Values are the routes' business (a key with a control character is a
     * 401, as it was before the gate): MHD takes any byte but the line end. */
    const char *value = colon + 1;
    size_t value_length = length - name - 1;
    while (value_length && (*value == ' ' || *value == '\t'))
        value++, value_length--;
    while (value_length && (value[value_length - 1] == ' ' || value[value_length - 1] == '\t'))
        value_length--;
    if (equal_nocase(line, name, "Content-Length")) {
        if (!value_length || strspn(value, "0123456789") < value_length)
            return problem(p, 400, "malformed_request", "Content-Length must be a number of "
                           "bytes");
        if (*content_length && (*content_length_size != value_length ||
                                memcmp(*content_length, value, value_length)))
            return problem(p, 400, "malformed_request", "conflicting Content-Length headers");
        *content_length = value;
        *content_length_size = value_length;
        if (value_length > 18)
            return problem(p, 413, "body_too_large", "the request body is larger than the limit");
    } else if (equal_nocase(line, name, "Transfer-Encoding")) {
        if (!equal_nocase(value, value_length, "chunked"))
            return problem(p, 400, "malformed_request", "only Transfer-Encoding: chunked is "
                           "accepted");
        *chunked = 1;
    }
    return 0;
}

/* Looks at the first `size` bytes a connection sent (`more`: there are
 * more than that). 0: incomplete, wait; 1: complete and well formed;
 * -1: answer *p. */
static int check_head(const char *data, size_t size, int more, int *line_seen, head_problem *p)
{
    size_t at = 0;
    while (at < size && (data[at] == '\r' || data[at] == '\n'))
        at++; /* empty lines before a request are allowed (RFC 9112, 2.2) */
    const char *line = data + at;
    const char *end = memchr(line, '\n', size - at);
    if (!end) {
        if (size - at > DF_HTTP_MAX_URI_BYTES + 64 || more) {
            char message[128];
            snprintf(message, sizeof message, "the request line is longer than %d bytes",
                     DF_HTTP_MAX_URI_BYTES + 64);
            return problem(p, 414, "uri_too_long", message);
        }
        return 0;
    }
    size_t length = (size_t)(end - line);
    if (length && line[length - 1] == '\r')
        length--;
    if (check_request_line(line, length, p))
        return -1;
    *line_seen = 1;
    const char *content_length = NULL;
    size_t content_length_size = 0;
    int chunked = 0;
    for (const char *next = end + 1;;) {
        size_t left = size - (size_t)(next - data);
        end = memchr(next, '\n', left);
        if (!end) {
            if (more || size > DF_HTTP_MAX_HEAD_BYTES) {
                char message[128];
                snprintf(message, sizeof message, "the request line and headers are longer than "
                         "%d bytes", DF_HTTP_MAX_HEAD_BYTES);
                return problem(p, 431, "headers_too_large", message);
            }
            return 0;
        }
        length = (size_t)(end - next);
        if (length && next[length - 1] == '\r')
            length--;
        if (!length)
            break; /* the empty line: the head is complete */
        /* Each line is checked again when more bytes come: cheap next to the
         * network, and bounded by the head limit. */
        if (check_header(next, length, p, &content_length, &content_length_size, &chunked))
            return -1;
        next = end + 1;
    }
    if (chunked && content_length)
        return problem(p, 400, "malformed_request", "Content-Length and Transfer-Encoding "
                       "together");
    /* The gate sees only heads, and MHD answers bad chunk framing with its
     * own HTML page: bodies must come with their length (RFC 9110, 15.5.12). */
    if (chunked)
        return problem(p, 411, "length_required", "chunked request bodies are not accepted: "
                       "send the body with a Content-Length header");
    return 1;
}

/* ------------------------------------------------------------------------ */
/* The pending connections                                                  */

/* Drops entry i (its descriptor is closed unless MHD has it now). */
static void drop(df_http *http, size_t i, int close_it, int uncount)
{
    gate_connection *c = &http->pending[i];
    if (close_it)
        close(c->fd);
    if (uncount) {
        pthread_mutex_lock(&http->lock);
        df_http_counts_add(http->per_address, c->key, -1);
        pthread_mutex_unlock(&http->lock);
    }
    http->pending[i] = http->pending[--http->pending_count];
}

static void start_lingering(df_http *http, size_t i, const head_problem *p)
{
    gate_connection *c = &http->pending[i];
    send_error(http, c, p);
    shutdown(c->fd, SHUT_WR);
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    c->state = GATE_LINGERING;
    c->linger_deadline = df_server_monotonic() + LINGER_S;
}

/* MHD takes the connection when it has room. 1: it did (or refused it). */
static int hand_off(df_http *http, size_t i)
{
    gate_connection *c = &http->pending[i];
    pthread_mutex_lock(&http->lock);
    int room = http->active < http->config.connection_limit;
    if (room)
        http->active++; /* on_connection's CLOSED takes it back, and the address's count */
    else
        df_http_evict_idle(http);
    pthread_mutex_unlock(&http->lock);
    if (!room) {
        c->state = GATE_WAITING;
        return 0;
    }
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    int fd = c->fd;
    struct sockaddr_storage address = c->address;
    socklen_t address_size = c->address_size;
    unsigned char key[DF_HTTP_KEY_SIZE];
    memcpy(key, c->key, sizeof key);
    drop(http, i, 0, 0);
    if (MHD_add_connection(http->daemon, fd, (const struct sockaddr *)&address, address_size) !=
        MHD_YES) {
        /* MHD closed it and logged why. */
        pthread_mutex_lock(&http->lock);
        http->active--;
        df_http_counts_add(http->per_address, key, -1);
        pthread_mutex_unlock(&http->lock);
    }
    return 1;
}

/* Entry i is readable (or closed by its client: `hung_up`). */
static void on_readable(df_http *http, size_t i, int hung_up)
{
    gate_connection *c = &http->pending[i];
    if (c->state == GATE_LINGERING) {
        char sink[16384];
        ssize_t n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            drop(http, i, 1, 1);
        return;
    }
    if (c->state != GATE_READING)
        return;
    ssize_t n = recv(c->fd, http->peek, DF_HTTP_MAX_HEAD_BYTES + 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        drop(http, i, 1, 1); /* the client left before its request */
        return;
    }
    if (n < 0)
        return;
    int more = n > DF_HTTP_MAX_HEAD_BYTES, line_seen = 0;
    head_problem p = {0};
    int result = check_head(http->peek, more ? DF_HTTP_MAX_HEAD_BYTES : (size_t)n, more,
                            &line_seen, &p);
    if (line_seen)
        c->line_deadline = c->head_deadline;
    if (result < 0) {
        start_lingering(http, i, &p);
    } else if (result > 0) {
        hand_off(http, i);
    } else if (hung_up) {
        drop(http, i, 1, 1); /* the client stopped sending: the head cannot complete */
    } else {
        int wanted = (int)n + 1; /* wake on new bytes, not the ones already seen */
        setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &wanted, sizeof wanted);
    }
}

static void accept_some(df_http *http)
{
    for (int round = 0; round < ACCEPTS_PER_ROUND; round++) {
        struct sockaddr_storage address;
        socklen_t address_size = sizeof address;
        int fd = accept4(http->listen_fd, (struct sockaddr *)&address, &address_size,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* Out of descriptors: the listening socket stays readable, so
             * pause accepting a moment rather than spin. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                http->accept_paused_until = df_server_monotonic() + 0.25;
                int code = errno;
                unsigned long suppressed = 0;
                if (df_http_log_allowed(http, &http->accept_log, 1, &suppressed))
                    df_log_warning("accept: %s (accepting again in 250 ms; %lu more such "
                                   "pauses since the last line)", strerror(code), suppressed);
            }
            return; /* EAGAIN, or a client gone already */
        }
        unsigned char key[DF_HTTP_KEY_SIZE];
        df_http_address_key((const struct sockaddr *)&address, key);
        int trusted = df_http_cidrs_match(http->config.trusted, http->config.trusted_count,
                                          (const struct sockaddr *)&address);
        unsigned limit = http->config.per_address_limit;
        int reason = -1;
        pthread_mutex_lock(&http->lock);
        if (http->pending_count >= http->pending_capacity)
            reason = DF_HTTP_REFUSED_CAPACITY;
        else if (!trusted && limit && df_http_counts_get(http->per_address, key) >= limit)
            reason = DF_HTTP_REFUSED_PER_ADDRESS;
        else
            df_http_counts_add(http->per_address, key, 1);
        pthread_mutex_unlock(&http->lock);
        char remote[64];
        df_http_address_text((const struct sockaddr *)&address, remote, sizeof remote);
        if (reason >= 0) {
            head_problem p = {0};
            problem(&p, 503, "too_many_connections",
                    reason == DF_HTTP_REFUSED_PER_ADDRESS
                        ? "too many connections from your address; try again later"
                        : "the server has too many connections; try again later");
            gate_connection refused = {.fd = fd, .accepted = df_server_monotonic()};
            send_error(http, &refused, &p);
            close(fd);
            df_http_refused(http, reason, remote,
                            reason == DF_HTTP_REFUSED_PER_ADDRESS ? limit
                                                                  : (unsigned)http->pending_capacity);
            continue;
        }
        double now = df_server_monotonic();
        gate_connection *c = &http->pending[http->pending_count++];
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->state = GATE_READING;
        c->address = address;
        c->address_size = address_size;
        memcpy(c->key, key, sizeof key);
        c->accepted = now;
        c->head_deadline = now + http->config.header_timeout_s;
        c->line_deadline = now + http->config.request_line_timeout_s;
        if (c->line_deadline > c->head_deadline)
            c->line_deadline = c->head_deadline;
    }
}

static void *gate_main(void *arg)
{
    df_http *http = arg;
    struct pollfd *polls = calloc(http->pending_capacity + 2, sizeof *polls);
    for (;;) {
        pthread_mutex_lock(&http->lock);
        int stopping = http->gate_stopping, quiescing = http->quiescing;
        pthread_mutex_unlock(&http->lock);
        if (stopping || !polls)
            break;
        if (quiescing && http->listen_fd >= 0) {
            close(http->listen_fd); /* no new connections; the pending ones go on */
            http->listen_fd = -1;
        }
        int waiting = 0;
        size_t count = http->pending_count;
        polls[0] = (struct pollfd){http->gate_wake[0], POLLIN, 0};
        int accepting = df_server_monotonic() >= http->accept_paused_until;
        polls[1] = (struct pollfd){accepting ? http->listen_fd : -1, POLLIN, 0}; /* -1: ignored */
        for (size_t i = 0; i < count; i++) {
            int reading = http->pending[i].state != GATE_WAITING;
            waiting |= !reading;
            polls[i + 2] = (struct pollfd){http->pending[i].fd, reading ? POLLIN | POLLRDHUP : 0, 0};
        }
        int ready = poll(polls, count + 2, waiting || !accepting ? WAITING_TICK_MS : TICK_MS);
        if (ready < 0 && errno != EINTR)
            break;
        if (ready > 0 && (polls[0].revents & POLLIN)) {
            char drain[64];
            while (read(http->gate_wake[0], drain, sizeof drain) > 0)
                ;
        }
        double now = df_server_monotonic();
        /* Backwards: drop() moves the last entry into the hole, which has
         * been seen already. */
        for (size_t i = count; i-- > 0;) {
            gate_connection *c = &http->pending[i];
            /* Deadlines first: a client that keeps the socket readable
             * (trickling, or half-closed) must not escape them. */
            if (c->state == GATE_LINGERING ? now > c->linger_deadline
                                           : c->state == GATE_READING && now > c->line_deadline) {
                drop(http, i, 1, 1); /* slow or silent: closed without an answer */
                continue;
            }
            short revents = ready > 0 ? polls[i + 2].revents : 0;
            if (c->state == GATE_WAITING && (revents & (POLLHUP | POLLERR))) {
                drop(http, i, 1, 1); /* gone while it waited for a slot */
                continue;
            }
            if (c->state != GATE_WAITING && (revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))) {
                on_readable(http, i, revents & (POLLRDHUP | POLLHUP | POLLERR));
                continue;
            }
            if (c->state == GATE_WAITING && !hand_off(http, i) && now > c->head_deadline) {
                head_problem p = {0};
                problem(&p, 503, "too_many_connections", "the server is busy; try again later");
                start_lingering(http, i, &p);
            }
        }
        if (ready > 0 && http->listen_fd >= 0 && (polls[1].revents & POLLIN))
            accept_some(http);
    }
    free(polls);
    return NULL;
}

/* ------------------------------------------------------------------------ */

df_status df_http_gate_start(df_http *http, df_error *error)
{
    unsigned limit = http->config.connection_limit;
    /* Cheap to hold, but each is a descriptor: a few per MHD slot. */
    http->pending_capacity = limit * 4 < 256 ? 256 : limit * 4 > 1024 ? 1024 : limit * 4;
    http->pending = calloc(http->pending_capacity, sizeof *http->pending);
    http->peek = malloc(DF_HTTP_MAX_HEAD_BYTES + 1);
    if (!http->pending || !http->peek)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    if (pipe2(http->gate_wake, O_NONBLOCK | O_CLOEXEC)) {
        http->gate_wake[0] = http->gate_wake[1] = -1;
        return df_error_set(error, DF_ERR_IO, "pipe: %s", strerror(errno));
    }
    int rc = pthread_create(&http->gate, NULL, gate_main, http);
    if (rc)
        return df_error_set(error, DF_ERR_IO, "cannot start a thread: %s", strerror(rc));
    http->gate_started = 1;
    return DF_OK;
}

void df_http_gate_wake(df_http *http)
{
    if (http->gate_wake[1] >= 0)
        (void)!write(http->gate_wake[1], "", 1);
}

void df_http_gate_stop(df_http *http)
{
    if (http->gate_started) {
        df_http_gate_wake(http);
        pthread_join(http->gate, NULL);
        http->gate_started = 0;
    }
    while (http->pending_count)
        drop(http, http->pending_count - 1, 1, 1);
    if (http->gate_wake[0] >= 0) {
        close(http->gate_wake[0]);
        close(http->gate_wake[1]);
        http->gate_wake[0] = http->gate_wake[1] = -1;
    }
    free(http->pending);
    free(http->peek);
    http->pending = NULL;
    http->peek = NULL;
}
