/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_COORDTOK_PARSE_H
#define GST_COORDTOK_PARSE_H

#include <gst/base/gstbaseparse.h>
#include "gstcoordtokcommon.h"

G_BEGIN_DECLS

#define GST_TYPE_COORDTOK_PARSE (gst_coordtok_parse_get_type ())
G_DECLARE_FINAL_TYPE (GstCoordTokParse, gst_coordtok_parse, GST, COORDTOK_PARSE, GstBaseParse)

GST_ELEMENT_REGISTER_DECLARE (coordtokparse);

G_END_DECLS

#endif
