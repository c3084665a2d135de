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

const char *
ct_file_kind_advice (const guint8 *d, gsize n)
{
  if (!d || n == 0)
    return "the file is empty";
  if (has (d, n, 0, "PK\x03\x04", 4))
    return "it is a zip archive, as PyTorch .pth checkpoints are: convert it with "
        "'coordtok convert IN.pth OUT.safetensors'";
  if (has (d, n, 0, "\x80\x02", 2) || has (d, n, 0, "\x80\x04", 2))
    return "it looks like a Python pickle (a legacy torch.save file): re-save it with "
        "torch.save(obj, path) from PyTorch >= 1.6 (zip format), then run 'coordtok convert'";
  if (has (d, n, 0, "CTOK", 4))
    return "it is a CoordTok token file (decode it with 'filesrc ! coordtokparse ! "
        "coordtokdec'); weights are .safetensors files";
  if (has (d, n, 4, "ftyp", 4))
    return "it is an MP4/QuickTime video, not a weight file";
  if (has (d, n, 0, "RIFF", 4))
    return "it is a RIFF (AVI/WAV) file, not a weight file";
  if (has (d, n, 0, "\x1a\x45\xdf\xa3", 4))
    return "it is a Matroska/WebM video, not a weight file";
  if (has (d, n, 0, "YUV4MPEG2", 9))
    return "it is a Y4M video, not a weight file";
  if (has (d, n, 0, "GGUF", 4))
    return "it is a GGUF file (llama.cpp/ggml), not a CoordTok safetensors file";
  if (has (d, n, 0, "\x89PNG", 4) || has (d, n, 0, "\xff\xd8\xff", 3))
    return "it is an image, not a weight file";
  if (has (d, n, 0, "\x7f" "ELF", 4))
    return "it is a program or library (ELF), not a weight file";
  return NULL;
}
