/*
 * appliance/audit_impl.h - what the audit files of the appliance share and
 * nobody else sees.
 *
 *   audit.c         the log on hudumad's side, and the acts `huduma` records
 *   audit_api.c     the log's routes
 *   audit_check.c   what huduma-audit verifies with nothing but the public key
 *   audit_leaf.c    one leaf: one access or administrative act, as JSON
 *   audit_note.c    checkpoints as signed notes (and audit_errorf)
 *   audit_signer.c  who signs checkpoints: the register's key, through keys/
 */
#ifndef HUDUMA_AUDIT_IMPL_H
#define HUDUMA_AUDIT_IMPL_H

#include "audit.h"

#include <stddef.h>

/* Writes the message into err (when there is room for it) and returns -1. */
int audit_errorf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
