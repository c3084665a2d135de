/* replay-main.c - runs a fuzz harness over files, without libFuzzer: the
 * normal test suite replays the committed corpus and the reproducer of
 * every bug fuzzing (or a report) found.  Arguments are files or folders
 * (every regular file inside, in name order).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-common.h"

#include <string.h>

static int n_inputs;

static void
replay_file (const char *path)
{
  gchar *data;
  gsize size;
  GError *err = NULL;
  if (!g_file_get_contents (path, &data, &size, &err)) {
    fprintf (stderr, "replay: %s\n", err->message);
    exit (1);
  }
  fprintf (stderr, "replay: %s (%" G_GSIZE_FORMAT " bytes)\n", path, size);
  LLVMFuzzerTestOneInput ((const uint8_t *) data, size);
  g_free (data);
  n_inputs++;
}

static gint
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (!g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
      replay_file (argv[i]);
      continue;
    }
    GDir *d = g_dir_open (argv[i], 0, NULL);
    if (!d) {
      fprintf (stderr, "replay: cannot open %s\n", argv[i]);
      return 1;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
    const char *n;
    while ((n = g_dir_read_name (d)))
      if (n[0] != '.')
        g_ptr_array_add (names, g_build_filename (argv[i], n, NULL));
    g_dir_close (d);
    g_ptr_array_sort (names, cmp_str);
    for (guint k = 0; k < names->len; k++)
      replay_file (g_ptr_array_index (names, k));
    g_ptr_array_unref (names);
  }
  if (n_inputs == 0) {
    fprintf (stderr, "replay: no inputs\n");
    return 1;
  }
  printf ("replayed %d inputs\n", n_inputs);
  return 0;
}
