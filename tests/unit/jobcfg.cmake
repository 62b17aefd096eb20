# The job file of `aicert run`: the shipped example, defaults, and every
# rejection with its file:line:col and field.
aicert_add_test(NAME test_jobcfg LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_jobcfg.c
  LIBS aicert_shared)
