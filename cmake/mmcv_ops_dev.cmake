# Helpers for the project's own tests, examples and benchmarks (not installed).

# Warnings for our code. Torch headers are system includes for consumers of imported targets,
# so -Wall -Wextra reports only on our headers and sources.
set(MMCV_OPS_WARNINGS -Wall -Wextra)

# ccache (scripts/common.sh sets it as the launcher when installed) caches TUs that use CMake's
# precompiled headers only if GCC passes the PCH through its preprocessed output.
set(MMCV_OPS_PCH_FLAGS "")
if(CMAKE_CXX_COMPILER_LAUNCHER MATCHES "ccache" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(MMCV_OPS_PCH_FLAGS -fpch-preprocess)
endif()

set(MMCV_OPS_SANITIZE_FLAGS "")
if(MMCV_OPS_SANITIZE)
  set(MMCV_OPS_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
                              -fno-sanitize-recover=undefined)
endif()

# mmcv_ops_dev_target(<target>): warnings, sanitizers, C++17, link mmcv::ops.
function(mmcv_ops_dev_target tgt)
  target_link_libraries(${tgt} PRIVATE mmcv::ops)
  target_compile_options(${tgt} PRIVATE ${MMCV_OPS_WARNINGS} ${MMCV_OPS_SANITIZE_FLAGS} ${MMCV_OPS_PCH_FLAGS})
  if(MMCV_OPS_SANITIZE)
    target_link_options(${tgt} PRIVATE ${MMCV_OPS_SANITIZE_FLAGS})
  endif()
endfunction()
