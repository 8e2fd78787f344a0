/* SPDX-License-Identifier: MIT */
/*
 * bench.c - `virq bench [NAME...]`: the figures of bench/ (one JSON object per line on stdout).
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "virq_cli.h"

int virq_cli_bench(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: virq bench [--list] [NAME...]\n\n"
		       "Runs every figure (under a minute) or the named ones. Each line is\n"
		       "  {\"metric\": NAME, \"value\": V, \"unit\": U, \"floor\": F, \"ratio\": V/F}\n"
		       "where the floor is this machine's own cost of the same hops, measured in the same run,\n"
		       "interleaved with the engine path in blocks.\n\nexamples:\n  virq bench\n"
		       "  virq bench irqfd_msi_latency_p50 irqfd_msi_throughput\n");
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--list")) {
		virq_bench_list();
		return 0;
	}
	return virq_bench_run((const char *const *)(argv + 1), argc - 1);
}
