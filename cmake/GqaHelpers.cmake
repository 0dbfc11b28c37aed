# gqa_test(): one GoogleTest binary beside its code (like LevelDB's leveldb_test()).
#   gqa_test(NAME block_pool_test SRCS block_pool_test.cc DEPS gqa_worker_kv [LABELS serial])
# Tests labelled "serial" start several processes and run one at a time.
function(gqa_test)
  cmake_parse_arguments(T "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  set(props "")
  if(T_LABELS)
    set(props PROPERTIES LABELS "${T_LABELS}")
    if("serial" IN_LIST T_LABELS)
      list(APPEND props RUN_SERIAL TRUE)
    endif()
  endif()
  # NO_PRETTY_VALUES: parameter values print as raw bytes (with addresses) otherwise.
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60 NO_PRETTY_VALUES ${props})
endfunction()

# gqa_fuzz(): a libFuzzer target plus a ctest that replays its corpus (and, with
# GQA_FUZZ_SECONDS > 0, fuzzes for that long). Only with GQA_FUZZ=ON (clang).
#   gqa_fuzz(NAME gguf_fuzz SRC gguf_fuzz.cc DEPS gqa_core_gguf CORPUS dir)
set(GQA_FUZZ_SECONDS 0 CACHE STRING "Seconds of fuzzing per target in ctest (0: replay only)")
function(gqa_fuzz)
  cmake_parse_arguments(F "" "NAME;SRC;CORPUS" "DEPS" ${ARGN})
  if(NOT GQA_FUZZ)
    return()
  endif()
  add_executable(${F_NAME} ${F_SRC})
  target_compile_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${F_NAME} PRIVATE ${F_DEPS})
  add_test(NAME ${F_NAME}_replay
           COMMAND ${F_NAME} -runs=0 ${F_CORPUS})
  set_tests_properties(${F_NAME}_replay PROPERTIES LABELS fuzz)
  if(GQA_FUZZ_SECONDS GREATER 0)
    set(work ${CMAKE_CURRENT_BINARY_DIR}/${F_NAME}_corpus)
    add_test(NAME ${F_NAME}_explore
             COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
                     $<TARGET_FILE:${F_NAME}> -max_total_time=${GQA_FUZZ_SECONDS} -rss_limit_mb=2048
                     -max_len=65536 ${work} ${F_CORPUS})
    set_tests_properties(${F_NAME}_explore PROPERTIES LABELS fuzz)
    file(MAKE_DIRECTORY ${work})
  endif()
endfunction()
