# Enrollment against swtpm and aicert-agent processes: RSA and P-384 EKs, the
# refusals (EK certificate from another CA, EK key mismatch, unrestricted AK,
# wrong AK name, wrong activation answer), the attestation CA and its CLI.
aicert_add_test(NAME test_enroll LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_enroll.c
  LIBS aicert_controller_lib aicert_harness)
# The test runs the agent and the CLI of this build.
add_dependencies(test_enroll aicert-agent aicert)
