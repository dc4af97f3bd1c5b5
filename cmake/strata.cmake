# Helpers that keep module, test, fuzz and bench wiring uniform.
# Sources are globbed per directory so adding a file needs no CMake edit.

# strata_module(NAME DIR [DEPS ...]): a static library of every .c under DIR (recursively),
# excluding main.c files; includes resolve from the project root ("base/buf.h").
function(strata_module name dir)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${dir}/*.c)
  list(FILTER srcs EXCLUDE REGEX "/main\\.c$")
  if(NOT srcs)
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(${name} INTERFACE ${ARGN})
    return()
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(${name} PUBLIC ${ARGN})
endfunction()

# strata_unit_tests(DIR LIB): one cmocka test executable per tests/unit/DIR/test_*.c, label "unit".
function(strata_unit_tests dir lib)
  file(GLOB_RECURSE tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/unit/${dir}/test_*.c)
  foreach(src ${tests})
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR}/tests/unit ${src})
    string(REGEX REPLACE "\\.c$" "" rel ${rel})
    string(REPLACE "/" "_" exe "unit_${rel}")
    add_executable(${exe} ${src})
    target_link_libraries(${exe} PRIVATE ${lib} dep::cmocka)
    add_test(NAME ${exe} COMMAND ${exe})
    set_tests_properties(${exe} PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77)
  endforeach()
endfunction()

# strata_fuzz_target(NAME LIB): tests/fuzz/NAME/fuzz_NAME.c defines LLVMFuzzerTestOneInput.
# With STRATA_FUZZ it links libFuzzer; otherwise a replay driver, and ctest label "fuzz-regress"
# replays every file of tests/fuzz/NAME/corpus/.
function(strata_fuzz_target name lib)
  set(dir ${PROJECT_SOURCE_DIR}/tests/fuzz/${name})
  set(exe fuzz_${name})
  if(STRATA_FUZZ)
    add_executable(${exe} ${dir}/fuzz_${name}.c)
    target_compile_options(${exe} PRIVATE -fsanitize=fuzzer)
    target_link_options(${exe} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${exe} ${dir}/fuzz_${name}.c ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c)
    add_test(NAME fuzz_regress_${name} COMMAND ${exe} ${dir}/corpus)
    set_tests_properties(fuzz_regress_${name} PROPERTIES LABELS fuzz-regress TIMEOUT 600)
  endif()
  target_link_libraries(${exe} PRIVATE ${lib})
endfunction()

# strata_bench(NAME LIB): bench/micro/bench_NAME.c, run by `make bench`; prints JSON.
function(strata_bench name lib)
  add_executable(bench_${name} ${PROJECT_SOURCE_DIR}/bench/micro/bench_${name}.c)
  target_link_libraries(bench_${name} PRIVATE ${lib})
endfunction()

# strata_module_for(SRC OUT): the lowest module library covering SRC's project includes
# ("server/…" -> strata_server, "engine/…" -> strata_engine, "formats/…" -> strata_formats, else
# strata_base), so a test program links only what it exercises.
function(strata_module_for src out)
  file(STRINGS ${src} incs REGEX "^#include \"(server|engine|formats)/")
  set(lib strata_base)
  foreach(layer formats engine server)
    foreach(inc ${incs})
      if(inc MATCHES "^#include \"${layer}/")
        set(lib strata_${layer})
      endif()
    endforeach()
  endforeach()
  set(${out} ${lib} PARENT_SCOPE)
endfunction()
