# cmake -DEXE=<program> -DEXPECTED=<file> -P run_and_compare.cmake
# Runs the example and fails unless its stdout equals the expected file byte for byte.
execute_process(COMMAND ${EXE} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} exited with ${rc}\n${err}")
endif()
file(READ ${EXPECTED} expected)
if(NOT out STREQUAL expected)
  message(FATAL_ERROR "output of ${EXE} differs from ${EXPECTED}\n--- got ---\n${out}\n--- expected ---\n${expected}")
endif()
message(STATUS "output matches ${EXPECTED}")
