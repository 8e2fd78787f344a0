/* SPDX-License-Identifier: MIT */
/*
 * schema.c - the libcyaml schema of a scenario file, its plain-data mirror (struct virq_sy_* in
 * internal.h), and the translation of libcyaml's log into one located, plain-language message.
 *
 * The schema gives every key exactly one YAML shape (libcyaml 1.3.1 has no unions): mappings, lists,
 * strict enumerations, and text for every number, duration and boolean (units.c parses those, because
 * libcyaml's own integer and boolean readers accept trailing junk). The two "expect" keys are ignored
 * here and read from the line map, as their value is an expression or a list of expressions.
 *
 * libcyaml reports a failure only through its log callback: a message ("Unexpected key: traffc") and a
 * backtrace of the states it was in ("in mapping field 'traffic'", "in sequence entry '2'"), innermost
 * first, whose marks are often stale. We rebuild the key path from the backtrace, take the position from
 * the line map, and say what the schema expected at that path. The message texts parsed below are
 * libcyaml 1.3.1's (Debian 12); anything unrecognised is passed through as libcyaml worded it.
 */
#include <cyaml/cyaml.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/internal.h"

/* ---- the schema ---- */

#define STR(key, st, member) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER, st, member, 0, CYAML_UNLIMITED)
#define OPT_STR(key, st, member) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, st, member, 0, CYAML_UNLIMITED)
#define OPT_ENUM(key, st, member, strings) \
	CYAML_FIELD_ENUM(key, CYAML_FLAG_OPTIONAL | CYAML_FLAG_STRICT, st, member, strings, CYAML_ARRAY_LEN(strings))
#define OPT_MAP(key, st, member, fields) \
	CYAML_FIELD_MAPPING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, st, member, fields)
#define OPT_SEQ(key, st, member, entry) \
	CYAML_FIELD_SEQUENCE(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, st, member, entry, 0, CYAML_UNLIMITED)

static const cyaml_strval_t arch_strings[] = {
	{ "x86_64", VIRQ_SY_ARCH_X86_64 }, { "arm64", VIRQ_SY_ARCH_ARM64 },
};
static const cyaml_strval_t msix_table_strings[] = {
	{ "engine", VIRQ_SY_MSIX_TABLE_ENGINE }, { "vmm", VIRQ_SY_MSIX_TABLE_VMM },
};
static const cyaml_strval_t gic_strings[] = {
	{ "v3", VIRQ_SY_GIC_V3 }, { "v4", VIRQ_SY_GIC_V4 },
};
static const cyaml_strval_t delivery_strings[] = {
	{ "irqfd", VIRQ_SY_DELIVERY_IRQFD }, { "resample", VIRQ_SY_DELIVERY_RESAMPLE },
	{ "userspace", VIRQ_SY_DELIVERY_USERSPACE }, { "posted", VIRQ_SY_DELIVERY_POSTED },
	{ "remapped", VIRQ_SY_DELIVERY_REMAPPED }, { "forwarded", VIRQ_SY_DELIVERY_FORWARDED },
};
static const cyaml_strval_t driver_strings[] = {
	{ "nic", VIRQ_SY_DRIVER_NIC }, { "intx", VIRQ_SY_DRIVER_INTX }, { "intx-no-ack", VIRQ_SY_DRIVER_INTX_NO_ACK },
};
static const cyaml_strval_t pattern_strings[] = {
	{ "fixed", VIRQ_SY_PATTERN_FIXED }, { "poisson", VIRQ_SY_PATTERN_POISSON }, { "burst", VIRQ_SY_PATTERN_BURST },
	{ "storm", VIRQ_SY_PATTERN_STORM }, { "none", VIRQ_SY_PATTERN_NONE },
};
static const cyaml_strval_t pin_strings[] = { { "A", 1 }, { "B", 2 }, { "C", 3 }, { "D", 4 } };

