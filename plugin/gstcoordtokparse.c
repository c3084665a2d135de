/* gstcoordtokparse.c - coordtokparse: frames a byte stream of CoordTok token
 * records (as written by coordtokenc ! filesink) into one buffer per record.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A stream is the plain concatenation of records (docs/token-format.md).
 * Each record is found by its magic "CTOK"; its fixed header gives the
 * record's size, trusted only once the header's CRC matches (a damaged
 * header makes the parser resync on the next magic; garbage is skipped with
 * a warning).  The payload CRC is left to the decoder, which posts an error.
 * Caps are set from the first header and whenever the stream parameters
 * change; buffer timestamps come from the header.
 */
/**
 * SECTION:element-coordtokparse
 * @title: coordtokparse
 * @see_also: coordtokenc, coordtokdec
 *
 * Splits a stream of CoordTok token records (a file written by
 * `coordtokenc ! filesink`) into one buffer per record, with caps and
 * timestamps from the record headers.  Sizes are trusted only after the
 * header's CRC matches; damaged stretches are skipped with one warning each
 * and the parser resyncs on the next record.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=cam.ctok ! coordtokparse ! coordtokdec ! \
 *     videoconvert ! autovideosink
 * ]| Stored tokens decoded exactly as the live stream was.
 *
 * Since: 0.1
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gstcoordtokparse.h"
#include "coordtok-work-budget.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (coordtokparse_debug);
#define GST_CAT_DEFAULT coordtokparse_debug

struct _GstCoordTokParse {
  GstBaseParse parent;
  GstCaps *caps;                /* last caps set */
  guint64 skipped;              /* bytes of garbage skipped, in all */
  guint64 skipped_run;          /* ... since the last good record */
  CtWorkBudget budget;          /* header checks per input byte */
};

#define gst_coordtok_parse_parent_class parent_class
G_DEFINE_TYPE (GstCoordTokParse, gst_coordtok_parse, GST_TYPE_BASE_PARSE);
GST_ELEMENT_REGISTER_DEFINE (coordtokparse, "coordtokparse", GST_RANK_PRIMARY,
    GST_TYPE_COORDTOK_PARSE);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_COORDTOK_MEDIA_TYPE));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_COORDTOK_MEDIA_TYPE ", parsed = (boolean) true"));

static gboolean
gst_coordtok_parse_start (GstBaseParse * parse)
{
  GstCoordTokParse *self = GST_COORDTOK_PARSE (parse);
  gst_base_parse_set_min_frame_size (parse, CT_TOKENS_FIXED_HEADER_SIZE);
  gst_base_parse_set_pts_interpolation (parse, FALSE);
  gst_base_parse_set_infer_ts (parse, FALSE);
  gst_clear_caps (&self->caps);
  self->skipped = self->skipped_run = 0;
  ct_work_budget_reset (&self->budget);
  return TRUE;
}

static gboolean
gst_coordtok_parse_stop (GstBaseParse * parse)
{
  GstCoordTokParse *self = GST_COORDTOK_PARSE (parse);
  gst_clear_caps (&self->caps);
  return TRUE;
}

static gint
find_magic (const guint8 * data, gsize size, gsize from)
{
  for (gsize i = from; i + 4 <= size; i++)
    if (memcmp (data + i, CT_TOKENS_MAGIC, 4) == 0)
      return (gint) i;
  return -1;
}

/* Skips to the next magic after the current one (a damaged or truncated
 * record): the records after it are still found. */
static gint
resync_skip (GstCoordTokParse * self, const guint8 * data, gsize size,
    gboolean draining)
{
  gint next = find_magic (data, size, 1);
  /* Candidates in the bytes at hand that cannot be a record (bad fixed
   * header) or whose check the budget cannot pay are passed over here, in
   * one call: baseparse hands over (and copies) all buffered bytes on every
   * call, so skipping them one call each cost O(buffered) per forged header. */
  while (next > 0 && size - next >= CT_TOKENS_FIXED_HEADER_SIZE) {
    CtTokensHeader h;
    if (ct_tokens_header_peek (data + next, size - next, &h, NULL) &&
        ct_work_budget_can (&self->budget, h.header_size))
      break;
    next = find_magic (data, size, next + 1);
  }
  if (next > 0)
    return next;
  /* keep a possibly split magic, unless no more data will come */
  return draining ? (gint) size : (gint) MAX (1, (gssize) size - 3);
}

/* Asks baseparse for `need` bytes before calling again.  `need` is at most
 * a whole record, which ct_tokens_header_peek bounds (a header of at most
 * 128 + 16 * 2^16 bytes, a payload of at most CT_TOKENS_MAX_ELEMS f32). */
