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

/* Parses a device name (auto, cpu, cuda). */
gboolean ct_cli_parse_device (const char *s, CtDevice *d);
gboolean ct_cli_parse_precision (const char *s, CtPrecision *p);
void ct_cli_print_config (const CtConfig *c);
#endif
