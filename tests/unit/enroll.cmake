# Enrollment's building blocks without a TPM: MakeCredential in software
# (KDFa/KDFe against OpenSSL's KBKDF/SSKDF, known answers from tpm2-tools,
# round trips through a reference ActivateCredential) and EK certificate
# verification with certificates made in the test.
aicert_add_test(NAME test_makecred LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_makecred.c
  LIBS aicert_shared)
aicert_add_test(NAME test_ekcert LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ekcert.c
  LIBS aicert_shared)
