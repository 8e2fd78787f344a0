/* SPDX-License-Identifier: MIT */
/*
 * table.c - the human report: a title line, one row per interrupt source, and the balance line that says
 * whether every raise is accounted for. Also the names and number formats the other renderers share, so
 * the table, the JSON document and the trace call things by the same names.
 *
 * The table is formatted in two passes over the rows (measure, then print) rather than by storing every
 * cell: a VM can have 32 devices of 64 vectors each. Widths count display columns, not bytes, because
 * the latency units contain "µ".
 */
#include "report/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

static const struct virq_vmm_device_config *virq_report_device(const struct virq_report_meta *meta,
							       unsigned device)
{
	if (!meta || !meta->config || device >= meta->config->ndevices)
		return NULL;
	return &meta->config->devices[device];
}

const char *virq_report_device_mode(const struct virq_report_meta *meta, unsigned device)
{
	const struct virq_vmm_device_config *dev = virq_report_device(meta, device);

	return dev ? virq_vmm_delivery_name(dev->delivery) : NULL;
}

const char *virq_report_device_name(const struct virq_report_meta *meta, unsigned device, char *buf,
				    size_t len)
{
	const struct virq_vmm_device_config *dev = virq_report_device(meta, device);

	/* The config's name is a fixed array: never trust it to be terminated. */
	if (dev && dev->name[0] && memchr(dev->name, '\0', sizeof(dev->name)))
		return dev->name;
	snprintf(buf, len, "device %u", device);
	return buf;
}

bool virq_report_device_intx(const struct virq_report_meta *meta, unsigned device)
{
	const struct virq_vmm_device_config *dev = virq_report_device(meta, device);

	return dev && virq_vmm_delivery_intx(dev->delivery);
}

char virq_report_intx_pin(const struct virq_report_meta *meta, unsigned device)
{
	const struct virq_vmm_device_config *dev = virq_report_device(meta, device);

	if (!dev || dev->intx_pin < 1 || dev->intx_pin > 4)
		return '?';
	return (char)('A' + dev->intx_pin - 1);
}

void virq_report_format_count(uint64_t n, char buf[VIRQ_REPORT_NUM_MAX])
{
	char digits[24];
	int len = snprintf(digits, sizeof(digits), "%" PRIu64, n);
	size_t out = 0;

	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[out++] = ',';
		buf[out++] = digits[i];
	}
	buf[out] = '\0';
}

void virq_report_format_duration(uint64_t ns, char buf[VIRQ_REPORT_NUM_MAX])
{
	static const struct {
		const char *unit;
		uint64_t scale;
	} units[] = { { "µs", 1000 }, { "ms", 1000000 }, { "s", 1000000000 } };

	if (ns < 1000) {
		snprintf(buf, VIRQ_REPORT_NUM_MAX, "%" PRIu64 " ns", ns);
		return;
	}
	/*
	 * Round in integers in the largest unit the value reaches; when rounding carries it to the next
	 * threshold (9.96 µs -> 10 µs, 999.7 µs -> 1.0 ms) the next branch or unit prints it instead.
	 */
	size_t u = 0;
	while (u + 1 < sizeof(units) / sizeof(units[0]) && ns >= units[u + 1].scale)
		u++;
	for (; u < sizeof(units) / sizeof(units[0]); u++) {
		uint64_t tenth = units[u].scale / 10;
		uint64_t tenths = ns / tenth + (ns % tenth >= tenth / 2);
		if (tenths < 100) {
			snprintf(buf, VIRQ_REPORT_NUM_MAX, "%" PRIu64 ".%" PRIu64 " %s", tenths / 10, tenths % 10,
				 units[u].unit);
			return;
		}
		uint64_t whole = ns / units[u].scale + (ns % units[u].scale >= units[u].scale / 2);
		if (whole < 1000 || u + 1 == sizeof(units) / sizeof(units[0])) {
			snprintf(buf, VIRQ_REPORT_NUM_MAX, "%" PRIu64 " %s", whole, units[u].unit);
			return;
		}
	}
}

void virq_report_format_title(const struct virq_report_meta *meta, unsigned vcpus, char *buf, size_t len)
{
	char run[VIRQ_REPORT_NUM_MAX];

	virq_report_format_duration(meta->run_ns, run);
	/* A scripted run has no planned duration to show. */
	snprintf(buf, len, "virq run %s: %s, %u vCPU%s%s%s", meta->name ? meta->name : "?",
		 meta->arch ? meta->arch : "?", vcpus, vcpus == 1 ? "" : "s", meta->run_ns ? ", " : "",
		 meta->run_ns ? run : "");
}

