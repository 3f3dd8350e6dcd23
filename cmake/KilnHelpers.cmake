# Helpers every CMakeLists in the tree uses, so targets get the same flags and boundaries.

# kiln_add_library(NAME SRCS ... DEPS ...): one static library per core/<part>/.
function(kiln_add_library name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  kiln_apply_warnings(${name})
endfunction()

# kiln_add_test(NAME SRCS ... DEPS ... LABELS ...): a GoogleTest binary registered with CTest.
function(kiln_add_test name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  add_executable(${name} ${A_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  # gtest_discover_tests cannot pass several ENVIRONMENT entries (its PROPERTIES list is split
  # on ';'), so every test binary carries a generated source that sets KILN_SOURCE_DIR,
  # KILN_BINARY_DIR, KILN_BIN and KILN_PLUGIN_BUILD_DIR at start-up unless already set.
  target_sources(${name} PRIVATE ${CMAKE_BINARY_DIR}/tests/kiln_test_env.cc)
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gmock GTest::gtest_main)
  kiln_apply_warnings(${name})
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${A_LABELS}"
    DISCOVERY_TIMEOUT 30)
endfunction()

# kiln_add_inline_plugin(NAME SRCS ... [DEPS ...] [NO_INSTALL]): an in-tree plugin. It links
# kiln::sdk and nothing from core/, so an #include "core/..." fails to compile. The .so lands
# in ${KILN_BUILD_PLUGIN_DIR}/<name>_plugin.so and installs to lib/kiln/plugins/.
function(kiln_add_inline_plugin name)
  cmake_parse_arguments(A "NO_INSTALL" "OUTPUT_DIR" "SRCS;DEPS" ${ARGN})
  set(target ${name}_plugin)
  add_library(${target} MODULE ${A_SRCS})
  target_link_libraries(${target} PRIVATE kiln::sdk ${A_DEPS})
  set(_outdir ${KILN_BUILD_PLUGIN_DIR})
  if(A_OUTPUT_DIR)
    set(_outdir ${A_OUTPUT_DIR})
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}_plugin
    LIBRARY_OUTPUT_DIRECTORY ${_outdir}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  kiln_apply_warnings(${target})
  if(NOT A_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${KILN_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
