aicert_add_test(NAME test_config LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.c
  LIBS aicert_agent_lib)
