/* SPDX-License-Identifier: MIT */
/*
 * json.c - the --json document: the same numbers as the table, for scripts. Per-source objects use the
 * table's column names as keys, so a script written against the table's headings finds its numbers;
 * docs/report.md has the schema.
 *
 * Built with json-c: a report is at most a few thousand rows, so building the tree is cheap, and json-c
 * takes care of escaping device and scenario names.
 */
#include "report/report.h"

#include <errno.h>

#include <json-c/json.h>

/*
 * Building a document: json-c returns NULL when it cannot allocate, and NULL is also how it spells JSON
 * null. So nothing stops at the first failure; it is remembered in @oom and the document is dropped at
 * the end, while null values meant as such go through virq_put_null().
 */
struct virq_json {
	bool oom;
};

static void virq_put(struct virq_json *j, struct json_object *obj, const char *key, struct json_object *value)
{
	if (!value || json_object_object_add(obj, key, value)) {
		json_object_put(value);
		j->oom = true;
	}
}

static void virq_put_null(struct virq_json *j, struct json_object *obj, const char *key)
{
	if (json_object_object_add(obj, key, NULL))
		j->oom = true;
}

static void virq_put_u64(struct virq_json *j, struct json_object *obj, const char *key, uint64_t value)
{
	virq_put(j, obj, key, json_object_new_uint64(value));
}

static void virq_append(struct virq_json *j, struct json_object *array, struct json_object *value)
{
	if (!value || json_object_array_add(array, value)) {
		json_object_put(value);
		j->oom = true;
	}
}

/* Latencies are sampled only from delivered raises: with none there is no figure (null, "-" in the table). */
static void virq_put_latency(struct virq_json *j, struct json_object *obj, const char *key,
			     const struct virq_vmm_source_report *row, uint64_t ns)
{
	if (row->delivered)
		virq_put_u64(j, obj, key, ns);
	else
		virq_put_null(j, obj, key);
}

static struct json_object *virq_u64_array(struct virq_json *j, const uint64_t *values, unsigned n)
{
	struct json_object *array = json_object_new_array_ext((int)n);

	for (unsigned i = 0; array && i < n; i++)
		virq_append(j, array, json_object_new_uint64(values[i]));
	return array;
}

static unsigned virq_vcpus(const struct virq_vmm_report *r)
{
	return r->vcpus < VIRQ_VMM_MAX_VCPUS ? r->vcpus : VIRQ_VMM_MAX_VCPUS;
}

static struct json_object *virq_source_json(struct virq_json *j, const struct virq_report_meta *meta,
					    const struct virq_vmm_report *r, const struct virq_vmm_source_report *row)
{
	struct json_object *obj = json_object_new_object();
	char name[64];

	if (!obj)
		return NULL;
	virq_put(j, obj, "device", json_object_new_string(virq_report_device_name(meta, row->device, name,
										sizeof(name))));
	if (row->intx) {
		char pin[2] = { virq_report_intx_pin(meta, row->device), '\0' };
		virq_put(j, obj, "intx", json_object_new_string(pin));
	} else {
		virq_put_u64(j, obj, "vector", row->source);
	}
	const char *mode = virq_report_device_mode(meta, row->device);
	if (mode)
		virq_put(j, obj, "mode", json_object_new_string(mode));
	else
		virq_put_null(j, obj, "mode");
	virq_put(j, obj, "vcpus", virq_u64_array(j, row->per_vcpu, virq_vcpus(r)));
	virq_put_u64(j, obj, "raised", row->raised);
	virq_put_u64(j, obj, "delivered", row->delivered);
	virq_put_u64(j, obj, "coalesced", row->coalesced);
	virq_put_u64(j, obj, "pending", row->pending);
	virq_put_u64(j, obj, "lost", row->lost);
	virq_put_u64(j, obj, "handler_runs", row->handler_runs);
	virq_put_u64(j, obj, "stale", row->stale);
	virq_put_latency(j, obj, "p50_ns", row, row->p50_ns);
	virq_put_latency(j, obj, "p99_ns", row, row->p99_ns);
	virq_put_latency(j, obj, "max_ns", row, row->max_ns);
	return obj;
}

