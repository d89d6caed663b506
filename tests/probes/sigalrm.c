/* EINTR storm: SIGALRM every millisecond (no SA_RESTART) while spawning N
 * children; every check must still complete. Prints the successful count. */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        char *av[] = {"true", NULL};
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, av, environ) == 0) {
            int st;
            while (waitpid(pid, &st, 0) < 0)
                ;
            ok++;
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("ok %d ticks>0 %d\n", ok, ticks > 0);
    return 0;
}
