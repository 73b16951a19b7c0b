/*
 * storage/fault.c - fault injection for the tests.  Compiled to nothing
 * unless HUDUMA_FAULTS is defined, as it is only in the sanitized build that
 * `make test` runs the daemon from: release builds see store_fault() as a
 * constant false (store_internal.h).
 *
 * A fault site is a static struct store_fault naming itself; the first call
 * reads HUDUMA_FAULT_<NAME> from the environment, and from then on the site
 * fails its every Nth call, counted across threads.  Paths that no test can
 * reach from outside (an allocation failing at one exact moment) are driven
 * this way; the failure they report is the one the real fault would.
 */
#include "storage/store_internal.h"

#ifdef HUDUMA_FAULTS
#include <stdio.h>
#include <stdlib.h>

bool store_fault(struct store_fault *f)
{
    int every = atomic_load(&f->every);
    if (every < 0) {
        char var[80];
        snprintf(var, sizeof var, "HUDUMA_FAULT_%s", f->name);
        const char *value = getenv(var);
        every = value ? atoi(value) : 0;
        if (every < 0)
            every = 0;
        atomic_store(&f->every, every);
    }
    return every > 0 && (atomic_fetch_add(&f->calls, 1) + 1) % (unsigned long)every == 0;
}
#endif
