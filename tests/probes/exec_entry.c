/* Runs `touch FILE` through one libc entry point chosen by argv[1] and
 * reports the result on stdout as "<api> ret=<r> errno=<e>" (exec family:
 * only reached when the exec failed). Used to test every hooked symbol. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int wait_child(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s API FILE\n", argv[0]);
        return 2;
    }
    const char *api = argv[1], *file = argv[2];
    char *targv[] = {"touch", (char *)file, NULL};
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "touch '%s'", file);
    int r = 0;
    errno = 0;
    if (!strcmp(api, "execl")) {
        r = execl("/usr/bin/touch", "touch", file, (char *)NULL);
    } else if (!strcmp(api, "execle")) {
        r = execle("/usr/bin/touch", "touch", file, (char *)NULL, environ);
    } else if (!strcmp(api, "execlp")) {
        r = execlp("touch", "touch", file, (char *)NULL);
    } else if (!strcmp(api, "execv")) {
        r = execv("/usr/bin/touch", targv);
    } else if (!strcmp(api, "execve")) {
        r = execve("/usr/bin/touch", targv, environ);
    } else if (!strcmp(api, "execvp")) {
        r = execvp("touch", targv);
    } else if (!strcmp(api, "execvpe")) {
        r = execvpe("touch", targv, environ);
    } else if (!strcmp(api, "fexecve")) {
        int fd = open("/usr/bin/touch", O_RDONLY | O_CLOEXEC);
        r = fexecve(fd, targv, environ);
    } else if (!strcmp(api, "execveat")) {
        int dfd = open("/usr/bin", O_RDONLY | O_DIRECTORY);
        r = execveat(dfd, "touch", targv, environ, 0);
    } else if (!strcmp(api, "posix_spawn") || !strcmp(api, "posix_spawnp")) {
        pid_t pid;
        r = !strcmp(api, "posix_spawn") ? posix_spawn(&pid, "/usr/bin/touch", NULL, NULL, targv, environ)
                                        : posix_spawnp(&pid, "touch", NULL, NULL, targv, environ);
        if (r == 0)
            r = wait_child(pid);
        printf("%s ret=%d errno=%d\n", api, r, errno);
        return 0;
    } else if (!strcmp(api, "pidfd_spawnp")) {
        /* Resolved dynamically: glibc < 2.39 has none, our library exports one. */
        int (*f)(int *, const char *, const void *, const void *, char *const[], char *const[]) =
            (int (*)(int *, const char *, const void *, const void *, char *const[], char *const[]))dlsym(
                RTLD_DEFAULT, "pidfd_spawnp");
        if (!f) {
            printf("%s absent\n", api);
            return 0;
        }
        int pidfd = -1;
        r = f(&pidfd, "touch", NULL, NULL, targv, environ);
        printf("%s ret=%d\n", api, r);
        return 0;
    } else if (!strcmp(api, "system")) {
        r = system(cmd);
        printf("%s ret=%d errno=%d\n", api, r, errno);
        return 0;
    } else if (!strcmp(api, "popen")) {
        FILE *p = popen(cmd, "r");
        if (!p) {
            printf("%s ret=null errno=%d\n", api, errno);
            return 0;
        }
        r = pclose(p);
        printf("%s ret=%d errno=%d\n", api, r, errno);
        return 0;
    } else {
        fprintf(stderr, "unknown api %s\n", api);
        return 2;
    }
    printf("%s ret=%d errno=%d\n", api, r, errno);
    return 0;
}
