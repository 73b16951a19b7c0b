/*
 * storage/rekey_internal.h - between deks.c and rekey.c: a rotation records
 * the re-encryption it starts in the same transaction as its new key.
 */
#ifndef HUDUMA_REKEY_INTERNAL_H
#define HUDUMA_REKEY_INTERNAL_H

#include "storage/storage.h"

/* Stages the progress record of a re-encryption to `target` in `tx`. */
int store_rekey_begin(struct store *st, struct store_txn *tx, uint32_t target, struct st_err *err);

#endif
