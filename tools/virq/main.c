/* SPDX-License-Identifier: MIT */
/*
 * main.c - the virq command: dispatch to one subcommand per file.
 */
#include <stdio.h>
#include <string.h>

#include "virq_cli.h"

static void virq_cli_usage(FILE *out)
{
	fprintf(out,
		"usage: virq COMMAND [ARGS]\n"
		"\n"
		"virq is the device-interrupt half of a hypervisor, as a library in an ordinary process.\n"
		"\n"
		"commands:\n"
		"  run [FILE]      run a scenario (the embedded default without FILE) and print its report\n"
		"  check FILE...   run scenarios as tests: one PASS/FAIL line each, then 'N passed, N failed'\n"
		"  explain [FILE] [SOURCE...]  how each source's interrupts reach the guest, hop by hop\n"
		"  demo            drive the x86 path end to end (irqfd MSI, resampling INTx) and print the counts\n"
		"  bench [NAME...] run the benchmarks; one JSON object per line, each beside its floor\n"
		"                  measured in the same run (virq bench --list names them)\n"
		"\n"
		"examples:\n"
		"  virq run\n"
		"  virq run --json examples/msix-affinity.yaml\n"
		"  virq check examples/*.yaml\n"
		"  virq demo\n"
		"  virq bench irqfd_msi_latency_p50\n"
		"  virq bench --list\n"
		"\n"
		"virq COMMAND --help describes one command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		virq_cli_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "run"))
		return virq_cli_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return virq_cli_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "explain"))
		return virq_cli_explain(argc - 1, argv + 1);
	if (!strcmp(argv[1], "demo"))
		return virq_cli_demo(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return virq_cli_bench(argc - 1, argv + 1);
	fprintf(stderr, "virq: unknown command '%s'\n\n", argv[1]);
	virq_cli_usage(stderr);
	return 2;
}
