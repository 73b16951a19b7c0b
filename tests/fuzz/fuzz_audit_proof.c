/*
 * tests/fuzz/fuzz_audit_proof.c - libFuzzer target for the audit log's proof
 * parser, the RFC 9162 proof verifiers and the tlog-tiles path parser
 * (appliance/audit_check.c, storage/audit_merkle.c, appliance/audit_api.c).
 *
 * The first byte chooses: inclusion proof JSON, consistency proof JSON, or a
 * tile path; the rest is the text.  Promises checked, any broken one aborts:
 *   - a parsed proof has at most AUDIT_PROOF_MAX hashes;
 *   - the verifiers run on any parsed proof and any indices without reading
 *     outside it, and never accept a proof for a root no proof can reach (all
 *     0xff, which no SHA-256 output is expected to be);
 *   - a tile path that parses names a level of 0-63, a width of 1-256, and
 *     writes back (3-digit groups, 'x' on all but the last) to the same text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/audit.h"
#include "keys/keys.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void tile_path_again(bool entries, unsigned level, uint64_t index, unsigned width, char *out,
                            size_t outlen)
{
    char groups[8][5];
    int k = 0;
    do {
        snprintf(groups[k++], sizeof groups[0], "%03llu", (unsigned long long)(index % 1000));
        index /= 1000;
    } while (index);
    size_t at = entries ? (size_t)snprintf(out, outlen, "entries")
                        : (size_t)snprintf(out, outlen, "%u", level);
    for (int i = k - 1; i >= 0; i--)
        at += (size_t)snprintf(out + at, outlen - at, "/%s%s", i > 0 ? "x" : "", groups[i]);
    if (width < 256)
        snprintf(out + at, outlen - at, ".p/%u", width);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (mode == 2) {
        char path[256];
        if (len >= sizeof path || memchr(text, '\0', len))
            return 0;
        memcpy(path, text, len);
        path[len] = '\0';
        bool entries;
        unsigned level, width;
        uint64_t index;
        if (audit_tile_path(path, &entries, &level, &index, &width) != 0)
            return 0;
        check(level <= 63 && width >= 1 && width <= 256);
        char again[256];
        tile_path_again(entries, level, index, width, again, sizeof again);
        check(strcmp(again, path) == 0);
        return 0;
    }
    struct audit_proof p;
    if (audit_proof_parse(text, len, mode == 0, &p, NULL, 0) != 0)
        return 0;
    check(p.n <= AUDIT_PROOF_MAX);
    uint8_t leaf[AUDIT_HASH_LEN] = {0}, none[AUDIT_HASH_LEN];
    memset(none, 0xff, sizeof none);
    if (mode == 0)
        check(!keys_merkle_inclusion(p.a, p.b, leaf, p.hashes, p.n, none));
    else
        check(!keys_merkle_consistency(p.a, p.b, leaf, none, p.hashes, p.n) || p.a == 0);
    return 0;
}
