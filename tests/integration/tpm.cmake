# agent/tpm.c against a real swtpm (one per test, from tests/harness).
aicert_add_test(NAME test_tpm LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tpm.c
  LIBS aicert_agent_lib aicert_harness)
