/* Optional shared libraries opened on first use (see dynlib.h). */
#include "core/dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int sg_dynlib_open(struct sg_dynlib *lib, struct sg_error *err)
{
    pthread_mutex_lock(&lib->mu);
    if (!lib->opened && !lib->failed[0]) {
        /* RTLD_LOCAL: the library's symbols serve only the slots below. The handle is
         * never closed: the slots point into it for the rest of the process. */
        void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *why = dlerror();
            snprintf(lib->failed, sizeof(lib->failed), "cannot load %s (Debian package %s): %s",
                     lib->soname, lib->package, why ? why : "unknown error");
        }
        for (size_t i = 0; h && i < lib->nsyms; i++) {
            void *fn = dlsym(h, lib->syms[i].name);
            if (!fn) {
                snprintf(lib->failed, sizeof(lib->failed), "%s (Debian package %s) has no %s",
                         lib->soname, lib->package, lib->syms[i].name);
                break;
            }
            /* POSIX guarantees that a function pointer survives the trip through void *;
             * memcpy writes it without pretending that the slot is a void *. */
            memcpy(lib->syms[i].slot, &fn, sizeof(fn));
        }
        lib->opened = h && !lib->failed[0];
    }
    int rc = lib->opened ? 0 : sg_error_set(err, SG_EUNAVAIL, "%s", lib->failed);
    pthread_mutex_unlock(&lib->mu);
    return rc;
}
