/* SPDX-License-Identifier: MIT */
/*
 * test_expect.c - expectations evaluated against hand-built VMM reports: every field kind and scope,
 * every comparison, durations, bare and negated fields, balanced, missing rows, and the message that
 * names the expectation, its line and the value found.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scenario/internal.h"

static const char scenario_text[] =
	"name: t\n"
	"vm: { vcpus: 2 }\n"
	"devices:\n"
	"  - { name: nic0, pci: 00:03.0, msix: { vectors: 4 } }\n"
	"  - { name: legacy0, pci: 00:04.0, intx: { pin: A } }\n"
	"run: 1s\n"
	"expect:\n"
	"  - lost == 0\n"
	"  - nic0.vector[2].delivered == 1\n";

struct fixture {
	struct virq_scenario *sc;
	struct virq_vmm_report *report;
};

/* nic0 vectors 0..3 then legacy0's INTx row; vector k raised 100 * (k + 1), all delivered, on vCPU k % 2. */
static struct virq_vmm_report *make_report(void)
{
	unsigned n = 5;
	struct virq_vmm_report *r = calloc(1, sizeof(*r) + n * sizeof(r->sources[0]));
	r->vcpus = 2;
	r->elapsed_ns = 1000000000;
	r->nsources = n;
	for (unsigned k = 0; k < 4; k++) {
		struct virq_vmm_source_report *s = &r->sources[k];
		s->device = 0;
		s->source = k;
		s->raised = s->delivered = s->handler_runs = 100 * (k + 1);
		s->per_vcpu[k % 2] = s->handler_runs;
		s->p50_ns = 20000 + k * 1000;
		s->p99_ns = 60000 + k * 1000;
		s->max_ns = 1000000 + k;
	}
	struct virq_vmm_source_report *l = &r->sources[4];
	l->device = 1;
	l->intx = true;
	l->raised = 50;
	l->delivered = 45;
	l->coalesced = 5;
	l->handler_runs = 46;
	l->per_vcpu[0] = 46;
	l->p50_ns = 31000;
	l->p99_ns = 6200000;
	l->max_ns = 8000000;
	return r;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];
	if (virq_scenario_load_text("t.yaml", scenario_text, strlen(scenario_text), &f->sc, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		free(f);
		return -1;
	}
	f->report = make_report();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	virq_scenario_free(f->sc);
	free(f->report);
	free(f);
	return 0;
}

/* Parse @text as if written at line 42, evaluate it, and check the verdict and the message. */
static void check(const struct fixture *f, const char *text, int met, const char *got)
{
	struct virq_scenario_expect e = { .text = (char *)text, .line = 42 };
	char msg[512], want[512];
	if (virq_scenario_expect_parse(&f->sc->vmm, &e, msg, sizeof(msg)))
		fail_msg("'%s' does not parse: %s", text, msg);
	int r = virq_scenario_expect_eval(f->sc, &e, f->report, msg, sizeof(msg));
	snprintf(want, sizeof(want), "expect at t.yaml:42: %s (%s)", text, got);
	if (r != met || strcmp(msg, want))
		fail_msg("'%s': got %d \"%s\", wanted %d \"%s\"", text, r, msg, met, want);
}

static void test_totals(void **state)
{
	struct fixture *f = *state;
	check(f, "lost == 0", 1, "got 0");
	check(f, "raised == 1050", 1, "got 1050");
	check(f, "delivered == 1045", 1, "got 1045");
	check(f, "coalesced == 5", 1, "got 5");
	check(f, "pending == 0", 1, "got 0");
	check(f, "stale == 0", 1, "got 0");
	check(f, "handler_runs >= 1k", 1, "got 1046");
	check(f, "handler_runs > 2k", 0, "got 1046");
	check(f, "vcpu[0] == 446", 1, "got 446");
	check(f, "spurious_eoi == 0", 1, "got 0");
	f->report->spurious_eoi[1] = 3;
	check(f, "spurious_eoi == 0", 0, "got 3");
	check(f, "latency.max <= 8ms", 1, "got 8ms");
}

