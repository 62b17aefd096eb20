# The forgery suite: a generator of forged proofs derived from a good proof
# made against swtpm (two TPMs, two aicert-agent processes, one attestation
# CA), each of which must be rejected by its named check; see test_forgery.c.
aicert_add_test(NAME test_forgery LABEL integration TIMEOUT 600
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/test_forgery.c
    ${CMAKE_CURRENT_LIST_DIR}/forgery/fx.c
    ${CMAKE_CURRENT_LIST_DIR}/forgery/fx_tpm.c
    ${CMAKE_CURRENT_LIST_DIR}/forgery/forge.c
    ${CMAKE_CURRENT_LIST_DIR}/forgery/cases_identity.c
    ${CMAKE_CURRENT_LIST_DIR}/forgery/cases_quote.c
    ${CMAKE_CURRENT_LIST_DIR}/forgery/cases_logs.c
    ${CMAKE_CURRENT_LIST_DIR}/forgery/cases_document.c
    ${CMAKE_CURRENT_LIST_DIR}/forgery/cases_platform.c
  LIBS aicert_controller_lib aicert_agent_lib aicert_harness)
target_include_directories(test_forgery PRIVATE ${CMAKE_CURRENT_LIST_DIR}/forgery)
# The fixture runs the agent of this build; the suite runs the CLI once.
add_dependencies(test_forgery aicert-agent aicert)
