# Compiles every ```c block of docs/plugin-sdk.md on its own, as a plugin author would paste it:
#   cmake -DSOURCE_DIR=<repo> -DCC=<c compiler> -DWORK_DIR=<scratch dir> -P doc_snippets.cmake
# with -std=c99 -Wall -Wextra -pedantic -Werror against sdk/include only. A snippet that does not
# compile fails the test naming its number and first line in the guide. -Wno-unused-function:
# a fragment may define a static callback that only a later section wires into a descriptor.
cmake_minimum_required(VERSION 3.20)
set(guide ${SOURCE_DIR}/docs/plugin-sdk.md)
file(READ ${guide} text)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(open_fence "```c\n")
string(LENGTH "${open_fence}" open_len)
set(count 0)
set(line_offset 0)  # lines of the guide already cut off the front of `text`
set(failures "")
while(TRUE)
  string(FIND "${text}" "${open_fence}" start)
  if(start EQUAL -1)
    break()
  endif()
  # The guide's line of the fence, for the message: count the newlines before it.
  string(SUBSTRING "${text}" 0 ${start} before)
  string(REGEX MATCHALL "\n" newlines "${before}")
  list(LENGTH newlines fence_line)
  math(EXPR fence_line "${fence_line} + 1 + ${line_offset}")
  math(EXPR body_start "${start} + ${open_len}")
  string(SUBSTRING "${text}" ${body_start} -1 rest)
  string(FIND "${rest}" "\n```" end)
  if(end EQUAL -1)
    message(FATAL_ERROR "${guide}:${fence_line}: a ```c block is never closed")
  endif()
  string(SUBSTRING "${rest}" 0 ${end} snippet)
  math(EXPR count "${count} + 1")
  set(file ${WORK_DIR}/snippet${count}.c)
  file(WRITE ${file} "${snippet}\n")
  execute_process(
    COMMAND ${CC} -std=c99 -Wall -Wextra -pedantic -Werror -Wno-unused-function
            -I${SOURCE_DIR}/sdk/include -c ${file} -o ${WORK_DIR}/snippet${count}.o
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(APPEND failures
      "docs/plugin-sdk.md:${fence_line}: C snippet ${count} does not compile (${file}):\n${out}\n")
  endif()
  # Go on after the closing fence; keep the line count of what was cut.
  string(SUBSTRING "${text}" 0 ${body_start} cut)
  string(REGEX MATCHALL "\n" cut_lines "${cut}")
  string(SUBSTRING "${rest}" ${end} -1 text)
  list(LENGTH cut_lines n_cut)
  string(SUBSTRING "${rest}" 0 ${end} body)
  string(REGEX MATCHALL "\n" body_lines "${body}")
  list(LENGTH body_lines n_body)
  math(EXPR line_offset "${line_offset} + ${n_cut} + ${n_body}")
endwhile()
if(count EQUAL 0)
  message(FATAL_ERROR "${guide}: no ```c block found; the guide's examples must stay compilable")
endif()
if(failures)
  message(FATAL_ERROR "${failures}")
endif()
message(STATUS "docs/plugin-sdk.md: ${count} C snippets compile")
