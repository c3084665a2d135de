/* coordtok-work-budget.h - work bounded per input byte (issue 25): a parser
 * that checks candidate headers spends at most BASE + PER_BYTE * (bytes it
 * has been given) on those checks.  Without it, forged headers one after
 * another, each claiming a 1 MiB frame table, made coordtokparse CRC 1 MiB
 * per 354-byte header (~7000x the work of valid records per byte).
 *
 * The first FREE bytes of each check are not charged: headers of real
 * windows (2,192 bytes for 128 frames) never touch the budget, so a valid
 * record right after a storm is still checked.  A candidate whose check the
 * budget cannot pay is treated as damaged, without waiting for its bytes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef COORDTOK_WORK_BUDGET_H
#define COORDTOK_WORK_BUDGET_H

#include <glib.h>

#define CT_WORK_BUDGET_BASE (2u << 20)    /* two of the largest headers */
#define CT_WORK_BUDGET_PER_BYTE 8
#define CT_WORK_BUDGET_FREE 4096           /* headers of windows up to 247 frames */

typedef struct {
  guint64 consumed;      /* bytes given up (records and skipped bytes) */
  guint64 spent;         /* bytes of checking done */
} CtWorkBudget;

static inline void
ct_work_budget_reset (CtWorkBudget *b)
{
  b->consumed = b->spent = 0;
}

/* Bytes handed on or skipped: they no longer count as available. */
static inline void
ct_work_budget_consume (CtWorkBudget *b, guint64 n)
{
  b->consumed += n;
}

static inline guint64
ct_work_budget_charge (guint64 cost)
{
  return cost > CT_WORK_BUDGET_FREE ? cost - CT_WORK_BUDGET_FREE : 0;
}

/* Whether checking `cost` bytes can be paid for: asked before waiting for
 * a candidate's bytes too, since waiting for (and mapping) a claimed 1 MiB
 * header is itself the work a storm multiplies. */
static inline gboolean
ct_work_budget_can (const CtWorkBudget *b, guint64 cost)
{
  return b->spent + ct_work_budget_charge (cost) <=
      CT_WORK_BUDGET_BASE + CT_WORK_BUDGET_PER_BYTE * b->consumed;
}

/* Pays for checking `cost` bytes; FALSE, and nothing spent, when the
 * budget cannot. */
static inline gboolean
ct_work_budget_spend (CtWorkBudget *b, guint64 cost)
{
  if (!ct_work_budget_can (b, cost))
    return FALSE;
  b->spent += ct_work_budget_charge (cost);
  return TRUE;
}

#endif
