/* error.c - the engine's GError domain.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "coordtok.h"

G_DEFINE_QUARK (coordtok-error-quark, ct_error)
