# ABI drift check: hashes the SDK headers and compares with sdk/abi.sha256. A change to a
# header must be a conscious one: bump KILN_ABI_MINOR (append-only) or MAJOR, add a line to
# the changelog in docs/sdk.md, then refresh the hash with
#   cmake -DSDK_DIR=sdk -DUPDATE=ON -P tests/sdk/abi_hash.cmake
file(GLOB headers ${SDK_DIR}/include/kiln/*.h)
list(SORT headers)
set(listing "")
foreach(h ${headers})
  file(SHA256 ${h} hash)
  get_filename_component(name ${h} NAME)
  string(APPEND listing "${name} ${hash}\n")
endforeach()
string(SHA256 total "${listing}")
if(UPDATE)
  file(WRITE ${SDK_DIR}/abi.sha256 "${total}\n")
  message(STATUS "sdk/abi.sha256 = ${total}")
  return()
endif()
file(READ ${SDK_DIR}/abi.sha256 expected)
string(STRIP "${expected}" expected)
if(NOT total STREQUAL expected)
  message(FATAL_ERROR
    "The SDK headers changed (hash ${total}; sdk/abi.sha256 records ${expected}).\n"
    "If the change is append-only, bump KILN_ABI_MINOR in sdk/include/kiln/types.h; if it "
    "changes a published layout or meaning, bump KILN_ABI_MAJOR. Add a line to the changelog "
    "in docs/sdk.md, then run: cmake -DSDK_DIR=sdk -DUPDATE=ON -P tests/sdk/abi_hash.cmake\n"
    "Headers hashed:\n${listing}")
endif()
