/* Network isolation of a child process (see isolate.h). Async-signal-safe throughout. */
#include "route/isolate.h"

#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, s, strlen(s));
    close(fd);
    return w == (ssize_t)strlen(s) ? 0 : -1;
}

/* Formats an unsigned number into `out` (async-signal-safe). */
static void utoa(unsigned long v, char *out)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

/* Appends `s` to the NUL-terminated `dst` of capacity `cap`, truncating
 * (async-signal-safe). */
static void cat(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(dst);
    while (*s && n + 1 < cap)
        dst[n++] = *s++;
    dst[n] = '\0';
}

/* One line of a uid or gid map: `id` inside is `id` outside, one id ("ID ID 1"). */
static void map_line(unsigned long id, char map[64])
{
    char num[24];
    utoa(id, num);
    map[0] = '\0';
    cat(map, 64, num);
    cat(map, 64, " ");
    cat(map, 64, num);
    cat(map, 64, " 1");
}

/* Writes this process's uid and gid maps (the same ids inside as outside). */
static const char *write_maps(uid_t uid, gid_t gid)
{
    char map[64];
    map_line(uid, map);
    if (write_file("/proc/self/setgroups", "deny") != 0 ||
        write_file("/proc/self/uid_map", map) != 0)
        return "cannot map the user into the new user namespace";
    map_line(gid, map);
    if (write_file("/proc/self/gid_map", map) != 0)
        return "cannot map the group into the new user namespace";
    return NULL;
}

const char *sg_isolate_network(void)
{
    if (unshare(CLONE_NEWNET) == 0)
        return NULL;
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
        return "cannot create a network namespace (no privilege and no user namespaces)";
    /* The maps belong to the process's owner only while it is dumpable (else to root): a
     * gateway that switched users, or cleared the flag, is not. The flag goes back at once;
     * until then only a tracer the kernel allows for this user could attach (yama). */
    int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (dumpable == 0)
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    const char *why = write_maps(uid, gid);
    if (dumpable == 0)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return why;
}