static void test_device_and_source(void **state)
{
	struct fixture *f = *state;
	check(f, "nic0.delivered == 1000", 1, "got 1000");
	check(f, "nic0.lost == 0", 1, "got 0");
	check(f, "nic0.vector[2].delivered == 1", 0, "got 300");
	check(f, "nic0.vector[2].raised == 300", 1, "got 300");
	check(f, "nic0.vector[3].handler_runs == 400", 1, "got 400");
	check(f, "nic0.vector[1].vcpu[1] == 200", 1, "got 200");
	check(f, "nic0.vector[1].vcpu[0] == 0", 1, "got 0");
	check(f, "nic0.vcpu[1] == 600", 1, "got 600");
	check(f, "legacy0.intx.delivered == 45", 1, "got 45");
	check(f, "legacy0.intx.coalesced", 1, "got 5");
	check(f, "legacy0.handler_runs == 46", 1, "got 46");
}

static void test_latency(void **state)
{
	struct fixture *f = *state;
	check(f, "legacy0.latency.p99 < 5ms", 0, "got 6.2ms");
	check(f, "legacy0.latency.p99 < 7ms", 1, "got 6.2ms");
	check(f, "legacy0.intx.latency.p50 <= 31us", 1, "got 31us");
	check(f, "nic0.latency.p99 < 63us", 0, "got 63us");   /* the worst vector's p99 */
	check(f, "nic0.vector[0].latency.p99 < 63us", 1, "got 60us");
	check(f, "nic0.latency.max == 1000003ns", 1, "got 1ms");
}

