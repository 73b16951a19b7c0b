/*
 * tests/fuzz/fuzz_keymsg.c - libFuzzer target for the messages between
 * hudumad's network process and its key process (keys/keymsg.c), the key
 * process's first line of defence.
 *
 * The input is one datagram as it would arrive on the socketpair.  Checked as
 * a request, it must be accepted only when it has the fixed size, the magic,
 * status 0, the exact data length of its operation (for SIGN_CHECKPOINT, arg
 * hashes of a consistency proof, at most 64, and a body of 1-512 bytes after
 * them; a wrapped DEK and a key id for DEK_UNWRAP, ...) and zero padding; checked as
 * a reply to every possible request, only when it answers that request with a
 * length that operation answers with.  Every refusal carries a message.  Any
 * broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keyproc_internal.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static int padding_zero(const struct kp_msg *m)
{
    for (size_t i = m->len; i < KP_DATA_MAX; i++)
        if (m->data[i])
            return 0;
    return 1;
}

static void as_request(const struct kp_msg *m, size_t size)
{
    struct keys_err err = {{0}};
    if (kp_check_request(m, size, &err) != KEYS_OK) {
        check(err.msg[0] != '\0');
        return;
    }
    check(size == KP_MSG_SIZE && m->magic == KP_MAGIC && m->status == 0 && padding_zero(m));
    switch (m->op) {
    case KP_OP_SIGN_CHECKPOINT:
        check(m->arg <= KEYS_PROOF_MAX && m->len > m->arg * KEYS_DIGEST_LEN &&
              m->len - m->arg * KEYS_DIGEST_LEN <= KEYS_CHECKPOINT_MAX);
        break;
    case KP_OP_DEK_UNWRAP:
        check(m->len == KEYS_WRAPPED_DEK_LEN && m->arg != 0);
        break;
    case KP_OP_DEK_CREATE:
        check(m->len == 0 && m->arg != 0);
        break;
    case KP_OP_TLS_UNWRAP:
        check(m->len > KEYS_WRAP_OVERHEAD && m->len <= KEYS_WRAPPED_MAX);
        break;
    case KP_OP_KEYRING:
    case KP_OP_PUBKEY:
        check(m->len == 0 && m->arg == 0);
        break;
    default:
        abort(); /* READY is never a request */
    }
}

static void as_reply(const struct kp_msg *m, size_t size)
{
    for (int op = KP_OP_READY; op < KP_OP_END; op++) {
        struct keys_err err = {{0}};
        if (kp_check_reply(m, size, (enum kp_op)op, m->seq, m->arg, &err) != KEYS_OK) {
            check(err.msg[0] != '\0');
            continue;
        }
        check(m->op == op && size == KP_MSG_SIZE && padding_zero(m));
        check(m->status <= 0 && m->len <= KP_DATA_MAX);
        if (op == KP_OP_SIGN_CHECKPOINT && m->status == 0)
            check(m->len == KEYS_SIG_RAW_LEN);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte chooses: odd, the rest is the start of a whole message
     * (zero-padded to its fixed size), so that valid messages are reachable;
     * even, the rest is the datagram as it is, whatever its size (recv with
     * MSG_TRUNC reports a longer one's real size). */
    if (size == 0)
        return 0;
    struct kp_msg *m = calloc(1, sizeof *m);
    check(m != NULL);
    size_t n = size - 1;
    memcpy(m, data + 1, n < sizeof *m ? n : sizeof *m);
    size_t seen = data[0] & 1 ? KP_MSG_SIZE : n;
    as_request(m, seen);
    as_reply(m, seen);
    free(m);
    return 0;
}
