/*
 * keys/keyfile.c - the master key file.
 *
 * Format (40 bytes, nothing before or after):
 *
 *   "HUDUMAK1"   8-byte magic; the final character is the format version
 *   master key   32 random bytes
 *
 * keys_create_file() makes it with O_CREAT | O_EXCL and mode 0600, so that an
 * existing key is never overwritten, fills it from OpenSSL's private DRBG,
 * writes it completely and fsyncs both the file and its directory before
 * reporting success.  If any step fails, the partial file is removed so that a
 * retry is not refused.
 *
 * keyfile_read() refuses a file that group or others may access in any way
 * (as ssh does with private keys), one that is not a regular file, one whose
 * magic is not ours, and one of the wrong length.  The bytes are read into a
 * buffer the caller provides, which for keys_open_file() is locked memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "keys/keyring_internal.h"

/* "HUDUMAK" without the version character. */
#define MAGIC_FAMILY_LEN (KEYS_FILE_MAGIC_LEN - 1)

/* ---- creating ------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sync_parent_dir(const char *path, struct keys_err *err)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return keys_fail(err, KEYS_ENOMEM, "out of memory");

    int rc = KEYS_OK;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = keys_fail(err, KEYS_EIO, "cannot sync the directory of key file %s: %s", path,
                       strerror(errno));
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

static int write_new_key(int fd, const char *path, struct keys_err *err)
{
    uint8_t buf[KEYS_FILE_LEN];
    memcpy(buf, KEYS_FILE_MAGIC, KEYS_FILE_MAGIC_LEN);

    int rc = KEYS_OK;
    if (RAND_priv_bytes(buf + KEYS_FILE_MAGIC_LEN, KEYS_MASTER_LEN) != 1)
        rc = keys_fail_crypto(err, "generating the master key");
    else if (fchmod(fd, 0600) != 0 || write_all(fd, buf, sizeof(buf)) != 0 || fsync(fd) != 0)
        rc = keys_fail(err, KEYS_EIO, "cannot write key file %s: %s", path, strerror(errno));
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

int keys_create_file(const char *path, struct keys_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return keys_fail(err, KEYS_EEXIST, "key file %s already exists; it is never overwritten",
                         path);
    if (fd < 0)
        return keys_fail(err, KEYS_EIO, "cannot create key file %s: %s", path, strerror(errno));

    int rc = write_new_key(fd, path, err);
    if (close(fd) != 0 && rc == KEYS_OK)
        rc = keys_fail(err, KEYS_EIO, "cannot write key file %s: %s", path, strerror(errno));
    if (rc == KEYS_OK)
        rc = sync_parent_dir(path, err);
    if (rc != KEYS_OK)
        unlink(path);
    return rc;
}

/* ---- reading --------------------------------------------------------------- */

/* Reads until `cap` bytes or end of file; returns the count, or -1. */
static ssize_t read_upto(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int check_file_status(int fd, const char *path, struct keys_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return keys_fail(err, KEYS_EIO, "cannot stat key file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return keys_fail(err, KEYS_EIO, "key file %s is not a regular file", path);
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return keys_fail(err, KEYS_EIO,
                         "key file %s is accessible to group or others (mode %04o); "
                         "it must be 0600 or stricter",
                         path, (unsigned)(st.st_mode & 07777));
    return KEYS_OK;
}

static char printable(uint8_t c)
{
    return c >= 0x20 && c < 0x7f ? (char)c : '?';
}

static int check_contents(const uint8_t *buf, size_t len, const char *path, struct keys_err *err)
{
    if (len < KEYS_FILE_MAGIC_LEN || memcmp(buf, KEYS_FILE_MAGIC, MAGIC_FAMILY_LEN) != 0)
        return keys_fail(err, KEYS_EFORMAT, "%s is not a Huduma master key file (bad magic)", path);
    if (buf[MAGIC_FAMILY_LEN] != (uint8_t)KEYS_FILE_MAGIC[MAGIC_FAMILY_LEN])
        return keys_fail(err, KEYS_EFORMAT,
                         "key file %s has format version '%c'; this release reads '%c'", path,
                         printable(buf[MAGIC_FAMILY_LEN]), KEYS_FILE_MAGIC[MAGIC_FAMILY_LEN]);
    if (len != KEYS_FILE_LEN)
        return keys_fail(err, KEYS_EFORMAT,
                         "key file %s has the wrong length (a key file is exactly %d bytes)", path,
                         KEYS_FILE_LEN);
    return KEYS_OK;
}

/* Reads the file straight into `buf`, then probes one byte more to notice trailing data. */
static int read_contents(int fd, const char *path, uint8_t buf[KEYS_FILE_LEN], struct keys_err *err)
{
    uint8_t extra;
    ssize_t n = read_upto(fd, buf, KEYS_FILE_LEN);
    ssize_t more = n == KEYS_FILE_LEN ? read_upto(fd, &extra, 1) : 0;
    if (n < 0 || more < 0)
        return keys_fail(err, KEYS_EIO, "cannot read key file %s: %s", path, strerror(errno));
    return check_contents(buf, (size_t)(n + more), path, err);
}

int keyfile_read(const char *path, uint8_t buf[KEYS_FILE_LEN], struct keys_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return keys_fail(err, KEYS_EIO, "cannot open key file %s: %s", path, strerror(errno));

    int rc = check_file_status(fd, path, err);
    if (rc == KEYS_OK)
        rc = read_contents(fd, path, buf, err);
    if (rc != KEYS_OK)
        OPENSSL_cleanse(buf, KEYS_FILE_LEN);
    close(fd);
    return rc;
}
