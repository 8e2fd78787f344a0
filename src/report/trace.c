/* SPDX-License-Identifier: MIT */
/*
 * trace.c - the --trace timeline: a recorder the VMM calls for every interrupt event, and a writer that
 * turns the recording into Chrome trace-event JSON, the legacy format Perfetto's JSON importer opens.
 *
 * Recording happens on vCPU threads, device traffic threads and the VMM's watcher at once, in the middle
 * of interrupt delivery, so it must not take locks, do I/O or let memory grow without bound:
 *   - a slot is claimed with one atomic increment of a counter; claims past max_events are drops, and the
 *     counter says how many;
 *   - slots live in fixed-size chunks allocated on first use (calloc, so the pages cost nothing until
 *     written); threads that race to allocate a chunk compare-and-swap it in and the loser frees its copy;
 *   - a slot's ready flag is set with release order after the event is copied in, so the writer (acquire)
 *     reads only complete events, even while recording goes on.
 * The writer sorts by time and pairs each handler start with the ack of the same source on the same vCPU
 * to make a slice. Output is streamed with stdio rather than built as a json-c tree: a million events as
 * json-c objects would take around a gigabyte.
 */
#include "report/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define VIRQ_TRACE_CHUNK 16384           /* slots per chunk: ~640 KiB */
#define VIRQ_TRACE_UNACKED_DUR_NS 1000   /* a handler run with no ack is drawn 1 µs long */
/* The VM is one process; its tracks' tids stay clear of the pid, which Perfetto takes as the main thread. */
#define VIRQ_TRACE_PID 1
#define VIRQ_TRACE_VCPU_TID(v) (100 + (v))
#define VIRQ_TRACE_DEVICE_TID(d) (1000 + (d))

struct virq_trace_slot {
	struct virq_vmm_event event;
	atomic_bool ready;
};

struct virq_trace {
	size_t max_events, nchunks;
	atomic_size_t next;               /* slots claimed; runs past max_events by the number dropped */
	atomic_uint_fast64_t alloc_failed; /* claimed slots whose chunk could not be allocated */
	_Atomic(struct virq_trace_slot *) chunks[];
};

struct virq_trace *virq_trace_create(size_t max_events)
{
	if (!max_events)
		max_events = VIRQ_TRACE_DEFAULT_MAX;
	size_t nchunks = (max_events + VIRQ_TRACE_CHUNK - 1) / VIRQ_TRACE_CHUNK;
	struct virq_trace *t = calloc(1, sizeof(*t) + nchunks * sizeof(t->chunks[0]));

	if (!t)
		return NULL;
	t->max_events = max_events;
	t->nchunks = nchunks;
	atomic_init(&t->next, 0);
	atomic_init(&t->alloc_failed, 0);
	for (size_t c = 0; c < nchunks; c++)
		atomic_init(&t->chunks[c], NULL);
	return t;
}

void virq_trace_destroy(struct virq_trace *t)
{
	if (!t)
		return;
	for (size_t c = 0; c < t->nchunks; c++)
		free(atomic_load_explicit(&t->chunks[c], memory_order_relaxed));
	free(t);
}

static size_t virq_chunk_slots(const struct virq_trace *t, size_t c)
{
	size_t left = t->max_events - c * VIRQ_TRACE_CHUNK;

	return left < VIRQ_TRACE_CHUNK ? left : VIRQ_TRACE_CHUNK;
}

static struct virq_trace_slot *virq_chunk_get(struct virq_trace *t, size_t c)
{
	struct virq_trace_slot *chunk = atomic_load_explicit(&t->chunks[c], memory_order_acquire);

	if (chunk)
		return chunk;
	struct virq_trace_slot *fresh = calloc(virq_chunk_slots(t, c), sizeof(*fresh));
	if (!fresh)
		return NULL;
	if (atomic_compare_exchange_strong_explicit(&t->chunks[c], &chunk, fresh, memory_order_acq_rel,
						    memory_order_acquire))
		return fresh;
	free(fresh); /* another thread installed the chunk first: @chunk holds it now */
	return chunk;
}

void virq_trace_record(void *trace, const struct virq_vmm_event *event)
{
	struct virq_trace *t = trace;
	size_t i = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);

	if (i >= t->max_events)
		return;
	struct virq_trace_slot *chunk = virq_chunk_get(t, i / VIRQ_TRACE_CHUNK);
	if (!chunk) {
		atomic_fetch_add_explicit(&t->alloc_failed, 1, memory_order_relaxed);
		return;
	}
	struct virq_trace_slot *slot = &chunk[i % VIRQ_TRACE_CHUNK];
	slot->event = *event;
	atomic_store_explicit(&slot->ready, true, memory_order_release);
}