static const cyaml_schema_value_t string_entry = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t vm_fields[] = {
	OPT_ENUM("arch", struct virq_sy_vm, arch, arch_strings),
	OPT_STR("vcpus", struct virq_sy_vm, vcpus),
	OPT_STR("halt_poll", struct virq_sy_vm, halt_poll),
	OPT_ENUM("msix_table", struct virq_sy_vm, msix_table, msix_table_strings),
	OPT_ENUM("gic", struct virq_sy_vm, gic, gic_strings),
	CYAML_FIELD_END,
};
static const cyaml_schema_field_t bar_fields[] = {
	OPT_STR("bar", struct virq_sy_bar, bar),
	OPT_STR("offset", struct virq_sy_bar, offset),
	CYAML_FIELD_END,
};
static const cyaml_schema_field_t msix_fields[] = {
	STR("vectors", struct virq_sy_msix, vectors),
	OPT_MAP("table", struct virq_sy_msix, table, bar_fields),
	OPT_MAP("pba", struct virq_sy_msix, pba, bar_fields),
	CYAML_FIELD_END,
};
static const cyaml_schema_field_t intx_fields[] = {
	CYAML_FIELD_ENUM("pin", CYAML_FLAG_STRICT, struct virq_sy_intx, pin, pin_strings, CYAML_ARRAY_LEN(pin_strings)),
	CYAML_FIELD_END,
};
static const cyaml_schema_field_t traffic_fields[] = {
	CYAML_FIELD_ENUM("pattern", CYAML_FLAG_STRICT, struct virq_sy_traffic, pattern, pattern_strings,
	                 CYAML_ARRAY_LEN(pattern_strings)),
	OPT_STR("rate", struct virq_sy_traffic, rate),
	OPT_STR("burst", struct virq_sy_traffic, burst),
	OPT_STR("seed", struct virq_sy_traffic, seed),
	OPT_SEQ("vectors", struct virq_sy_traffic, vectors, &string_entry),
	CYAML_FIELD_END,
};
static const cyaml_schema_field_t device_fields[] = {
	STR("name", struct virq_sy_device, name),
	STR("pci", struct virq_sy_device, pci),
	OPT_MAP("msix", struct virq_sy_device, msix, msix_fields),
	OPT_MAP("intx", struct virq_sy_device, intx, intx_fields),
	OPT_ENUM("delivery", struct virq_sy_device, delivery, delivery_strings),
	OPT_MAP("traffic", struct virq_sy_device, traffic, traffic_fields),
	CYAML_FIELD_END,
};
static const cyaml_schema_value_t device_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct virq_sy_device, device_fields),
};
static const cyaml_schema_field_t guest_fields[] = {
	STR("device", struct virq_sy_guest, device),
	OPT_ENUM("driver", struct virq_sy_guest, driver, driver_strings),
	OPT_SEQ("affinity", struct virq_sy_guest, affinity, &string_entry),
	OPT_STR("handler", struct virq_sy_guest, handler),
	OPT_STR("retarget", struct virq_sy_guest, retarget),
	OPT_STR("masked", struct virq_sy_guest, masked),
	CYAML_FIELD_END,
};
static const cyaml_schema_value_t guest_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct virq_sy_guest, guest_fields),
};
static const cyaml_schema_field_t guest_action_fields[] = {
	OPT_STR("mask", struct virq_sy_guest_action, mask),
	OPT_STR("unmask", struct virq_sy_guest_action, unmask),
	OPT_STR("retarget", struct virq_sy_guest_action, retarget),
	OPT_STR("vcpu", struct virq_sy_guest_action, vcpu),
	CYAML_FIELD_END,
};
static const cyaml_schema_field_t step_fields[] = {
	OPT_STR("raise", struct virq_sy_step, raise),
	OPT_MAP("guest", struct virq_sy_step, guest, guest_action_fields),
	OPT_STR("wait", struct virq_sy_step, wait),
	CYAML_FIELD_IGNORE("expect", CYAML_FLAG_OPTIONAL),
	CYAML_FIELD_END,
};
static const cyaml_schema_value_t step_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct virq_sy_step, step_fields),
};
static const cyaml_schema_field_t scenario_fields[] = {
	STR("name", struct virq_sy_scenario, name),
	OPT_STR("description", struct virq_sy_scenario, description),
	CYAML_FIELD_MAPPING_PTR("vm", CYAML_FLAG_POINTER, struct virq_sy_scenario, vm, vm_fields),
	CYAML_FIELD_SEQUENCE("devices", CYAML_FLAG_POINTER, struct virq_sy_scenario, devices, &device_entry, 0,
	                     CYAML_UNLIMITED),
	OPT_SEQ("guest", struct virq_sy_scenario, guest, &guest_entry),
	OPT_STR("run", struct virq_sy_scenario, run),
	OPT_STR("settle", struct virq_sy_scenario, settle),
	OPT_SEQ("steps", struct virq_sy_scenario, steps, &step_entry),
	CYAML_FIELD_IGNORE("expect", CYAML_FLAG_OPTIONAL),
	CYAML_FIELD_END,
};
static const cyaml_schema_value_t scenario_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct virq_sy_scenario, scenario_fields),
};

