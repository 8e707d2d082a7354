#!/bin/bash
# Builds the fuzzers: the module's sources compiled by nginx's own build
# (as `make build` does, Debian's nginx-dev headers) but with clang,
# libFuzzer's coverage, ASan and UBSan; then linked with t/fuzz/*.c and
# libFuzzer into build/fuzz/ngx_tunesheap_fuzz.so, a dynamic module that
# Debian's nginx loads (t/fuzz/run.sh).  nginx-dev ships no nginx sources,
# so nginx's core is the installed binary, uninstrumented.
#
#   t/fuzz/build.sh            configure once, then build what changed
#   t/fuzz/build.sh clean

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
NGINX_SRC=${NGINX_SRC:-/usr/share/nginx/src}
CC=${FUZZ_CC:-clang}
NGX=$OUT/nginx
SO=$OUT/ngx_tunesheap_fuzz.so

# not pointer-overflow nor nonnull-attribute: nginx's empty strings are
# { 0, NULL }, and NULL + 0 or memcpy(p, NULL, 0) (UB to the letter,
# harmless) are everywhere; ASan sees real overruns
SAN="-fsanitize=address,undefined"
SAN="$SAN -fno-sanitize=pointer-overflow,nonnull-attribute"
SAN="$SAN -fno-sanitize-recover=undefined"
CFLAGS="-g -O1 -fno-omit-frame-pointer $SAN -fsanitize=fuzzer-no-link"

if [ "${1:-}" = clean ]; then
    rm -rf "$OUT"
    exit 0
fi

command -v "$CC" >/dev/null || {
    echo "fuzz: $CC is missing: apt-get install clang libclang-rt-14-dev" >&2
    exit 1
}

rt=$("$CC" -print-resource-dir)/lib/linux
[ -f "$rt/libclang_rt.fuzzer_no_main-x86_64.a" ] || {
    echo "fuzz: libFuzzer is missing: apt-get install libclang-rt-14-dev" >&2
    exit 1
}

# nginx's configure runs again only when the addon script or this changes
if [ ! -f "$NGX/objs/Makefile" ] || [ "$ROOT/config" -nt "$NGX/objs/Makefile" ] \
   || [ "$0" -nt "$NGX/objs/Makefile" ]
then
    rm -rf "$NGX"
    mkdir -p "$OUT"
    cp -r "$NGINX_SRC" "$NGX"
    (
        cd "$NGX"
        source ./conf_flags
        # clang warns where gcc (make build, -Werror) does not
        CC=$CC ./configure "${NGX_CONF_FLAGS[@]}" \
            --with-cc-opt="$CFLAGS -Wno-error" --with-ld-opt="$SAN" \
            --add-dynamic-module="$ROOT" >"$OUT/configure.log" 2>&1
    ) || { tail -n 30 "$OUT/configure.log"; exit 1; }
fi

make -C "$NGX" -f objs/Makefile modules >"$OUT/make.log" 2>&1 \
    || { grep -E -A3 'error' "$OUT/make.log" | head -n 60; exit 1; }

incs="-I $NGX/objs -I $NGX/src/core -I $NGX/src/event
      -I $NGX/src/event/modules -I $NGX/src/os/unix -I $NGX/src/http
      -I $NGX/src/http/modules -I $NGX/src/http/v2 -I $ROOT/src
      -I /usr/include/postgresql"

mkdir -p "$OUT/obj"
fobjs=
for src in "$ROOT"/t/fuzz/*.c; do
    obj=$OUT/obj/$(basename "$src" .c).o
    if [ ! -f "$obj" ] || [ "$obj" -ot "$src" ] \
       || [ "$obj" -ot "$ROOT/t/fuzz/ts_fuzz.h" ]
    then
        "$CC" $CFLAGS -fPIC -Wall -Wextra -Wno-unused-parameter -Werror $incs \
            -c "$src" -o "$obj"
    fi
    fobjs="$fobjs $obj"
done

# the module's objects, but not its modules list: ts_fuzz.c has its own;
# the HTTP edge nginx would run next is replaced (ts_fuzz.c)
mobjs=$(find "$NGX/objs/addon" -name '*.o' | sort)
wrap=
for f in ngx_http_finalize_request ngx_http_run_posted_requests \
         ngx_http_internal_redirect ngx_http_core_run_phases ts_auth_check \
         pread
do
    wrap="$wrap -Wl,--wrap=$f"
done

# -Bsymbolic: the coverage callbacks are libFuzzer's, linked in here, not
# the no-op ones of the preloaded ASan runtime
"$CC" -shared -shared-libasan $SAN -fsanitize=fuzzer-no-link -o "$SO.tmp" \
    -Wl,-Bsymbolic \
    $fobjs $mobjs -Wl,--whole-archive "$rt/libclang_rt.fuzzer_no_main-x86_64.a" \
    -Wl,--no-whole-archive $wrap -lpq -lyajl -lhiredis -lcrypto -lstdc++ -lm
mv "$SO.tmp" "$SO"
echo "built $SO"
