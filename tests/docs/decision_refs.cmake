# Checks the citations of docs/decisions.md (cmake -DSOURCE_DIR=<repo> -P decision_refs.cmake):
# every "decisions.md N" or "decisions.md N-M" in docs/, core/, plugins/, sdk/, tests/, conf/
# and README.md names a numbered entry of docs/decisions.md, and no file cites the upper-case
# design-brief file, which a reader of the repository cannot open.
cmake_minimum_required(VERSION 3.20)
# Whole files with REGEX MATCHALL: file(STRINGS) splits lines at ';' and mangles brackets.
file(READ ${SOURCE_DIR}/docs/decisions.md _text)
string(REGEX MATCHALL "\n[0-9]+\\. \\*\\*" _entries "${_text}")
set(_known "")
foreach(e IN LISTS _entries)
  string(REGEX MATCH "[0-9]+" n "${e}")
  list(APPEND _known ${n})
endforeach()
list(LENGTH _known _count)
if(_count LESS 30)
  message(FATAL_ERROR "docs/decisions.md: found ${_count} numbered entries, expected at least 30")
endif()

file(GLOB_RECURSE _files LIST_DIRECTORIES false
  ${SOURCE_DIR}/docs/*.md ${SOURCE_DIR}/README.md
  ${SOURCE_DIR}/core/*.h ${SOURCE_DIR}/core/*.cc
  ${SOURCE_DIR}/plugins/*.h ${SOURCE_DIR}/plugins/*.cc ${SOURCE_DIR}/plugins/*.c
  ${SOURCE_DIR}/plugins/*.py ${SOURCE_DIR}/plugins/*.lua
  ${SOURCE_DIR}/sdk/*.h ${SOURCE_DIR}/sdk/*.md ${SOURCE_DIR}/sdk/*.c
  ${SOURCE_DIR}/tests/*.h ${SOURCE_DIR}/tests/*.cc ${SOURCE_DIR}/tests/*.c
  ${SOURCE_DIR}/conf/*)
# Spelt in two pieces so that this file does not match itself.
set(_brief "DECISION")
string(APPEND _brief "S")
set(_errors "")
foreach(f IN LISTS _files)
  file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
  file(READ ${f} _body)
  if(_body MATCHES "${_brief}")
    string(APPEND _errors "${rel}: cites ${_brief}.md, which is not in the repository; cite docs/decisions.md N\n")
  endif()
  string(REGEX MATCHALL "decisions\\.md [0-9]+(-[0-9]+)?" _cites "${_body}")
  foreach(c IN LISTS _cites)
    string(REGEX MATCHALL "[0-9]+" _nums "${c}")
    foreach(n IN LISTS _nums)
      if(NOT n IN_LIST _known)
        string(APPEND _errors "${rel}: cites decisions.md ${n}, which docs/decisions.md does not have\n")
      endif()
    endforeach()
  endforeach()
endforeach()
if(_errors)
  message(FATAL_ERROR "${_errors}")
endif()
