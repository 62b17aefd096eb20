# aicert-agent as a process against a real swtpm (tests/harness): every RPC
# method, mutual TLS, malformed input, concurrency, restarts, configuration.
pkg_check_modules(LIBSSL REQUIRED IMPORTED_TARGET libssl)
# One file per cmocka group under agent/, on a shared fixture.
aicert_add_test(NAME test_agent LABEL integration TIMEOUT 300
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/agent/main.c
    ${CMAKE_CURRENT_LIST_DIR}/agent/fixture.c
    ${CMAKE_CURRENT_LIST_DIR}/agent/methods.c
    ${CMAKE_CURRENT_LIST_DIR}/agent/tls.c
    ${CMAKE_CURRENT_LIST_DIR}/agent/lifecycle.c
    ${CMAKE_CURRENT_LIST_DIR}/agent/config.c
  LIBS aicert_controller_lib aicert_harness nng::nng PkgConfig::LIBSSL)
# The test runs the agent and the CLI of this build.
add_dependencies(test_agent aicert-agent aicert)
# The same through the CLI, as an operator uses it (bash, openssl, tpm2-tools).
add_test(NAME test_agent_cli COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_cli.sh ${PROJECT_BINARY_DIR})
set_tests_properties(test_agent_cli PROPERTIES LABELS integration TIMEOUT 120)