static size_t virq_claimed(const struct virq_trace *t)
{
	size_t next = atomic_load_explicit(&t->next, memory_order_relaxed);

	return next < t->max_events ? next : t->max_events;
}

uint64_t virq_trace_dropped(const struct virq_trace *t)
{
	size_t next = atomic_load_explicit(&t->next, memory_order_relaxed);

	return (next > t->max_events ? next - t->max_events : 0) +
	       atomic_load_explicit(&t->alloc_failed, memory_order_relaxed);
}

size_t virq_trace_count(const struct virq_trace *t)
{
	return virq_claimed(t) - atomic_load_explicit(&t->alloc_failed, memory_order_relaxed);
}

/* ---- Writing ---- */

/* A recorded event as the writer sees it: its order of recording breaks ties in time. */
struct virq_trace_item {
	struct virq_vmm_event event;
	size_t seq;
	uint64_t dur_ns; /* HANDLER: length of the slice */
	bool acked;      /* HANDLER: an ACK ended it; ACK: it ended a HANDLER (drawn as part of that slice) */
};

static int virq_item_cmp(const void *a, const void *b)
{
	const struct virq_trace_item *x = a, *y = b;

	if (x->event.ns != y->event.ns)
		return x->event.ns < y->event.ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Copy out every complete event, sorted by time. */
static struct virq_trace_item *virq_trace_snapshot(struct virq_trace *t, size_t *count)
{
	size_t claimed = virq_claimed(t), n = 0;
	struct virq_trace_item *items = malloc((claimed ? claimed : 1) * sizeof(*items));

	if (!items)
		return NULL;
	for (size_t c = 0; c * VIRQ_TRACE_CHUNK < claimed; c++) {
		struct virq_trace_slot *chunk = atomic_load_explicit(&t->chunks[c], memory_order_acquire);
		size_t slots = virq_chunk_slots(t, c);
		for (size_t s = 0; chunk && s < slots && c * VIRQ_TRACE_CHUNK + s < claimed; s++) {
			if (!atomic_load_explicit(&chunk[s].ready, memory_order_acquire))
				continue;
			items[n] = (struct virq_trace_item){ .event = chunk[s].event, .seq = c * VIRQ_TRACE_CHUNK + s };
			n++;
		}
	}
	qsort(items, n, sizeof(*items), virq_item_cmp);
	*count = n;
	return items;
}

/*
 * Pair each HANDLER with the next ACK of the same device source on the same vCPU. A HANDLER that meets
 * another HANDLER of its source first (a driver that EOIs without acking, so the interrupt re-fires) or
 * the end of the trace keeps a fixed short length. Handlers of different sources can nest (a higher
 * vector interrupts a lower one's handler), hence one open slot per (vCPU, device, source).
 */
#define VIRQ_NO_ITEM SIZE_MAX
static size_t virq_pair_key(const struct virq_vmm_event *e)
{
	if (e->vcpu < 0 || e->vcpu >= VIRQ_VMM_MAX_VCPUS || e->device >= VIRQ_VMM_MAX_DEVICES ||
	    e->source >= VIRQ_VMM_MAX_VECTORS)
		return VIRQ_NO_ITEM;
	return ((size_t)e->vcpu * VIRQ_VMM_MAX_DEVICES + e->device) * VIRQ_VMM_MAX_VECTORS + e->source;
}

static int virq_pair_handlers(struct virq_trace_item *items, size_t n)
{
	size_t nkeys = (size_t)VIRQ_VMM_MAX_VCPUS * VIRQ_VMM_MAX_DEVICES * VIRQ_VMM_MAX_VECTORS;
	size_t *open = malloc(nkeys * sizeof(*open));

	if (!open)
		return -ENOMEM;
	for (size_t k = 0; k < nkeys; k++)
		open[k] = VIRQ_NO_ITEM;
	for (size_t i = 0; i < n; i++) {
		struct virq_trace_item *it = &items[i];
		size_t key = virq_pair_key(&it->event);
		if (it->event.kind == VIRQ_VMM_EVENT_HANDLER) {
			it->dur_ns = VIRQ_TRACE_UNACKED_DUR_NS;
			if (key != VIRQ_NO_ITEM)
				open[key] = i;
		} else if (it->event.kind == VIRQ_VMM_EVENT_ACK && key != VIRQ_NO_ITEM && open[key] != VIRQ_NO_ITEM) {
			struct virq_trace_item *h = &items[open[key]];
			h->dur_ns = it->event.ns - h->event.ns;
			h->acked = it->acked = true;
			open[key] = VIRQ_NO_ITEM;
		}
	}
	free(open);

	/*
	 * Slices on a track must nest for the viewer: a run with no ack ends, at the latest, where the next
	 * handler on its vCPU starts.
	 */
	uint64_t next_start[VIRQ_VMM_MAX_VCPUS];
	for (size_t v = 0; v < VIRQ_VMM_MAX_VCPUS; v++)
		next_start[v] = UINT64_MAX;
	for (size_t i = n; i-- > 0;) {
		struct virq_trace_item *it = &items[i];
		int v = it->event.vcpu;
		if (it->event.kind != VIRQ_VMM_EVENT_HANDLER || v < 0 || v >= VIRQ_VMM_MAX_VCPUS)
			continue;
		if (!it->acked && next_start[v] - it->event.ns < it->dur_ns)
			it->dur_ns = next_start[v] - it->event.ns;
		next_start[v] = it->event.ns;
	}
	return 0;
}

/* Writes JSON strings and keeps the commas between array elements. */
struct virq_trace_out {
	FILE *f;
	const struct virq_report_meta *meta;
	uint64_t t0;
	bool first;
};

static void virq_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Microseconds with three decimals: exact to the nanosecond, as the Chrome format's fractional ts. */
static void virq_json_us(FILE *f, uint64_t ns)
{
	fprintf(f, "%" PRIu64 ".%03" PRIu64, ns / 1000, ns % 1000);
}

/* Starts one event object: {"name": ..., "ph": ..., "ts": ..., "pid": 1, "tid": ... (caller closes it). */
static void virq_event_begin(struct virq_trace_out *o, const char *name, const char *ph, uint64_t ns, int tid)
{
	fputs(o->first ? "\n" : ",\n", o->f);
	o->first = false;
	fputs("{\"name\": ", o->f);
	virq_json_string(o->f, name);
	fprintf(o->f, ", \"ph\": \"%s\", \"ts\": ", ph);
	virq_json_us(o->f, ns);
	fprintf(o->f, ", \"pid\": %d, \"tid\": %d", VIRQ_TRACE_PID, tid);
}

static void virq_metadata(struct virq_trace_out *o, const char *what, int tid, const char *name, int sort)
{
	virq_event_begin(o, what, "M", 0, tid);
	fputs(", \"args\": {", o->f);
	if (name) {
		fputs("\"name\": ", o->f);
		virq_json_string(o->f, name);
	} else {
		fprintf(o->f, "\"sort_index\": %d", sort);
	}
	fputs("}}", o->f);
}

static void virq_track(struct virq_trace_out *o, int tid, const char *name, int sort)
{
	virq_metadata(o, "thread_name", tid, name, 0);
	virq_metadata(o, "thread_sort_index", tid, NULL, sort);
}

/* "vector 2" or "INTx A". */
static void virq_source_label(const struct virq_trace_out *o, const struct virq_vmm_event *e, char *buf,
			      size_t len)
{
	if (virq_report_device_intx(o->meta, e->device))
		snprintf(buf, len, "INTx %c", virq_report_intx_pin(o->meta, e->device));
	else
		snprintf(buf, len, "vector %u", e->source);
}

static void virq_instant(struct virq_trace_out *o, const char *cat, const char *name, uint64_t ns, int tid)
{
	virq_event_begin(o, name, "i", ns - o->t0, tid);
	fprintf(o->f, ", \"s\": \"t\", \"cat\": \"%s\"", cat);
}

static void virq_write_item(struct virq_trace_out *o, const struct virq_trace_item *it)
{
	const struct virq_vmm_event *e = &it->event;
	char dev_buf[32], source[32], name[96];
	const char *dev = virq_report_device_name(o->meta, e->device, dev_buf, sizeof(dev_buf));
	int dev_tid = VIRQ_TRACE_DEVICE_TID((int)e->device);
	/* An event that names no vCPU (none should, of these kinds) stays on its device's track. */
	int vcpu_tid = e->vcpu >= 0 ? VIRQ_TRACE_VCPU_TID(e->vcpu) : dev_tid;

	virq_source_label(o, e, source, sizeof(source));
	switch (e->kind) {
	case VIRQ_VMM_EVENT_RAISE:
		snprintf(name, sizeof(name), "raise %s", source);
		virq_instant(o, "raise", name, e->ns, dev_tid);
		break;
	case VIRQ_VMM_EVENT_HANDLER:
		snprintf(name, sizeof(name), "%s %s", dev, source);
		virq_event_begin(o, name, "X", e->ns - o->t0, vcpu_tid);
		fputs(", \"dur\": ", o->f);
		virq_json_us(o->f, it->dur_ns);
		fprintf(o->f, ", \"cat\": \"handler\", \"args\": {\"acked\": %s}", it->acked ? "true" : "false");
		break;
	case VIRQ_VMM_EVENT_ACK:
		if (it->acked)
			return; /* the end of its handler's slice */
		snprintf(name, sizeof(name), "ack %s %s", dev, source);
		virq_instant(o, "ack", name, e->ns, vcpu_tid);
		break;
	case VIRQ_VMM_EVENT_UNMASK:
		snprintf(name, sizeof(name), "unmask %s", source);
		virq_instant(o, "resample", name, e->ns, dev_tid);
		break;
	case VIRQ_VMM_EVENT_ROUTE:
		snprintf(name, sizeof(name), "route %s", source);
		virq_instant(o, "route", name, e->ns, dev_tid);
		if (e->vcpu >= 0)
			fprintf(o->f, ", \"args\": {\"vcpu\": %d}", e->vcpu);
		break;
	default:
		snprintf(name, sizeof(name), "event %d %s", (int)e->kind, source);
		virq_instant(o, "other", name, e->ns, dev_tid);
		break;
	}
	fputc('}', o->f);
}

static void virq_write_doc(struct virq_trace_out *o, struct virq_trace *t, const struct virq_trace_item *items,
			   size_t n)
{
	const struct virq_report_meta *meta = o->meta;
	unsigned vcpus = meta && meta->config ? meta->config->vcpus : 0;
	unsigned devices = meta && meta->config ? meta->config->ndevices : 0;
	char name[96];

	/* Tracks for everything configured, and for anything the events name beyond it. */
	for (size_t i = 0; i < n; i++) {
		if (items[i].event.vcpu >= 0 && (unsigned)items[i].event.vcpu >= vcpus)
			vcpus = (unsigned)items[i].event.vcpu + 1;
		if (items[i].event.device >= devices)
			devices = items[i].event.device + 1;
	}

	fputs("{\"displayTimeUnit\": \"ns\", \"traceEvents\": [", o->f);
	snprintf(name, sizeof(name), "VM %s", meta && meta->name ? meta->name : "");
	virq_metadata(o, "process_name", 0, name, 0);
	for (unsigned v = 0; v < vcpus; v++) {
		snprintf(name, sizeof(name), "vCPU %u", v);
		virq_track(o, VIRQ_TRACE_VCPU_TID((int)v), name, (int)v);
	}
	for (unsigned d = 0; d < devices; d++)
		virq_track(o, VIRQ_TRACE_DEVICE_TID((int)d), virq_report_device_name(meta, d, name, sizeof(name)),
			   VIRQ_TRACE_DEVICE_TID((int)d));
	for (size_t i = 0; i < n; i++)
		virq_write_item(o, &items[i]);

	fputs("\n],\n\"otherData\": {\"scenario\": ", o->f);
	virq_json_string(o->f, meta && meta->name ? meta->name : "");
	fputs(", \"arch\": ", o->f);
	virq_json_string(o->f, meta && meta->arch ? meta->arch : "");
	fprintf(o->f,
		", \"t0_ns\": %" PRIu64 ", \"events_recorded\": %zu, \"events_dropped\": %" PRIu64
		", \"max_events\": %zu}}\n",
		o->t0, n, virq_trace_dropped(t), t->max_events);
}

int virq_trace_write(struct virq_trace *t, const struct virq_report_meta *meta, const char *path)
{
	size_t n;
	struct virq_trace_item *items = virq_trace_snapshot(t, &n);
	int ret;

	if (!items)
		return -ENOMEM;
	ret = virq_pair_handlers(items, n);
	if (ret) {
		free(items);
		return ret;
	}
	FILE *f = fopen(path, "w");
	if (!f) {
		ret = -errno;
		free(items);
		return ret;
	}
	struct virq_trace_out o = { .f = f, .meta = meta, .t0 = n ? items[0].event.ns : 0, .first = true };
	virq_write_doc(&o, t, items, n);
	free(items);
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	if (ret)
		unlink(path); /* no half-written timeline for a viewer to choke on */
	return ret;
}
