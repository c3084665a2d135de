/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_COORDTOK_ENC_H
#define GST_COORDTOK_ENC_H

#include "gstcoordtokelement.h"

G_BEGIN_DECLS

#define GST_TYPE_COORDTOK_ENC (gst_coordtok_enc_get_type ())
G_DECLARE_FINAL_TYPE (GstCoordTokEnc, gst_coordtok_enc, GST, COORDTOK_ENC, GstCoordTokElement)

GST_ELEMENT_REGISTER_DECLARE (coordtokenc);

G_END_DECLS

#endif
