#!/bin/bash
# The main job: build, then tokenize a real clip with the default model and
# reconstruct it, through gst-launch pipelines.
#
#   bash src/tools/coordtok-demo.sh [CLIP] [OUTDIR]
#
# CLIP defaults to cockatoo.mp4 from python3-imageio (never trained on).
# Writes OUTDIR/tokens.ctok (token records, readable by coordtokparse),
# OUTDIR/reconstructed.y4m (decoded straight from the encoder),
# OUTDIR/original.y4m (the scaled input), the same two as raw RGB24
# (.rgb), and OUTDIR/reconstructed-from-file.rgb (`coordtok decode
# tokens.ctok`), then prints sizes and the RGB PSNR (8-bit RGB, over every
# pixel, channel and frame: the metric README.md and docs/training.md quote).
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
echo "model: $("$BUILD/src/cli/coordtok" info | sed -n 's/^model  *//p') (${W}x${H} windows)"
SCALE="decodebin ! videoconvert ! videoscale ! video/x-raw,width=$W,height=$H,format=RGB"

echo "== encode + decode, tokens saved on the side"
Q="queue max-size-buffers=0 max-size-bytes=0 max-size-time=0"
time gst-launch-1.0 -q filesrc location="$CLIP" ! $SCALE ! tee name=orig \
  orig. ! $Q ! filesink location="$OUT/original.rgb" \
  orig. ! $Q ! videoconvert ! video/x-raw,format=I420 ! y4menc ! filesink location="$OUT/original.y4m" \
  orig. ! $Q ! coordtokenc ! tee name=tok \
  tok. ! queue ! filesink location="$OUT/tokens.ctok" \
  tok. ! queue ! coordtokdec ! videoconvert ! video/x-raw,format=RGB ! tee name=rec \
  rec. ! $Q ! filesink location="$OUT/reconstructed.rgb" \
  rec. ! $Q ! videoconvert ! video/x-raw,format=I420 ! y4menc ! filesink location="$OUT/reconstructed.y4m"

echo "== decode again from the token file (coordtok decode)"
"$BUILD/src/cli/coordtok" decode "$OUT/tokens.ctok" "$OUT/reconstructed-from-file.rgb"

raw=$(stat -c %s "$OUT/original.y4m"); tok=$(stat -c %s "$OUT/tokens.ctok")
echo "original (scaled, I420 y4m): $raw bytes; tokens: $tok bytes"
if cmp -s "$OUT/reconstructed.rgb" "$OUT/reconstructed-from-file.rgb"; then
  echo "live and file-decoded reconstructions are identical"
else
  echo "ERROR: live and file-decoded reconstructions differ" >&2
  exit 1
fi
/usr/bin/python3 "$ROOT/src/tools/rgb_psnr.py" "$OUT/original.rgb" "$OUT/reconstructed.rgb" "$W" "$H" || true
echo "outputs in $OUT:"
ls -l "$OUT" | sed 1d
