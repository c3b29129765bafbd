# stage_target_warnings(TARGET): the project's warning set, errors when STAGE_WERROR is on.
function(stage_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 reports impossible overlaps in inlined std::string concatenation at -O3
    # (GCC bug 105329); the warning says nothing about this code.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(STAGE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
