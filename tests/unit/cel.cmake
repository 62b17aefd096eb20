# The runtime event log (CEL-TLV): encoding, strict decoding, replay.
aicert_add_test(NAME test_cel LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cel.c
  LIBS aicert_shared)
