# stage_target_warnings(TARGET): the project's warning set, errors when STAGE_WERROR is on.
function(stage_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(STAGE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
