# Needs namespaces (root, or unprivileged user namespaces), no TPM.
aicert_add_test(NAME test_sandbox LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sandbox.c
  LIBS aicert_agent_lib)
