/*
 * librampart.so — the parts that must be C.
 *
 * 1. execl, execle, execlp: stable Rust cannot define C-variadic functions.
 *    Each collects its arguments into a NULL-terminated array on the stack
 *    (no malloc: these run in vfork children and signal handlers, the same
 *    reason glibc's own execl uses the stack) and forwards to the Rust hooks
 *    for execv / execve / execvp, registered by the library constructor.
 *    All va_arg extraction happens inside the variadic function itself
 *    (va_list is passed by value on some ABIs).
 * 2. A per-thread reentrancy flag (stable Rust has no #[thread_local] in
 *    no_std). initial-exec TLS: no allocation on first use.
 * 3. Linux: the memory functions compilers call (memcpy, memmove, memset,
 *    memcmp, bcmp), hidden, so that this library's calls bind here at link
 *    time instead of to libc (see the section below).
 *
 * Everything except the three exec functions is hidden; the version script
 * (exports.map) exports exactly the hooked names (Linux; on macOS nothing
 * is exported, see HOOK below).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

/* Our own prototypes instead of <unistd.h>: glibc marks execl's `arg` as
 * nonnull, which would let the compiler drop our NULL checks. */
int execv(const char *path, char *const argv[]);
int execvp(const char *file, char *const argv[]);
int execve(const char *path, char *const argv[], char *const envp[]);
int execl(const char *path, const char *arg, ...);
int execlp(const char *file, const char *arg, ...);
int execle(const char *path, const char *arg, ...);

#define HIDDEN __attribute__((visibility("hidden")))
#define EXPORT __attribute__((visibility("default")))

/* How the execl* hooks are installed.
 * Linux: exported under the libc names; LD_PRELOAD puts them first.
 * macOS: dyld binds other images to libSystem by (library, name), so the
 * hooks are private functions named rampart_execl* and listed in the
 * __DATA,__interpose section as (replacement, original) pairs (the Rust
 * hooks have their entries in apple.rs). A reference to execl from this
 * image still reaches libSystem, which is how the Rust side calls the
 * originals too. */
#ifdef __APPLE__
#define HOOK(name) HIDDEN rampart_##name
#define TLS_MODEL
#define IN_DATA
#else
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
/* Exported by the Rust side: `execl` etc. in hooks.rs are jumps to these.
 * rustc hides every symbol its own version script does not list, and GNU ld
 * refuses a second anonymous version script to add these three. */
#define HOOK(name) HIDDEN rampart_##name
#else
/* Elsewhere exported here and listed in exports.map (needs a linker that
 * merges version scripts, such as lld). */
#define HOOK(name) EXPORT name
#endif
#define TLS_MODEL __attribute__((tls_model("initial-exec")))
/* In .data with the Rust side's small statics (see real.rs), not in .bss: the
 * constructor writes these in every process, and a .bss that spills past the
 * last file-backed page costs an anonymous page, one more fault per load. */
#define IN_DATA __attribute__((section(".data")))
#endif

/* More arguments than this is treated as E2BIG (the kernel's own limit on
 * argument count is far lower in practice). */
#define RAMPART_MAX_ARGS 65536

typedef int (*rampart_execv_fn)(const char *, char *const[]);
typedef int (*rampart_execve_fn)(const char *, char *const[], char *const[]);

static rampart_execv_fn hook_execv IN_DATA;
static rampart_execv_fn hook_execvp IN_DATA;
static rampart_execve_fn hook_execve IN_DATA;

/* Linux: initial-exec TLS, no allocation on first use. macOS: dyld's
 * thread-local variables, allocated on a thread's first access (a known
 * limit there: a thread's very first hook call may allocate). */
static __thread int rampart_in_hook TLS_MODEL;

HIDDEN void rampart_shim_register(rampart_execv_fn v, rampart_execv_fn vp, rampart_execve_fn ve)
{
    hook_execv = v;
    hook_execvp = vp;
    hook_execve = ve;
}

/* Returns 1 and sets the flag if this thread was not inside a hook. */
HIDDEN int rampart_guard_enter(void)
{
    if (rampart_in_hook)
        return 0;
    rampart_in_hook = 1;
    return 1;
}

HIDDEN void rampart_guard_leave(void)
{
    rampart_in_hook = 0;
}

/* Before the constructor registered the Rust hooks, the exported names
 * (ours on Linux, since we are preloaded; libSystem's on macOS, where a
 * call from this image is not interposed) are used. */
static int call_execv(const char *path, char *const argv[])
{
    return hook_execv ? hook_execv(path, argv) : execv(path, argv);
}

static int call_execvp(const char *file, char *const argv[])
{
    return hook_execvp ? hook_execvp(file, argv) : execvp(file, argv);
}

static int call_execve(const char *path, char *const argv[], char *const envp[])
{
    return hook_execve ? hook_execve(path, argv, envp) : execve(path, argv, envp);
}

