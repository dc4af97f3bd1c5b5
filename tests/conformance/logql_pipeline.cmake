# LogQL pipeline conformance: every case of ../shared/conformance/logql/pipeline_cases.jsonl runs
# through the pipeline executor; the pass count must not drop below logql_pipeline.floor.
add_test(NAME conformance_logql_pipeline
  COMMAND logql_conformance pipeline
    ${PROJECT_SOURCE_DIR}/../shared/conformance/logql/pipeline_cases.jsonl
    --floor-file ${CMAKE_CURRENT_SOURCE_DIR}/logql_pipeline.floor)
set_tests_properties(conformance_logql_pipeline PROPERTIES
  LABELS conformance SKIP_RETURN_CODE 77 TIMEOUT 300)
