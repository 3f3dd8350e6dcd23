#!/bin/sh
# Installs kiln to a temporary prefix, builds the installed copy of sdk/examples/hello out of
# tree against the installed SDK only (once with CMake's find_package, once with pkg-config and a plain cc line),
# once more against the build tree's KilnSDKConfig.cmake, and checks that the installed kiln
# reads each built plugin's descriptor.
# Usage: install_test.sh <kiln build dir> <kiln source dir>
# Then it starts the installed kiln with each built plugin and checks its HTTP answers and its
# logger's file.
set -eu
build=$1
src=$2
tmp=$(mktemp -d /tmp/kiln-sdk-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"
  echo "cmake --install $build failed: this test needs every target built first" \
    "(cmake --build $build)"
  exit 1; }
test -f "$prefix/include/kiln/kiln.h"
test -x "$prefix/bin/kiln"
# The examples are installed with the SDK (docs/plugin-sdk.md, section 1).
example=$prefix/share/kiln/examples/hello
test -f "$example/hello_plugin.c" && test -f "$example/CMakeLists.txt" || {
  echo "sdk/examples/hello is not installed under $example"; exit 1; }

# 1. CMake: find_package(KilnSDK) from the prefix only, building the installed example.
cmake -S "$example" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$tmp/cmake.log" 2>&1 || {
  cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
so1=$tmp/cmake-build/hello_plugin.so

# 2. pkg-config and one compiler line.
pcdir=$(dirname "$(find "$prefix" -name kiln-sdk.pc | head -n 1)")
mkdir -p "$tmp/cc-build"
so2=$tmp/cc-build/hello_plugin.so
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror -shared -fPIC \
  $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags kiln-sdk) \
  -o "$so2" "$src/sdk/examples/hello/hello_plugin.c"

# 3. CMake against kiln's build tree (no install).
cmake -S "$src/sdk/examples/hello" -B "$tmp/tree-build" -DKilnSDK_DIR="$build/sdk" \
  >"$tmp/tree.log" 2>&1 || { cat "$tmp/tree.log"; exit 1; }
cmake --build "$tmp/tree-build" >>"$tmp/tree.log" 2>&1 || { cat "$tmp/tree.log"; exit 1; }
so3=$tmp/tree-build/hello_plugin.so

# pkg-config names the plugin directory the installed kiln searches; a plugin installed there
# is found by name alone.
plugindir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=plugindir kiln-sdk)
test "$(cd "$plugindir" && pwd -P)" = "$(cd "$prefix/lib/kiln/plugins" && pwd -P)" || {
  echo "pkg-config plugindir is $plugindir, not $prefix/lib/kiln/plugins"; exit 1; }
install -m 0755 "$so2" "$plugindir/hello_plugin.so"
"$prefix/bin/kiln" --plugins hello --print-config >"$tmp/byname.out" 2>&1 || {
  cat "$tmp/byname.out"; echo "the installed kiln did not find hello in $plugindir"; exit 1; }
rm -f "$plugindir/hello_plugin.so"

for so in "$so1" "$so2" "$so3"; do
  out=$("$prefix/bin/kiln" --plugin-info "$so")
  echo "$out"
  echo "$out" | grep -q '^name: hello$'
  echo "$out" | grep -q '^modifier1: 0$'
  echo "$out" | grep -q '^logger schemes: hello:$'
  echo "$out" | grep -q 'hello-name (string, default world, alias hello-who)'
done
# The installed kiln serves through each built plugin, and its `hello:` logger writes the log.
# The third run names the option by its alias: the host fills the same settings field.
serve() {
  local so=$1 n=$2 opt=${3:-hello-name} sock=$tmp/h$2.sock log=$tmp/hello$2.log pid body i
  "$prefix/bin/kiln" --plugins "$so" "--$opt" sdk --http-socket "$sock" \
    --mount /friends=hello:friends --manage-script-name \
    --logger "hello:$log" >"$tmp/kiln$n.out" 2>&1 &
  pid=$!
  for i in $(seq 1 100); do
    body=$(curl -s -m 2 --unix-socket "$sock" http://localhost/greet 2>/dev/null) && break
    sleep 0.1
  done
  # kiln routes /friends/... to the mounted app and splits SCRIPT_NAME off PATH_INFO.
  mounted=$(curl -s -m 2 --unix-socket "$sock" http://localhost/friends/all 2>/dev/null) || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "served: $body"
  echo "served at the mount: $mounted"
  case "$body" in
    "Hello, sdk from C (path /greet, worker "*) ;;
    *) echo "plugin $so did not answer as expected"; cat "$tmp/kiln$n.out"; exit 1 ;;
  esac
  case "$mounted" in
    "Hello, friends from C (mount /friends, path /all, worker "*) ;;
    *) echo "plugin $so did not answer its mount as expected"; cat "$tmp/kiln$n.out"; exit 1 ;;
  esac
  grep -q '^\[hello\] ' "$log" || { echo "no [hello] lines in $log"; cat "$tmp/kiln$n.out"; exit 1; }
}
serve "$so1" 1
serve "$so2" 2
serve "$so3" 3 hello-who
# Only the query symbol is exported.
exported=$(nm -D --defined-only "$so1" | awk '{print $3}' | grep -v '^_' || true)
test "$exported" = "kiln_plugin_query_v1"
echo "sdk install test: ok"