/* The table's columns, in order. The minimum widths reproduce the layout SCENARIOS.md shows. */
enum {
	VIRQ_COL_DEVICE,
	VIRQ_COL_VECTOR,
	VIRQ_COL_MODE,
	VIRQ_COL_VCPU,
	VIRQ_COL_RAISED,
	VIRQ_COL_DELIVERED,
	VIRQ_COL_COALESCED,
	VIRQ_COL_PENDING,
	VIRQ_COL_LOST,
	VIRQ_COL_P50,
	VIRQ_COL_P99,
	VIRQ_COL_MAX,
	VIRQ_NCOLS,
};
static const struct {
	const char *header;
	bool right;
	size_t min_width;
} virq_columns[VIRQ_NCOLS] = {
	[VIRQ_COL_DEVICE] = { "device", false, 8 },
	[VIRQ_COL_VECTOR] = { "vector", false, 6 },
	[VIRQ_COL_MODE] = { "mode", false, 8 },
	[VIRQ_COL_VCPU] = { "vCPU", false, 4 },
	[VIRQ_COL_RAISED] = { "raised", true, 7 },
	[VIRQ_COL_DELIVERED] = { "delivered", true, 9 },
	[VIRQ_COL_COALESCED] = { "coalesced", true, 9 },
	[VIRQ_COL_PENDING] = { "pending", true, 7 },
	[VIRQ_COL_LOST] = { "lost", true, 4 },
	[VIRQ_COL_P50] = { "p50", true, 6 },
	[VIRQ_COL_P99] = { "p99", true, 6 },
	[VIRQ_COL_MAX] = { "max", true, 6 },
};
#define VIRQ_CELL_MAX 256 /* the longest cell is a vCPU list: "0,2,4,...,62" */
#define VIRQ_COL_GAP 2

/* Display width of UTF-8 text: count every byte that does not continue a character. */
static size_t virq_display_width(const char *s)
{
	size_t width = 0;

	for (; *s; s++)
		width += ((unsigned char)*s & 0xc0) != 0x80;
	return width;
}

/* The vCPUs that ran the handler, runs of three or more as ranges: "0", "0,1", "0-3,6", "-" if none. */
static void virq_format_vcpus(const struct virq_vmm_source_report *row, unsigned vcpus, char *buf,
			      size_t len)
{
	size_t out = 0;
	unsigned n = vcpus < VIRQ_VMM_MAX_VCPUS ? vcpus : VIRQ_VMM_MAX_VCPUS;

	buf[0] = '\0';
	for (unsigned v = 0; v < n; v++) {
		if (!row->per_vcpu[v])
			continue;
		unsigned last = v;
		while (last + 1 < n && row->per_vcpu[last + 1])
			last++;
		const char *sep = out ? "," : "";
		int w;
		if (last >= v + 2)
			w = snprintf(buf + out, len - out, "%s%u-%u", sep, v, last);
		else if (last == v + 1)
			w = snprintf(buf + out, len - out, "%s%u,%u", sep, v, last);
		else
			w = snprintf(buf + out, len - out, "%s%u", sep, v);
		if (w < 0 || (size_t)w >= len - out)
			break;
		out += (size_t)w;
		v = last;
	}
	if (!out)
		snprintf(buf, len, "-");
}

static void virq_format_latency(const struct virq_vmm_source_report *row, uint64_t ns, char *buf)
{
	/* Latencies are sampled at the handler's status read of a delivered raise: none, no figure. */
	if (!row->delivered)
		snprintf(buf, VIRQ_REPORT_NUM_MAX, "-");
	else
		virq_report_format_duration(ns, buf);
}

static void virq_row_cells(const struct virq_report_meta *meta, const struct virq_vmm_report *r,
			   const struct virq_vmm_source_report *row, char cells[VIRQ_NCOLS][VIRQ_CELL_MAX])
{
	const char *mode = virq_report_device_mode(meta, row->device);
	char name[VIRQ_CELL_MAX];

	snprintf(cells[VIRQ_COL_DEVICE], VIRQ_CELL_MAX, "%s",
		 virq_report_device_name(meta, row->device, name, sizeof(name)));
	if (row->intx)
		snprintf(cells[VIRQ_COL_VECTOR], VIRQ_CELL_MAX, "INTx %c", virq_report_intx_pin(meta, row->device));
	else
		snprintf(cells[VIRQ_COL_VECTOR], VIRQ_CELL_MAX, "%u", row->source);
	snprintf(cells[VIRQ_COL_MODE], VIRQ_CELL_MAX, "%s", mode ? mode : "?");
	virq_format_vcpus(row, r->vcpus, cells[VIRQ_COL_VCPU], VIRQ_CELL_MAX);
	virq_report_format_count(row->raised, cells[VIRQ_COL_RAISED]);
	virq_report_format_count(row->delivered, cells[VIRQ_COL_DELIVERED]);
	virq_report_format_count(row->coalesced, cells[VIRQ_COL_COALESCED]);
	virq_report_format_count(row->pending, cells[VIRQ_COL_PENDING]);
	virq_report_format_count(row->lost, cells[VIRQ_COL_LOST]);
	virq_format_latency(row, row->p50_ns, cells[VIRQ_COL_P50]);
	virq_format_latency(row, row->p99_ns, cells[VIRQ_COL_P99]);
	virq_format_latency(row, row->max_ns, cells[VIRQ_COL_MAX]);
}

