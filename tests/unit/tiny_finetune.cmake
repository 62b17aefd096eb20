# The tiny-finetune example job (examples/tiny-finetune): its safetensors and
# CSV readers, and the built programs run on the shipped files (short runs).
aicert_add_test(NAME test_tiny_finetune LABEL unit TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tiny_finetune.c
  LIBS tiny_finetune_lib PkgConfig::JANSSON)
target_compile_definitions(test_tiny_finetune PRIVATE
  TF_EXAMPLE_DIR="${PROJECT_SOURCE_DIR}/examples/tiny-finetune"
  TF_TRAIN_BIN="$<TARGET_FILE:tiny_finetune_train>"
  TF_MAKE_DATA_BIN="$<TARGET_FILE:tiny_finetune_make_data>"
  TF_MAKE_BASE_BIN="$<TARGET_FILE:tiny_finetune_make_base>")
add_dependencies(test_tiny_finetune
  tiny_finetune_train tiny_finetune_make_data tiny_finetune_make_base)
