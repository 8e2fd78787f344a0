/* SPDX-License-Identifier: MIT */
/*
 * expect.c - the expectation language of scenario files and its evaluation against a VMM report, plus
 * the source references ("nic0.vector[2]", "legacy0.intx") that steps and expectations share.
 *
 *   expect  := ["not"] operand [cmp value] | ["not"] [scope "."] "balanced"
 *   operand := [DEVICE "." [("vector[" K "]" | "intx") "."]] field
 *   field   := raised | delivered | coalesced | pending | lost | stale | handler_runs | "vcpu[" N "]"
 *            | latency.p50 | latency.p99 | latency.max
 *            | spurious_eoi | posted | remapped | direct_completions | vfio_unmasks | direct
 *              (whole report only)
 *   cmp     := == | != | < | <= | > | >=        value := a count (0, 12, 20k, 0x10) or, for latencies,
 *                                                         a duration (5ms, 800us)
 * Counts add up over the rows in scope, latencies take their maximum (a report has percentiles per
 * source, which do not combine). A bare field means "> 0". Everything a text names is checked when the
 * file loads, so evaluation cannot fail for a reason the author could have been told earlier.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "scenario/internal.h"

/* ---- a cursor over the text ---- */

struct cursor {
	const char *s;
	char *msg;
	size_t msg_len;
};

