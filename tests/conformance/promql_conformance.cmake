# PromQL conformance runner (included by tests/conformance/CMakeLists.txt): every `.test` script of
# ../shared/conformance/promql/testdata against the evaluator and the in-memory store, with the
# upstream runner's consistency runs (--strict: @-pinned replays and range-mode replays). The pass
# count must stay at or above tests/conformance/promql.floor (exit 77 when the suite is absent).
add_executable(promql_conformance
  ${CMAKE_CURRENT_SOURCE_DIR}/promql_conformance.c
  ${CMAKE_CURRENT_SOURCE_DIR}/promql_conformance_parse.c)
target_link_libraries(promql_conformance PRIVATE strata_engine)

add_test(NAME conformance_promql
  COMMAND promql_conformance
    --strict --floor-file ${CMAKE_CURRENT_SOURCE_DIR}/promql.floor
    ${PROJECT_SOURCE_DIR}/../shared/conformance/promql/testdata)
set_tests_properties(conformance_promql PROPERTIES
  LABELS conformance SKIP_RETURN_CODE 77 TIMEOUT 300)
