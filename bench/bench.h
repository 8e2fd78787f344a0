/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the benchmarks behind `virq bench` (ARCHITECTURE.md 5.4, perf-floors.md section 4).
 */
#ifndef VIRQ_BENCH_H
#define VIRQ_BENCH_H

/*
 * Run the figures named in @names[0..@nr) (all when @nr is 0) and print one JSON object per line on
 * stdout: {"metric": NAME, "value": V, "unit": U, "floor": F, "ratio": V/F}. Returns 0, or 2 for an
 * unknown name (with a message on stderr naming the known ones).
 */
int virq_bench_run(const char *const *names, int nr);

/* One line per figure: its name and what it measures (for `virq bench --list` and --help). */
void virq_bench_list(void);

#endif /* VIRQ_BENCH_H */
