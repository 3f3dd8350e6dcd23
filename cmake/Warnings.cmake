# One warning set for every kiln target; KILN_WERROR turns them into errors (CI does).
set(KILN_WARNINGS -Wall -Wextra -Wformat=2 -Wimplicit-fallthrough
    -Wno-unused-parameter -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND KILN_WARNINGS -Wshadow=local)
endif()
if(KILN_WERROR)
  list(APPEND KILN_WARNINGS -Werror)
endif()
set(KILN_CXX_WARNINGS ${KILN_WARNINGS} -Wnon-virtual-dtor)
function(kiln_apply_warnings target)
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "INTERFACE_LIBRARY")
    return()
  endif()
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${KILN_CXX_WARNINGS}>
    $<$<COMPILE_LANGUAGE:C>:${KILN_WARNINGS}>)
endfunction()
