# cmake -DINCLUDE_DIR=<repo>/include -P check_header_includes.cmake
# The header self-containment check compiles each public header after a precompiled
# <ATen/ATen.h>; this covers what that could hide: every header that names at::, c10:: or torch::
# must itself include an ATen, torch or mmcv header (which in turn is checked the same way).
cmake_minimum_required(VERSION 3.21)
file(GLOB_RECURSE _headers "${INCLUDE_DIR}/mmcv/*.hpp")
set(_bad)
foreach(h IN LISTS _headers)
  file(STRINGS "${h}" _lines)
  list(FILTER _lines EXCLUDE REGEX "^[ \t]*(//|\\*|/\\*)")  # comment lines
  string(JOIN "\n" _text ${_lines})
  if(_text MATCHES "(^|[^A-Za-z0-9_:])(at|c10|torch)::" AND NOT _text MATCHES "#include <(ATen|torch|c10|mmcv)/")
    list(APPEND _bad "${h}")
  endif()
endforeach()
list(LENGTH _headers _n)
if(_bad)
  string(REPLACE ";" "\n  " _bad "${_bad}")
  message(FATAL_ERROR "these headers use ATen/torch names without including an ATen, torch or mmcv header:\n  ${_bad}")
endif()
message(STATUS "${_n} public headers include what they use from ATen/torch")
