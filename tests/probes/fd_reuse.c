/* The cached daemon connection must survive a program that closes every
 * descriptor and reuses the numbers: spawn once (the library caches its
 * socket), close fds >= 3, open a file that takes the old number, spawn
 * again, and check the file was not written to. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int spawn_touch(const char *path)
{
    char *av[] = {"touch", (char *)path, NULL};
    pid_t pid;
    int r = posix_spawn(&pid, "/usr/bin/touch", NULL, NULL, av, environ);
    if (r == 0) {
        int st;
        waitpid(pid, &st, 0);
    }
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int r1 = spawn_touch(argv[1]);
    for (int fd = 3; fd < 256; fd++)
        close(fd);
    int fds[8];
    for (int i = 0; i < 8; i++)
        fds[i] = open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0600);
    int r2 = spawn_touch(argv[2]);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    printf("r1=%d r2=%d\n", r1, r2);
    return 0;
}
