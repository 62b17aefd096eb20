# fetch: https from a local HTTPS server (tests/harness/https_server.py) and git
# from local repositories; needs git, openssl, python3, no TPM, no network
# beyond 127.0.0.1.
aicert_add_test(NAME test_fetch LABEL unit TIMEOUT 120
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fetch.c
  LIBS aicert_agent_lib aicert_harness)
