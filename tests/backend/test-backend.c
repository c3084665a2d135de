/* test-backend.c - the backend registry's device=auto fallback (issue #11):
 * with the CUDA module missing, without a device, refusing the model or
 * built for another interface, device=auto runs on the CPU and logs why
 * (a refusal as a message, the ordinary cases at info level), while
 * device=cuda fails with that reason.
 * usage: test-backend REASON LEVEL   (LEVEL: message | info)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <coordtok/coordtok.h>

#include <stdio.h>
#include <string.h>

static GString *logged;
static GLogLevelFlags logged_level;

static void
capture (const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer user)
{
  if (strstr (msg, "device=auto")) {
    g_string_append_printf (logged, "%s\n", msg);
    logged_level = level & G_LOG_LEVEL_MASK;
  }
}

int
main (int argc, char **argv)
{
  if (argc != 3) {
    fprintf (stderr, "usage: test-backend REASON message|info\n");
    return 2;
  }
  const char *reason = argv[1];
  GLogLevelFlags want = !strcmp (argv[2], "message") ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_INFO;
  logged = g_string_new (NULL);
  g_log_set_default_handler (capture, NULL);

  GError *err = NULL;
  CtModel *m = ct_model_load_default (&err);
  if (!m) {
    fprintf (stderr, "FAIL: default model: %s\n", err->message);
    return 1;
  }
  int failures = 0;
  CtSession *s = ct_session_new (m, CT_DEVICE_AUTO, CT_PRECISION_BF16, &err);
  if (!s) {
    fprintf (stderr, "FAIL: device=auto did not fall back to the CPU: %s\n", err->message);
    return 1;
  }
  if (ct_session_device (s) != CT_DEVICE_CPU) {
    fprintf (stderr, "FAIL: device=auto gave %s, not the CPU\n", ct_session_device_name (s));
    failures++;
  }
  if (!strstr (logged->str, reason) || logged_level != want) {
    fprintf (stderr, "FAIL: expected a %s log naming '%s', got level %d: '%s'\n",
        argv[2], reason, logged_level, logged->str);
    failures++;
  } else {
    printf ("device=auto -> %s, logged: %s", ct_session_device_name (s), logged->str);
  }
  ct_session_free (s);

  s = ct_session_new (m, CT_DEVICE_CUDA, CT_PRECISION_FP32, &err);
  if (s) {
    fprintf (stderr, "FAIL: device=cuda succeeded on %s\n", ct_session_device_name (s));
    ct_session_free (s);
    failures++;
  } else if (!g_error_matches (err, CT_ERROR, CT_ERROR_DEVICE) || !strstr (err->message, reason)) {
    fprintf (stderr, "FAIL: device=cuda: expected a device error naming '%s', got '%s'\n",
        reason, err->message);
    failures++;
  } else {
    printf ("device=cuda refused: %s\n", err->message);
  }
  g_clear_error (&err);

  /* the device index reaches the backend (the fake names it in its refusal) */
  if (!strcmp (reason, "fake: out of memory")) {
    s = ct_session_new_full (m, CT_DEVICE_CUDA, 3, CT_PRECISION_FP32, &err);
    if (s || !strstr (err->message, "on device 3")) {
      fprintf (stderr, "FAIL: device=cuda index 3: expected the backend to be asked "
          "for device 3, got '%s'\n", s ? ct_session_device_name (s) : err->message);
      failures++;
    } else {
      printf ("device index 3 -> %s\n", err->message);
    }
    g_clear_pointer (&s, ct_session_free);
    g_clear_error (&err);
  }
  s = ct_session_new_full (m, CT_DEVICE_AUTO, -2, CT_PRECISION_FP32, &err);
  if (s || !g_error_matches (err, CT_ERROR, CT_ERROR_ARGUMENT)) {
    fprintf (stderr, "FAIL: device index -2 was not refused as an argument error\n");
    failures++;
  }
  g_clear_pointer (&s, ct_session_free);
  g_clear_error (&err);
  ct_model_unref (m);
  g_string_free (logged, TRUE);
  return failures ? 1 : 0;
}
