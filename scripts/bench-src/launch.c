#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
/* Prints the microseconds the launches took and the minor page faults of
   the launched processes (from fork to exit, hook included); appends each
   launch's nanoseconds, one per line, to the file argv[3]. */
int main(int argc, char **argv)
{
    int n = atoi(argv[2]);
    int spawn = !strcmp(argv[1], "spawn");
    FILE *each = argc > 3 ? fopen(argv[3], "a") : NULL;
    long long *ns = calloc((size_t)n, sizeof *ns);
    char *av[] = {"true", NULL};
    struct timespec a, b, c, d;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        pid_t pid;
        clock_gettime(CLOCK_MONOTONIC, &c);
        if (spawn) {
            if (posix_spawn(&pid, "/bin/true", NULL, NULL, av, environ) != 0) return 1;
        } else {
            pid = fork();
            if (pid == 0) { execve("/bin/true", av, environ); _exit(127); }
        }
        int st;
        waitpid(pid, &st, 0);
        clock_gettime(CLOCK_MONOTONIC, &d);
        if (ns) ns[i] = (d.tv_sec - c.tv_sec) * 1000000000LL + (d.tv_nsec - c.tv_nsec);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("%.0f %ld\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3, ru.ru_minflt);
    for (int i = 0; each && ns && i < n; i++) fprintf(each, "%lld\n", ns[i]);
    if (each) fclose(each);
    return 0;
}
