/* SPDX-License-Identifier: MIT */
/*
 * fuzz_scenario_load.c - libFuzzer target: scenario files. Any text either loads into a configuration the
 * reference VMM's own checks accept, with every step and expectation naming a device and source that
 * exist, or is refused with a message that starts with the file's name and carries a line; never a
 * crash, a leak or an out-of-bounds access.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/scenario.h"

#define FUZZ_NAME "fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned fuzz_causes(const struct virq_vmm_device_config *d)
{
	return d->msix_vectors ? d->msix_vectors : 1;
}

static void fuzz_check_expect(const struct virq_scenario *sc, const struct virq_scenario_expect *e)
{
	if (e->scope != VIRQ_SCENARIO_SCOPE_ALL && e->device >= sc->vmm.ndevices)
		abort();
	if (e->scope == VIRQ_SCENARIO_SCOPE_SOURCE && e->source >= fuzz_causes(&sc->vmm.devices[e->device]))
		abort();
	if (e->field == VIRQ_SCENARIO_FIELD_VCPU && e->vcpu >= sc->vmm.vcpus)
		abort();
}

static void fuzz_check(const struct virq_scenario *sc)
{
	const struct virq_vmm_config *cfg = &sc->vmm;

	if (cfg->vcpus < 1 || cfg->vcpus > VIRQ_VMM_MAX_VCPUS || cfg->ndevices > VIRQ_VMM_MAX_DEVICES ||
	    cfg->nactions > VIRQ_VMM_MAX_ACTIONS)
		abort();
	for (unsigned i = 0; i < cfg->nactions; i++)
		if (cfg->actions[i].device >= cfg->ndevices ||
		    cfg->actions[i].vector >= cfg->devices[cfg->actions[i].device].msix_vectors)
			abort();
	for (unsigned i = 0; i < sc->nsteps; i++) {
		const struct virq_scenario_step *st = &sc->steps[i];
		if (st->kind == VIRQ_SCENARIO_STEP_RAISE &&
		    (st->raise.device >= cfg->ndevices || st->raise.cause >= fuzz_causes(&cfg->devices[st->raise.device])))
			abort();
		if (st->kind == VIRQ_SCENARIO_STEP_GUEST && st->guest.action >= cfg->nactions)
			abort();
		if (st->kind == VIRQ_SCENARIO_STEP_EXPECT)
			for (unsigned j = 0; j < st->expect.n; j++)
				fuzz_check_expect(sc, &st->expect.v[j]);
	}
	for (unsigned i = 0; i < sc->nexpects; i++)
		fuzz_check_expect(sc, &sc->expects[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virq_scenario *sc;
	char err[512];

	if (virq_scenario_load_text(FUZZ_NAME, (const char *)data, size, &sc, err, sizeof(err)) == 0) {
		fuzz_check(sc);
		virq_scenario_free(sc);
	} else if (strncmp(err, FUZZ_NAME ":", strlen(FUZZ_NAME ":")) != 0) {
		abort(); /* every refusal names the file and a line */
	}
	return 0;
}