static GstFlowReturn
wait_for (GstCoordTokParse * self, GstBaseParse * parse, gsize need, gsize have)
{
  GST_LOG_OBJECT (self, "need %" G_GSIZE_FORMAT " bytes, have %" G_GSIZE_FORMAT,
      need, have);
  gst_base_parse_set_min_frame_size (parse, (guint) need);
  return GST_FLOW_OK;
}

/* One bus warning per stretch of skipped bytes (damaged records, garbage):
 * nothing is lost without a message, and a damaged file does not flood the
 * bus with one warning per byte. */
static void
report_skipped (GstCoordTokParse * self, const char *where, guint64 pts)
{
  if (!self->skipped_run)
    return;
  if (pts != CT_TOKENS_TIME_NONE)
    GST_ELEMENT_WARNING (self, STREAM, DECODE, ("Skipped %" G_GUINT64_FORMAT
            " bytes of damaged or non-token data %s %" GST_TIME_FORMAT,
            self->skipped_run, where, GST_TIME_ARGS (pts)), (NULL));
  else
    GST_ELEMENT_WARNING (self, STREAM, DECODE, ("Skipped %" G_GUINT64_FORMAT
            " bytes of damaged or non-token data %s", self->skipped_run, where), (NULL));
  self->skipped_run = 0;
}

static gboolean
gst_coordtok_parse_sink_event (GstBaseParse * parse, GstEvent * event)
{
  GstCoordTokParse *self = GST_COORDTOK_PARSE (parse);
  gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;
  gboolean ret = GST_BASE_PARSE_CLASS (parent_class)->sink_event (parse, event);
  if (eos)      /* after the drain */
    report_skipped (self, "at the end of the stream", CT_TOKENS_TIME_NONE);
  return ret;
}

static GstFlowReturn
gst_coordtok_parse_handle_frame (GstBaseParse * parse, GstBaseParseFrame * frame,
    gint * skipsize)
{
  GstCoordTokParse *self = GST_COORDTOK_PARSE (parse);
  GstBuffer *buf = frame->buffer;
  GstMapInfo map;
  CtTokensHeader h;
  GError *err = NULL;
  GstFlowReturn ret = GST_FLOW_OK;
  gsize rec;
  gint off;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return GST_FLOW_ERROR;

  off = find_magic (map.data, map.size, 0);
  if (off != 0) {
    /* skip to the next magic, or keep the last 3 bytes (a split magic) */
    *skipsize = off > 0 ? off : (gint) MAX (1, (gssize) map.size - 3);
    self->skipped += *skipsize;
    self->skipped_run += *skipsize;
    GST_WARNING_OBJECT (self, "skipping %d bytes of non-token data", *skipsize);
    goto done;
  }

  if (map.size < CT_TOKENS_FIXED_HEADER_SIZE) {
    if (GST_BASE_PARSE_DRAINING (parse)) {
      GST_ELEMENT_WARNING (self, STREAM, DECODE, ("Truncated token record at "
              "the end of the stream: %" G_GSIZE_FORMAT " bytes, not even a "
              "header", map.size), (NULL));
      *skipsize = map.size;
    } else {
      ret = wait_for (self, parse, CT_TOKENS_FIXED_HEADER_SIZE, map.size);
    }
    goto done;
  }
  if (!ct_tokens_header_peek (map.data, map.size, &h, &err)) {
    GST_WARNING_OBJECT (self, "bad token header, resyncing: %s", err->message);
    goto resync;
  }
  /* The header's CRC covers its sizes: nothing it says is trusted, and no
   * more than the header itself is waited for, until the CRC matches.  A
   * forged size can then neither stall the stream nor swallow the valid
   * records behind it. */
  if (!ct_work_budget_can (&self->budget, h.header_size)) {
    GST_WARNING_OBJECT (self, "too much checking for the data so far (forged "
        "headers?): a %u-byte header skipped unchecked", h.header_size);
    goto resync;
  }
  if (map.size < h.header_size) {
    if (GST_BASE_PARSE_DRAINING (parse)) {
      GST_ELEMENT_WARNING (self, STREAM, DECODE, ("Truncated token record at "
              "the end of the stream: %" G_GSIZE_FORMAT " bytes of a %u-byte "
              "header", map.size, h.header_size), (NULL));
      goto resync;
    }
    ret = wait_for (self, parse, h.header_size, map.size);
    goto done;
  }
  ct_work_budget_spend (&self->budget, h.header_size);
  if (!ct_tokens_header_parse (map.data, map.size, &h, NULL, 0, &err)) {
    GST_WARNING_OBJECT (self, "corrupted token header, resyncing: %s", err->message);
    goto resync;
  }
  rec = ct_tokens_record_size (&h);
  if (map.size < rec) {
    if (GST_BASE_PARSE_DRAINING (parse)) {
      GST_ELEMENT_WARNING (self, STREAM, DECODE, ("Truncated token record at "
              "the end of the stream: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
              " bytes", map.size, rec), (NULL));
      goto resync;
    }
    ret = wait_for (self, parse, rec, map.size);
    goto done;
  }
  gst_buffer_unmap (buf, &map);
  gst_base_parse_set_min_frame_size (parse, CT_TOKENS_FIXED_HEADER_SIZE);
  report_skipped (self, "before the record at", h.pts);

  {
    GstCaps *caps = gst_coordtok_token_caps_from_header (&h);
    if (!self->caps || !gst_caps_is_equal (caps, self->caps)) {
      GST_INFO_OBJECT (self, "stream: %" GST_PTR_FORMAT, caps);
      gst_pad_set_caps (GST_BASE_PARSE_SRC_PAD (parse), caps);
      gst_caps_replace (&self->caps, caps);
    }
    gst_caps_unref (caps);
  }

  ct_work_budget_consume (&self->budget, rec);
  return gst_base_parse_finish_frame (parse, frame, rec);

resync:
  g_clear_error (&err);
  *skipsize = resync_skip (self, map.data, map.size, GST_BASE_PARSE_DRAINING (parse));
  self->skipped += *skipsize;
  self->skipped_run += *skipsize;
  gst_base_parse_set_min_frame_size (parse, CT_TOKENS_FIXED_HEADER_SIZE);
done:
  ct_work_budget_consume (&self->budget, MAX (*skipsize, 0));
  gst_buffer_unmap (buf, &map);
  return ret;
}

