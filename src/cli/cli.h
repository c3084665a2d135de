/* cli.h - the coordtok command-line tool's subcommands.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CLI_H
#define CT_CLI_H
#include "coordtok.h"

int ct_cmd_info (int argc, char **argv);
int ct_cmd_golden (int argc, char **argv);
int ct_cmd_bench (int argc, char **argv);
int ct_cmd_convert (int argc, char **argv);
int ct_cmd_reconstruct (int argc, char **argv);
int ct_cmd_encode (int argc, char **argv);
int ct_cmd_decode (int argc, char **argv);

/* Parses a subcommand's options and arguments (cli-args.c): GOption's
 * --help, --version, unknown options and an argument count outside
 * [min_args, max_args] (max -1: any) refused with args_msg.  Returns -1 to
 * go on, else the exit status (0 after --version, 2 for a usage error). */
int ct_cli_parse_args (const char *cmd, const char *params, GOptionEntry *entries,
    int *argc, char ***argv, int min_args, int max_args, const char *args_msg);
void ct_cli_print_version (void);

gboolean ct_cli_parse_precision (const char *s, CtPrecision *p);
void ct_cli_print_config (const CtConfig *c);
#endif
