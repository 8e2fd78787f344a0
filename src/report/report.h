/* SPDX-License-Identifier: MIT */
/*
 * report.h - the report renderers the CLI is built from: the human table and the --json document for a
 * run's report (struct virq_vmm_report), the Chrome trace-event timeline that --trace FILE writes, and
 * the live progress line. docs/report.md describes what each one prints.
 *
 * None of them calls into the VMM: everything they print comes from the report, the configuration the
 * run was built from and the trace events recorded while it ran.
 */
#ifndef VIRQ_REPORT_H
#define VIRQ_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/vmm.h"

/* What a report says about the run besides the report's numbers. */
struct virq_report_meta {
	const char *name;                     /* scenario name */
	const char *arch;                     /* "x86_64" */
	const struct virq_vmm_config *config; /* device names, delivery modes, MSI-X / INTx, vCPUs */
	uint64_t run_ns;                      /* planned duration (0: scripted, no fixed duration) */
	unsigned expectations_met, expectations_total;
};

/* The human table: header line, one row per source, the balance line. Returns 0 or -errno. */
int virq_report_print_table(FILE *out, const struct virq_report_meta *meta, const struct virq_vmm_report *r);
/*
 * One JSON document (pretty, ending with a newline). Per-source objects use the table's column names as
 * keys (raised, delivered, coalesced, pending, lost, p50_ns, p99_ns, max_ns). Returns 0 or -errno.
 */
int virq_report_print_json(FILE *out, const struct virq_report_meta *meta, const struct virq_vmm_report *r);
/* The report's columns summed over its rows, and the spurious EOIs over its vCPUs. */
struct virq_report_totals {
	uint64_t raised, delivered, coalesced, pending, lost, stale, spurious_eoi;
};
void virq_report_sum(const struct virq_vmm_report *r, struct virq_report_totals *t);
/* Every row balances (raised == delivered + coalesced + pending + lost) and nothing was lost. */
bool virq_report_balanced(const struct virq_vmm_report *r);

/* The names and numbers every renderer prints the same way (table.c). */
#define VIRQ_REPORT_NUM_MAX 32
/* The delivery name of @device ("irqfd", "resample", "forwarded", ...), NULL when the config does not have the device. */
const char *virq_report_device_mode(const struct virq_report_meta *meta, unsigned device);
/* The device's configured name, or "device N" written into @buf when the config does not have it. */
const char *virq_report_device_name(const struct virq_report_meta *meta, unsigned device, char *buf,
				    size_t len);
/* Whether @device's interrupt is its INTx line (trace events do not say; the delivery mode does). */
bool virq_report_device_intx(const struct virq_report_meta *meta, unsigned device);
/* 'A'..'D' for the device's INTx pin, '?' when the config does not say. */
char virq_report_intx_pin(const struct virq_report_meta *meta, unsigned device);
/* "15,012". */
void virq_report_format_count(uint64_t n, char buf[VIRQ_REPORT_NUM_MAX]);
/* 2-3 significant digits with a unit: "999 ns", "1.0 µs", "24 µs", "1.2 ms", "3.0 s". */
void virq_report_format_duration(uint64_t ns, char buf[VIRQ_REPORT_NUM_MAX]);
/* The title the table and the progress line start with: "virq run NAME: x86_64, 2 vCPUs, 3.0 s". */
void virq_report_format_title(const struct virq_report_meta *meta, unsigned vcpus, char *buf, size_t len);

/*
 * Trace recorder. virq_trace_record() has the shape of virq_vmm_event_fn, so the CLI passes it with the
 * trace as context to virq_vmm_set_event_handler(). Recording is lock-free, does no I/O and is safe from
 * any number of threads at once; it keeps at most @max_events events (0: VIRQ_TRACE_DEFAULT_MAX) in
 * buffers allocated a chunk at a time as they fill, and counts the ones it had to drop.
 */
#define VIRQ_TRACE_DEFAULT_MAX 1000000
struct virq_trace;
struct virq_trace *virq_trace_create(size_t max_events);
void virq_trace_record(void *trace, const struct virq_vmm_event *event);
/* Events kept so far, and events dropped (over max_events, or a buffer could not be allocated). */
size_t virq_trace_count(const struct virq_trace *trace);
uint64_t virq_trace_dropped(const struct virq_trace *trace);
/*
 * Write the events as Chrome trace-event JSON that Perfetto's JSON importer opens: a track per vCPU and
 * per device; raises, resamples and route changes as instants on the device's track; handler runs as
 * slices on the vCPU's track, from the handler's start to its ack. Events recorded while this runs may be
 * left out. Returns 0 or -errno.
 */
int virq_trace_write(struct virq_trace *trace, const struct virq_report_meta *meta, const char *path);
void virq_trace_destroy(struct virq_trace *trace);

/*
 * The progress line: "virq run NAME: x86_64, 2 vCPUs, 3.0 s   [#########-]  2.7 s", redrawn in place.
 * Both do nothing unless @tty (the caller knows whether @err is a terminal).
 */
void virq_progress_draw(FILE *err, bool tty, const struct virq_report_meta *meta, uint64_t elapsed_ns);
void virq_progress_clear(FILE *err, bool tty);

#endif /* VIRQ_REPORT_H */