static void test_comparisons(void **state)
{
	struct fixture *f = *state;
	static const struct { const char *text; int met; } cases[] = {
		{ "nic0.vector[0].raised == 100", 1 }, { "nic0.vector[0].raised == 101", 0 },
		{ "nic0.vector[0].raised != 100", 0 }, { "nic0.vector[0].raised != 99", 1 },
		{ "nic0.vector[0].raised < 100", 0 },  { "nic0.vector[0].raised < 101", 1 },
		{ "nic0.vector[0].raised <= 100", 1 }, { "nic0.vector[0].raised <= 99", 0 },
		{ "nic0.vector[0].raised > 100", 0 },  { "nic0.vector[0].raised > 99", 1 },
		{ "nic0.vector[0].raised >= 100", 1 }, { "nic0.vector[0].raised >= 101", 0 },
		{ "nic0.vector[0].raised>=0x64", 1 },  { "  nic0.vector[0].raised   ==   100  ", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(f, cases[i].text, cases[i].met, "got 100");
}

static void test_bare_and_not(void **state)
{
	struct fixture *f = *state;
	check(f, "nic0.vector[2].pending", 0, "got 0");
	check(f, "not nic0.vector[2].pending", 1, "got 0");
	f->report->sources[2].pending = 1;
	f->report->sources[2].raised++;
	check(f, "nic0.vector[2].pending", 1, "got 1");
	check(f, "not nic0.vector[2].pending", 0, "got 1");
	check(f, "not lost > 0", 1, "got 0");
}

static void test_balanced(void **state)
{
	struct fixture *f = *state;
	check(f, "balanced", 1, "every source balances");
	check(f, "nic0.balanced", 1, "every source balances");
	f->report->sources[1].lost = 2;
	f->report->sources[1].delivered -= 2;
	check(f, "balanced", 0, "nic0.vector[1]: raised 200 = delivered 198 + coalesced 0 + pending 0 + lost 2");
	check(f, "not balanced", 1, "nic0.vector[1]: raised 200 = delivered 198 + coalesced 0 + pending 0 + lost 2");
	check(f, "legacy0.balanced", 1, "every source balances");
	f->report->sources[4].delivered = 40;
	check(f, "legacy0.intx.balanced", 0,
	      "legacy0.intx: raised 50 != delivered 40 + coalesced 5 + pending 0 + lost 0");
}

/* A row the report lacks cannot be judged: unmet, negated or not. */
static void test_missing_row(void **state)
{
	struct fixture *f = *state;
	f->report->nsources = 4; /* drop legacy0 */
	check(f, "legacy0.intx.delivered == 0", 0, "no such row in the report");
	check(f, "not legacy0.delivered", 0, "no such row in the report");
	check(f, "legacy0.balanced", 0, "no such row in the report");
	check(f, "nic0.lost == 0", 1, "got 0");
}

/* The loaded file's own expectations carry their line. */
static void test_file_lines(void **state)
{
	struct fixture *f = *state;
	char msg[512];
	assert_int_equal(f->sc->nexpects, 2);
	assert_int_equal(virq_scenario_expect_eval(f->sc, &f->sc->expects[0], f->report, msg, sizeof(msg)), 1);
	assert_string_equal(msg, "expect at t.yaml:8: lost == 0 (got 0)");
	assert_int_equal(virq_scenario_expect_eval(f->sc, &f->sc->expects[1], f->report, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "expect at t.yaml:9: nic0.vector[2].delivered == 1 (got 300)");
	char name[64];
	virq_scenario_source_name(f->sc, 1, 0, true, name, sizeof(name));
	assert_string_equal(name, "legacy0.intx");
	virq_scenario_source_name(f->sc, 0, 3, false, name, sizeof(name));
	assert_string_equal(name, "nic0.vector[3]");
}

/* posted and remapped read the IOMMU's whole-VM counts, which exist once a device is behind it. */
static void test_iommu_counts(void **state)
{
	struct fixture *f = *state;
	f->sc->vmm.devices[0].delivery = VIRQ_VMM_DELIVERY_POSTED;
	f->report->iommu = true;
	f->report->iommu_posted = 990;
	f->report->iommu_remapped = 10;
	check(f, "posted > 0", 1, "got 990");
	check(f, "posted", 1, "got 990");
	check(f, "remapped == 0", 0, "got 10");
	check(f, "not remapped", 0, "got 10");
	f->report->iommu_remapped = 0;
	check(f, "remapped == 0", 1, "got 0");
}

/* direct_completions and vfio_unmasks read the host's counts of the forwarded INTx lines (whole VM). */
static void test_forwarding_counts(void **state)
{
	struct fixture *f = *state;
	f->sc->vmm.arch = VIRQ_VMM_ARCH_ARM64;
	f->sc->vmm.devices[1].delivery = VIRQ_VMM_DELIVERY_FORWARDED;
	f->report->forwarding = true;
	f->report->fwd_completions = 46;
	f->report->fwd_refires = 1;
	f->report->fwd_unmasks = 0;
	check(f, "direct_completions >= 46", 1, "got 46");
	check(f, "direct_completions", 1, "got 46");
	check(f, "vfio_unmasks == 0", 1, "got 0");
	f->report->fwd_unmasks = 3;
	check(f, "vfio_unmasks == 0", 0, "got 3");
	check(f, "not vfio_unmasks", 0, "got 3");
}

/* direct reads the whole run's count of MSIs latched straight into LPIs (arm64, gic v4). */
static void test_direct_counts(void **state)
{
	struct fixture *f = *state;
	f->sc->vmm.arch = VIRQ_VMM_ARCH_ARM64;
	f->sc->vmm.gic_v4 = true;
	f->report->direct_lpi = true;
	f->report->direct_injected = 1000;
	f->report->direct_fallbacks = 2;
	check(f, "direct >= 1k", 1, "got 1000");
	check(f, "direct", 1, "got 1000");
	check(f, "direct > 1000", 0, "got 1000");
	f->report->direct_injected = 0;
	check(f, "not direct", 1, "got 0");
	/* not to be confused with the forwarded lines' direct_completions */
	f->sc->vmm.devices[1].delivery = VIRQ_VMM_DELIVERY_FORWARDED;
	f->report->fwd_completions = 7;
	check(f, "direct_completions == 7", 1, "got 7");
	check(f, "direct == 0", 1, "got 0");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_totals),      T(test_device_and_source), T(test_latency),     T(test_comparisons),
		T(test_bare_and_not), T(test_balanced),         T(test_missing_row), T(test_file_lines),
		T(test_iommu_counts), T(test_forwarding_counts), T(test_direct_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
