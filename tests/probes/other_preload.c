/* A second, co-resident preload library: hooks execve, says so on stderr,
 * forwards to the next definition. Built with -shared -fPIC -ldl. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

int execve(const char *path, char *const argv[], char *const envp[])
{
    static const char msg[] = "other-preload: execve\n";
    write(2, msg, sizeof msg - 1);
    int (*next)(const char *, char *const[], char *const[]) =
        (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execve");
    return next(path, argv, envp);
}
