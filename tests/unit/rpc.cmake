aicert_add_test(NAME test_rpc LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rpc.c
  LIBS aicert_shared aicert_harness)
target_include_directories(test_rpc PRIVATE ${PROJECT_SOURCE_DIR}/shared)