/* ---- libcyaml's log, captured ---- */

#define LOG_LINES 32
#define LOG_LINE_LEN 256

struct capture {
	char lines[LOG_LINES][LOG_LINE_LEN];
	unsigned n;
};

static void capture_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct capture *c = ctx;
	if (level < CYAML_LOG_ERROR || c->n == LOG_LINES)
		return;
	char *line = c->lines[c->n++];
	vsnprintf(line, LOG_LINE_LEN, fmt, args);
	line[strcspn(line, "\n")] = '\0';
}

/* Without its "Load: " prefix, or NULL if @line does not start with @prefix after it. */
static const char *after(const char *line, const char *prefix)
{
	if (!strncmp(line, "Load: ", 6))
		line += 6;
	size_t n = strlen(prefix);
	return strncmp(line, prefix, n) ? NULL : line + n;
}

/* ---- from a backtrace to a key path, and from a path to the schema ---- */

#define MAX_COMPONENTS 16

struct component {
	char key[64];   /* "" for a list index */
	unsigned index;
};

struct located_path {
	struct component c[MAX_COMPONENTS];
	unsigned n;
};

/* Backtrace items are innermost first; a bare "in mapping" adds nothing (the key is in the message). */
static void backtrace_path(const struct capture *cap, struct located_path *p)
{
	p->n = 0;
	for (unsigned i = cap->n; i-- > 0;) {
		const char *s = cap->lines[i] + strspn(cap->lines[i], " ");
		struct component comp = { .key = "" };
		unsigned entry;
		if (sscanf(s, "in sequence entry '%u'", &entry) == 1 && entry > 0)
			comp.index = entry - 1; /* libcyaml counts entries from 1 */
		else if (sscanf(s, "in mapping field '%63[^']'", comp.key) != 1)
			continue;
		if (p->n < MAX_COMPONENTS)
			p->c[p->n++] = comp;
	}
}

static void path_push_key(struct located_path *p, const char *key)
{
	if (p->n < MAX_COMPONENTS) {
		p->c[p->n] = (struct component){ .key = "" };
		snprintf(p->c[p->n].key, sizeof(p->c[p->n].key), "%s", key);
		p->n++;
	}
}

static void path_string(const struct located_path *p, unsigned n, char *buf, size_t len)
{
	size_t k = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < n && k < len; i++) {
		int w = p->c[i].key[0] ? snprintf(buf + k, len - k, "%s%s", k ? "." : "", p->c[i].key)
		                       : snprintf(buf + k, len - k, "[%u]", p->c[i].index);
		k += w > 0 ? (size_t)w : 0;
	}
}

/* The schema value at the first @n components (NULL if the path leaves the schema). */
static const cyaml_schema_value_t *schema_at(const struct located_path *p, unsigned n)
{
	const cyaml_schema_value_t *v = &scenario_schema;
	for (unsigned i = 0; i < n && v; i++) {
		if (!p->c[i].key[0]) {
			v = v->type == CYAML_SEQUENCE ? v->sequence.entry : NULL;
			continue;
		}
		const cyaml_schema_field_t *f = v->type == CYAML_MAPPING ? v->mapping.fields : NULL;
		while (f && f->key && strcmp(f->key, p->c[i].key))
			f++;
		v = f && f->key ? &f->value : NULL;
	}
	return v;
}

/* How a message names the mapping at the first @n components: "device", "traffic", "the top level". */
static const char *mapping_name(const struct located_path *p, unsigned n)
{
	static const struct { const char *key, *name; } entries[] = {
		{ "devices", "device" }, { "guest", "guest entry" }, { "steps", "step" },
	};
	if (!n)
		return "the top level";
	if (p->c[n - 1].key[0])
		return !strcmp(p->c[n - 1].key, "guest") ? "guest action" : p->c[n - 1].key;
	for (size_t i = 0; n > 1 && i < sizeof(entries) / sizeof(entries[0]); i++)
		if (!strcmp(p->c[n - 2].key, entries[i].key))
			return entries[i].name;
	return "list entry";
}

/* How a message names the value at the path: its key as written ("rate", "affinity[2]"). */
static void value_name(const struct located_path *p, char *buf, size_t len)
{
	unsigned first = p->n;
	while (first > 0 && !p->c[first - 1].key[0])
		first--;
	if (first == 0 && p->n == 0) {
		snprintf(buf, len, "the top level");
		return;
	}
	struct located_path tail = { .n = 0 };
	for (unsigned i = first ? first - 1 : 0; i < p->n; i++)
		tail.c[tail.n++] = p->c[i];
	path_string(&tail, tail.n, buf, len);
}

