/* SPDX-License-Identifier: MIT */
/*
 * progress.c - the live progress line of `virq run`: the report's title, a ten-step bar and the elapsed
 * time, redrawn in place with a carriage return. It goes to stderr and only to a terminal, so stdout
 * (the table or the --json document) and redirected output stay clean.
 */
#include "report/report.h"

#define VIRQ_PROGRESS_STEPS 10

void virq_progress_draw(FILE *err, bool tty, const struct virq_report_meta *meta, uint64_t elapsed_ns)
{
	char title[256], elapsed[VIRQ_REPORT_NUM_MAX], bar[VIRQ_PROGRESS_STEPS + 1];

	if (!tty)
		return;
	virq_report_format_title(meta, meta->config ? meta->config->vcpus : 0, title, sizeof(title));
	virq_report_format_duration(elapsed_ns, elapsed);
	/* A scripted run has no planned duration: no bar, just the time. */
	if (meta->run_ns) {
		uint64_t done = elapsed_ns >= meta->run_ns ? VIRQ_PROGRESS_STEPS
							   : elapsed_ns * VIRQ_PROGRESS_STEPS / meta->run_ns;
		for (unsigned i = 0; i < VIRQ_PROGRESS_STEPS; i++)
			bar[i] = i < done ? '#' : '-';
		bar[VIRQ_PROGRESS_STEPS] = '\0';
		fprintf(err, "\r%s   [%s]  %s\033[K", title, bar, elapsed);
	} else {
		fprintf(err, "\r%s   %s\033[K", title, elapsed);
	}
	fflush(err);
}

void virq_progress_clear(FILE *err, bool tty)
{
	if (!tty)
		return;
	/* Back to the start of the line and erase it, so the report prints where the line was. */
	fputs("\r\033[K", err);
	fflush(err);
}