static struct json_object *virq_report_json(struct virq_json *j, const struct virq_report_meta *meta,
					    const struct virq_vmm_report *r)
{
	struct json_object *doc = json_object_new_object(), *sources = json_object_new_array_ext((int)r->nsources);
	struct json_object *totals = json_object_new_object(), *expect = json_object_new_object();
	struct virq_report_totals t;

	if (!doc || !sources || !totals || !expect) {
		json_object_put(doc);
		json_object_put(sources);
		json_object_put(totals);
		json_object_put(expect);
		return NULL;
	}
	for (unsigned i = 0; i < r->nsources; i++)
		virq_append(j, sources, virq_source_json(j, meta, r, &r->sources[i]));
	virq_report_sum(r, &t);
	virq_put_u64(j, totals, "raised", t.raised);
	virq_put_u64(j, totals, "delivered", t.delivered);
	virq_put_u64(j, totals, "coalesced", t.coalesced);
	virq_put_u64(j, totals, "pending", t.pending);
	virq_put_u64(j, totals, "lost", t.lost);
	virq_put_u64(j, expect, "met", meta->expectations_met);
	virq_put_u64(j, expect, "total", meta->expectations_total);

	virq_put(j, doc, "name", json_object_new_string(meta->name ? meta->name : ""));
	virq_put(j, doc, "arch", json_object_new_string(meta->arch ? meta->arch : ""));
	virq_put_u64(j, doc, "vcpus", r->vcpus);
	virq_put_u64(j, doc, "run_ns", meta->run_ns);
	virq_put_u64(j, doc, "elapsed_ns", r->elapsed_ns);
	virq_put(j, doc, "sources", sources);
	virq_put(j, doc, "totals", totals);
	virq_put(j, doc, "balanced", json_object_new_boolean(virq_report_balanced(r)));
	virq_put(j, doc, "spurious_eoi", virq_u64_array(j, r->spurious_eoi, virq_vcpus(r)));
	/* The VMM's IOMMU (a device with delivery posted or remapped), or null when there is none. */
	if (r->iommu) {
		struct json_object *iommu = json_object_new_object();
		if (iommu) {
			virq_put_u64(j, iommu, "posted", r->iommu_posted);
			virq_put_u64(j, iommu, "remapped", r->iommu_remapped);
			virq_put_u64(j, iommu, "dropped", r->iommu_dropped);
		}
		virq_put(j, doc, "iommu", iommu);
	} else {
		virq_put_null(j, doc, "iommu");
	}
	/* The host INTx lines of forwarded devices (arm64), or null when no device is forwarded. */
	if (r->forwarding) {
		struct json_object *fwd = json_object_new_object();
		if (fwd) {
			virq_put_u64(j, fwd, "direct_completions", r->fwd_completions);
			virq_put_u64(j, fwd, "refires", r->fwd_refires);
			virq_put_u64(j, fwd, "vfio_unmasks", r->fwd_unmasks);
		}
		virq_put(j, doc, "forwarding", fwd);
	} else {
		virq_put_null(j, doc, "forwarding");
	}
	/* Direct LPI injection (arm64 on a GICv4 host), or null when the VM has none. */
	if (r->direct_lpi) {
		struct json_object *direct = json_object_new_object();
		if (direct) {
			virq_put_u64(j, direct, "injected", r->direct_injected);
			virq_put_u64(j, direct, "fallbacks", r->direct_fallbacks);
		}
		virq_put(j, doc, "direct_lpi", direct);
	} else {
		virq_put_null(j, doc, "direct_lpi");
	}
	virq_put(j, doc, "expectations", expect);
	return doc;
}

int virq_report_print_json(FILE *out, const struct virq_report_meta *meta, const struct virq_vmm_report *r)
{
	struct virq_json j = { .oom = false };
	struct json_object *doc = virq_report_json(&j, meta, r);
	const char *text;
	int ret = 0;

	if (!doc || j.oom) {
		json_object_put(doc);
		return -ENOMEM;
	}
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		ret = -ENOMEM;
	else if (fprintf(out, "%s\n", text) < 0 || fflush(out) || ferror(out))
		ret = -EIO;
	json_object_put(doc);
	return ret;
}
