# The fuzz targets, each twice: a replay driver built with the project's compiler that runs its
# seed corpus in every ctest run, and, where clang with libFuzzer is installed, a libFuzzer build
# of the harness and the staging sources (one clang++ command, so the main compiler may be g++)
# with a bounded fuzz run in ctest. Without clang the libFuzzer part is skipped.
#   fuzz_extract     any bytes staged as a source: tar in every format and codec, or a file
#   fuzz_seek_table  any bytes as a packed archive's tail, where the zstd seek table lives
#   fuzz_gzip_index  any bytes as the gzip index beside a fixed archive
#   fuzz_member_index  any bytes as the member index beside an archive read in place
#   fuzz_fetch_record  any bytes as stage fetch's records beside a download
set(STAGE_FUZZ_CORPUS ${CMAKE_CURRENT_BINARY_DIR}/fuzz_corpus)
set(STAGE_FUZZ_INDEX_CORPUS ${CMAKE_CURRENT_BINARY_DIR}/fuzz_index_corpus)
add_test(NAME fuzz_extract_corpus
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/make_fuzz_corpus.sh ${STAGE_FUZZ_CORPUS}
                 $<TARGET_FILE:stage> ${CMAKE_CURRENT_SOURCE_DIR}/data)
set_tests_properties(fuzz_extract_corpus PROPERTIES FIXTURES_SETUP fuzz_corpus)

# stage_add_fuzz_replay(NAME CORPUS FIXTURE): NAME_replay built from NAME.cc, run on CORPUS.
function(stage_add_fuzz_replay name corpus fixture)
  add_executable(${name}_replay ${name}.cc)
  target_compile_definitions(${name}_replay PRIVATE STAGE_FUZZ_REPLAY)
  target_link_libraries(${name}_replay PRIVATE staging staging_internal ZLIB::ZLIB)
  stage_target_warnings(${name}_replay)
  add_test(NAME ${name}_replay COMMAND ${name}_replay ${corpus})
  set_tests_properties(${name}_replay PROPERTIES FIXTURES_REQUIRED ${fixture} TIMEOUT 120)
endfunction()

stage_add_fuzz_replay(fuzz_extract ${STAGE_FUZZ_CORPUS} fuzz_corpus)
stage_add_fuzz_replay(fuzz_seek_table ${STAGE_FUZZ_CORPUS} fuzz_corpus)
stage_add_fuzz_replay(fuzz_gzip_index ${STAGE_FUZZ_INDEX_CORPUS} fuzz_index_corpus)
# The index corpus is the fixed archive's true index, cut short, and with a byte inverted.
add_test(NAME fuzz_gzip_index_corpus
         COMMAND fuzz_gzip_index_replay --write-seed ${STAGE_FUZZ_INDEX_CORPUS})
set_tests_properties(fuzz_gzip_index_corpus PROPERTIES FIXTURES_SETUP fuzz_index_corpus)
# The sidecar corpora: well-formed files the replay drivers write, cut short and flipped.
foreach(sidecar member_index fetch_record)
  set(corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz_${sidecar}_corpus)
  stage_add_fuzz_replay(fuzz_${sidecar} ${corpus} fuzz_${sidecar}_seeds)
  add_test(NAME fuzz_${sidecar}_seeds COMMAND fuzz_${sidecar}_replay --write-seed ${corpus})
  set_tests_properties(fuzz_${sidecar}_seeds PROPERTIES FIXTURES_SETUP fuzz_${sidecar}_seeds)
endforeach()

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
  message(STATUS "fuzz targets: no clang++ with libFuzzer; only the corpus replays are built")
  return()
endif()

get_target_property(fuzz_sources staging SOURCES)
list(TRANSFORM fuzz_sources PREPEND ${PROJECT_SOURCE_DIR}/staging/)
get_target_property(fuzz_common_sources common SOURCES)
list(TRANSFORM fuzz_common_sources PREPEND ${PROJECT_SOURCE_DIR}/common/)
list(APPEND fuzz_sources ${fuzz_common_sources})
set(fuzz_includes ${PROJECT_SOURCE_DIR}/staging/include ${PROJECT_SOURCE_DIR}/staging/src
    ${PROJECT_SOURCE_DIR}/common/include
    ${LIBARCHIVE_INCLUDE_DIRS} ${LIBURING_INCLUDE_DIRS} ${ISAL_INCLUDE_DIRS} ${ZSTD_INCLUDE_DIRS}
    ${LIBCRYPTO_INCLUDE_DIRS} ${LIBCURL_INCLUDE_DIRS})
list(TRANSFORM fuzz_includes PREPEND -I)

# The staging sources compiled once for the three fuzzers (fuzz_objects/): ${fuzz_objects}.
# Line tables are all that AddressSanitizer's reports use (file:line in every frame); full debug
# information made each object take a third longer to compile.
set(fuzz_flags -std=c++20 -O1 -gline-tables-only -DSTAGE_ISAL_VERSION="${ISAL_VERSION}")
list(FILTER fuzz_sources INCLUDE REGEX "\\.cc$")
add_subdirectory(fuzz_objects)

# stage_add_fuzzer(NAME CORPUS FIXTURE ARGS...): bin/NAME, with libFuzzer and AddressSanitizer,
# and a bounded run in ctest (ARGS bound it). New inputs go to a scratch directory, not the seed
# corpus.
function(stage_add_fuzzer name corpus fixture)
  set(binary ${CMAKE_BINARY_DIR}/bin/${name})
  add_custom_command(
    OUTPUT ${binary}
    COMMAND ${STAGE_CLANGXX} ${fuzz_flags} -fsanitize=fuzzer,address -I${CMAKE_CURRENT_SOURCE_DIR}
            ${fuzz_includes} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.cc ${fuzz_objects} -o ${binary}
            ${LIBARCHIVE_LINK_LIBRARIES} ${LIBURING_LINK_LIBRARIES} ${ISAL_LINK_LIBRARIES}
            ${ZSTD_LINK_LIBRARIES} ${LIBCRYPTO_LINK_LIBRARIES} ${LIBCURL_LINK_LIBRARIES}
            ${ZLIB_LIBRARIES} -lpthread
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${name}.cc ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_replay.h
            ${fuzz_objects}
    COMMENT "Building ${name} with clang and libFuzzer"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${binary})
  add_dependencies(${name} fuzz_staging_objects)
  list(JOIN ARGN " " bounds)
  add_test(NAME ${name}
           COMMAND sh -c "mkdir -p ${name}_work && exec \"$0\" ${bounds} \
-artifact_prefix=${name}_work/ ${name}_work \"$1\"" ${binary} ${corpus})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED ${fixture} TIMEOUT 90
                       ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
endfunction()

stage_add_fuzzer(fuzz_extract ${STAGE_FUZZ_CORPUS} fuzz_corpus -runs=1000 -max_total_time=15)
stage_add_fuzzer(fuzz_seek_table ${STAGE_FUZZ_CORPUS} fuzz_corpus -runs=20000 -max_total_time=15)
stage_add_fuzzer(fuzz_gzip_index ${STAGE_FUZZ_INDEX_CORPUS} fuzz_index_corpus -runs=150
                 -max_total_time=15)
foreach(sidecar member_index fetch_record)
  stage_add_fuzzer(fuzz_${sidecar} ${CMAKE_CURRENT_BINARY_DIR}/fuzz_${sidecar}_corpus
                   fuzz_${sidecar}_seeds -runs=20000 -max_total_time=15)
endforeach()
