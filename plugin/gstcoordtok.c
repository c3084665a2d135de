/* gstcoordtok.c - the coordtok plugin: coordtokenc, coordtokdec,
 * coordtokparse and a typefinder for token record streams.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokenc.h"
#include "gstcoordtokdec.h"
#include "gstcoordtokparse.h"

#include <string.h>

/* A stream of token records starts with "CTOK", a version this build
 * reads and that version's fixed header size (little-endian). */
static void
coordtok_type_find (GstTypeFind * tf, gpointer user_data)
{
  const guint8 *d = gst_type_find_peek (tf, 0, 8);
  if (d && memcmp (d, CT_TOKENS_MAGIC, 4) == 0 &&
      ct_tokens_fixed_size (d, 8) != 0 &&
      GST_READ_UINT16_LE (d + 6) == ct_tokens_fixed_size (d, 8)) {
    GstCaps *caps = gst_caps_new_simple (GST_COORDTOK_MEDIA_TYPE,
        "version", G_TYPE_INT, GST_READ_UINT16_LE (d + 4), NULL);
    gst_type_find_suggest (tf, GST_TYPE_FIND_MAXIMUM, caps);
    gst_caps_unref (caps);
  }
}

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;
  ret |= GST_ELEMENT_REGISTER (coordtokenc, plugin);
  ret |= GST_ELEMENT_REGISTER (coordtokdec, plugin);
  ret |= GST_ELEMENT_REGISTER (coordtokparse, plugin);
  ret |= gst_type_find_register (plugin, "video/x-coordtok", GST_RANK_PRIMARY,
      coordtok_type_find, "ctok", NULL, NULL, NULL);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, coordtok,
    "CoordTok video tokenizer (CVPR 2025): encoder, decoder, parser",
    plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
