/* cli-gst.h - running the plugin's elements from the CLI (cli-gst.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CT_CLI_GST_H
#define CT_CLI_GST_H

#include <gst/gst.h>

/* Options every command that runs the elements has. */
typedef struct {
  char *model;                  /* NULL: the default model */
  char *device;                 /* auto, cpu, cuda */
  int threads;                  /* the elements' threads property; 0 automatic */
} CtCliElementOptions;

#define CT_CLI_ELEMENT_OPTION_ENTRIES(o) \
  { "model", 'm', 0, G_OPTION_ARG_FILENAME, &(o)->model, "Weight file (default: the default model)", "F" }, \
  { "device", 'd', 0, G_OPTION_ARG_STRING, &(o)->device, "auto (default), cpu, cuda", "DEV" }, \
  { "threads", 't', 0, G_OPTION_ARG_INT, &(o)->threads, "CPU threads (0, the default: the cores other processes leave free)", "N" }

/* Checks the values (exit status 2 and a message on stderr if wrong). */
gboolean ct_cli_element_options_check (const char *cmd, const CtCliElementOptions *o);
/* Sets model, device and threads on a coordtokenc or coordtokdec. */
void ct_cli_element_options_apply (const CtCliElementOptions *o, GstElement *e);
void ct_cli_element_options_clear (CtCliElementOptions *o);

/* gst_init; with need_plugin, makes sure the coordtok elements can be
 * created (loading the plugin from the build tree or the install prefix
 * when GStreamer's plugin path does not have it).  FALSE with a message on
 * stderr. */
gboolean ct_cli_gst_init (const char *cmd, gboolean need_plugin);

/* Called with the pipeline in READY (models loaded): returns -1 to go on,
 * or an exit status (it printed why). */
typedef int (*CtCliReadyCheck) (GstElement *pipeline, gpointer data);

/* Runs the pipeline to EOS.  Bus errors are printed as one line
 * ("coordtok CMD: message") and give 1; warnings are printed and the run
 * goes on.  Returns the exit status; the pipeline is left in NULL. */
int ct_cli_gst_run (const char *cmd, GstElement *pipeline, CtCliReadyCheck check,
    gpointer data);

/* Prints a bus error or warning message as one line. */
void ct_cli_print_message (const char *cmd, GstMessage *msg);

/* Output files are written as PATH.tmp and renamed when complete, so a
 * failed run leaves no file and never clobbers an older one. */
char *ct_cli_tmp_path (const char *path);
int ct_cli_finish_output (const char *cmd, const char *tmp, const char *path, int status);

#endif
