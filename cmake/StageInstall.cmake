# `cmake --install build --prefix P` and `cpack`: the programs, their man pages (from --help, by
# Debian's help2man where installed) and bash completions; packages as Debian packages whose
# Depends come from dpkg-shlibdeps.
#   stage          the stage program (staging, pack, clean, fetch)
#   stage-trainer  cv_example and make_pets (LibTorch, OpenCV)
include(GNUInstallDirs)

set(stage_man_dir ${CMAKE_BINARY_DIR}/man)
find_program(HELP2MAN help2man)
if(NOT HELP2MAN)
  message(STATUS "help2man not found: no man pages (apt-get install help2man)")
endif()

# stage_man_page(PAGE TARGET COMPONENT DESCRIPTION [SUBCOMMAND]): PAGE.1 from `TARGET
# [SUBCOMMAND] --help` and `--version`, built with everything else and installed with COMPONENT.
function(stage_man_page page target component description)
  if(NOT HELP2MAN)
    return()
  endif()
  set(program "$<TARGET_FILE:${target}>")
  if(ARGC GREATER 4)
    set(program "${program} ${ARGV4}")
  endif()
  add_custom_command(
    OUTPUT ${stage_man_dir}/${page}.1
    COMMAND ${CMAKE_COMMAND} -E make_directory ${stage_man_dir}
    COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section 1 --name ${description}
            --output ${stage_man_dir}/${page}.1 ${program}
    DEPENDS ${target}
    COMMENT "man page ${page}.1" VERBATIM)
  add_custom_target(man_${page} ALL DEPENDS ${stage_man_dir}/${page}.1)
  install(FILES ${stage_man_dir}/${page}.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          COMPONENT ${component})
endfunction()

set(stage_completions ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
if(STAGE_WITH_STAGING)
  install(TARGETS stage RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT stage)
  stage_man_page(stage stage stage "stage datasets from persistent storage onto local disk")
  stage_man_page(stage-pack stage stage "re-pack a dataset for parallel and in-place reading" pack)
  stage_man_page(stage-clean stage stage "remove what staging put in a directory" clean)
  stage_man_page(stage-fetch stage stage "put a dataset on persistent disk, verified and indexed"
                 fetch)
  install(FILES ${CMAKE_SOURCE_DIR}/completions/stage.bash DESTINATION ${stage_completions}
          RENAME stage COMPONENT stage)
endif()
if(STAGE_WITH_LOADER)
  install(TARGETS cv_example make_pets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
          COMPONENT stage-trainer)
  stage_man_page(cv_example cv_example stage-trainer "train the Pets classifier on LibTorch")
  stage_man_page(make_pets make_pets stage-trainer "make a synthetic Pets dataset")
  foreach(program cv_example make_pets)
    install(FILES ${CMAKE_SOURCE_DIR}/completions/stage.bash DESTINATION ${stage_completions}
            RENAME ${program} COMPONENT stage-trainer)
  endforeach()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stage)
set(CPACK_PACKAGE_VENDOR "Stage")
set(CPACK_PACKAGE_CONTACT "Stage maintainers <stage@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Data staging for GPU training jobs")
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL)
if(STAGE_WITH_STAGING)
  list(APPEND CPACK_COMPONENTS_ALL stage)
endif()
if(STAGE_WITH_LOADER)
  list(APPEND CPACK_COMPONENTS_ALL stage-trainer)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_STAGE_PACKAGE_NAME stage)
set(CPACK_DEBIAN_STAGE_DESCRIPTION
    "Data staging for GPU training jobs\n stage extracts dataset archives from persistent storage onto a job's local disk with\n io_uring, in parallel and safely; stage fetch, pack and clean set datasets up and tidy after.")
set(CPACK_DEBIAN_STAGE-TRAINER_PACKAGE_NAME stage-trainer)
set(CPACK_DEBIAN_STAGE-TRAINER_DESCRIPTION
    "The Pets trainer (cv_example) and make_pets, on LibTorch\n An image classifier trained from a directory or straight from an archive, with Stage's loader.")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
include(CPack)
