/*
 * appliance/process.h - what every program that opens the register sets for
 * its whole process at start, before any thread exists.
 *
 * hudumad and huduma both unseal the master key and hold decrypted records:
 * neither may leave a core file, and both open the register and the audit log,
 * whose RocksDB budgets of open table files are shares of the open files limit
 * as it stands at open (storage/db.c), so both raise the soft limit first.
 */
#ifndef HUDUMA_PROCESS_H
#define HUDUMA_PROCESS_H

/* No core file (RLIMIT_CORE 0) and not dumpable: no core, no ptrace by the
 * same user, /proc/self/mem closed to others. 0, or -1 with errno. */
int process_no_core_dumps(void);

/* Raises the soft open files limit to the hard one. 0 (also when it already
 * was), or -1 with errno. */
int process_raise_open_files(void);

#endif
