# The firmware boot event log (TCG PC Client PFP, crypto-agile): strict
# parsing, bounds, replay; checked against a real OVMF log in tests/data/ovmf/.
aicert_add_test(NAME test_tcglog LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tcglog.c
  LIBS aicert_shared)
