/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_COORDTOK_DEC_H
#define GST_COORDTOK_DEC_H

#include "gstcoordtokelement.h"

G_BEGIN_DECLS

#define GST_TYPE_COORDTOK_DEC (gst_coordtok_dec_get_type ())
G_DECLARE_FINAL_TYPE (GstCoordTokDec, gst_coordtok_dec, GST, COORDTOK_DEC, GstCoordTokElement)

GST_ELEMENT_REGISTER_DECLARE (coordtokdec);

G_END_DECLS

#endif
