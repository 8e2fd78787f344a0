/* SPDX-License-Identifier: MIT */
/* scenario_exec.h - running one loaded scenario: shared by `virq run` and `virq check`. */
#ifndef VIRQ_CLI_SCENARIO_EXEC_H
#define VIRQ_CLI_SCENARIO_EXEC_H

#include <stdbool.h>
#include <stdio.h>

#include "report/report.h"
#include "scenario/scenario.h"

struct virq_exec_options {
	const char *trace_path; /* write a Chrome trace-event timeline here (NULL: none) */
	bool progress;          /* draw the progress line on stderr (only if it is a terminal) */
	FILE *failures;         /* where unmet expectations are described, one per line (NULL: nowhere) */
};

struct virq_exec_result {
	struct virq_vmm_report *report; /* the final report (free()), NULL if the run did not get that far */
	unsigned met, total;            /* expectations, step ones included */
	bool balanced;                  /* every row balances and nothing was lost */
	char error[512];                /* why the run itself failed ("" if it did not) */
	char first_failure[512];        /* the first unmet expectation, for one-line summaries */
};

/*
 * Run @sc: build the VM, boot the guest, play the steps, run the traffic, settle, report, evaluate.
 * Returns 0 if the run completed (expectations may still be unmet), -errno if it could not (result->error
 * says why). The caller frees result->report.
 */
int virq_exec_scenario(const struct virq_scenario *sc, const struct virq_exec_options *opts,
		       struct virq_exec_result *result);

/* Play @sc's scripted steps on a started @vmm, quietly (for `virq explain`). Returns 0 or -errno. */
int virq_exec_steps(struct virq_vmm *vmm, const struct virq_scenario *sc);

/* The metadata the renderers print for @sc and @result. */
void virq_exec_meta(const struct virq_scenario *sc, const struct virq_exec_result *result,
		    struct virq_report_meta *meta);

#endif /* VIRQ_CLI_SCENARIO_EXEC_H */
