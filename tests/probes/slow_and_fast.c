/* Thread A spawns a command whose check the daemon holds for a while;
 * meanwhile thread B forks and execs. B's child must not wait for A's check
 * (no lock shared between them). Prints B's fork+exec+wait time in ms. */
#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *slow(void *arg)
{
    (void)arg;
    char *av[] = {"true", "slow", NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/bin/true", NULL, NULL, av, environ) == 0) {
        int st;
        waitpid(pid, &st, 0);
    }
    return NULL;
}

int main(void)
{
    pthread_t a;
    pthread_create(&a, NULL, slow, NULL);
    usleep(100 * 1000);
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        char *av[] = {"true", "fast", NULL};
        execv("/bin/true", av);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    double t1 = now_ms();
    pthread_join(a, NULL);
    printf("fast_ms %.0f\n", t1 - t0);
    return 0;
}