/* timestamps from the record header, set on the final buffer (baseparse
 * assigns upstream timestamps in finish_frame) */
static GstFlowReturn
gst_coordtok_parse_pre_push_frame (GstBaseParse * parse, GstBaseParseFrame * frame)
{
  GstMapInfo map;
  CtTokensHeader h;

  if (gst_buffer_map (frame->buffer, &map, GST_MAP_READ)) {
    if (ct_tokens_header_peek (map.data, map.size, &h, NULL)) {
      GST_BUFFER_PTS (frame->buffer) =
          h.pts != CT_TOKENS_TIME_NONE ? h.pts : GST_CLOCK_TIME_NONE;
      GST_BUFFER_DTS (frame->buffer) = GST_BUFFER_PTS (frame->buffer);
      GST_BUFFER_DURATION (frame->buffer) =
          h.duration != CT_TOKENS_TIME_NONE ? h.duration : GST_CLOCK_TIME_NONE;
    }
    gst_buffer_unmap (frame->buffer, &map);
  }
  frame->flags |= GST_BASE_PARSE_FRAME_FLAG_CLIP;
  return GST_FLOW_OK;
}

static void
gst_coordtok_parse_finalize (GObject * object)
{
  GstCoordTokParse *self = GST_COORDTOK_PARSE (object);
  gst_clear_caps (&self->caps);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_coordtok_parse_class_init (GstCoordTokParseClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseParseClass *parse_class = GST_BASE_PARSE_CLASS (klass);

  gobject_class->finalize = gst_coordtok_parse_finalize;
  parse_class->start = gst_coordtok_parse_start;
  parse_class->stop = gst_coordtok_parse_stop;
  parse_class->handle_frame = gst_coordtok_parse_handle_frame;
  parse_class->sink_event = gst_coordtok_parse_sink_event;
  parse_class->pre_push_frame = gst_coordtok_parse_pre_push_frame;

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "CoordTok token parser", "Codec/Parser/Video",
      "Splits a stream of CoordTok token records (e.g. a file written by "
      "coordtokenc ! filesink) into one buffer per window, with caps and "
      "timestamps from the record headers", "gst-coordtok developers");

  GST_DEBUG_CATEGORY_INIT (coordtokparse_debug, "coordtokparse", 0,
      "CoordTok token parser");
}

static void
gst_coordtok_parse_init (GstCoordTokParse * self)
{
  GST_PAD_SET_ACCEPT_INTERSECT (GST_BASE_PARSE_SINK_PAD (self));
  GST_PAD_SET_ACCEPT_TEMPLATE (GST_BASE_PARSE_SINK_PAD (self));
}
