/* Strips its own protection (unsetenv LD_PRELOAD and RAMPART_SOCKET), then
 * calls system() and popen(): the hook must restore it for the shell. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    unsetenv("LD_PRELOAD");
    unsetenv("RAMPART_SOCKET");
    setenv("RAMPART_MODE", "disabled", 1);
    int r = system(argv[1]);
    FILE *p = popen(argv[2], "r");
    int c = p ? pclose(p) : -1;
    printf("system=%d pclose=%d\n", r, c);
    return 0;
}
