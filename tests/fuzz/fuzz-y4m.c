/* fuzz-y4m.c - libFuzzer harness: the CLI's Y4M reader (src/cli/y4m-reader.c)
 * on a file (a memfd, so the reader sees a regular file and checks that
 * each frame fits before it allocates).  A header that parses must describe
 * bounded, consistent planes; every refusal must say why.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-common.h"
#include "cli/y4m-reader.h"

#include <sys/mman.h>
#include <unistd.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  int fd = memfd_create ("fuzz-y4m", 0);
  FUZZ_CHECK (fd >= 0);
  FUZZ_CHECK (size == 0 || write (fd, data, size) == (ssize_t) size);
  FUZZ_CHECK (lseek (fd, 0, SEEK_SET) == 0);
  FILE *f = fdopen (fd, "rb");
  FUZZ_CHECK (f != NULL);
  GError *err = NULL;
  CtY4mReader *r = ct_y4m_reader_new (f, "fuzz.y4m", &err);
  if (!r) {
    fuzz_check_error (&err);
    return 0;
  }
  const CtY4mHeader *h = ct_y4m_reader_header (r);
  FUZZ_CHECK (h->width >= 1 && h->width <= CT_Y4M_MAX_DIM);
  FUZZ_CHECK (h->height >= 1 && h->height <= CT_Y4M_MAX_DIM);
  FUZZ_CHECK (h->frame_bytes <= CT_Y4M_MAX_FRAME_BYTES);
  gsize planes = 0;
  for (int p = 0; p < h->n_planes; p++)
    planes += (gsize) h->plane_w[p] * h->plane_h[p];
  FUZZ_CHECK (planes == h->frame_bytes);
  FUZZ_CHECK ((h->fps_n == 0) == (h->fps_d == 0));
  FUZZ_CHECK (h->par_n > 0 && h->par_d > 0);
  const guint8 *frame;
  int got;
  guint64 n = 0;
  while ((got = ct_y4m_reader_read (r, &frame, &err)) == 1) {
    /* a frame read is a whole frame of the input */
    FUZZ_CHECK (h->frame_bytes <= size);
    n++;
  }
  if (got < 0)
    fuzz_check_error (&err);
  FUZZ_CHECK (ct_y4m_reader_frames_read (r) == n);
  ct_y4m_reader_free (r);
  return 0;
}
