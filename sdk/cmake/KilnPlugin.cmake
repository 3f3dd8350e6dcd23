# kiln_add_plugin(NAME SOURCES src... [LINK lib...]): builds NAME_plugin.so, the file kiln's
# `plugins = NAME` looks for, against kiln::sdk only, exporting nothing but the query symbol.
function(kiln_add_plugin name)
  cmake_parse_arguments(A "" "" "SOURCES;LINK" ${ARGN})
  set(target ${name}_plugin)
  add_library(${target} MODULE ${A_SOURCES} ${A_UNPARSED_ARGUMENTS})
  target_link_libraries(${target} PRIVATE kiln::sdk ${A_LINK})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}_plugin
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
endfunction()
