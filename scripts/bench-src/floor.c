/* Answers every preflight request with one fixed "allowed" reply, at once or
   after working (busy) argv[2] microseconds, and then works argv[3]
   microseconds more after the answer was sent. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}
static const char body[] = "{\"allowed\":true,\"decision\":\"allow\",\"message\":\"floor\",\"policy\":\"floor\"}";
int main(int argc, char **argv)
{
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (argc < 2 || strlen(argv[1]) >= sizeof a.sun_path) return 2;
    long long work_ns = argc > 2 ? atoll(argv[2]) * 1000 : 0;
    long long after_ns = argc > 3 ? atoll(argv[3]) * 1000 : 0;
    strcpy(a.sun_path, argv[1]);
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 128)) { perror("floor"); return 1; }
    char resp[256], buf[70000];
    int rl = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n\r\n%s", strlen(body), body);
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) continue;
        size_t have = 0;
        int open = 1;
        while (open) {
            ssize_t r = read(c, buf + have, sizeof buf - have);
            if (r <= 0) break;
            have += (size_t)r;
            char *e;
            while (open && (e = memmem(buf, have, "\r\n\r\n", 4))) {
                size_t hl = (size_t)(e + 4 - buf);
                char *cl = memmem(buf, hl, "Content-Length:", 15);
                size_t bl = cl ? strtoul(cl + 15, NULL, 10) : 0;
                if (have < hl + bl) break;
                for (long long t0 = now_ns(); work_ns && now_ns() - t0 < work_ns;) {}
                if (write(c, resp, (size_t)rl) != rl) open = 0;
                for (long long t0 = now_ns(); after_ns && now_ns() - t0 < after_ns;) {}
                if (memmem(buf, hl, "Connection: close", 17)) open = 0;
                memmove(buf, buf + hl + bl, have - hl - bl);
                have -= hl + bl;
            }
        }
        close(c);
    }
}
