/*
 * appliance/metrics_audit.c - the audit log's part of /metrics (docs/audit.md,
 * "Watching the log"):
 *
 *   hudumad_audit_enabled                          1 logging on, 0 off
 *   hudumad_audit_tree_leaves                      leaves in the Merkle tree
 *   hudumad_audit_checkpoint_leaves                the tree size the latest
 *                                                  checkpoint signs
 *   hudumad_audit_checkpoint_failures_total        checkpoints not signed
 *   hudumad_audit_fold_leaves_total                leaves folded into the tree
 *   hudumad_audit_fold_failures_total              folds or syncs that failed
 *   hudumad_audit_journal_up{ring}                 0 when its last write failed
 *   hudumad_audit_journal_oldest_wait_seconds{ring} the oldest answer waiting
 *                                                  for its leaf
 *   hudumad_audit_journal_writes_total{ring,result}
 *   hudumad_audit_journal_leaves_total{ring,result}
 *
 * Everything is read as it is at the scrape: the log's head and the fold's
 * counters under their own locks, the rings' journal counters from the
 * atomics each ring alone writes (conn_journal.c fills struct metrics_journal).
 */
#include "metrics.h"

#include "audit.h"

#include <stdio.h>
#include <stdlib.h>

static void log_part(FILE *f, const struct audit_metrics *m)
{
    fprintf(f,
            "# HELP hudumad_audit_tree_leaves Leaves in the audit log's Merkle tree.\n"
            "# TYPE hudumad_audit_tree_leaves gauge\n"
            "hudumad_audit_tree_leaves %llu\n"
            "# HELP hudumad_audit_checkpoint_leaves The tree size the latest signed checkpoint "
            "covers (0: none yet).\n"
            "# TYPE hudumad_audit_checkpoint_leaves gauge\n"
            "hudumad_audit_checkpoint_leaves %llu\n"
            "# HELP hudumad_audit_checkpoint_failures_total Checkpoints that could not be signed "
            "or stored.\n"
            "# TYPE hudumad_audit_checkpoint_failures_total counter\n"
            "hudumad_audit_checkpoint_failures_total %llu\n"
            "# HELP hudumad_audit_fold_leaves_total Leaves the fold appended to the tree behind "
            "the journals.\n"
            "# TYPE hudumad_audit_fold_leaves_total counter\n"
            "hudumad_audit_fold_leaves_total %llu\n"
            "# HELP hudumad_audit_fold_failures_total Folds or syncs of the tree that failed (the "
            "journals keep the leaves; the tree lags).\n"
            "# TYPE hudumad_audit_fold_failures_total counter\n"
            "hudumad_audit_fold_failures_total %llu\n",
            (unsigned long long)m->tree_leaves, (unsigned long long)m->checkpoint_leaves,
            (unsigned long long)m->checkpoint_failures, (unsigned long long)m->fold.leaves,
            (unsigned long long)m->fold.failed);
}

static void journals_part(FILE *f, const struct metrics_journal *j, unsigned n)
{
    fputs("# HELP hudumad_audit_journal_up 1 when the ring's last audit journal write "
          "succeeded, 0 when it failed (its answers are withheld).\n"
          "# TYPE hudumad_audit_journal_up gauge\n",
          f);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "hudumad_audit_journal_up{ring=\"%u\"} %d\n", i, j[i].failed ? 0 : 1);
    fputs("# HELP hudumad_audit_journal_oldest_wait_seconds How long the ring's oldest held "
          "answer has waited for its leaf to be durable (0: none waits).\n"
          "# TYPE hudumad_audit_journal_oldest_wait_seconds gauge\n",
          f);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "hudumad_audit_journal_oldest_wait_seconds{ring=\"%u\"} %.3f\n", i,
                (double)j[i].oldest_wait_ms / 1000.0);
    fputs("# HELP hudumad_audit_journal_writes_total Synced audit journal writes that ended, "
          "by result.\n"
          "# TYPE hudumad_audit_journal_writes_total counter\n",
          f);
    for (unsigned i = 0; i < n; i++)
        fprintf(f,
                "hudumad_audit_journal_writes_total{ring=\"%u\",result=\"ok\"} %llu\n"
                "hudumad_audit_journal_writes_total{ring=\"%u\",result=\"failed\"} %llu\n",
                i, (unsigned long long)(j[i].writes - j[i].write_failures), i,
                (unsigned long long)j[i].write_failures);
    fputs("# HELP hudumad_audit_journal_leaves_total Leaves in those writes, by result "
          "(failed: their answers were withheld).\n"
          "# TYPE hudumad_audit_journal_leaves_total counter\n",
          f);
    for (unsigned i = 0; i < n; i++)
        fprintf(f,
                "hudumad_audit_journal_leaves_total{ring=\"%u\",result=\"durable\"} %llu\n"
                "hudumad_audit_journal_leaves_total{ring=\"%u\",result=\"failed\"} %llu\n",
                i, (unsigned long long)j[i].leaves_durable, i,
                (unsigned long long)j[i].leaves_failed);
}

char *metrics_audit_text(struct audit *a, const struct metrics_journal *j, unsigned n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    struct audit_metrics m = {0};
    if (a)
        audit_metrics(a, &m);
    fprintf(f,
            "# HELP hudumad_audit_enabled 1 when every access is recorded in the audit log, 0 "
            "when logging is off.\n"
            "# TYPE hudumad_audit_enabled gauge\n"
            "hudumad_audit_enabled %d\n",
            m.enabled ? 1 : 0);
    if (a)
        log_part(f, &m);
    if (m.enabled)
        journals_part(f, j, n);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
