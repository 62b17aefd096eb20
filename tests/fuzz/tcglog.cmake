# The firmware boot event log parser and replay. The seeds in
# corpus/fuzz_tcglog/ come from `AICERT_TCGLOG_WRITE_CORPUS=DIR test_tcglog`
# (the OVMF log of tests/data/ovmf/ and logs built by the unit test).
aicert_add_fuzzer(fuzz_tcglog ${CMAKE_CURRENT_LIST_DIR}/fuzz_tcglog.c)
