/* Linked with -static: LD_PRELOAD cannot load into it. It execs
 * /usr/bin/touch on argv[1]; under the preload that exec is NOT seen. */
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    char *av[] = {"touch", argv[1], NULL};
    execve("/usr/bin/touch", av, environ);
    return 127;
}
