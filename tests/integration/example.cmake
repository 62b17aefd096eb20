# docs/examples/proof.json verifies with its policy, as docs/proof-format.md
# says (its certificates stay valid for years: regenerate it with
# AICERT_EXAMPLE_DIR=docs/examples test_forgery before then).
add_test(NAME test_example_proof
  COMMAND ${PROJECT_BINARY_DIR}/controller/aicert verify
          ${PROJECT_SOURCE_DIR}/docs/examples/proof.json
          --policy ${PROJECT_SOURCE_DIR}/docs/examples/policy.yaml)
set_tests_properties(test_example_proof PROPERTIES LABELS unit TIMEOUT 60)