/* "one of: a, b, c" from a mapping's fields or an enumeration's strings. */
static void list_choices(const cyaml_schema_value_t *v, char *buf, size_t len)
{
	size_t k = 0;
	buf[0] = '\0';
	for (unsigned i = 0; v; i++) {
		const char *s;
		if (v->type == CYAML_MAPPING)
			s = v->mapping.fields[i].key;
		else if (v->type == CYAML_ENUM)
			s = i < v->enumeration.count ? v->enumeration.strings[i].str : NULL;
		else
			s = NULL;
		if (!s || k >= len)
			break;
		int w = snprintf(buf + k, len - k, "%s%s", i ? ", " : "", s);
		k += w > 0 ? (size_t)w : 0;
	}
}

/* libcyaml's type and event names, as a reader would say them. */
static const char *shape_name(const char *cyaml_name)
{
	if (!strncmp(cyaml_name, "MAPPING", 7))
		return "a mapping (key: value)";
	if (!strncmp(cyaml_name, "SEQUENCE", 8))
		return "a list";
	return "a single value";
}

/* Rewrite libcyaml's log into @err; the position comes from @lm at the path the backtrace names. */
static int explain(const char *name, const struct virq_linemap *lm, const struct capture *cap,
                   cyaml_err_t cerr, char *err, size_t err_len)
{
	const char *msg = cap->n ? cap->lines[0] : cyaml_strerror(cerr);
	struct located_path p;
	char path[512], what[128], choices[256];
	const char *arg;

	backtrace_path(cap, &p);
	if ((arg = after(msg, "Unexpected key: "))) {
		list_choices(schema_at(&p, p.n), choices, sizeof(choices));
		const char *in = mapping_name(&p, p.n);
		path_push_key(&p, arg);
		path_string(&p, p.n, path, sizeof(path));
		return virq_scenario_fail(err, err_len, name, lm, path, "unknown key '%s' in %s (expected one of: %s)",
		                          arg, in, choices);
	}
	if ((arg = after(msg, "Missing required mapping field: "))) {
		/* The innermost backtrace item is the mapping itself, showing the last field it read. */
		if (p.n)
			p.n--;
		path_string(&p, p.n, path, sizeof(path));
		return virq_scenario_fail(err, err_len, name, lm, path, "missing key '%s' in %s", arg,
		                          mapping_name(&p, p.n));
	}
	path_string(&p, p.n, path, sizeof(path));
	value_name(&p, what, sizeof(what));
	if ((arg = after(msg, "Invalid ENUM value: "))) {
		list_choices(schema_at(&p, p.n), choices, sizeof(choices));
		return virq_scenario_fail(err, err_len, name, lm, path, "%s: '%s' is not one of: %s", what, arg, choices);
	}
	if ((arg = after(msg, "Expecting "))) {
		const char *got = strstr(arg, "got event: ");
		return virq_scenario_fail(err, err_len, name, lm, path, "%s: expected %s, got %s", what, shape_name(arg),
		                          got ? shape_name(got + 11) : "something else");
	}
	return virq_scenario_fail(err, err_len, name, lm, path, "%s: %s", what, after(msg, ""));
}

int virq_schema_load(const char *name, const struct virq_linemap *lm, const char *text, size_t len,
                     struct virq_sy_scenario **out, char *err, size_t err_len)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	if (!cap)
		return -ENOMEM;
	const cyaml_config_t config = {
		.log_fn = capture_log,
		.log_ctx = cap,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_DEFAULT,
	};
	struct virq_sy_scenario *sy = NULL;
	cyaml_err_t cerr = cyaml_load_data((const uint8_t *)text, len, &config, &scenario_schema, (cyaml_data_t **)&sy,
	                                   NULL);
	int r = 0;
	if (cerr == CYAML_ERR_OOM)
		r = -ENOMEM;
	else if (cerr != CYAML_OK)
		r = explain(name, lm, cap, cerr, err, err_len);
	free(cap);
	if (r)
		return r;
	*out = sy;
	return 0;
}

void virq_schema_free(struct virq_sy_scenario *sy)
{
	const cyaml_config_t config = { .mem_fn = cyaml_mem, .log_fn = NULL, .log_level = CYAML_LOG_ERROR };
	if (sy)
		cyaml_free(&config, &scenario_schema, sy, 0);
}