/* Counts the arguments after `arg` up to the terminating NULL. */
#define COUNT_ARGS(n, arg, last)                                   \
    do {                                                           \
        va_list ap_;                                               \
        va_start(ap_, last);                                       \
        n = (arg) != NULL ? 1 : 0;                                 \
        if ((arg) != NULL) {                                       \
            while (va_arg(ap_, const char *) != NULL) {            \
                if (++n > RAMPART_MAX_ARGS)                        \
                    break;                                         \
            }                                                      \
        }                                                          \
        va_end(ap_);                                               \
    } while (0)

/* The common start of the execl* hooks. Declares `size_t n` (the argument
 * count), the stack array `const char *argv[n + 1]` holding `arg`, the
 * variadic arguments after it and a NULL, and `va_list ap`, started and
 * left just past the last argument read (before the NULL terminator when
 * n > 0) for execle's envp; the caller ends it. More than
 * RAMPART_MAX_ARGS arguments: returns -1 with errno E2BIG. A macro because
 * both the va_list and the array must live in the variadic function. */
#define COLLECT_ARGV(arg)                                          \
    size_t n;                                                      \
    COUNT_ARGS(n, arg, arg);                                       \
    if (n > RAMPART_MAX_ARGS) {                                    \
        errno = E2BIG;                                             \
        return -1;                                                 \
    }                                                              \
    const char *argv[n + 1];                                       \
    va_list ap;                                                    \
    va_start(ap, arg);                                             \
    argv[0] = arg;                                                 \
    for (size_t i = 1; i < n; i++)                                 \
        argv[i] = va_arg(ap, const char *);                        \
    argv[n] = NULL

int HOOK(execl)(const char *path, const char *arg, ...)
{
    COLLECT_ARGV(arg);
    va_end(ap);
    return call_execv(path, (char *const *)argv);
}

int HOOK(execlp)(const char *file, const char *arg, ...)
{
    COLLECT_ARGV(arg);
    va_end(ap);
    return call_execvp(file, (char *const *)argv);
}

int HOOK(execle)(const char *path, const char *arg, ...)
{
    COLLECT_ARGV(arg);
    /* The NULL terminator, then envp. When arg itself was NULL the
     * terminator is `arg` and envp is the next argument. */
    if (n > 0)
        (void)va_arg(ap, const char *);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return call_execve(path, (char *const *)argv, envp);
}

#ifdef __APPLE__
/* One __interpose entry: the layout dyld reads. */
struct rampart_interpose {
    const void *replacement;
    const void *original;
};

#define RAMPART_INTERPOSE(name)                                               \
    __attribute__((used, section("__DATA,__interpose")))                      \
    static const struct rampart_interpose rampart_interpose_##name = {        \
        (const void *)&rampart_##name, (const void *)&name}

RAMPART_INTERPOSE(execl);
RAMPART_INTERPOSE(execlp);
RAMPART_INTERPOSE(execle);
#endif

#ifdef __linux__
/* 3. Memory functions. Rust and C compilers turn copies, fills and slice
 * comparisons into calls of these. Bound to libc, each call lands in one of
 * libc's string-function pages (memcpy, memset and memcmp are three), and a
 * forked child faults in every code page it runs on its way to exec (about
 * 1.5 µs each here; scripts/fault-map): these definitions keep the hook in
 * its own pages. The hook copies, fills and compares short strings; the
 * constructor copies a few KiB once per process. x86_64 uses the string
 * instructions (fast for all sizes with ERMS/FSRM), other architectures
 * word loops. build.rs compiles this file with -fno-builtin and
 * -fno-tree-loop-distribute-patterns so that the compiler cannot turn these
 * loops back into calls of themselves. */
#include <stdint.h>

HIDDEN void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
#if defined(__x86_64__)
    void *d = dst;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
#else
    unsigned char *d = dst;
    const unsigned char *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 7) == 0) {
        for (; n >= 8; n -= 8, d += 8, s += 8)
            *(uint64_t *)(void *)d = *(const uint64_t *)(const void *)s;
    }
    for (; n > 0; n--)
        *d++ = *s++;
#endif
    return dst;
}

HIDDEN void *memmove(void *dst, const void *src, size_t n)
{
    uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    if (d - s >= n) /* no overlap that a forward copy would clobber */
        return memcpy(dst, src, n);
    unsigned char *dp = dst;
    const unsigned char *sp = src;
    while (n > 0) {
        n--;
        dp[n] = sp[n];
    }
    return dst;
}

HIDDEN void *memset(void *dst, int c, size_t n)
{
#if defined(__x86_64__)
    void *d = dst;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
#else
    unsigned char *d = dst;
    for (; n > 0; n--)
        *d++ = (unsigned char)c;
#endif
    return dst;
}

HIDDEN int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

HIDDEN int bcmp(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n);
}
#endif
