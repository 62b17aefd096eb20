# hashset: parallel streamed SHA-256 of files, and modeldir_scan over it.
# read() is wrapped so that a test can grow or shrink a file mid-hash.
aicert_add_test(NAME test_hashset LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hashset.c
  LIBS aicert_shared)
target_link_options(test_hashset PRIVATE -Wl,--wrap=read)
