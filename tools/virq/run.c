/* SPDX-License-Identifier: MIT */
/*
 * run.c - `virq run [--json] [--trace FILE] [FILE]`: run one scenario (the embedded default without a
 * file) and print its report. Exit status: 0 when nothing was lost, the counts balance and every
 * expectation holds; 1 when one of those fails; 2 when the scenario cannot be read or run.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_exec.h"
#include "virq_cli.h"

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: virq run [--json] [--trace FILE] [SCENARIO.yaml]\n"
		"\n"
		"Run a scenario: build the VM and its assigned devices, boot the guest's drivers, play the\n"
		"scripted steps, run the traffic, and print one report row per device vector: raised, delivered,\n"
		"coalesced, pending, lost, and latency from the device's raise to the handler (p50, p99, max).\n"
		"Without a file, runs the embedded default: two vCPUs, a 4-queue MSI-X NIC and a level INTx\n"
		"device, 3 s of traffic.\n"
		"\n"
		"options:\n"
		"  --json        print the report as one JSON document instead of the table\n"
		"  --trace FILE  write a timeline (Chrome trace-event JSON; open it in ui.perfetto.dev)\n"
		"  -h, --help    show this help\n"
		"\n"
		"exit status: 0 all well; 1 something was lost, the counts do not balance, or an expectation\n"
		"failed; 2 the scenario could not be read or run.\n"
		"\n"
		"examples:\n"
		"  virq run\n"
		"  virq run examples/msix-affinity.yaml\n"
		"  virq run --json examples/intx-storm.yaml | jq '.totals'\n"
		"  virq run --trace /tmp/virq.json examples/default.yaml\n");
}

int virq_cli_run(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "trace", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct virq_exec_options opts = { .progress = true, .failures = stderr };
	struct virq_exec_result result;
	struct virq_scenario *sc;
	struct virq_report_meta meta;
	bool json = false;
	char err[512];
	int c, ret;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 't':
			opts.trace_path = optarg;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "virq run: %s '%s'\n\n", optopt == 't' ? "--trace needs a FILE" : "unknown option",
				argv[optind - 1]);
			run_usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "virq run: one scenario at a time (virq check runs several)\n");
		return 2;
	}
	if (optind < argc)
		ret = virq_scenario_load_file(argv[optind], &sc, err, sizeof(err));
	else
		ret = virq_scenario_load_text(VIRQ_SCENARIO_DEFAULT_NAME, virq_scenario_default_text,
					      strlen(virq_scenario_default_text), &sc, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "virq run: %s\n", err);
		return 2;
	}
	ret = virq_exec_scenario(sc, &opts, &result);
	if (result.report) {
		virq_exec_meta(sc, &result, &meta);
		if (json)
			virq_report_print_json(stdout, &meta, result.report);
		else
			virq_report_print_table(stdout, &meta, result.report);
	}
	if (result.error[0])
		fprintf(stderr, "virq run: %s\n", result.error);
	int status = ret < 0 || result.error[0] ? 2 : !result.balanced || result.met < result.total ? 1 : 0;
	free(result.report);
	virq_scenario_free(sc);
	return status;
}