static void virq_print_pad(FILE *out, size_t n)
{
	fprintf(out, "%*s", (int)n, "");
}

static void virq_print_cells(FILE *out, const size_t widths[VIRQ_NCOLS], const char *const cells[VIRQ_NCOLS])
{
	for (size_t c = 0; c < VIRQ_NCOLS; c++) {
		size_t pad = widths[c] - virq_display_width(cells[c]);
		if (c)
			virq_print_pad(out, VIRQ_COL_GAP);
		if (virq_columns[c].right)
			virq_print_pad(out, pad);
		fputs(cells[c], out);
		/* No trailing blanks after the last column. */
		if (!virq_columns[c].right && c + 1 < VIRQ_NCOLS)
			virq_print_pad(out, pad);
	}
	fputc('\n', out);
}

static bool virq_row_balanced(const struct virq_vmm_source_report *row)
{
	return row->raised == row->delivered + row->coalesced + row->pending + row->lost;
}

void virq_report_sum(const struct virq_vmm_report *r, struct virq_report_totals *t)
{
	*t = (struct virq_report_totals){ 0 };
	for (unsigned i = 0; i < r->nsources; i++) {
		const struct virq_vmm_source_report *row = &r->sources[i];
		t->raised += row->raised;
		t->delivered += row->delivered;
		t->coalesced += row->coalesced;
		t->pending += row->pending;
		t->lost += row->lost;
		t->stale += row->stale;
	}
	for (unsigned v = 0; v < r->vcpus && v < VIRQ_VMM_MAX_VCPUS; v++)
		t->spurious_eoi += r->spurious_eoi[v];
}

bool virq_report_balanced(const struct virq_vmm_report *r)
{
	for (unsigned i = 0; i < r->nsources; i++)
		if (!virq_row_balanced(&r->sources[i]) || r->sources[i].lost)
			return false;
	return true;
}

/* fprintf that counts the columns it printed (the balance line is ASCII: bytes are columns). */
__attribute__((format(printf, 3, 4))) static void virq_put(FILE *out, size_t *used, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int w = vfprintf(out, fmt, ap);
	va_end(ap);
	if (w > 0)
		*used += (size_t)w;
}

/* "nic0 vector 2" / "legacy0 INTx A": how the balance line names a row. */
static void virq_row_label(const struct virq_report_meta *meta, const struct virq_vmm_source_report *row,
			   char *buf, size_t len)
{
	char name[VIRQ_CELL_MAX];
	const char *dev = virq_report_device_name(meta, row->device, name, sizeof(name));

	if (row->intx)
		snprintf(buf, len, "%s INTx %c", dev, virq_report_intx_pin(meta, row->device));
	else
		snprintf(buf, len, "%s vector %u", dev, row->source);
}

/*
 * The balance line. Balanced: "balance: raised R = delivered D + coalesced C + pending P; lost 0".
 * Otherwise it starts "NOT BALANCED:", shows lost in the sum, and names the first row at fault.
 */
