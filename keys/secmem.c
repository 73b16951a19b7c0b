/*
 * keys/secmem.c - memory for secrets.
 *
 * Each allocation is its own anonymous private mapping, rounded up to whole
 * pages so that no other data shares them.  The pages are mlock'd, so the
 * kernel never writes them to swap, and marked MADV_DONTDUMP, so they stay out
 * of core dumps.  mlock may be refused by RLIMIT_MEMLOCK (EPERM, ENOMEM or
 * EAGAIN for an unprivileged process); the memory is still handed out and the
 * caller is told through *locked, so that it can record and report it.  Freeing
 * wipes the pages with OPENSSL_cleanse before they go back to the kernel.
 *
 * A keys_buf (keys.h) is a secret handed to a caller (an unwrapped TLS key)
 * in such a mapping: a small header, then the bytes.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "keys/keyring_internal.h"

static size_t round_to_pages(size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t p = page > 0 ? (size_t)page : 4096;
    return (len + p - 1) / p * p;
}

static bool mlock_refused_by_limit(int e)
{
    return e == EPERM || e == ENOMEM || e == EAGAIN;
}

/*
 * Returns NULL with errno set when the mapping cannot be made, mlock fails for
 * another reason than the limit, or MADV_DONTDUMP is refused.
 */
void *secmem_alloc(size_t len, size_t *map_len, bool *locked)
{
    size_t n = round_to_pages(len);
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;

    *locked = mlock(p, n) == 0;
    int e = errno;
    if (!*locked && !mlock_refused_by_limit(e))
        goto fail;
    if (madvise(p, n, MADV_DONTDUMP) != 0) {
        e = errno;
        goto fail;
    }
    *map_len = n;
    return p;

fail:
    if (*locked)
        munlock(p, n);
    munmap(p, n);
    errno = e;
    return NULL;
}

void secmem_free(void *p, size_t map_len, bool locked)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, map_len);
    if (locked)
        munlock(p, map_len);
    munmap(p, map_len);
}

struct keys_buf {
    size_t map_len;
    bool locked;
    size_t len;
    uint8_t data[];
};

struct keys_buf *keys_buf_new(size_t len)
{
    size_t map_len;
    bool locked;
    struct keys_buf *b = secmem_alloc(sizeof(*b) + len, &map_len, &locked);
    if (b == NULL)
        return NULL;
    b->map_len = map_len;
    b->locked = locked;
    b->len = len;
    return b;
}

uint8_t *keys_buf_mut(struct keys_buf *b)
{
    return b->data;
}

const uint8_t *keys_buf_data(const struct keys_buf *b)
{
    return b->data;
}

size_t keys_buf_len(const struct keys_buf *b)
{
    return b->len;
}

void keys_buf_free(struct keys_buf *b)
{
    if (b != NULL)
        secmem_free(b, b->map_len, b->locked);
}
