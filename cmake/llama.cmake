# llama.cpp for Sovgate: finds the pinned release that scripts/fetch-llama put in
# .cache/llama (headers in include/, shared libraries in lib/), defines the imported target
# `sg_llama` that every llama.cpp user links (include directories marked SYSTEM, libllama,
# libggml and libggml-base, and an RPATH so the programs find the libraries without
# LD_LIBRARY_PATH), and builds sovgate-mkmodel and the llama smoke test (ctest label
# `llama`). When llama.cpp is absent it says so and returns, and the rest of the project
# builds as before.
#
#   -DSG_LLAMA_DIR=DIR      another fetch-llama tree (default: .cache/llama)
#   -DSG_LLAMA_LIBDIR=DIR   another library directory, e.g. .cache/llama/lib-src for the
#                           libraries built by `scripts/fetch-llama --from-source` (CUDA)

set(SG_LLAMA_DIR "${PROJECT_SOURCE_DIR}/.cache/llama" CACHE PATH
    "llama.cpp tree made by scripts/fetch-llama (include/, lib/, models/)")
set(SG_LLAMA_LIBDIR "" CACHE PATH
    "llama.cpp library directory (default: SG_LLAMA_DIR/lib; lib-src for a source build)")

get_filename_component(_sg_llama_dir "${SG_LLAMA_DIR}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
if(SG_LLAMA_LIBDIR)
  get_filename_component(_sg_llama_libdir "${SG_LLAMA_LIBDIR}" ABSOLUTE
                         BASE_DIR "${PROJECT_SOURCE_DIR}")
else()
  set(_sg_llama_libdir "${_sg_llama_dir}/lib")
endif()

set(_sg_llama_missing "")
foreach(_f include/llama.h include/ggml.h include/gguf.h)
  if(NOT EXISTS "${_sg_llama_dir}/${_f}")
    list(APPEND _sg_llama_missing "${_sg_llama_dir}/${_f}")
  endif()
endforeach()
foreach(_l llama ggml ggml-base)
  if(NOT EXISTS "${_sg_llama_libdir}/lib${_l}.so")
    list(APPEND _sg_llama_missing "${_sg_llama_libdir}/lib${_l}.so")
  endif()
endforeach()
if(_sg_llama_missing)
  list(GET _sg_llama_missing 0 _sg_first)
  message(STATUS "llama.cpp: not found (no ${_sg_first}); run scripts/fetch-llama to build "
                 "sovgate-mkmodel and the llama tests")
  return()
endif()
message(STATUS "llama.cpp: headers ${_sg_llama_dir}/include, libraries ${_sg_llama_libdir}")

# One imported library per shared object; linking the unversioned name records the
# library's own SONAME (libllama.v0.4.0.so prebuilt, libllama.so.0 from source).
set(_sg_llama_libs "")
foreach(_l llama ggml ggml-base)
  string(MAKE_C_IDENTIFIER "sg_llama_lib_${_l}" _t)
  if(NOT TARGET ${_t})
    add_library(${_t} SHARED IMPORTED)
    set_target_properties(${_t} PROPERTIES IMPORTED_LOCATION "${_sg_llama_libdir}/lib${_l}.so")
  endif()
  list(APPEND _sg_llama_libs ${_t})
endforeach()

if(NOT TARGET sg_llama)
  add_library(sg_llama INTERFACE IMPORTED)
  # SYSTEM: the headers are not ours and need not pass our warning flags
  set_target_properties(sg_llama PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_sg_llama_dir}/include"
    INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_sg_llama_dir}/include"
    INTERFACE_LINK_LIBRARIES "${_sg_llama_libs}"
    # the RPATH travels with the link options, so it also survives `make install`
    INTERFACE_LINK_OPTIONS "LINKER:-rpath,${_sg_llama_libdir}")
endif()
set(SG_LLAMA_INCLUDE_DIR "${_sg_llama_dir}/include")
set(SG_LLAMA_LIB_DIR "${_sg_llama_libdir}")
set(SG_LLAMA_MODELS_DIR "${_sg_llama_dir}/models")

# sovgate-mkmodel: synthetic GGUF models with real tokenizers (docs/llama.md).
file(GLOB SG_MKMODEL_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/mkmodel/*.c)
add_executable(sovgate-mkmodel ${SG_MKMODEL_SOURCES})
target_compile_definitions(sovgate-mkmodel PRIVATE
                           SG_MKMODEL_VOCAB_DIR="${SG_LLAMA_MODELS_DIR}")
target_link_libraries(sovgate-mkmodel PRIVATE sgcore sg_llama Threads::Threads m)

# The smoke test: a tiny model made at test time, loaded, templated, tokenized, decoded.
add_executable(sg_llama_smoke ${PROJECT_SOURCE_DIR}/tests/llama/smoke.c
                              ${PROJECT_SOURCE_DIR}/src/engine/backends.c)
target_include_directories(sg_llama_smoke PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(sg_llama_smoke PRIVATE sg_llama ${CMAKE_DL_LIBS} m)
add_test(NAME llama_smoke
         COMMAND sg_llama_smoke --mkmodel $<TARGET_FILE:sovgate-mkmodel>)
set_tests_properties(llama_smoke PROPERTIES LABELS llama TIMEOUT 300)

# The inference core of sovgate-engine (src/engine, without the program's main.c): slots,
# continuous batching, sampling, embeddings. The engine program and the tests link it.
file(GLOB SG_ENGINE_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/engine/*.c)
list(FILTER SG_ENGINE_SOURCES EXCLUDE REGEX "/src/engine/main\\.c$")
add_library(sgengine STATIC ${SG_ENGINE_SOURCES})
target_include_directories(sgengine PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(sgengine PUBLIC sgcore PRIVATE sg_llama Threads::Threads m ${CMAKE_DL_LIBS})

# Its tests: a tiny model made at test time by sovgate-mkmodel; `--bench --model FILE`
# measures tokens/s instead (not run by ctest).
add_executable(sg_llama_test_llm ${PROJECT_SOURCE_DIR}/tests/llama/test_llm.c)
target_link_libraries(sg_llama_test_llm PRIVATE sgengine sgcore Threads::Threads m)
add_test(NAME llama_llm
         COMMAND sg_llama_test_llm --mkmodel $<TARGET_FILE:sovgate-mkmodel>)
set_tests_properties(llama_llm PROPERTIES LABELS llama TIMEOUT 300)

# A diagnostic, not a test: bit-for-bit batch invariance and prompt time of llama.cpp
# settings (docs/engine.md, "How exact it is").
add_executable(sg_llama_invariance ${PROJECT_SOURCE_DIR}/tests/llama/invariance.c
                                   ${PROJECT_SOURCE_DIR}/src/engine/backends.c)
target_include_directories(sg_llama_invariance PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(sg_llama_invariance PRIVATE sg_llama ${CMAKE_DL_LIBS} m)
