/* A multithreaded forker: THREADS threads each run PER fork + execv of
 * /bin/true, while the main thread keeps posix_spawning (which uses the
 * cached connection). Prints the number of successful children. */
#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static int per;
static int ok_count;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < per; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char *av[] = {"true", NULL};
            execv("/bin/true", av);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            pthread_mutex_lock(&mu);
            ok_count++;
            pthread_mutex_unlock(&mu);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 16;
    per = argc > 2 ? atoi(argv[2]) : 10;
    pthread_t t[64];
    if (threads > 64)
        threads = 64;
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    int spawned = 0;
    for (int i = 0; i < per; i++) {
        char *av[] = {"true", NULL};
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, av, environ) == 0) {
            int st;
            waitpid(pid, &st, 0);
            spawned++;
        }
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("forked-ok %d spawned %d\n", ok_count, spawned);
    return 0;
}
