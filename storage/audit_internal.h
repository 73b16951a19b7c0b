/*
 * storage/audit_internal.h - what the audit log's files in storage/ share
 * and nobody else sees: the compact range with a callback for every node it
 * completes (the log stores those at heights 8, 16, ...), the empty tree's
 * root, the log's key layout (storage.h describes it), and its error helper.
 */
#ifndef HUDUMA_AUDIT_INTERNAL_H
#define HUDUMA_AUDIT_INTERNAL_H

#include "storage/store_internal.h"

/* Called for each node a push completes: height >= 1, its index at that height. */
typedef void (*audit_node_fn)(void *ctx, unsigned height, uint64_t index,
                              const uint8_t hash[AUDIT_HASH_LEN]);
void audit_range_push_cb(struct audit_range *r, const uint8_t leaf_hash[AUDIT_HASH_LEN],
                         audit_node_fn fn, void *ctx);
void audit_empty_root(uint8_t out[AUDIT_HASH_LEN]);

/* Fills err (when not NULL) with the formatted message; returns code. */
int audit_fail(struct st_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define AUDIT_KEY_BATCH   'B' /* 'B' first index(BE64): a batch of leaves */
#define AUDIT_KEY_NODE    'N' /* 'N' height(1) index(BE64) */
#define AUDIT_KEY_META    'M' /* 'M' name */
#define AUDIT_META_SIZE   "size"
#define AUDIT_TILE_HEIGHT 8 /* a tile is a subtree of height 8: 256 hashes */

#endif
