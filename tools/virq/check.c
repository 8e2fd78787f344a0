/* SPDX-License-Identifier: MIT */
/*
 * check.c - `virq check FILE...`: run each scenario as a test. One line per file (PASS or FAIL and
 * why: the unmet expectation with its line and value, a loss, or the error), then "N passed, N failed".
 * Exit status 0 only when every file passed; a file that cannot be read or run counts as failed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_exec.h"
#include "virq_cli.h"

static void check_usage(FILE *out)
{
	fprintf(out,
		"usage: virq check SCENARIO.yaml...\n"
		"\n"
		"Run each scenario quietly and judge it: it passes when every expectation in it holds, nothing\n"
		"was lost and every report row balances (raised = delivered + coalesced + pending + lost).\n"
		"Prints one line per file and a final 'N passed, N failed'.\n"
		"\n"
		"exit status: 0 every file passed; 1 at least one failed; 2 no file was given.\n"
		"\n"
		"examples:\n"
		"  virq check examples/*.yaml\n"
		"  virq check my-device.yaml && echo ok\n");
}

/* Why the counts do not balance: what was lost, or the first row whose counts do not add up. */
static void check_print_imbalance(const char *path, const struct virq_scenario *sc,
				  const struct virq_vmm_report *r, const struct virq_report_totals *totals)
{
	char name[64];

	if (totals->lost) {
		printf("FAIL %s: %llu raised interrupts were lost\n", path, (unsigned long long)totals->lost);
		return;
	}
	for (unsigned i = 0; i < r->nsources; i++) {
		const struct virq_vmm_source_report *s = &r->sources[i];
		if (s->raised == s->delivered + s->coalesced + s->pending + s->lost)
			continue;
		virq_scenario_source_name(sc, s->device, s->source, s->intx, name, sizeof(name));
		printf("FAIL %s: %s does not add up: raised %llu, delivered %llu + coalesced %llu + pending %llu\n",
		       path, name, (unsigned long long)s->raised, (unsigned long long)s->delivered,
		       (unsigned long long)s->coalesced, (unsigned long long)s->pending);
		return;
	}
	printf("FAIL %s: counts do not balance\n", path);
}

/* Run one file; prints its line and returns true if it passed. */
static bool check_file(const char *path)
{
	struct virq_exec_options opts = { 0 };
	struct virq_exec_result result;
	struct virq_report_totals totals = { 0 };
	struct virq_scenario *sc;
	char err[512];

	if (virq_scenario_load_file(path, &sc, err, sizeof(err)) < 0) {
		printf("FAIL %s: %s\n", path, err);
		return false;
	}
	int ret = virq_exec_scenario(sc, &opts, &result);
	if (result.report)
		virq_report_sum(result.report, &totals);
	bool pass = ret == 0 && !result.error[0] && result.balanced && result.met == result.total;
	if (pass)
		printf("PASS %s (%u/%u expectations, %llu delivered, 0 lost)\n", path, result.met, result.total,
		       (unsigned long long)totals.delivered);
	else if (ret < 0 || result.error[0])
		printf("FAIL %s: %s\n", path, result.error);
	else if (result.met < result.total)
		printf("FAIL %s: %s\n", path, result.first_failure);
	else
		check_print_imbalance(path, sc, result.report, &totals);
	free(result.report);
	virq_scenario_free(sc);
	return pass;
}

int virq_cli_check(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "virq check: no scenario given\n\n");
		check_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		check_usage(stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (check_file(argv[i]))
			passed++;
		else
			failed++;
		fflush(stdout);
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
