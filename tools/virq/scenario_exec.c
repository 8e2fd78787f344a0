/* SPDX-License-Identifier: MIT */
/*
 * scenario_exec.c - run one loaded scenario against the reference VMM.
 *
 * Order: boot the guest; play the scripted steps (each `expect` step first lets the system settle, so it
 * judges a quiet state); run the traffic for `run`; stop it; settle; take the report; evaluate the final
 * expectations. Steps come before traffic so that a scripted check counts exactly the raises it made.
 */
#define _GNU_SOURCE
#include "scenario_exec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXEC_PROGRESS_MIN_NS 2000000000ull /* only runs longer than this draw a progress line */
#define EXEC_TICK_NS 100000000ull

static uint64_t exec_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void exec_sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void virq_exec_meta(const struct virq_scenario *sc, const struct virq_exec_result *result,
		    struct virq_report_meta *meta)
{
	*meta = (struct virq_report_meta){
		.name = sc->name,
		.arch = sc->arch,
		.config = &sc->vmm,
		.run_ns = sc->run_ns,
		.expectations_met = result->met,
		.expectations_total = result->total,
	};
}

static void exec_expect(const struct virq_scenario *sc, const struct virq_scenario_expect *e,
			const struct virq_vmm_report *report, const struct virq_exec_options *opts,
			struct virq_exec_result *result)
{
	char msg[512];

	result->total++;
	if (virq_scenario_expect_eval(sc, e, report, msg, sizeof(msg)) == 1) {
		result->met++;
		return;
	}
	if (!result->first_failure[0])
		snprintf(result->first_failure, sizeof(result->first_failure), "%s", msg);
	if (opts->failures)
		fprintf(opts->failures, "%s\n", msg);
}

/* Let the system settle and report; a run that cannot settle is a finding, not an error. */
static struct virq_vmm_report *exec_settled_report(struct virq_vmm *vmm, const struct virq_scenario *sc,
						   struct virq_exec_result *result)
{
	int ret = virq_vmm_settle(vmm, sc->settle_timeout_ns);

	if (ret == -EIO)
		snprintf(result->error, sizeof(result->error), "the guest stopped: %s",
			 virq_vmm_failure(vmm) ? virq_vmm_failure(vmm) : "unknown reason");
	return virq_vmm_report(vmm);
}

static int exec_steps(struct virq_vmm *vmm, const struct virq_scenario *sc, const struct virq_exec_options *opts,
		      struct virq_exec_result *result)
{
	for (unsigned i = 0; i < sc->nsteps; i++) {
		const struct virq_scenario_step *step = &sc->steps[i];
		struct virq_vmm_report *report;
		int ret = 0;

		switch (step->kind) {
		case VIRQ_SCENARIO_STEP_RAISE:
			ret = virq_vmm_raise(vmm, step->raise.device, step->raise.cause);
			break;
		case VIRQ_SCENARIO_STEP_GUEST:
			ret = virq_vmm_guest_action(vmm, step->guest.action);
			break;
		case VIRQ_SCENARIO_STEP_WAIT:
			exec_sleep_ns(step->wait.ns);
			break;
		case VIRQ_SCENARIO_STEP_EXPECT:
			report = exec_settled_report(vmm, sc, result);
			if (!report)
				return -ENOMEM;
			for (unsigned j = 0; j < step->expect.n; j++)
				exec_expect(sc, &step->expect.v[j], report, opts, result);
			free(report);
			break;
		}
		if (ret < 0) {
			snprintf(result->error, sizeof(result->error), "%s:%u: step failed: %s%s%s", sc->path,
				 step->line, strerror(-ret), virq_vmm_failure(vmm) ? ": " : "",
				 virq_vmm_failure(vmm) ? virq_vmm_failure(vmm) : "");
			return ret;
		}
		if (result->error[0])
			return -EIO;
	}
	return 0;
}

int virq_exec_steps(struct virq_vmm *vmm, const struct virq_scenario *sc)
{
	struct virq_exec_options opts = { 0 };
	struct virq_exec_result result = { 0 };

	return exec_steps(vmm, sc, &opts, &result);
}

static int exec_traffic(struct virq_vmm *vmm, const struct virq_scenario *sc, const struct virq_exec_options *opts,
			struct virq_exec_result *result)
{
	struct virq_report_meta meta;
	bool progress = opts->progress && sc->run_ns > EXEC_PROGRESS_MIN_NS && isatty(STDERR_FILENO);
	int ret;

	if (!sc->run_ns)
		return 0;
	virq_exec_meta(sc, result, &meta);
	ret = virq_vmm_traffic_start(vmm);
	if (ret < 0) {
		snprintf(result->error, sizeof(result->error), "starting traffic: %s", strerror(-ret));
		return ret;
	}
	uint64_t start = exec_now_ns(), elapsed;
	while ((elapsed = exec_now_ns() - start) < sc->run_ns && !virq_vmm_failure(vmm)) {
		if (progress)
			virq_progress_draw(stderr, true, &meta, elapsed);
		uint64_t left = sc->run_ns - elapsed;
		exec_sleep_ns(left < EXEC_TICK_NS ? left : EXEC_TICK_NS);
	}
	virq_vmm_traffic_stop(vmm);
	if (progress)
		virq_progress_clear(stderr, true);
	return 0;
}

int virq_exec_scenario(const struct virq_scenario *sc, const struct virq_exec_options *opts,
		       struct virq_exec_result *result)
{
	struct virq_trace *trace = NULL;
	struct virq_vmm *vmm;
	char err[256];
	int ret;

	memset(result, 0, sizeof(*result));
	ret = virq_vmm_create(&sc->vmm, &vmm, err, sizeof(err));
	if (ret < 0) {
		snprintf(result->error, sizeof(result->error), "%s: cannot build the VM: %s", sc->path, err);
		return ret;
	}
	if (opts->trace_path) {
		trace = virq_trace_create(VIRQ_TRACE_DEFAULT_MAX);
		if (!trace) {
			ret = -ENOMEM;
			goto out;
		}
		virq_vmm_set_event_handler(vmm, virq_trace_record, trace);
	}
	ret = virq_vmm_start(vmm);
	if (ret < 0) {
		snprintf(result->error, sizeof(result->error), "%s: the guest did not boot: %s", sc->path,
			 virq_vmm_failure(vmm) ? virq_vmm_failure(vmm) : strerror(-ret));
		goto out;
	}
	ret = exec_steps(vmm, sc, opts, result);
	if (ret == 0)
		ret = exec_traffic(vmm, sc, opts, result);
	if (ret == 0) {
		result->report = exec_settled_report(vmm, sc, result);
		ret = result->report ? 0 : -ENOMEM;
	}
	virq_vmm_stop(vmm);
	if (result->report) {
		result->balanced = virq_report_balanced(result->report);
		for (unsigned i = 0; i < sc->nexpects; i++)
			exec_expect(sc, &sc->expects[i], result->report, opts, result);
	}
	if (trace && ret == 0) {
		struct virq_report_meta meta;
		virq_exec_meta(sc, result, &meta);
		ret = virq_trace_write(trace, &meta, opts->trace_path);
		if (ret < 0)
			snprintf(result->error, sizeof(result->error), "%s: cannot write the trace: %s",
				 opts->trace_path, strerror(-ret));
	}
out:
	if (ret < 0 && !result->error[0])
		snprintf(result->error, sizeof(result->error), "%s: %s", sc->path, strerror(-ret));
	virq_vmm_destroy(vmm);
	virq_trace_destroy(trace);
	return ret;
}
