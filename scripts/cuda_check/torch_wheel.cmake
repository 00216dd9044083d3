# Included through CMAKE_PROJECT_INCLUDE by scripts/cuda_check.sh when find_package(Torch) fails
# on a pip wheel (its Caffe2 config insists on a CUDA toolkit, which running the wheel does not
# need). Defines the `torch` target that CMakeLists.txt would otherwise get from find_package, from
# the wheel's own include/ and lib/ (MMCV_OPS_TORCH_WHEEL_ROOT = dirname(torch.__file__)).
if(TARGET torch)
  return()
endif()
set(_tw "${MMCV_OPS_TORCH_WHEEL_ROOT}")
if(NOT EXISTS "${_tw}/include/ATen/ATen.h")
  message(FATAL_ERROR "torch_wheel.cmake: ${_tw} is not a torch package directory (no include/ATen/ATen.h)")
endif()
add_library(torch INTERFACE IMPORTED GLOBAL)
set_target_properties(torch PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_tw}/include;${_tw}/include/torch/csrc/api/include"
  INTERFACE_COMPILE_DEFINITIONS "_GLIBCXX_USE_CXX11_ABI=${MMCV_OPS_TORCH_ABI}")
set(_tw_libs "-Wl,-rpath,${_tw}/lib")
# The CUDA libraries register the CUDA backend when loaded: keep them even though no symbol of
# theirs is referenced (what TorchConfig does with --no-as-needed).
foreach(_l torch_cuda c10_cuda)
  if(EXISTS "${_tw}/lib/lib${_l}.so")
    list(APPEND _tw_libs "-Wl,--no-as-needed" "${_tw}/lib/lib${_l}.so" "-Wl,--as-needed")
  endif()
endforeach()
foreach(_l torch torch_cpu c10)
  list(APPEND _tw_libs "${_tw}/lib/lib${_l}.so")
endforeach()
# libtorch_cuda's own dependencies (cudart, cublas... from the nvidia-* wheels) are found at run
# time through its RUNPATH; the link step need not resolve them.
list(APPEND _tw_libs "-Wl,--allow-shlib-undefined")
set_target_properties(torch PROPERTIES INTERFACE_LINK_LIBRARIES "${_tw_libs}")
set(TORCH_LIBRARIES torch)
message(STATUS "mmcv_ops: torch target from the wheel at ${_tw} (ABI ${MMCV_OPS_TORCH_ABI})")
