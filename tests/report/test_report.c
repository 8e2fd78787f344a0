/* SPDX-License-Identifier: MIT */
/*
 * test_report.c - the report table, the --json document, the shared number formats and the progress
 * line, rendered from a configuration and a report built by hand (no VMM runs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "report/report.h"

/* ---- Fixture: 2 vCPUs, nic0 (MSI-X, 2 vectors, irqfd) and legacy0 (INTx A, resample) ---- */

struct fixture {
	struct virq_vmm_config config;
	struct virq_report_meta meta;
	struct virq_vmm_report *report;
};

static struct virq_vmm_source_report *add_row(struct fixture *f, unsigned device, unsigned source, bool intx)
{
	struct virq_vmm_source_report *row = &f->report->sources[f->report->nsources++];

	memset(row, 0, sizeof(*row));
	row->device = device;
	row->source = source;
	row->intx = intx;
	return row;
}

static void set_counts(struct virq_vmm_source_report *row, uint64_t raised, uint64_t delivered, uint64_t coalesced,
		       uint64_t pending, uint64_t lost)
{
	row->raised = raised;
	row->delivered = delivered;
	row->coalesced = coalesced;
	row->pending = pending;
	row->lost = lost;
}

static void set_latency(struct virq_vmm_source_report *row, uint64_t p50, uint64_t p99, uint64_t max)
{
	row->p50_ns = p50;
	row->p99_ns = p99;
	row->max_ns = max;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->config.vcpus = 2;
	f->config.ndevices = 2;
	snprintf(f->config.devices[0].name, VIRQ_VMM_NAME_MAX, "nic0");
	f->config.devices[0].msix_vectors = 2;
	f->config.devices[0].delivery = VIRQ_VMM_DELIVERY_IRQFD;
	snprintf(f->config.devices[1].name, VIRQ_VMM_NAME_MAX, "legacy0");
	f->config.devices[1].intx_pin = 1;
	f->config.devices[1].delivery = VIRQ_VMM_DELIVERY_RESAMPLE;

	f->meta = (struct virq_report_meta){ .name = "nic-and-legacy", .arch = "x86_64", .config = &f->config,
					     .run_ns = 3000000000ull, .expectations_met = 2, .expectations_total = 2 };

	f->report = calloc(1, sizeof(*f->report) + 8 * sizeof(f->report->sources[0]));
	assert_non_null(f->report);
	f->report->vcpus = 2;
	f->report->elapsed_ns = 3001000000ull;

	struct virq_vmm_source_report *row = add_row(f, 0, 0, false);
	set_counts(row, 15012, 14998, 14, 0, 0);
	row->handler_runs = row->per_vcpu[0] = 14998;
	set_latency(row, 24000, 61000, 1200000);

	row = add_row(f, 0, 1, false);
	set_counts(row, 14977, 14970, 7, 0, 0);
	row->per_vcpu[0] = 10000;
	row->per_vcpu[1] = 4971;
	row->handler_runs = 14971;
	row->stale = 0;
	set_latency(row, 23000, 58000, 900000);

	row = add_row(f, 1, 0, true);
	set_counts(row, 6000, 6000, 0, 0, 0);
	row->handler_runs = row->per_vcpu[0] = 6000;
	set_latency(row, 31000, 80000, 2000000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->report);
	free(f);
	return 0;
}

/* Renders with @fn into memory; returns the text and its lines (NUL-separated in place). */
struct rendered {
	char *text;
	size_t len;
	char *lines[32];
	size_t nlines;
};

