# The attestation path through the CLI (ca, enroll, attest, policy, verify,
# show) and tpm2_checkquote on the quote inside a proof.
add_test(NAME test_attest_cli
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_attest_cli.sh ${PROJECT_BINARY_DIR})
set_tests_properties(test_attest_cli PROPERTIES LABELS integration TIMEOUT 300)
