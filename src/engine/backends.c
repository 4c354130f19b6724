/* See backends.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include "engine/backends.h"

#include <dlfcn.h>
#include <string.h>

#include "ggml-backend.h"

void sg_llama_load_backends(void)
{
    if (ggml_backend_dev_count() > 0)
        return;
    Dl_info info;
    if (dladdr((void *)ggml_backend_load_all, &info) && info.dli_fname) {
        char dir[4096];
        size_t n = strlen(info.dli_fname);
        if (n < sizeof(dir)) {
            memcpy(dir, info.dli_fname, n + 1);
            char *slash = strrchr(dir, '/');
            if (slash) {
                *slash = '\0';
                ggml_backend_load_all_from_path(dir);
            }
        }
    }
    if (ggml_backend_dev_count() == 0)
        ggml_backend_load_all();
}
