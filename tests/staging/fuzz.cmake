# fuzz_extract, twice: a replay driver built with the project's compiler that runs the seed
# corpus in every ctest run, and, where clang with libFuzzer is installed, a libFuzzer build of
# the harness and the staging sources (one clang++ command, so the main compiler may be g++)
# with a bounded fuzz run in ctest. Without clang the libFuzzer part is skipped.
set(STAGE_FUZZ_CORPUS ${CMAKE_CURRENT_BINARY_DIR}/fuzz_corpus)
add_test(NAME fuzz_extract_corpus
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/make_fuzz_corpus.sh ${STAGE_FUZZ_CORPUS}
                 $<TARGET_FILE:stage> ${CMAKE_CURRENT_SOURCE_DIR}/data)
set_tests_properties(fuzz_extract_corpus PROPERTIES FIXTURES_SETUP fuzz_corpus)

add_executable(fuzz_extract_replay fuzz_extract.cc)
target_compile_definitions(fuzz_extract_replay PRIVATE STAGE_FUZZ_REPLAY)
target_link_libraries(fuzz_extract_replay PRIVATE staging)
stage_target_warnings(fuzz_extract_replay)
add_test(NAME fuzz_extract_replay COMMAND fuzz_extract_replay ${STAGE_FUZZ_CORPUS})
set_tests_properties(fuzz_extract_replay PROPERTIES FIXTURES_REQUIRED fuzz_corpus TIMEOUT 120)

find_program(STAGE_CLANGXX NAMES clang++ clang++-14)
if(STAGE_CLANGXX)
  set(probe ${CMAKE_CURRENT_BINARY_DIR}/libfuzzer_probe.cc)
  file(WRITE ${probe} "#include <cstddef>\n#include <cstdint>\nextern \"C\" int "
                      "LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
  execute_process(COMMAND ${STAGE_CLANGXX} -fsanitize=fuzzer ${probe} -o ${probe}.out
                  RESULT_VARIABLE probe_result OUTPUT_QUIET ERROR_QUIET)
  if(NOT probe_result EQUAL 0)
    set(STAGE_CLANGXX "")
  endif()
endif()
if(NOT STAGE_CLANGXX)
  message(STATUS "fuzz_extract: no clang++ with libFuzzer; only the corpus replay is built")
  return()
endif()

get_target_property(fuzz_sources staging SOURCES)
list(TRANSFORM fuzz_sources PREPEND ${PROJECT_SOURCE_DIR}/staging/)
set(fuzz_includes ${PROJECT_SOURCE_DIR}/staging/include ${PROJECT_SOURCE_DIR}/staging/src
    ${PROJECT_SOURCE_DIR}/common/include
    ${LIBARCHIVE_INCLUDE_DIRS} ${LIBURING_INCLUDE_DIRS} ${ISAL_INCLUDE_DIRS} ${ZSTD_INCLUDE_DIRS}
    ${LIBCRYPTO_INCLUDE_DIRS})
list(TRANSFORM fuzz_includes PREPEND -I)
set(fuzz_binary ${CMAKE_BINARY_DIR}/bin/fuzz_extract)
add_custom_command(
  OUTPUT ${fuzz_binary}
  COMMAND ${STAGE_CLANGXX} -std=c++20 -O1 -g -fsanitize=fuzzer,address
          -DSTAGE_ISAL_VERSION="${ISAL_VERSION}" ${fuzz_includes}
          ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_extract.cc ${fuzz_sources} -o ${fuzz_binary}
          ${LIBARCHIVE_LINK_LIBRARIES} ${LIBURING_LINK_LIBRARIES} ${ISAL_LINK_LIBRARIES}
          ${ZSTD_LINK_LIBRARIES} ${LIBCRYPTO_LINK_LIBRARIES} ${ZLIB_LIBRARIES} -lpthread
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_extract.cc ${fuzz_sources}
  COMMENT "Building fuzz_extract with clang and libFuzzer"
  VERBATIM)
add_custom_target(fuzz_extract ALL DEPENDS ${fuzz_binary})
# Bounded: 2000 inputs or 30 s. New inputs go to a scratch directory, not the seed corpus.
add_test(NAME fuzz_extract
         COMMAND sh -c "mkdir -p fuzz_work && exec \"$0\" -runs=2000 -max_total_time=30 \
-artifact_prefix=fuzz_work/ fuzz_work \"$1\"" ${fuzz_binary} ${STAGE_FUZZ_CORPUS})
set_tests_properties(fuzz_extract PROPERTIES FIXTURES_REQUIRED fuzz_corpus TIMEOUT 60
                     ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