static void split_lines(struct rendered *out)
{
	out->nlines = 0;
	for (char *p = out->text; *p && out->nlines < 32;) {
		out->lines[out->nlines++] = p;
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
}

static void render_table(const struct fixture *f, struct rendered *out)
{
	FILE *mem = open_memstream(&out->text, &out->len);
	assert_non_null(mem);
	assert_int_equal(virq_report_print_table(mem, &f->meta, f->report), 0);
	assert_int_equal(fclose(mem), 0);
	assert_true(out->len > 0);
	assert_int_equal(out->text[out->len - 1], '\n');
	split_lines(out);
}

static size_t columns(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* ---- Table ---- */

static void test_table_layout(void **state)
{
	struct fixture *f = *state;
	struct rendered r;

	render_table(f, &r);
	assert_int_equal(r.nlines, 6);
	assert_string_equal(r.lines[0], "virq run nic-and-legacy: x86_64, 2 vCPUs, 3.0 s");
	assert_string_equal(r.lines[1], "device    vector  mode      vCPU   raised  delivered  coalesced  pending  lost"
					"     p50     p99     max");
	assert_string_equal(r.lines[2], "nic0      0       irqfd     0      15,012     14,998         14        0     0"
					"   24 µs   61 µs  1.2 ms");
	assert_string_equal(r.lines[3], "nic0      1       irqfd     0,1    14,977     14,970          7        0     0"
					"   23 µs   58 µs  900 µs");
	assert_string_equal(r.lines[4], "legacy0   INTx A  resample  0       6,000      6,000          0        0     0"
					"   31 µs   80 µs  2.0 ms");
	/* Every row is as wide as the header (µ is one column), and the balance line ends there too. */
	for (size_t i = 2; i < 5; i++)
		assert_int_equal(columns(r.lines[i]), columns(r.lines[1]));
	const char *expect = "expectations: 2/2 met";
	assert_string_equal(r.lines[5] + strlen(r.lines[5]) - strlen(expect), expect);
	assert_int_equal(columns(r.lines[5]), columns(r.lines[1]));
	const char *balance = "balance: raised 35,989 = delivered 35,968 + coalesced 21 + pending 0; lost 0  ";
	assert_int_equal(strncmp(r.lines[5], balance, strlen(balance)), 0);
	free(r.text);
}

static void test_table_long_names_and_notes(void **state)
{
	struct fixture *f = *state;
	struct rendered r;

	snprintf(f->config.devices[0].name, VIRQ_VMM_NAME_MAX, "a-very-long-device-name");
	f->config.devices[0].delivery = VIRQ_VMM_DELIVERY_USERSPACE;
	f->config.devices[1].intx_pin = 4;
	f->report->sources[0].per_vcpu[1] = 1;
	f->report->sources[1].delivered = 0; /* no latency samples: "-" */
	f->report->sources[1].coalesced = 14977;
	f->report->sources[1].per_vcpu[0] = f->report->sources[1].per_vcpu[1] = 0;
	f->report->sources[2].stale = 4;
	f->report->spurious_eoi[1] = 2;
	f->meta.expectations_total = 0;
	f->meta.run_ns = 0;

	render_table(f, &r);
	assert_string_equal(r.lines[0], "virq run nic-and-legacy: x86_64, 2 vCPUs");
	assert_string_equal(r.lines[1], "device                   vector  mode       vCPU   raised  delivered  coalesced"
					"  pending  lost     p50     p99     max");
	assert_string_equal(r.lines[2], "a-very-long-device-name  0       userspace  0,1    15,012     14,998         14"
					"        0     0   24 µs   61 µs  1.2 ms");
	assert_string_equal(r.lines[3], "a-very-long-device-name  1       userspace  -      14,977          0     14,977"
					"        0     0       -       -       -");
	assert_string_equal(r.lines[4], "legacy0                  INTx D  resample   0       6,000      6,000          0"
					"        0     0   31 µs   80 µs  2.0 ms");
	assert_string_equal(r.lines[5], "balance: raised 35,989 = delivered 20,998 + coalesced 14,991 + pending 0; lost 0;"
					" stale 4; spurious EOI 2");
	free(r.text);
}

static void test_table_vcpu_ranges(void **state)
{
	struct fixture *f = *state;
	struct rendered r;

	f->config.vcpus = f->report->vcpus = 8;
	struct virq_vmm_source_report *row = &f->report->sources[0];
	memset(row->per_vcpu, 0, sizeof(row->per_vcpu));
	row->per_vcpu[0] = row->per_vcpu[1] = row->per_vcpu[2] = row->per_vcpu[4] = row->per_vcpu[6] = 1;
	row->per_vcpu[7] = 1;
	/* Counts past the report's vCPUs are not vCPUs of this VM. */
	row->per_vcpu[9] = 1;

	render_table(f, &r);
	assert_string_equal(r.lines[0], "virq run nic-and-legacy: x86_64, 8 vCPUs, 3.0 s");
	assert_non_null(strstr(r.lines[2], "  irqfd     0-2,4,6,7   15,012"));
	free(r.text);
}

static void test_table_not_balanced(void **state)
{
	struct fixture *f = *state;
	struct rendered r;

	f->meta.expectations_met = 1;
	f->report->nsources = 1;
	set_counts(&f->report->sources[0], 10, 5, 1, 0, 0);
	assert_false(virq_report_balanced(f->report));
	render_table(f, &r);
	assert_string_equal(r.lines[3], "balance: NOT BALANCED: raised 10 != delivered 5 + coalesced 1 + pending 0 + lost 0;"
					" nic0 vector 0 does not add up  expectations: 1/2 met");
	free(r.text);

	/* Balanced sums but something lost: still not balanced, and the line says where. */
	f->report->nsources = 3;
	set_counts(&f->report->sources[0], 10, 7, 0, 0, 0);
	set_counts(&f->report->sources[2], 6000, 5997, 0, 0, 3);
	f->meta.expectations_total = 0;
	assert_false(virq_report_balanced(f->report));
	render_table(f, &r);
	assert_string_equal(r.lines[5], "balance: NOT BALANCED: raised 20,987 != delivered 20,974 + coalesced 7 + pending 0"
					" + lost 3; nic0 vector 0 does not add up; lost 3 in legacy0 INTx A");
	free(r.text);

	set_counts(&f->report->sources[0], 10, 7, 3, 0, 0);
	render_table(f, &r);
	assert_string_equal(r.lines[5], "balance: NOT BALANCED: raised 20,987 = delivered 20,974 + coalesced 10 + pending 0"
					" + lost 3; lost 3 in legacy0 INTx A");
	free(r.text);
	set_counts(&f->report->sources[2], 6000, 6000, 0, 0, 0);
	assert_true(virq_report_balanced(f->report));
}

static void test_table_write_error(void **state)
{
	struct fixture *f = *state;
	FILE *ro = fopen("/dev/null", "r"); /* writes to a read-only stream fail */

	assert_non_null(ro);
	assert_int_equal(virq_report_print_table(ro, &f->meta, f->report), -EIO);
	assert_int_equal(virq_report_print_json(ro, &f->meta, f->report), -EIO);
	fclose(ro);
}

/* ---- Number formats ---- */

static void check_duration(uint64_t ns, const char *want)
{
	char buf[VIRQ_REPORT_NUM_MAX];
	virq_report_format_duration(ns, buf);
	assert_string_equal(buf, want);
}

static void test_format_duration(void **state)
{
	(void)state;
	check_duration(0, "0 ns");
	check_duration(999, "999 ns");
	check_duration(1000, "1.0 µs");
	check_duration(1049, "1.0 µs");
	check_duration(1050, "1.1 µs");
	check_duration(9949, "9.9 µs");
	check_duration(9950, "10 µs");
	check_duration(24000, "24 µs");
	check_duration(999499, "999 µs");
	check_duration(999500, "1.0 ms");
	check_duration(1200000, "1.2 ms");
	check_duration(99499999, "99 ms");
	check_duration(99500000, "100 ms");
	check_duration(100000000, "100 ms");
	check_duration(999500000, "1.0 s");
	check_duration(3000000000ull, "3.0 s");
	check_duration(12000000000ull, "12 s");
	check_duration(1234000000000ull, "1234 s");
	check_duration(UINT64_MAX, "18446744074 s");
}

static void check_count(uint64_t n, const char *want)
{
	char buf[VIRQ_REPORT_NUM_MAX];
	virq_report_format_count(n, buf);
	assert_string_equal(buf, want);
}

static void test_format_count(void **state)
{
	(void)state;
	check_count(0, "0");
	check_count(999, "999");
	check_count(1000, "1,000");
	check_count(66048, "66,048");
	check_count(1234567, "1,234,567");
	check_count(UINT64_MAX, "18,446,744,073,709,551,615");
}

static void test_names(void **state)
{
	struct fixture *f = *state;
	char buf[32];

	assert_string_equal(virq_vmm_delivery_name(VIRQ_VMM_DELIVERY_IRQFD), "irqfd");
	assert_string_equal(virq_vmm_delivery_name(VIRQ_VMM_DELIVERY_RESAMPLE), "resample");
	assert_string_equal(virq_vmm_delivery_name(VIRQ_VMM_DELIVERY_USERSPACE), "userspace");
	assert_string_equal(virq_vmm_delivery_name(VIRQ_VMM_DELIVERY_POSTED), "posted");
	assert_string_equal(virq_vmm_delivery_name(VIRQ_VMM_DELIVERY_REMAPPED), "remapped");
	assert_string_equal(virq_vmm_delivery_name(VIRQ_VMM_DELIVERY_FORWARDED), "forwarded");
	assert_string_equal(virq_report_device_name(&f->meta, 1, buf, sizeof(buf)), "legacy0");
	assert_string_equal(virq_report_device_name(&f->meta, 7, buf, sizeof(buf)), "device 7");
	assert_string_equal(virq_report_device_name(NULL, 0, buf, sizeof(buf)), "device 0");
	assert_null(virq_report_device_mode(&f->meta, 2));
	assert_true(virq_report_device_intx(&f->meta, 1));
	assert_false(virq_report_device_intx(&f->meta, 0));
	assert_int_equal(virq_report_intx_pin(&f->meta, 1), 'A');
	assert_int_equal(virq_report_intx_pin(&f->meta, 0), '?');
}

/* ---- JSON ---- */

static struct json_object *render_json(const struct fixture *f)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	assert_non_null(mem);
	assert_int_equal(virq_report_print_json(mem, &f->meta, f->report), 0);
	assert_int_equal(fclose(mem), 0);
	assert_true(len > 2);
	assert_int_equal(text[len - 1], '\n');
	assert_int_equal(text[0], '{');
	struct json_object *doc = json_tokener_parse(text);
	free(text);
	assert_non_null(doc);
	assert_true(json_object_is_type(doc, json_type_object));
	return doc;
}

static struct json_object *get(struct json_object *obj, const char *key, enum json_type type)
{
	struct json_object *value = NULL;
	if (!json_object_object_get_ex(obj, key, &value))
		fail_msg("missing key \"%s\"", key);
	if (!json_object_is_type(value, type))
		fail_msg("key \"%s\" has type %s, want %s", key, json_type_to_name(json_object_get_type(value)),
			 json_type_to_name(type));
	return value;
}

static uint64_t get_u64(struct json_object *obj, const char *key)
{
	return json_object_get_uint64(get(obj, key, json_type_int));
}

static const char *get_str(struct json_object *obj, const char *key)
{
	return json_object_get_string(get(obj, key, json_type_string));
}

static void check_u64_array(struct json_object *array, const uint64_t *want, size_t n)
{
	assert_int_equal(json_object_array_length(array), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(json_object_get_uint64(json_object_array_get_idx(array, i)), want[i]);
}

static void check_source(struct json_object *obj, const struct fixture *f, const struct virq_vmm_source_report *row)
{
	const char *keys[] = { "device", row->intx ? "intx" : "vector", "mode", "vcpus", "raised", "delivered",
			       "coalesced", "pending", "lost", "handler_runs", "stale", "p50_ns", "p99_ns", "max_ns" };
	assert_int_equal(json_object_object_length(obj), sizeof(keys) / sizeof(keys[0]));
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		assert_true(json_object_object_get_ex(obj, keys[k], NULL));

	assert_string_equal(get_str(obj, "device"), f->config.devices[row->device].name);
	if (row->intx)
		assert_string_equal(get_str(obj, "intx"), "A");
	else
		assert_int_equal(get_u64(obj, "vector"), row->source);
	assert_string_equal(get_str(obj, "mode"), row->intx ? "resample" : "irqfd");
	check_u64_array(get(obj, "vcpus", json_type_array), row->per_vcpu, f->report->vcpus);
	assert_int_equal(get_u64(obj, "raised"), row->raised);
	assert_int_equal(get_u64(obj, "delivered"), row->delivered);
	assert_int_equal(get_u64(obj, "coalesced"), row->coalesced);
	assert_int_equal(get_u64(obj, "pending"), row->pending);
	assert_int_equal(get_u64(obj, "lost"), row->lost);
	assert_int_equal(get_u64(obj, "handler_runs"), row->handler_runs);
	assert_int_equal(get_u64(obj, "stale"), row->stale);
	if (row->delivered) {
		assert_int_equal(get_u64(obj, "p50_ns"), row->p50_ns);
		assert_int_equal(get_u64(obj, "p99_ns"), row->p99_ns);
		assert_int_equal(get_u64(obj, "max_ns"), row->max_ns);
	} else {
		get(obj, "p50_ns", json_type_null);
		get(obj, "p99_ns", json_type_null);
		get(obj, "max_ns", json_type_null);
	}
}

static void test_json_document(void **state)
{
	struct fixture *f = *state;

	f->report->sources[1].stale = 3;
	f->report->spurious_eoi[0] = 5;
	f->report->spurious_eoi[1] = 1;
	struct json_object *doc = render_json(f);

	const char *top[] = { "name", "arch", "vcpus", "run_ns", "elapsed_ns", "sources", "totals",
			      "balanced", "spurious_eoi", "iommu", "forwarding", "direct_lpi", "expectations" };
	assert_int_equal(json_object_object_length(doc), sizeof(top) / sizeof(top[0]));
	assert_string_equal(get_str(doc, "name"), "nic-and-legacy");
	assert_string_equal(get_str(doc, "arch"), "x86_64");
	assert_int_equal(get_u64(doc, "vcpus"), 2);
	assert_int_equal(get_u64(doc, "run_ns"), 3000000000ull);
	assert_int_equal(get_u64(doc, "elapsed_ns"), 3001000000ull);
	assert_true(json_object_get_boolean(get(doc, "balanced", json_type_boolean)));
	check_u64_array(get(doc, "spurious_eoi", json_type_array), f->report->spurious_eoi, 2);
	get(doc, "iommu", json_type_null); /* no device behind the VMM's IOMMU */
	get(doc, "forwarding", json_type_null); /* no forwarded INTx line */
	get(doc, "direct_lpi", json_type_null); /* not an arm64 VM on a GICv4 host */

	struct json_object *expect = get(doc, "expectations", json_type_object);
	assert_int_equal(get_u64(expect, "met"), 2);
	assert_int_equal(get_u64(expect, "total"), 2);

	struct json_object *totals = get(doc, "totals", json_type_object);
	assert_int_equal(json_object_object_length(totals), 5);
	assert_int_equal(get_u64(totals, "raised"), 35989);
	assert_int_equal(get_u64(totals, "delivered"), 35968);
	assert_int_equal(get_u64(totals, "coalesced"), 21);
	assert_int_equal(get_u64(totals, "pending"), 0);
	assert_int_equal(get_u64(totals, "lost"), 0);

	struct json_object *sources = get(doc, "sources", json_type_array);
	assert_int_equal(json_object_array_length(sources), f->report->nsources);
	for (unsigned i = 0; i < f->report->nsources; i++)
		check_source(json_object_array_get_idx(sources, i), f, &f->report->sources[i]);
	json_object_put(doc);
}

/* With the VMM's IOMMU (delivery posted or remapped): its counts end the balance line, zeros included,
 * and fill the JSON's "iommu" object. */
static void test_iommu_counts(void **state)
{
	struct fixture *f = *state;
	struct rendered r;

	f->config.devices[0].delivery = VIRQ_VMM_DELIVERY_POSTED;
	f->report->iommu = true;
	f->report->iommu_posted = 29989;
	f->meta.expectations_total = 0;
	render_table(f, &r);
	assert_string_equal(r.lines[2], "nic0      0       posted    0      15,012     14,998         14        0     0"
					"   24 µs   61 µs  1.2 ms");
	assert_string_equal(r.lines[5], "balance: raised 35,989 = delivered 35,968 + coalesced 21 + pending 0; lost 0;"
					" IOMMU posted 29,989, remapped 0");
	free(r.text);
	f->report->iommu_dropped = 2;
	render_table(f, &r);
	assert_string_equal(r.lines[5], "balance: raised 35,989 = delivered 35,968 + coalesced 21 + pending 0; lost 0;"
					" IOMMU posted 29,989, remapped 0, dropped 2");
	free(r.text);

	struct json_object *doc = render_json(f);
	struct json_object *iommu = get(doc, "iommu", json_type_object);
	assert_int_equal(json_object_object_length(iommu), 3);
	assert_int_equal(get_u64(iommu, "posted"), 29989);
	assert_int_equal(get_u64(iommu, "remapped"), 0);
	assert_int_equal(get_u64(iommu, "dropped"), 2);
	struct json_object *sources = get(doc, "sources", json_type_array);
	assert_string_equal(get_str(json_object_array_get_idx(sources, 0), "mode"), "posted");
	json_object_put(doc);
}

/* With forwarded INTx lines (arm64): who completed them ends the balance line, zeros included (re-fires
 * only when there were some), and fills the JSON's "forwarding" object. */
static void test_forwarding_counts(void **state)
{
	struct fixture *f = *state;
	struct rendered r;

	f->config.arch = VIRQ_VMM_ARCH_ARM64;
	f->meta.arch = "arm64";
	f->config.devices[1].delivery = VIRQ_VMM_DELIVERY_FORWARDED;
	f->report->forwarding = true;
	f->report->fwd_completions = 6000;
	f->meta.expectations_total = 0;
	assert_true(virq_report_device_intx(&f->meta, 1));
	render_table(f, &r);
	assert_string_equal(r.lines[4], "legacy0   INTx A  forwarded  0       6,000      6,000          0        0     0"
					"   31 µs   80 µs  2.0 ms");
	assert_string_equal(r.lines[5], "balance: raised 35,989 = delivered 35,968 + coalesced 21 + pending 0; lost 0;"
					" forwarded lines completed by the guest 6,000, unmasked by VFIO 0");
	free(r.text);
	f->report->fwd_refires = 12;
	f->report->fwd_unmasks = 1;
	render_table(f, &r);
	assert_string_equal(r.lines[5], "balance: raised 35,989 = delivered 35,968 + coalesced 21 + pending 0; lost 0;"
					" forwarded lines completed by the guest 6,000 (re-fired 12), unmasked by VFIO 1");
	free(r.text);

	struct json_object *doc = render_json(f);
	get(doc, "iommu", json_type_null);
	struct json_object *fwd = get(doc, "forwarding", json_type_object);
	assert_int_equal(json_object_object_length(fwd), 3);
	assert_int_equal(get_u64(fwd, "direct_completions"), 6000);
	assert_int_equal(get_u64(fwd, "refires"), 12);
	assert_int_equal(get_u64(fwd, "vfio_unmasks"), 1);
	struct json_object *sources = get(doc, "sources", json_type_array);
	struct json_object *line = json_object_array_get_idx(sources, 2);
	assert_string_equal(get_str(line, "mode"), "forwarded");
	assert_string_equal(get_str(line, "intx"), "A");
	json_object_put(doc);
}

/* On a GICv4 host (arm64, gic v4): the whole run's direct LPI injections end the balance line, zeros
 * included (fallbacks only when there were some), and fill the JSON's "direct_lpi" object. */
static void test_direct_lpi_counts(void **state)
{
	struct fixture *f = *state;
	struct rendered r;

	f->config.arch = VIRQ_VMM_ARCH_ARM64;
	f->config.gic_v4 = true;
	f->meta.arch = "arm64";
	f->report->direct_lpi = true;
	f->meta.expectations_total = 0;
	render_table(f, &r);
	assert_string_equal(r.lines[2], "nic0      0       irqfd     0      15,012     14,998         14        0     0"
					"   24 µs   61 µs  1.2 ms");
	assert_string_equal(r.lines[5], "balance: raised 35,989 = delivered 35,968 + coalesced 21 + pending 0; lost 0;"
					" direct to LPI 0");
	free(r.text);
	f->report->direct_injected = 29989;
	f->report->direct_fallbacks = 3;
	render_table(f, &r);
	assert_string_equal(r.lines[5], "balance: raised 35,989 = delivered 35,968 + coalesced 21 + pending 0; lost 0;"
					" direct to LPI 29,989 (fell back 3)");
	free(r.text);
	/* after the forwarded lines' counts when a VM has both */
	f->config.devices[1].delivery = VIRQ_VMM_DELIVERY_FORWARDED;
	f->report->forwarding = true;
	f->report->fwd_completions = 6000;
	f->meta.expectations_total = 2;
	f->meta.expectations_met = 2;
	render_table(f, &r);
	assert_string_equal(r.lines[5], "balance: raised 35,989 = delivered 35,968 + coalesced 21 + pending 0; lost 0;"
					" forwarded lines completed by the guest 6,000, unmasked by VFIO 0;"
					" direct to LPI 29,989 (fell back 3)  expectations: 2/2 met");
	free(r.text);

	struct json_object *doc = render_json(f);
	get(doc, "iommu", json_type_null);
	struct json_object *direct = get(doc, "direct_lpi", json_type_object);
	assert_int_equal(json_object_object_length(direct), 2);
	assert_int_equal(get_u64(direct, "injected"), 29989);
	assert_int_equal(get_u64(direct, "fallbacks"), 3);
	json_object_put(doc);
}

static void test_json_unbalanced_and_no_samples(void **state)
{
	struct fixture *f = *state;

	set_counts(&f->report->sources[1], 100, 0, 0, 97, 3);
	struct json_object *doc = render_json(f);
	assert_false(json_object_get_boolean(get(doc, "balanced", json_type_boolean)));
	struct json_object *totals = get(doc, "totals", json_type_object);
	assert_int_equal(get_u64(totals, "lost"), 3);
	assert_int_equal(get_u64(totals, "pending"), 97);
	check_source(json_object_array_get_idx(get(doc, "sources", json_type_array), 1), f, &f->report->sources[1]);
	json_object_put(doc);
}

static void test_json_escapes_names(void **state)
{
	struct fixture *f = *state;

	f->meta.name = "say \"hi\"\\/\n";
	snprintf(f->config.devices[0].name, VIRQ_VMM_NAME_MAX, "n\"ic");
	struct json_object *doc = render_json(f);
	assert_string_equal(get_str(doc, "name"), "say \"hi\"\\/\n");
	assert_string_equal(get_str(json_object_array_get_idx(get(doc, "sources", json_type_array), 0), "device"),
			    "n\"ic");
	json_object_put(doc);
}

/* ---- Progress line ---- */

static char *draw(const struct fixture *f, bool tty, uint64_t elapsed_ns)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	assert_non_null(mem);
	virq_progress_draw(mem, tty, &f->meta, elapsed_ns);
	assert_int_equal(fclose(mem), 0);
	return text;
}

static void test_progress(void **state)
{
	struct fixture *f = *state;
	char *text = draw(f, true, 2700000000ull);

	assert_string_equal(text, "\rvirq run nic-and-legacy: x86_64, 2 vCPUs, 3.0 s   [#########-]  2.7 s\033[K");
	free(text);
	text = draw(f, true, 0);
	assert_non_null(strstr(text, "[----------]  0 ns"));
	free(text);
	text = draw(f, true, 4000000000ull); /* overrun: the bar stays full */
	assert_non_null(strstr(text, "[##########]  4.0 s"));
	free(text);
	f->meta.run_ns = 0;
	text = draw(f, true, 1500000000ull);
	assert_string_equal(text, "\rvirq run nic-and-legacy: x86_64, 2 vCPUs   1.5 s\033[K");
	free(text);

	/* Not a terminal: nothing at all. */
	text = draw(f, false, 2700000000ull);
	assert_string_equal(text, "");
	free(text);

	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	assert_non_null(mem);
	virq_progress_clear(mem, false);
	virq_progress_clear(mem, true);
	assert_int_equal(fclose(mem), 0);
	assert_string_equal(text, "\r\033[K");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_long_names_and_notes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_vcpu_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_not_balanced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_write_error, setup, teardown),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_format_count),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_document, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_unbalanced_and_no_samples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iommu_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forwarding_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_lpi_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_escapes_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
