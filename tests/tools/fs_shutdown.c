/*
 * tests/tools/fs_shutdown.c - makes a file system fail every later I/O, as a
 * disk that died would, for tests/integration/audit_faults.sh.  A test
 * helper only: built into build/<variant>/tools/, never installed.
 *
 *   fs_shutdown PATH      (root: CAP_SYS_ADMIN)
 *
 * PATH is any file or directory of the file system.  The shutdown ioctl
 * (ext4's EXT4_IOC_SHUTDOWN, XFS's XFS_IOC_GOINGDOWN: the same number) with
 * "no log flush": what is not yet committed to the file system's own journal
 * is lost, and from then on every read and write fails with EIO until the
 * file system is unmounted and mounted again.  Exit 0 when it is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/types.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FS_SHUTDOWN            _IOR('X', 125, __u32)
#define FS_SHUTDOWN_NOLOGFLUSH 0x2

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fs_shutdown PATH\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "fs_shutdown: cannot open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    __u32 how = FS_SHUTDOWN_NOLOGFLUSH;
    if (ioctl(fd, FS_SHUTDOWN, &how) != 0) {
        fprintf(stderr, "fs_shutdown: %s: %s\n", argv[1], strerror(errno));
        close(fd);
        return 1;
    }
    close(fd);
    return 0;
}