static int syntax(struct cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int syntax(struct cursor *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, c->msg_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void skip_ws(struct cursor *c)
{
	c->s += strspn(c->s, " \t");
}

static bool is_ident_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (!first && ((ch >= '0' && ch <= '9') || ch == '-'));
}

/* Reads an identifier into @buf; "" if there is none here. */
static void ident(struct cursor *c, char *buf, size_t len)
{
	size_t n = 0;
	while (is_ident_char(c->s[n], n == 0))
		n++;
	snprintf(buf, len, "%.*s", (int)n, c->s);
	c->s += n;
}

static bool eat(struct cursor *c, const char *tok)
{
	size_t n = strlen(tok);
	if (strncmp(c->s, tok, n))
		return false;
	c->s += n;
	return true;
}

/* "[N]" -> N. */
static int bracket_index(struct cursor *c, const char *what, unsigned *out)
{
	unsigned long v = 0;
	if (!eat(c, "["))
		return syntax(c, "expected '[' after '%s'", what);
	if (*c->s < '0' || *c->s > '9')
		return syntax(c, "expected a number in %s[...]", what);
	while (*c->s >= '0' && *c->s <= '9' && v < 1000000)
		v = v * 10 + (unsigned long)(*c->s++ - '0');
	if (!eat(c, "]"))
		return syntax(c, "expected ']' after %s[%lu", what, v);
	*out = (unsigned)v;
	return 0;
}

/* ---- devices and sources ---- */

static bool delivers_msix(const struct virq_vmm_device_config *d)
{
	return !virq_vmm_delivery_intx(d->delivery);
}

static int find_device(struct cursor *c, const struct virq_vmm_config *cfg, const char *name, unsigned *out)
{
	char names[256] = "";
	size_t k = 0;
	for (unsigned i = 0; i < cfg->ndevices; i++) {
		if (!strcmp(cfg->devices[i].name, name)) {
			*out = i;
			return 0;
		}
		if (k < sizeof(names))
			k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s", i ? ", " : "", cfg->devices[i].name);
	}
	return syntax(c, "no device named '%s' (devices: %s)", name, names);
}

/* After "DEVICE.": "vector[K]" or "intx", checked against how the device delivers. */
static int source_after_device(struct cursor *c, const struct virq_vmm_config *cfg, unsigned dev, const char *kind,
                               unsigned *source, bool *intx)
{
	const struct virq_vmm_device_config *d = &cfg->devices[dev];
	if (!strcmp(kind, "vector")) {
		if (bracket_index(c, "vector", source))
			return -EINVAL;
		if (!delivers_msix(d))
			return syntax(c, "%s has no MSI-X vectors (it delivers through INTx: write %s.intx)", d->name,
			              d->name);
		if (*source >= d->msix_vectors)
			return syntax(c, "vector %u does not exist (%s has %u: 0..%u)", *source, d->name, d->msix_vectors,
			              d->msix_vectors - 1);
		*intx = false;
		return 0;
	}
	if (!strcmp(kind, "intx")) {
		if (delivers_msix(d))
			return syntax(c, "%s has no INTx source (it delivers through MSI-X: write %s.vector[K])", d->name,
			              d->name);
		*source = 0;
		*intx = true;
		return 0;
	}
	return syntax(c, "expected vector[K] or intx after '%s.', got '%s'", d->name, kind);
}

int virq_scenario_parse_source(const struct virq_vmm_config *cfg, const char *text, unsigned *device,
                               unsigned *cause, char *msg, size_t msg_len)
{
	struct cursor c = { .s = text, .msg = msg, .msg_len = msg_len };
	char name[VIRQ_VMM_NAME_MAX + 8], kind[16];
	bool intx;

	skip_ws(&c);
	ident(&c, name, sizeof(name));
	if (!name[0] || !eat(&c, "."))
		return syntax(&c, "'%s' is not a source (expected DEVICE.vector[K] or DEVICE.intx)", text);
	if (find_device(&c, cfg, name, device))
		return -EINVAL;
	ident(&c, kind, sizeof(kind));
	if (source_after_device(&c, cfg, *device, kind, cause, &intx))
		return -EINVAL;
	skip_ws(&c);
	if (*c.s)
		return syntax(&c, "unexpected '%s' after the source", c.s);
	return 0;
}

/* ---- fields ---- */

static const struct {
	const char *name;
	enum virq_scenario_field field;
} count_fields[] = {
	{ "raised", VIRQ_SCENARIO_FIELD_RAISED },       { "delivered", VIRQ_SCENARIO_FIELD_DELIVERED },
	{ "coalesced", VIRQ_SCENARIO_FIELD_COALESCED }, { "pending", VIRQ_SCENARIO_FIELD_PENDING },
	{ "lost", VIRQ_SCENARIO_FIELD_LOST },           { "stale", VIRQ_SCENARIO_FIELD_STALE },
	{ "handler_runs", VIRQ_SCENARIO_FIELD_HANDLER_RUNS },
};
#define NCOUNT_FIELDS (sizeof(count_fields) / sizeof(count_fields[0]))

static bool is_latency(enum virq_scenario_field f)
{
	return f == VIRQ_SCENARIO_FIELD_P50 || f == VIRQ_SCENARIO_FIELD_P99 || f == VIRQ_SCENARIO_FIELD_MAX;
}

static int field(struct cursor *c, const struct virq_vmm_config *cfg, struct virq_scenario_expect *e)
{
	char name[32];
	ident(c, name, sizeof(name));
	for (size_t i = 0; i < NCOUNT_FIELDS; i++) {
		if (!strcmp(name, count_fields[i].name)) {
			e->field = count_fields[i].field;
			return 0;
		}
	}
	if (!strcmp(name, "balanced")) {
		e->field = VIRQ_SCENARIO_FIELD_BALANCED;
		return 0;
	}
	if (!strcmp(name, "spurious_eoi") && e->scope == VIRQ_SCENARIO_SCOPE_ALL) {
		/* It counts the local APIC's EOIs with nothing in service; the GIC's ignored EOIs are not in
		 * the public API, so on arm64 it would read 0 whatever the guest does. */
		if (cfg->arch == VIRQ_VMM_ARCH_ARM64)
			return syntax(c, "spurious_eoi is not measured on arm64 (it counts local APIC EOIs); "
				      "use the sources' handler_runs and delivered instead");
		e->field = VIRQ_SCENARIO_FIELD_SPURIOUS_EOI;
		return 0;
	}
	if ((!strcmp(name, "posted") || !strcmp(name, "remapped")) && e->scope == VIRQ_SCENARIO_SCOPE_ALL) {
		/* The IOMMU's counts, for the whole VM (it does not count per vector): there is an IOMMU only
		 * when a device is behind it, and without one the count would read 0 whatever happens. */
		bool iommu = false;
		for (unsigned i = 0; i < cfg->ndevices; i++)
			iommu |= cfg->devices[i].delivery == VIRQ_VMM_DELIVERY_POSTED ||
			         cfg->devices[i].delivery == VIRQ_VMM_DELIVERY_REMAPPED;
		if (!iommu)
			return syntax(c, "%s counts messages the IOMMU %s, and no device here is behind one (give a device "
			              "delivery posted or remapped)", name, name);
		e->field = name[0] == 'p' ? VIRQ_SCENARIO_FIELD_POSTED : VIRQ_SCENARIO_FIELD_REMAPPED;
		return 0;
	}
	if ((!strcmp(name, "direct_completions") || !strcmp(name, "vfio_unmasks")) &&
	    e->scope == VIRQ_SCENARIO_SCOPE_ALL) {
		/* The host's counts of the forwarded INTx lines, summed: without one they would read 0. */
		bool forwarded = false;
		for (unsigned i = 0; i < cfg->ndevices; i++)
			forwarded |= cfg->devices[i].delivery == VIRQ_VMM_DELIVERY_FORWARDED;
		if (!forwarded)
			return syntax(c, "%s counts what happened to forwarded INTx lines, and no device here is "
			              "forwarded (give an arm64 INTx device delivery forwarded)", name);
		e->field = name[0] == 'd' ? VIRQ_SCENARIO_FIELD_DIRECT_COMPLETIONS : VIRQ_SCENARIO_FIELD_VFIO_UNMASKS;
		return 0;
	}
	if (!strcmp(name, "direct") && e->scope == VIRQ_SCENARIO_SCOPE_ALL) {
		/* The engine's count of MSIs the devices latched straight into LPIs (a GICv4 host's direct
		 * injection): it is 0 whatever happens unless the VM has one and an irqfd MSI-X device. */
		bool irqfd = false;
		for (unsigned i = 0; i < cfg->ndevices; i++)
			irqfd |= cfg->devices[i].msix_vectors && cfg->devices[i].delivery == VIRQ_VMM_DELIVERY_IRQFD;
		if (cfg->arch != VIRQ_VMM_ARCH_ARM64)
			return syntax(c, "direct counts MSIs an arm64 VM's GICv4 injects straight into LPIs, and this VM "
			              "is x86_64 (its counterpart is posted, with delivery posted)");
		if (!cfg->gic_v4)
			return syntax(c, "direct counts MSIs injected straight into LPIs, and this VM's GIC is a v3 (set "
			              "vm.gic: v4)");
		if (!irqfd)
			return syntax(c, "direct counts MSIs injected straight into LPIs, and no device here delivers "
			              "MSI-X through irqfds (give an MSI-X device delivery irqfd)");
		e->field = VIRQ_SCENARIO_FIELD_DIRECT;
		return 0;
	}
	if (!strcmp(name, "vcpu")) {
		e->field = VIRQ_SCENARIO_FIELD_VCPU;
		if (bracket_index(c, "vcpu", &e->vcpu))
			return -EINVAL;
		if (e->vcpu >= cfg->vcpus)
			return syntax(c, "vcpu[%u]: vCPU %u does not exist (the VM has %u)", e->vcpu, e->vcpu, cfg->vcpus);
		return 0;
	}
	if (!strcmp(name, "latency")) {
		static const struct {
			const char *name;
			enum virq_scenario_field field;
		} latencies[] = { { "p50", VIRQ_SCENARIO_FIELD_P50 }, { "p99", VIRQ_SCENARIO_FIELD_P99 },
		                  { "max", VIRQ_SCENARIO_FIELD_MAX } };
		char which[16] = "";
		if (eat(c, "."))
			ident(c, which, sizeof(which));
		for (size_t i = 0; i < sizeof(latencies) / sizeof(latencies[0]); i++) {
			if (!strcmp(which, latencies[i].name)) {
				e->field = latencies[i].field;
				return 0;
			}
		}
		return syntax(c, "unknown latency 'latency.%s' (expected latency.p50, latency.p99 or latency.max)", which);
	}
	return syntax(c, "unknown field '%s' (expected one of: raised, delivered, coalesced, pending, lost, stale, "
	                 "handler_runs, vcpu[N], latency.p50, latency.p99, latency.max, balanced%s)",
	              name, e->scope == VIRQ_SCENARIO_SCOPE_ALL ? ", spurious_eoi, posted, remapped, direct_completions, "
	                                                          "vfio_unmasks, direct, or DEVICE.<field>" : "");
}

/* [DEVICE "." [("vector[K]" | "intx") "."]] field */
static int operand(struct cursor *c, const struct virq_vmm_config *cfg, struct virq_scenario_expect *e)
{
	const char *start = c->s;
	char name[VIRQ_VMM_NAME_MAX + 8];

	ident(c, name, sizeof(name));
	/* At the top level only "latency" is followed by a dot; any other dotted name is a device. */
	if (*c->s != '.' || !strcmp(name, "latency")) {
		c->s = start;
		e->scope = VIRQ_SCENARIO_SCOPE_ALL;
		return field(c, cfg, e);
	}
	c->s++;
	if (find_device(c, cfg, name, &e->device))
		return -EINVAL;
	e->scope = VIRQ_SCENARIO_SCOPE_DEVICE;
	start = c->s;
	ident(c, name, sizeof(name));
	if (strcmp(name, "vector") && strcmp(name, "intx")) {
		c->s = start;
		return field(c, cfg, e);
	}
	e->scope = VIRQ_SCENARIO_SCOPE_SOURCE;
	if (source_after_device(c, cfg, e->device, name, &e->source, &e->intx))
		return -EINVAL;
	if (!eat(c, "."))
		return syntax(c, "expected '.' and a field after the source (e.g. .delivered)");
	return field(c, cfg, e);
}

static const struct {
	const char *tok;
	enum virq_scenario_cmp cmp;
} cmps[] = {
	/* Two-character operators first, so "<=" is not read as "<". */
	{ "==", VIRQ_SCENARIO_CMP_EQ }, { "!=", VIRQ_SCENARIO_CMP_NE }, { "<=", VIRQ_SCENARIO_CMP_LE },
	{ ">=", VIRQ_SCENARIO_CMP_GE }, { "<", VIRQ_SCENARIO_CMP_LT },  { ">", VIRQ_SCENARIO_CMP_GT },
};

int virq_scenario_expect_parse(const struct virq_vmm_config *cfg, struct virq_scenario_expect *e, char *msg,
                               size_t msg_len)
{
	struct cursor c = { .s = e->text, .msg = msg, .msg_len = msg_len };

	skip_ws(&c);
	e->negate = !strncmp(c.s, "not", 3) && (c.s[3] == ' ' || c.s[3] == '\t');
	if (e->negate) {
		c.s += 3;
		skip_ws(&c);
	}
	if (!*c.s)
		return syntax(&c, "empty expectation (expected e.g. 'lost == 0')");
	if (operand(&c, cfg, e))
		return -EINVAL;
	skip_ws(&c);
	e->cmp = VIRQ_SCENARIO_CMP_NONZERO;
	if (!*c.s)
		return 0;
	for (size_t i = 0; i < sizeof(cmps) / sizeof(cmps[0]) && e->cmp == VIRQ_SCENARIO_CMP_NONZERO; i++)
		if (eat(&c, cmps[i].tok))
			e->cmp = cmps[i].cmp;
	if (e->cmp == VIRQ_SCENARIO_CMP_NONZERO)
		return syntax(&c, "expected a comparison (==, !=, <, <=, >, >=) or the end, got '%s'", c.s);
	if (e->field == VIRQ_SCENARIO_FIELD_BALANCED)
		return syntax(&c, "'balanced' is true or false: it takes no comparison");
	skip_ws(&c);
	char value[64];
	size_t n = strcspn(c.s, " \t");
	snprintf(value, sizeof(value), "%.*s", (int)n, c.s);
	c.s += n;
	skip_ws(&c);
	if (*c.s)
		return syntax(&c, "unexpected '%s' after the value", c.s);
	if (is_latency(e->field)) {
		if (virq_parse_duration(value, &e->value))
			return syntax(&c, "'%s' is not a duration (a latency compares with e.g. 5ms, 800us)", value);
	} else if (virq_parse_count(value, &e->value)) {
		return syntax(&c, "'%s' is not a count (expected e.g. 0, 12, 20k)", value);
	}
	return 0;
}

/* ---- evaluation ---- */

void virq_scenario_source_name(const struct virq_scenario *sc, unsigned device, unsigned source, bool intx,
                               char *buf, size_t len)
{
	const char *name = device < sc->vmm.ndevices ? sc->vmm.devices[device].name : "?";
	if (intx)
		snprintf(buf, len, "%s.intx", name);
	else
		snprintf(buf, len, "%s.vector[%u]", name, source);
}

static bool in_scope(const struct virq_scenario_expect *e, const struct virq_vmm_source_report *row)
{
	switch (e->scope) {
	case VIRQ_SCENARIO_SCOPE_ALL:
		return true;
	case VIRQ_SCENARIO_SCOPE_DEVICE:
		return row->device == e->device;
	case VIRQ_SCENARIO_SCOPE_SOURCE:
		return row->device == e->device && row->intx == e->intx && row->source == e->source;
	}
	return false;
}

static uint64_t row_value(const struct virq_scenario_expect *e, const struct virq_vmm_source_report *row)
{
	switch (e->field) {
	case VIRQ_SCENARIO_FIELD_RAISED: return row->raised;
	case VIRQ_SCENARIO_FIELD_DELIVERED: return row->delivered;
	case VIRQ_SCENARIO_FIELD_COALESCED: return row->coalesced;
	case VIRQ_SCENARIO_FIELD_PENDING: return row->pending;
	case VIRQ_SCENARIO_FIELD_LOST: return row->lost;
	case VIRQ_SCENARIO_FIELD_STALE: return row->stale;
	case VIRQ_SCENARIO_FIELD_HANDLER_RUNS: return row->handler_runs;
	case VIRQ_SCENARIO_FIELD_VCPU: return e->vcpu < VIRQ_VMM_MAX_VCPUS ? row->per_vcpu[e->vcpu] : 0;
	case VIRQ_SCENARIO_FIELD_P50: return row->p50_ns;
	case VIRQ_SCENARIO_FIELD_P99: return row->p99_ns;
	case VIRQ_SCENARIO_FIELD_MAX: return row->max_ns;
	case VIRQ_SCENARIO_FIELD_SPURIOUS_EOI:
	case VIRQ_SCENARIO_FIELD_POSTED:
	case VIRQ_SCENARIO_FIELD_REMAPPED:
	case VIRQ_SCENARIO_FIELD_DIRECT_COMPLETIONS:
	case VIRQ_SCENARIO_FIELD_VFIO_UNMASKS:
	case VIRQ_SCENARIO_FIELD_DIRECT:
	case VIRQ_SCENARIO_FIELD_BALANCED:
		break;
	}
	return 0;
}

static bool compare(enum virq_scenario_cmp cmp, uint64_t got, uint64_t want)
{
	switch (cmp) {
	case VIRQ_SCENARIO_CMP_NONZERO: return got > 0;
	case VIRQ_SCENARIO_CMP_EQ: return got == want;
	case VIRQ_SCENARIO_CMP_NE: return got != want;
	case VIRQ_SCENARIO_CMP_LT: return got < want;
	case VIRQ_SCENARIO_CMP_LE: return got <= want;
	case VIRQ_SCENARIO_CMP_GT: return got > want;
	case VIRQ_SCENARIO_CMP_GE: return got >= want;
	}
	return false;
}

/* Balanced: every row's raises are accounted for and none is lost; @why names the first row that is not. */
static bool balanced(const struct virq_scenario *sc, const struct virq_scenario_expect *e,
                     const struct virq_vmm_report *report, char *why, size_t len)
{
	snprintf(why, len, "every source balances");
	for (unsigned i = 0; i < report->nsources; i++) {
		const struct virq_vmm_source_report *r = &report->sources[i];
		uint64_t sum = r->delivered + r->coalesced + r->pending + r->lost;
		if (!in_scope(e, r) || (sum == r->raised && !r->lost))
			continue;
		char name[VIRQ_VMM_NAME_MAX + 24];
		virq_scenario_source_name(sc, r->device, r->source, r->intx, name, sizeof(name));
		snprintf(why, len, "%s: raised %llu %s delivered %llu + coalesced %llu + pending %llu + lost %llu", name,
		         (unsigned long long)r->raised, sum == r->raised ? "=" : "!=", (unsigned long long)r->delivered,
		         (unsigned long long)r->coalesced, (unsigned long long)r->pending, (unsigned long long)r->lost);
		return false;
	}
	return true;
}

int virq_scenario_expect_eval(const struct virq_scenario *sc, const struct virq_scenario_expect *e,
                              const struct virq_vmm_report *report, char *msg, size_t msg_len)
{
	char got[256];
	bool met;
	unsigned rows = 0;
	uint64_t value = 0;

	for (unsigned i = 0; i < report->nsources; i++) {
		const struct virq_vmm_source_report *r = &report->sources[i];
		if (!in_scope(e, r))
			continue;
		rows++;
		uint64_t v = row_value(e, r);
		value = is_latency(e->field) ? (v > value ? v : value) : value + v;
	}
	if (e->field == VIRQ_SCENARIO_FIELD_SPURIOUS_EOI)
		for (unsigned i = 0; i < report->vcpus && i < VIRQ_VMM_MAX_VCPUS; i++)
			value += report->spurious_eoi[i];
	if (e->field == VIRQ_SCENARIO_FIELD_POSTED)
		value = report->iommu_posted;
	if (e->field == VIRQ_SCENARIO_FIELD_REMAPPED)
		value = report->iommu_remapped;
	if (e->field == VIRQ_SCENARIO_FIELD_DIRECT_COMPLETIONS)
		value = report->fwd_completions;
	if (e->field == VIRQ_SCENARIO_FIELD_VFIO_UNMASKS)
		value = report->fwd_unmasks;
	if (e->field == VIRQ_SCENARIO_FIELD_DIRECT)
		value = report->direct_injected;

	if (!rows && e->scope != VIRQ_SCENARIO_SCOPE_ALL) {
		met = false;
		snprintf(got, sizeof(got), "no such row in the report");
	} else if (e->field == VIRQ_SCENARIO_FIELD_BALANCED) {
		met = balanced(sc, e, report, got, sizeof(got));
	} else {
		met = compare(e->cmp, value, e->value);
		if (is_latency(e->field)) {
			char d[32];
			virq_format_duration(value, d, sizeof(d));
			snprintf(got, sizeof(got), "got %s", d);
		} else {
			snprintf(got, sizeof(got), "got %llu", (unsigned long long)value);
		}
	}
	/* A missing row stays unmet under "not": the expectation cannot be judged. */
	bool judged = rows || e->scope == VIRQ_SCENARIO_SCOPE_ALL;
	if (e->negate && judged)
		met = !met;
	snprintf(msg, msg_len, "expect at %s:%u: %s (%s)", sc->path, e->line, e->text, got);
	return met;
}