static void virq_print_balance(FILE *out, const struct virq_report_meta *meta, const struct virq_vmm_report *r,
			       size_t table_width)
{
	const struct virq_vmm_source_report *off = NULL, *losing = NULL;
	unsigned noff = 0, nlosing = 0;
	struct virq_report_totals t;

	virq_report_sum(r, &t);
	for (unsigned i = 0; i < r->nsources; i++) {
		const struct virq_vmm_source_report *row = &r->sources[i];
		if (!virq_row_balanced(row) && !noff++)
			off = row;
		if (row->lost && !nlosing++)
			losing = row;
	}

	char n[5][VIRQ_REPORT_NUM_MAX], label[VIRQ_CELL_MAX];
	size_t used = 0;
	virq_report_format_count(t.raised, n[0]);
	virq_report_format_count(t.delivered, n[1]);
	virq_report_format_count(t.coalesced, n[2]);
	virq_report_format_count(t.pending, n[3]);
	virq_report_format_count(t.lost, n[4]);
	if (!off && !losing) {
		virq_put(out, &used, "balance: raised %s = delivered %s + coalesced %s + pending %s; lost %s", n[0],
			 n[1], n[2], n[3], n[4]);
	} else {
		virq_put(out, &used,
			 "balance: NOT BALANCED: raised %s %s delivered %s + coalesced %s + pending %s + lost %s",
			 n[0], off ? "!=" : "=", n[1], n[2], n[3], n[4]);
		if (off) {
			virq_row_label(meta, off, label, sizeof(label));
			virq_put(out, &used, "; %s does not add up", label);
			if (noff > 1)
				virq_put(out, &used, " (and %u more)", noff - 1);
		}
		if (losing) {
			virq_row_label(meta, losing, label, sizeof(label));
			virq_report_format_count(losing->lost, n[4]);
			virq_put(out, &used, "; lost %s in %s", n[4], label);
			if (nlosing > 1)
				virq_put(out, &used, " (and %u more)", nlosing - 1);
		}
	}
	if (t.stale) {
		virq_report_format_count(t.stale, n[0]);
		virq_put(out, &used, "; stale %s", n[0]);
	}
	if (t.spurious_eoi) {
		virq_report_format_count(t.spurious_eoi, n[0]);
		virq_put(out, &used, "; spurious EOI %s", n[0]);
	}
	/* With an IOMMU, how its messages went, zeros included: "remapped 0" is what proves posting. */
	if (r->iommu) {
		virq_report_format_count(r->iommu_posted, n[0]);
		virq_report_format_count(r->iommu_remapped, n[1]);
		virq_put(out, &used, "; IOMMU posted %s, remapped %s", n[0], n[1]);
		if (r->iommu_dropped) {
			virq_report_format_count(r->iommu_dropped, n[0]);
			virq_put(out, &used, ", dropped %s", n[0]);
		}
	}
	/* With forwarded INTx lines, who completed them, zeros included: "unmasked by VFIO 0" proves it. */
	if (r->forwarding) {
		virq_report_format_count(r->fwd_completions, n[0]);
		virq_report_format_count(r->fwd_unmasks, n[1]);
		virq_put(out, &used, "; forwarded lines completed by the guest %s", n[0]);
		if (r->fwd_refires) {
			virq_report_format_count(r->fwd_refires, n[2]);
			virq_put(out, &used, " (re-fired %s)", n[2]);
		}
		virq_put(out, &used, ", unmasked by VFIO %s", n[1]);
	}
	/* On a GICv4 host, the MSIs latched straight into LPIs, zeros included (as the IOMMU's counts). */
	if (r->direct_lpi) {
		virq_report_format_count(r->direct_injected, n[0]);
		virq_put(out, &used, "; direct to LPI %s", n[0]);
		if (r->direct_fallbacks) {
			virq_report_format_count(r->direct_fallbacks, n[1]);
			virq_put(out, &used, " (fell back %s)", n[1]);
		}
	}
	if (meta->expectations_total) {
		char expect[64];
		int w = snprintf(expect, sizeof(expect), "expectations: %u/%u met", meta->expectations_met,
				 meta->expectations_total);
		/* Right-aligned with the table when the line leaves room, else after a gap. */
		size_t pad = VIRQ_COL_GAP;
		if (used + VIRQ_COL_GAP + (size_t)w < table_width)
			pad = table_width - used - (size_t)w;
		virq_print_pad(out, pad);
		fputs(expect, out);
	}
	fputc('\n', out);
}

int virq_report_print_table(FILE *out, const struct virq_report_meta *meta, const struct virq_vmm_report *r)
{
	char cells[VIRQ_NCOLS][VIRQ_CELL_MAX];
	const char *headers[VIRQ_NCOLS], *row_cells[VIRQ_NCOLS];
	size_t widths[VIRQ_NCOLS], table_width = VIRQ_COL_GAP * (VIRQ_NCOLS - 1);

	for (size_t c = 0; c < VIRQ_NCOLS; c++) {
		headers[c] = virq_columns[c].header;
		row_cells[c] = cells[c];
		widths[c] = virq_display_width(headers[c]);
		if (widths[c] < virq_columns[c].min_width)
			widths[c] = virq_columns[c].min_width;
	}
	for (unsigned i = 0; i < r->nsources; i++) {
		virq_row_cells(meta, r, &r->sources[i], cells);
		for (size_t c = 0; c < VIRQ_NCOLS; c++) {
			size_t w = virq_display_width(cells[c]);
			if (w > widths[c])
				widths[c] = w;
		}
	}
	for (size_t c = 0; c < VIRQ_NCOLS; c++)
		table_width += widths[c];

	char title[256];
	virq_report_format_title(meta, meta->config ? meta->config->vcpus : r->vcpus, title, sizeof(title));
	fprintf(out, "%s\n", title);
	virq_print_cells(out, widths, headers);
	for (unsigned i = 0; i < r->nsources; i++) {
		virq_row_cells(meta, r, &r->sources[i], cells);
		virq_print_cells(out, widths, row_cells);
	}
	virq_print_balance(out, meta, r, table_width);
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
