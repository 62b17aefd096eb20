aicert_add_test(NAME test_rpc LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rpc.c
  LIBS aicert_shared aicert_harness)
target_include_directories(test_rpc PRIVATE ${PROJECT_SOURCE_DIR}/shared)
# The ipc listener's watchdog against nanomsg/nng#1518, on its own: what nng
# leaks of the stuck listener is suppressed here and nowhere else.
add_test(NAME test_rpc_ipc_wedge COMMAND test_rpc rpc_ipc_listener_survives_dial_and_drop)
set_tests_properties(test_rpc_ipc_wedge PROPERTIES LABELS unit TIMEOUT 60
  ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan-nng-wedge.supp:print_suppressions=0")
