/*
 * keys/keyfile.c - the plain master key file, and the careful file writes and
 * reads that the other files of keys/ share.
 *
 * The master key file exists only on registers made with the insecure
 * software-key flag (machines without any TPM); a TPM register has none.
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
 *
 * keys_write_file() writes the files of <register>/keys (the sealed hierarchy,
 * wrapped keys, the public key) whole or not at all: O_EXCL for a new file, or
 * a temporary file beside it and rename(2); fsync of file and directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
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

/* ---- other files of keys/ -------------------------------------------------------- */

static int write_new(const char *path, const void *data, size_t len, unsigned mode,
                     struct keys_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST)
        return keys_fail(err, KEYS_EEXIST, "%s already exists; it is never overwritten", path);
    if (fd < 0)
        return keys_fail(err, KEYS_EIO, "cannot create %s: %s", path, strerror(errno));
    int rc = KEYS_OK;
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0)
        rc = keys_fail(err, KEYS_EIO, "cannot write %s: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == KEYS_OK)
        rc = keys_fail(err, KEYS_EIO, "cannot write %s: %s", path, strerror(errno));
    if (rc != KEYS_OK)
        unlink(path);
    return rc;
}

static int replace(const char *path, const void *data, size_t len, unsigned mode,
                   struct keys_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
        return keys_fail(err, KEYS_EIO, "path too long: %s", path);
    unlink(tmp);
    int rc = write_new(tmp, data, len, mode, err);
    if (rc == KEYS_OK && rename(tmp, path) != 0) {
        rc = keys_fail(err, KEYS_EIO, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

int keys_write_file(const char *path, const void *data, size_t len, unsigned mode, bool exclusive,
                    struct keys_err *err)
{
    int rc =
        exclusive ? write_new(path, data, len, mode, err) : replace(path, data, len, mode, err);
    if (rc == KEYS_OK)
        rc = sync_parent_dir(path, err);
    return rc;
}

int keys_read_file(const char *path, size_t max, uint8_t **out, size_t *len, struct keys_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return keys_fail(err, errno == ENOENT ? KEYS_EUNKNOWN : KEYS_EIO, "cannot open %s: %s",
                         path, strerror(errno));
    struct stat st;
    int rc = KEYS_OK;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = keys_fail(err, KEYS_EIO, "%s is not a readable regular file", path);
    else if ((size_t)st.st_size > max)
        rc = keys_fail(err, KEYS_EFORMAT, "%s is too large (%lld bytes; at most %zu)", path,
                       (long long)st.st_size, max);
    else if ((buf = malloc(max + 1)) == NULL)
        rc = keys_fail(err, KEYS_ENOMEM, "out of memory");
    ssize_t n = rc == KEYS_OK ? read_upto(fd, buf, max + 1) : 0;
    if (rc == KEYS_OK && n < 0)
        rc = keys_fail(err, KEYS_EIO, "cannot read %s: %s", path, strerror(errno));
    else if (rc == KEYS_OK && (size_t)n > max)
        rc = keys_fail(err, KEYS_EFORMAT, "%s is too large (at most %zu bytes)", path, max);
    close(fd);
    if (rc != KEYS_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = (size_t)n;
    return KEYS_OK;
}
