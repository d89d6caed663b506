/* vfork users: N rounds of vfork + execve(touch FILE_i) from the same parent
 * (as dash and CPython do), then a posix_spawn from the parent to show its
 * own state was not disturbed by the children. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int rounds = atoi(argv[1]);
    const char *prefix = argv[2];
    char path[4096];
    for (int i = 0; i < rounds; i++) {
        snprintf(path, sizeof path, "%s-%d", prefix, i);
        char *targv[] = {"touch", path, NULL};
        pid_t pid = vfork();
        if (pid == 0) {
            execve("/usr/bin/touch", targv, environ);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
    }
    snprintf(path, sizeof path, "%s-parent", prefix);
    char *targv[] = {"touch", path, NULL};
    pid_t pid;
    int r = posix_spawn(&pid, "/usr/bin/touch", NULL, NULL, targv, environ);
    if (r == 0) {
        int st;
        waitpid(pid, &st, 0);
    }
    printf("done %d\n", r);
    return 0;
}
