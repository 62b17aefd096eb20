aicert_add_test(NAME test_proof LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_proof.c
  LIBS aicert_shared)
