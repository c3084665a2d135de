/* config-private.h - configuration inference and (de)serialisation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef CT_CONFIG_PRIVATE_H
#define CT_CONFIG_PRIVATE_H

#include "coordtok.h"
#include "geometry.h"

G_BEGIN_DECLS

/* Looks a tensor up by official name; returns FALSE when absent, else its
 * rank and shape. */
typedef gboolean (*CtShapeLookup) (void *user, const char *name, int *ndim,
    gint64 *shape /* [8] */);

/* Infers every size the tensor shapes determine (spec section 2); head
 * counts come from enc_heads/dec_heads (0: 16), eps from the official
 * values, default_slice = 16 whole frames. Layer counts are found by probing
 * "...layers.{i}..." names. */
gboolean ct_config_infer (CtConfig *c, CtShapeLookup lookup, void *user,
    int enc_heads, int dec_heads, GError **error);

/* Reads the coordtok.* keys of docs/weights.md; FALSE with error if some are
 * missing or malformed (has_config says whether any key was present). */
gboolean ct_config_from_metadata (CtConfig *c, GHashTable *metadata,
    gboolean *has_config, GError **error);

/* Calls set(user, key, value) for every coordtok.* key. */
void ct_config_to_metadata (const CtConfig *c,
    void (*set) (void *user, const char *key, const char *value), void *user);

/* The shapes src/geometry.h computes with, from a configuration. */
CtPlaneGeometry ct_config_plane_geometry (const CtConfig *c);
CtPatchGeometry ct_config_patch_geometry (const CtConfig *c);

G_END_DECLS

#endif
