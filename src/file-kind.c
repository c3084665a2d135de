/* file-kind.c - what a file is, when it is not what a loader expected: a
 * newcomer who hands a video to `coordtok info`, or a .pth to an element,
 * gets a sentence that says so and what to run instead, not "header length
 * 8104636986402275328 runs past the end of the file".
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "file-kind.h"

#include <string.h>

static gboolean
has (const guint8 *d, gsize n, gsize off, const char *magic, gsize len)
{
  return n >= off + len && memcmp (d + off, magic, len) == 0;
}

/* One row per recognised kind: where its magic is, what to call it, and
 * what to say when it was given as a weight file. */
static const struct {
  gsize off, len;
  const char *magic;
  CtFileKind kind;
  const char *name;
  const char *weights_advice;
} kinds[] = {
  { 0, 4, "PK\x03\x04", CT_FILE_KIND_CHECKPOINT, "a zip archive (as PyTorch .pth checkpoints are)",
    "it is a zip archive, as PyTorch .pth checkpoints are: convert it with "
    "'coordtok convert IN.pth OUT.safetensors'" },
  { 0, 2, "\x80\x02", CT_FILE_KIND_CHECKPOINT, "a Python pickle (a legacy torch.save file)",
    "it looks like a Python pickle (a legacy torch.save file): re-save it with "
    "torch.save(obj, path) from PyTorch >= 1.6 (zip format), then run 'coordtok convert'" },
  { 0, 2, "\x80\x04", CT_FILE_KIND_CHECKPOINT, "a Python pickle (a legacy torch.save file)",
    "it looks like a Python pickle (a legacy torch.save file): re-save it with "
    "torch.save(obj, path) from PyTorch >= 1.6 (zip format), then run 'coordtok convert'" },
  { 0, 4, "CTOK", CT_FILE_KIND_TOKENS, "a CoordTok token file",
    "it is a CoordTok token file (decode it with 'filesrc ! coordtokparse ! "
    "coordtokdec'); weights are .safetensors files" },
  { 4, 4, "ftyp", CT_FILE_KIND_VIDEO, "an MP4/QuickTime video",
    "it is an MP4/QuickTime video, not a weight file" },
  { 0, 4, "RIFF", CT_FILE_KIND_VIDEO, "a RIFF (AVI/WAV) file",
    "it is a RIFF (AVI/WAV) file, not a weight file" },
  { 0, 4, "\x1a\x45\xdf\xa3", CT_FILE_KIND_VIDEO, "a Matroska/WebM video",
    "it is a Matroska/WebM video, not a weight file" },
  { 0, 4, "OggS", CT_FILE_KIND_VIDEO, "an Ogg file", "it is an Ogg file, not a weight file" },
  { 0, 9, "YUV4MPEG2", CT_FILE_KIND_Y4M, "a Y4M video", "it is a Y4M video, not a weight file" },
  { 0, 4, "GGUF", CT_FILE_KIND_OTHER, "a GGUF file (llama.cpp/ggml)",
    "it is a GGUF file (llama.cpp/ggml), not a CoordTok safetensors file" },
  { 0, 4, "\x89PNG", CT_FILE_KIND_IMAGE, "a PNG image", "it is an image, not a weight file" },
  { 0, 3, "\xff\xd8\xff", CT_FILE_KIND_IMAGE, "a JPEG image", "it is an image, not a weight file" },
  { 0, 4, "\x7f" "ELF", CT_FILE_KIND_OTHER, "a program or library (ELF)",
    "it is a program or library (ELF), not a weight file" },
};

static int
find (const guint8 *d, gsize n)
{
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (has (d, n, kinds[i].off, kinds[i].magic, kinds[i].len))
      return (int) i;
  return -1;
}

/* Text: the first bytes (up to 64, at least the 8 of a safetensors header
 * length: a shorter file is "too short" whatever it holds) are printable
 * ASCII, whitespace or UTF-8 lead/continuation bytes.  A safetensors file
 * never looks so: its 8-byte header length has zero high bytes. */
static gboolean
looks_like_text (const guint8 *d, gsize n)
{
  if (n < 8)
    return FALSE;
  gsize m = MIN (n, 64);
  for (gsize i = 0; i < m; i++)
    if (!(d[i] >= 0x20 && d[i] != 0x7f) && d[i] != '\t' && d[i] != '\n' && d[i] != '\r')
      return FALSE;
  return TRUE;
}

const char *
ct_file_kind_advice (const guint8 *d, gsize n)
{
  if (!d || n == 0)
    return "the file is empty";
  int i = find (d, n);
  if (i < 0 && looks_like_text (d, n))
    return "it is a text file, not a weight file (weights are .safetensors files; "
        "'coordtok convert' makes one from an official .pth checkpoint)";
  return i < 0 ? NULL : kinds[i].weights_advice;
}

CtFileKind
ct_file_kind (const guint8 *d, gsize n, const char **name)
{
  int i = (d && n) ? find (d, n) : -1;
  if (name)
    *name = !d || n == 0 ? "an empty file" : i < 0 ? NULL : kinds[i].name;
  if (!d || n == 0)
    return CT_FILE_KIND_EMPTY;
  if (i < 0) {
    /* safetensors: 8-byte little-endian header length, then a JSON object */
    if (n >= 10 && d[8] == '{' && (d[9] == '"' || d[9] == ' ' || d[9] == '\n')) {
      if (name)
        *name = "a safetensors weight file";
      return CT_FILE_KIND_WEIGHTS;
    }
    if (looks_like_text (d, n)) {
      if (name)
        *name = "a text file";
      return CT_FILE_KIND_OTHER;
    }
    return CT_FILE_KIND_UNKNOWN;
  }
  return kinds[i].kind;
}
