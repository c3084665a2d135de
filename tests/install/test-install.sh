#!/bin/bash
# The installed library as a developer outside the project meets it: the
# build is installed into a temporary DESTDIR (the build dir is left as it
# was), a program outside the tree is compiled with nothing but
# `pkg-config --cflags --libs coordtok` (PKG_CONFIG_PATH: the temporary
# prefix only), run, and its token record and pixels compared with the same
# program built in the tree.  The installed binaries must hold no source- or
# build-tree path, and the library export exactly its installed headers.
#
# usage: test-install.sh BUILD_DIR PREFIX LIBDIR DATADIR INCLUDEDIR SOURCE_ROOT
#                        CONSUMER_C INTREE_CONSUMER CC [CFLAGS...]
set -euo pipefail
build=$(cd "$1" && pwd) prefix=$2 libdir=$3 datadir=$4 includedir=$5
srcroot=$(cd "$6" && pwd) consumer_c=$7 intree=$8 cc=$9
shift 9
extra_cflags=("$@")
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail () { echo "FAIL: $*"; exit 1; }

meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "meson install --destdir"; }
root=$tmp/root$prefix
lib=$root/$libdir/libcoordtok.so
pcdir=$root/$libdir/pkgconfig
for f in "$pcdir/coordtok.pc" "$root/$includedir/coordtok/coordtok.h" \
    "$root/$includedir/coordtok/tokens.h" "$root/$datadir/coordtok/coordtok-default.safetensors"; do
  [ -f "$f" ] || fail "not installed: ${f#"$tmp/root"}"
done
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ "$soname" == libcoordtok.so.[0-9]* ]] || fail "libcoordtok.so has no versioned soname ('$soname')"
[ -f "$root/$libdir/$soname" ] || fail "$soname not installed"
echo "installed: $soname, coordtok.pc, <coordtok/coordtok.h>, <coordtok/tokens.h>, default model"

# No tree path in what is installed (debug info aside: a -g build names its
# sources there, and so does the CUDA module's device code, compiled with
# -lineinfo for compute-sanitizer and the profilers; that is what it is for).
while IFS= read -r -d '' f; do
  if head -c 4 "$f" | grep -q $'\x7fELF'; then
    objcopy --strip-debug --remove-section=.nv_fatbin "$f" "$tmp/stripped" 2>/dev/null ||
      cp "$f" "$tmp/stripped"
    g=$tmp/stripped
  else
    g=$f
  fi
  if grep -a -q -F -e "$srcroot" -e "$build" "$g"; then
    fail "${f#"$tmp/root"} contains a source/build tree path: $(grep -a -o -F -e "$srcroot" -e "$build" "$g" | head -1)"
  fi
done < <(find "$tmp/root" -type f -print0)
echo "no source or build tree path in any installed file"

# exports = declarations of the installed headers
/usr/bin/python3 "$here/check-exports.py" "$lib" "$root/$includedir/coordtok/coordtok.h" \
  "$root/$includedir/coordtok/tokens.h"

# a program outside the tree, through pkg-config alone
grep -q '^prefix=${pcfiledir}' "$pcdir/coordtok.pc" ||
  fail "coordtok.pc names a fixed prefix ($(grep '^prefix=' "$pcdir/coordtok.pc")): this build dir predates \
the project's default pkgconfig.relocatable=true; run: meson configure $build -Dpkgconfig.relocatable=true"
export PKG_CONFIG_PATH=$pcdir
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
flags=$(pkg-config --cflags --libs coordtok) || fail "pkg-config coordtok"
pc_libdir=$(pkg-config --variable=libdir coordtok)
case "$flags" in *"$srcroot"*|*"$build"*) fail "pkg-config flags name the tree: $flags";; esac
mkdir "$tmp/outside"
cp "$consumer_c" "$tmp/outside/consumer.c"
# shellcheck disable=SC2086
(cd "$tmp/outside" && "$cc" "${extra_cflags[@]}" consumer.c -o consumer $flags -lm \
   -Wl,-rpath,"$pc_libdir") || fail "compiling against the installed prefix ($flags)"
# (meson test points LD_LIBRARY_PATH at the build tree: not for this one)
ldd_out=$(env -u LD_LIBRARY_PATH ldd "$tmp/outside/consumer")
grep -F "libcoordtok" <<<"$ldd_out" | grep -F -q "$tmp/root" ||
  fail "consumer does not load the installed libcoordtok: $ldd_out"

env -u LD_LIBRARY_PATH COORDTOK_MODEL_DIR="$root/$datadir/coordtok" \
  "$tmp/outside/consumer" "$tmp/installed.bin" ||
  fail "the program built against the installed prefix failed"
"$intree" "$tmp/intree.bin" || fail "the in-tree build of the same program failed"
cmp "$tmp/installed.bin" "$tmp/intree.bin" ||
  fail "installed and in-tree engines gave different tokens or pixels"
echo "installed and in-tree builds: identical token record and pixels"
