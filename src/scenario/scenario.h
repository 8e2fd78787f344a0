/* SPDX-License-Identifier: MIT */
/*
 * scenario.h - scenario files: a YAML description of a VM, its assigned devices, their traffic, the
 * guest's drivers, scripted steps and expectations (docs/scenarios.md is the format reference).
 *
 * Loading a file yields a struct virq_vmm_config ready for virq_vmm_create(), the traffic duration, the
 * steps (raises, guest actions compiled into that config's action list, waits, expectations) and the
 * final expectations. Every mistake in a file is reported as "FILE:LINE:COL: message", where the message
 * says what was expected. Expectations are evaluated here against a struct virq_vmm_report; running the
 * scenario (create, start, traffic, steps, settle, report) is the CLI's job.
 *
 * Threads: a loaded scenario is immutable; any thread may read it and evaluate its expectations.
 * Errors: -errno (-ENOENT / -EACCES ... for an unreadable file, -EINVAL for anything in its content,
 * -ENOMEM), with the message in @err.
 */
#ifndef VIRQ_SCENARIO_H
#define VIRQ_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/vmm.h"

/* Where an expectation looks: every report row, one device's rows, or one source's row. */
enum virq_scenario_scope { VIRQ_SCENARIO_SCOPE_ALL, VIRQ_SCENARIO_SCOPE_DEVICE, VIRQ_SCENARIO_SCOPE_SOURCE };

/* What it reads. Counts are summed over the scope's rows, latencies are the maximum over them. */
enum virq_scenario_field {
	VIRQ_SCENARIO_FIELD_RAISED,
	VIRQ_SCENARIO_FIELD_DELIVERED,
	VIRQ_SCENARIO_FIELD_COALESCED,
	VIRQ_SCENARIO_FIELD_PENDING,
	VIRQ_SCENARIO_FIELD_LOST,
	VIRQ_SCENARIO_FIELD_STALE,
	VIRQ_SCENARIO_FIELD_HANDLER_RUNS,
	VIRQ_SCENARIO_FIELD_VCPU,         /* handler runs on vCPU @vcpu */
	VIRQ_SCENARIO_FIELD_SPURIOUS_EOI, /* the report's per-vCPU spurious EOIs, summed (scope ALL only) */
	VIRQ_SCENARIO_FIELD_POSTED,       /* messages the VMM's IOMMU posted (scope ALL only) */
	VIRQ_SCENARIO_FIELD_REMAPPED,     /* messages it remapped to the host IRQ (scope ALL only) */
	VIRQ_SCENARIO_FIELD_DIRECT_COMPLETIONS, /* forwarded INTx lines completed by the guest (scope ALL only) */
	VIRQ_SCENARIO_FIELD_VFIO_UNMASKS, /* VFIO unmask requests for forwarded INTx lines (scope ALL only) */
	VIRQ_SCENARIO_FIELD_DIRECT,       /* MSIs latched straight into LPIs, gic v4 (scope ALL only) */
	VIRQ_SCENARIO_FIELD_P50,          /* latencies, ns */
	VIRQ_SCENARIO_FIELD_P99,
	VIRQ_SCENARIO_FIELD_MAX,
	VIRQ_SCENARIO_FIELD_BALANCED,     /* raised == delivered + coalesced + pending + lost, and lost == 0 */
};

enum virq_scenario_cmp {
	VIRQ_SCENARIO_CMP_NONZERO, /* a bare field: value > 0 (BALANCED: it balances) */
	VIRQ_SCENARIO_CMP_EQ, VIRQ_SCENARIO_CMP_NE, VIRQ_SCENARIO_CMP_LT,
	VIRQ_SCENARIO_CMP_LE, VIRQ_SCENARIO_CMP_GT, VIRQ_SCENARIO_CMP_GE,
};

/* One expectation, e.g. "nic0.vector[2].delivered == 1" at line 12. */
struct virq_scenario_expect {
	char *text;                 /* as written */
	unsigned line;              /* in the scenario file */
	/* The parsed form. */
	bool negate;                /* "not ..." */
	enum virq_scenario_scope scope;
	unsigned device;            /* index into vmm.devices (DEVICE, SOURCE) */
	unsigned source;            /* vector index, 0 for INTx (SOURCE) */
	bool intx;                  /* SOURCE: the INTx row */
	enum virq_scenario_field field;
	unsigned vcpu;              /* FIELD_VCPU */
	enum virq_scenario_cmp cmp;
	uint64_t value;             /* right-hand side (ns for latencies) */
};

enum virq_scenario_step_kind {
	VIRQ_SCENARIO_STEP_RAISE,   /* virq_vmm_raise(device, cause) */
	VIRQ_SCENARIO_STEP_GUEST,   /* virq_vmm_guest_action(action) */
	VIRQ_SCENARIO_STEP_WAIT,    /* sleep ns */
	VIRQ_SCENARIO_STEP_EXPECT,  /* settle, take a report, evaluate each expectation */
};

struct virq_scenario_step {
	enum virq_scenario_step_kind kind;
	unsigned line;
	union {
		struct { unsigned device, cause; } raise;
		struct { unsigned action; } guest;   /* index into vmm.actions */
		struct { uint64_t ns; } wait;
		struct { struct virq_scenario_expect *v; unsigned n; } expect;
	};
};

struct virq_scenario {
	char *name;
	char *description;          /* NULL if none */
	char *path;                 /* the display name messages use (file path, or "<default>") */
	const char *arch;           /* "x86_64" or "arm64" */
	struct virq_vmm_config vmm; /* ready for virq_vmm_create(); actions are the guest steps' */
	uint64_t run_ns;            /* traffic duration (0: steps only) */
	uint64_t settle_timeout_ns; /* for virq_vmm_settle() after the run and before each step expect */
	struct virq_scenario_step *steps;
	unsigned nsteps;
	struct virq_scenario_expect *expects; /* evaluated after run and settle */
	unsigned nexpects;
};

#define VIRQ_SCENARIO_DEFAULT_SETTLE_NS 2000000000ull
#define VIRQ_SCENARIO_MAX_RUN_NS (600ull * 1000000000ull)
#define VIRQ_SCENARIO_MAX_FILE (4u << 20)

/* Read and load a scenario file; @path is also the name messages use. */
int virq_scenario_load_file(const char *path, struct virq_scenario **out, char *err, size_t err_len);
/* Load from memory (@text need not be NUL-terminated); @display_name is what messages call it. */
int virq_scenario_load_text(const char *display_name, const char *text, size_t len, struct virq_scenario **out,
                            char *err, size_t err_len);
void virq_scenario_free(struct virq_scenario *sc);

/* The embedded default scenario (YAML): what `virq run` runs with no file. */
extern const char virq_scenario_default_text[];
#define VIRQ_SCENARIO_DEFAULT_NAME "<default>"

/*
 * 1 if met, 0 if not. @msg always describes it, e.g.
 * "expect at FILE:LINE: nic0.vector[2].delivered == 1 (got 0)". A source or device the report has no
 * row for is "not met" with "(no such row in the report)".
 */
int virq_scenario_expect_eval(const struct virq_scenario *sc, const struct virq_scenario_expect *e,
                              const struct virq_vmm_report *report, char *msg, size_t msg_len);

/* "nic0.vector[2]" / "legacy0.intx": the name a source has in expectations and messages. */
void virq_scenario_source_name(const struct virq_scenario *sc, unsigned device, unsigned source, bool intx,
                               char *buf, size_t len);

#endif /* VIRQ_SCENARIO_H */
