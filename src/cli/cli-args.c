/* cli-args.c - one way to parse a subcommand's arguments: --help (GOption's),
 * --version, unknown options and a wrong number of arguments refused with
 * exit status 2.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "config.h"

#include <stdio.h>

void
ct_cli_print_version (void)
{
  printf ("coordtok %s (cpu kernels: %s)\n", VERSION, ct_cpu_kernels_name ());
}

int
ct_cli_parse_args (const char *cmd, const char *params, GOptionEntry *entries,
    int *argc, char ***argv, int min_args, int max_args, const char *args_msg)
{
  gboolean version = FALSE;
  GOptionEntry common[] = {
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new (params);
  GError *err = NULL;
  if (entries)
    g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_main_entries (ctx, common, NULL);
  gboolean ok = g_option_context_parse (ctx, argc, argv, &err);
  g_option_context_free (ctx);
  if (!ok) {
    fprintf (stderr, "coordtok %s: %s ('coordtok %s --help' lists the options)\n", cmd,
        err->message, cmd);
    g_error_free (err);
    return 2;
  }
  if (version) {
    ct_cli_print_version ();
    return 0;
  }
  /* (*argv)[0] is the command itself; GOption refused unknown options */
  int n = *argc - 1;
  if (n < min_args || (max_args >= 0 && n > max_args)) {
    fprintf (stderr, "coordtok %s: %s\n", cmd, args_msg);
    return 2;
  }
  return -1;
}
