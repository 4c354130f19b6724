/* Optional shared libraries, opened on first use.
 *
 * The gateway process links only what serving a request needs. libcurl (model push and
 * pull, src/model/oci.c) and libpq (the optional PostgreSQL audit replica,
 * src/audit/audit_pg.c) bring about thirty further libraries with them (GnuTLS, Kerberos,
 * LDAP, SASL, libssh2, ...): about 4 MB of resident memory in every gateway process and
 * code that a process holding customer data has no use for. So the one module that uses
 * such a library declares a table of the functions it calls and opens the library with
 * sg_dynlib_open() when it is first needed; a gateway that never pushes a model and has no
 * PostgreSQL replica never maps them.
 *
 * Usage: a module keeps a `static struct sg_dynlib` with the library's soname, the Debian
 * package that ships it (for the error message) and its symbol table, each entry naming a
 * function and the address of the function pointer that receives it. */
#ifndef SG_CORE_DYNLIB_H
#define SG_CORE_DYNLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct sg_dynsym {
    const char *name; /* the function's symbol name */
    void *slot;       /* address of the function pointer that receives it */
};

struct sg_dynlib {
    const char *soname;           /* e.g. "libcurl.so.4" */
    const char *package;          /* the Debian package, e.g. "libcurl4" */
    const struct sg_dynsym *syms; /* every function the module calls */
    size_t nsyms;
    pthread_mutex_t mu;            /* PTHREAD_MUTEX_INITIALIZER */
    bool opened;                   /* every slot is set */
    char failed[SG_ERROR_MSG_MAX]; /* why the first attempt failed ("" before one) */
};

/* Static tables: SG_DYNSYM(tab, f) is the entry for function f whose slot is tab.f;
 * SG_DYNLIB(soname, package, syms) initializes a struct sg_dynlib for the array `syms`. */
/* clang-format off */
#define SG_DYNSYM(tab, f) {#f, &(tab).f}
#define SG_DYNLIB(soname, package, syms) \
    {(soname), (package), (syms), sizeof(syms) / sizeof((syms)[0]), PTHREAD_MUTEX_INITIALIZER, \
     false, ""}
/* clang-format on */

/* Opens the library and fills every slot, once per process; later calls return the first
 * call's outcome at once. Thread-safe. Returns 0, or SG_EUNAVAIL with `err` naming the
 * library, its package and the loader's reason (a missing library or symbol); then no
 * slot may be used. The library stays loaded until the process exits. */
int sg_dynlib_open(struct sg_dynlib *lib, struct sg_error *err);

#endif
