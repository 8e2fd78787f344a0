/* SPDX-License-Identifier: MIT */
/* virq_cli.h - the subcommands of the virq command, one file each. */
#ifndef VIRQ_CLI_H
#define VIRQ_CLI_H

int virq_cli_demo(int argc, char **argv);
int virq_cli_bench(int argc, char **argv);
int virq_cli_run(int argc, char **argv);
int virq_cli_check(int argc, char **argv);
int virq_cli_explain(int argc, char **argv);

#endif /* VIRQ_CLI_H */
