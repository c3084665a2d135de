#!/bin/bash
# The main job: build, then tokenize a real clip with the default model and
# reconstruct it, through gst-launch pipelines.
#
#   bash src/tools/coordtok-demo.sh [CLIP] [OUTDIR]
#
# CLIP defaults to cockatoo.mp4 from python3-imageio (never trained on).
# Writes OUTDIR/tokens.ctok (token records, readable by coordtokparse),
# OUTDIR/reconstructed.y4m (decoded straight from the encoder) and
# OUTDIR/reconstructed-from-file.y4m (decoded from tokens.ctok), and
# OUTDIR/original.y4m (the scaled input), then prints sizes and PSNR.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CLIP="${1:-/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4}"
OUT="${2:-$ROOT/demo-output}"
BUILD="${COORDTOK_BUILD:-$ROOT/build}"

if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" --buildtype=release >/dev/null
fi
# a tree configured without the plugin (e.g. -Dplugin=disabled) gets it back
if ! meson configure "$BUILD" | grep -qE '^ *plugin +(enabled|auto)'; then
  meson configure "$BUILD" -Dplugin=enabled >/dev/null
fi
ninja -C "$BUILD" >/dev/null
if [ ! -e "$BUILD/plugin/libgstcoordtok.so" ]; then
  echo "the GStreamer plugin was not built (GStreamer development packages missing?)" >&2
  exit 1
fi
mkdir -p "$OUT"

export GST_PLUGIN_PATH="$BUILD/plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export GST_REGISTRY="$OUT/.registry.bin"
SIZE=$("$BUILD/src/cli/coordtok" info | awk '/^window/ { sub("H=","",$3); sub("W=","",$4); print $3" "$4 }')
read -r H W <<<"$SIZE"
echo "model: $("$BUILD/src/cli/coordtok" info | awk '/^model/ {print $2}') (${W}x${H} windows)"
SCALE="decodebin ! videoconvert ! videoscale ! video/x-raw,width=$W,height=$H,format=RGB"

echo "== encode + decode, tokens saved on the side"
time gst-launch-1.0 -q filesrc location="$CLIP" ! $SCALE ! tee name=orig \
  orig. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! videoconvert ! video/x-raw,format=I420 ! y4menc ! filesink location="$OUT/original.y4m" \
  orig. ! queue ! coordtokenc ! tee name=tok \
  tok. ! queue ! filesink location="$OUT/tokens.ctok" \
  tok. ! queue ! coordtokdec ! videoconvert ! video/x-raw,format=I420 ! y4menc ! filesink location="$OUT/reconstructed.y4m"

echo "== decode again from the token file"
gst-launch-1.0 -q filesrc location="$OUT/tokens.ctok" ! coordtokparse ! coordtokdec ! videoconvert \
  ! video/x-raw,format=I420 ! y4menc ! filesink location="$OUT/reconstructed-from-file.y4m"

raw=$(stat -c %s "$OUT/original.y4m"); tok=$(stat -c %s "$OUT/tokens.ctok")
echo "original (scaled, I420 y4m): $raw bytes; tokens: $tok bytes"
if cmp -s "$OUT/reconstructed.y4m" "$OUT/reconstructed-from-file.y4m"; then
  echo "live and file-decoded reconstructions are identical"
else
  echo "WARNING: live and file-decoded reconstructions differ" >&2
fi
/usr/bin/python3 "$ROOT/src/tools/y4m_psnr.py" "$OUT/original.y4m" "$OUT/reconstructed.y4m" || true
echo "outputs in $OUT:"
ls -l "$OUT" | sed 1d
