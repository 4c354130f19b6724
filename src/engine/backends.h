/* Loading llama.cpp's compute backends (CPU variants, CUDA) of a GGML_BACKEND_DL build.
 *
 * They are shared objects that ggml_backend_load_all() looks for only next to the
 * executable and in the current directory; ours live next to libggml (docs/llama.md), so
 * they are loaded from the directory of the file that holds libggml's code (dladdr), then
 * from the default places if that found none. Used by the engine and by the llama tests
 * and diagnostics, which compile this file in. Call once, before any model is loaded; it
 * does nothing when backends are already registered (linked in statically). */
#ifndef SG_ENGINE_BACKENDS_H
#define SG_ENGINE_BACKENDS_H

void sg_llama_load_backends(void);

#endif
