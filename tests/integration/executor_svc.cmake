# The executor's RPC service (aicert.v1.Executor), adversarially, against a
# local runner with a real agent and executor: call order, PutFile paths,
# offsets and resends, fetched inputs, the happy path over the raw calls,
# symbolic links in the outputs, output floods, and the service's own logs
# free of sanitizer reports.
aicert_add_test(NAME test_executor_svc LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_executor_svc.c
  LIBS aicert_controller_lib aicert_agent_lib aicert_harness)
add_dependencies(test_executor_svc aicert-agent aicert-executor)
