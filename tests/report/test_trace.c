/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - the trace recorder and the Chrome trace-event writer: events recorded by hand (and from
 * four threads at once, with a write racing them), written to a temporary file, parsed back with json-c
 * and checked against what was recorded. Also in the stress suite, for ThreadSanitizer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "report/report.h"

#define VCPU_TID(v) (100 + (v))
#define DEVICE_TID(d) (1000 + (d))

/* 2 vCPUs; nic0: MSI-X, 4 vectors, irqfd; legacy0: INTx A, resample. */
static struct virq_vmm_config config;
static struct virq_report_meta meta;

static void make_config(void)
{
	memset(&config, 0, sizeof(config));
	config.vcpus = 2;
	config.ndevices = 2;
	snprintf(config.devices[0].name, VIRQ_VMM_NAME_MAX, "nic0");
	config.devices[0].msix_vectors = 4;
	config.devices[0].delivery = VIRQ_VMM_DELIVERY_IRQFD;
	snprintf(config.devices[1].name, VIRQ_VMM_NAME_MAX, "legacy0");
	config.devices[1].intx_pin = 1;
	config.devices[1].delivery = VIRQ_VMM_DELIVERY_RESAMPLE;
	meta = (struct virq_report_meta){ .name = "trace-test", .arch = "x86_64", .config = &config,
					  .run_ns = 1000000000ull };
}

static void record(struct virq_trace *t, enum virq_vmm_event_kind kind, uint64_t ns, unsigned device,
		   unsigned source, int vcpu)
{
	struct virq_vmm_event e = { .kind = kind, .ns = ns, .device = device, .source = source, .vcpu = vcpu };
	virq_trace_record(t, &e);
}

/* ---- Reading a written trace back ---- */

struct trace_file {
	char path[64];
	struct json_object *doc, *events, *other;
};

static struct json_object *get(struct json_object *obj, const char *key, enum json_type type)
{
	struct json_object *value = NULL;
	if (!json_object_object_get_ex(obj, key, &value))
		fail_msg("missing key \"%s\" in %s", key, json_object_to_json_string(obj));
	if (!json_object_is_type(value, type))
		fail_msg("key \"%s\" has type %s in %s", key, json_type_to_name(json_object_get_type(value)),
			 json_object_to_json_string(obj));
	return value;
}

static const char *get_str(struct json_object *obj, const char *key)
{
	return json_object_get_string(get(obj, key, json_type_string));
}

static int64_t get_int(struct json_object *obj, const char *key)
{
	return json_object_get_int64(get(obj, key, json_type_int));
}

/* ts and dur are microseconds with three decimals: read them back as whole nanoseconds. */
static uint64_t get_us_as_ns(struct json_object *obj, const char *key)
{
	struct json_object *value = NULL;
	if (!json_object_object_get_ex(obj, key, &value))
		fail_msg("missing key \"%s\"", key);
	assert_true(json_object_is_type(value, json_type_double) || json_object_is_type(value, json_type_int));
	double us = json_object_get_double(value);
	assert_true(us >= 0);
	return (uint64_t)(us * 1000.0 + 0.5);
}

/*
 * Writes @t, parses the file and checks what every event must have: name, ph, ts, pid 1, tid; ts sorted;
 * X events with a dur >= 0; every tid that carries events named by a thread_name metadata event.
 */
static void write_and_parse(struct virq_trace *t, struct trace_file *tf)
{
	snprintf(tf->path, sizeof(tf->path), "/tmp/virq-trace-test-XXXXXX");
	int fd = mkstemp(tf->path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(virq_trace_write(t, &meta, tf->path), 0);
	tf->doc = json_object_from_file(tf->path);
	if (!tf->doc)
		fail_msg("%s does not parse: %s", tf->path, json_util_get_last_err());
	unlink(tf->path);
	assert_true(json_object_is_type(tf->doc, json_type_object));
	assert_string_equal(get_str(tf->doc, "displayTimeUnit"), "ns");
	tf->events = get(tf->doc, "traceEvents", json_type_array);
	tf->other = get(tf->doc, "otherData", json_type_object);

	bool named[2000] = { false };
	uint64_t last_ts = 0;
	size_t n = json_object_array_length(tf->events);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(tf->events, i);
		assert_true(json_object_is_type(e, json_type_object));
		get_str(e, "name");
		const char *ph = get_str(e, "ph");
		uint64_t ts = get_us_as_ns(e, "ts");
		assert_int_equal(get_int(e, "pid"), 1);
		int64_t tid = get_int(e, "tid");
		assert_true(tid >= 0 && tid < 2000);
		assert_true(ts >= last_ts);
		last_ts = ts;
		if (!strcmp(ph, "M")) {
			if (!strcmp(get_str(e, "name"), "thread_name"))
				named[tid] = true;
			continue;
		}
		assert_true(named[tid]); /* metadata comes first, so a track is named before it is used */
		if (!strcmp(ph, "X"))
			get_us_as_ns(e, "dur");
		else if (!strcmp(ph, "i"))
			assert_string_equal(get_str(e, "s"), "t");
		else
			fail_msg("unexpected phase %s", ph);
	}
}

static size_t count_phase(const struct trace_file *tf, const char *ph)
{
	size_t count = 0;
	for (size_t i = 0; i < json_object_array_length(tf->events); i++)
		count += !strcmp(get_str(json_object_array_get_idx(tf->events, i), "ph"), ph);
	return count;
}

/* The @nth event (0-based) that is not metadata. */
static struct json_object *nth_event(const struct trace_file *tf, size_t nth)
{
	for (size_t i = 0; i < json_object_array_length(tf->events); i++) {
		struct json_object *e = json_object_array_get_idx(tf->events, i);
		if (strcmp(get_str(e, "ph"), "M") != 0 && nth-- == 0)
			return e;
	}
	fail_msg("fewer events than expected");
	return NULL;
}

static const char *track_name(const struct trace_file *tf, int64_t tid)
{
	for (size_t i = 0; i < json_object_array_length(tf->events); i++) {
		struct json_object *e = json_object_array_get_idx(tf->events, i);
		if (!strcmp(get_str(e, "name"), "thread_name") && get_int(e, "tid") == tid)
			return get_str(get(e, "args", json_type_object), "name");
	}
	return NULL;
}

static void check_event(struct json_object *e, const char *name, const char *ph, uint64_t ts_ns, int64_t tid)
{
	assert_string_equal(get_str(e, "name"), name);
	assert_string_equal(get_str(e, "ph"), ph);
	assert_int_equal(get_us_as_ns(e, "ts"), ts_ns);
	assert_int_equal(get_int(e, "tid"), tid);
}

/* ---- Tests ---- */

static void test_trace_events(void **state)
{
	(void)state;
	struct virq_trace *t = virq_trace_create(0);
	struct trace_file tf;
	const uint64_t base = 5000000000ull;

	assert_non_null(t);
	/* Recorded out of order: the writer sorts. */
	record(t, VIRQ_VMM_EVENT_ACK, base + 4750, 0, 2, 1);
	record(t, VIRQ_VMM_EVENT_RAISE, base, 0, 2, -1);
	record(t, VIRQ_VMM_EVENT_HANDLER, base + 2500, 0, 2, 1);
	/* legacy0: a run that EOIs without acking re-fires; the first run gets the fixed length. */
	record(t, VIRQ_VMM_EVENT_HANDLER, base + 3000, 1, 0, 0);
	record(t, VIRQ_VMM_EVENT_HANDLER, base + 8000, 1, 0, 0);
	record(t, VIRQ_VMM_EVENT_ACK, base + 8500, 1, 0, 0);
	record(t, VIRQ_VMM_EVENT_UNMASK, base + 8600, 1, 0, -1);
	record(t, VIRQ_VMM_EVENT_ROUTE, base + 9000, 0, 2, 0);
	/* An ack with no handler before it stays visible as an instant. */
	record(t, VIRQ_VMM_EVENT_ACK, base + 9100, 0, 3, 1);
	/* A run with no ack ends where the next handler on its vCPU starts, so slices nest. */
	record(t, VIRQ_VMM_EVENT_HANDLER, base + 9200, 1, 0, 1);
	record(t, VIRQ_VMM_EVENT_HANDLER, base + 9500, 0, 1, 1);
	assert_int_equal(virq_trace_count(t), 11);
	assert_int_equal(virq_trace_dropped(t), 0);

	write_and_parse(t, &tf);
	/*
	 * process_name + (thread_name, thread_sort_index) x (2 vCPUs + 2 devices), then the 9 events less the
	 * 2 acks that end slices.
	 */
	assert_int_equal(count_phase(&tf, "M"), 9);
	assert_int_equal(json_object_array_length(tf.events), 9 + 9);
	assert_int_equal(count_phase(&tf, "X"), 5);
	assert_int_equal(count_phase(&tf, "i"), 4);
	assert_string_equal(track_name(&tf, VCPU_TID(0)), "vCPU 0");
	assert_string_equal(track_name(&tf, VCPU_TID(1)), "vCPU 1");
	assert_string_equal(track_name(&tf, DEVICE_TID(0)), "nic0");
	assert_string_equal(track_name(&tf, DEVICE_TID(1)), "legacy0");

	struct json_object *e = nth_event(&tf, 0);
	check_event(e, "raise vector 2", "i", 0, DEVICE_TID(0));
	e = nth_event(&tf, 1);
	check_event(e, "nic0 vector 2", "X", 2500, VCPU_TID(1));
	assert_int_equal(get_us_as_ns(e, "dur"), 2250); /* HANDLER -> ACK */
	assert_true(json_object_get_boolean(get(get(e, "args", json_type_object), "acked", json_type_boolean)));
	e = nth_event(&tf, 2);
	check_event(e, "legacy0 INTx A", "X", 3000, VCPU_TID(0));
	assert_int_equal(get_us_as_ns(e, "dur"), 1000);
	assert_false(json_object_get_boolean(get(get(e, "args", json_type_object), "acked", json_type_boolean)));
	e = nth_event(&tf, 3);
	check_event(e, "legacy0 INTx A", "X", 8000, VCPU_TID(0));
	assert_int_equal(get_us_as_ns(e, "dur"), 500);
	check_event(nth_event(&tf, 4), "unmask INTx A", "i", 8600, DEVICE_TID(1));
	e = nth_event(&tf, 5);
	check_event(e, "route vector 2", "i", 9000, DEVICE_TID(0));
	assert_int_equal(get_int(get(e, "args", json_type_object), "vcpu"), 0);
	check_event(nth_event(&tf, 6), "ack nic0 vector 3", "i", 9100, VCPU_TID(1));
	e = nth_event(&tf, 7);
	check_event(e, "legacy0 INTx A", "X", 9200, VCPU_TID(1));
	assert_int_equal(get_us_as_ns(e, "dur"), 300);
	e = nth_event(&tf, 8);
	check_event(e, "nic0 vector 1", "X", 9500, VCPU_TID(1));
	assert_int_equal(get_us_as_ns(e, "dur"), 1000);

	assert_string_equal(get_str(tf.other, "scenario"), "trace-test");
	assert_int_equal(get_int(tf.other, "events_recorded"), 11);
	assert_int_equal(get_int(tf.other, "events_dropped"), 0);
	assert_int_equal(get_int(tf.other, "t0_ns"), (int64_t)base);
	json_object_put(tf.doc);
	virq_trace_destroy(t);
}

static void test_trace_empty_and_unconfigured(void **state)
{
	(void)state;
	struct virq_trace *t = virq_trace_create(10);
	struct trace_file tf;

	write_and_parse(t, &tf);
	assert_int_equal(json_object_array_length(tf.events), 9); /* the tracks, nothing on them */
	json_object_put(tf.doc);

	/* A device and a vCPU the config does not have still get tracks. */
	record(t, VIRQ_VMM_EVENT_HANDLER, 100, 5, 1, 3);
	write_and_parse(t, &tf);
	assert_string_equal(track_name(&tf, VCPU_TID(3)), "vCPU 3");
	assert_string_equal(track_name(&tf, DEVICE_TID(5)), "device 5");
	check_event(nth_event(&tf, 0), "device 5 vector 1", "X", 0, VCPU_TID(3));
	json_object_put(tf.doc);
	virq_trace_destroy(t);
}

static void check_drops(size_t max, size_t recorded)
{
	struct virq_trace *t = virq_trace_create(max);
	struct trace_file tf;

	assert_non_null(t);
	for (size_t i = 0; i < recorded; i++)
		record(t, VIRQ_VMM_EVENT_RAISE, 1000 + i, 0, 0, -1);
	size_t kept = recorded < max ? recorded : max;
	assert_int_equal(virq_trace_count(t), kept);
	assert_int_equal(virq_trace_dropped(t), recorded - kept);
	write_and_parse(t, &tf);
	assert_int_equal(count_phase(&tf, "i"), kept);
	assert_int_equal(get_int(tf.other, "events_recorded"), kept);
	assert_int_equal(get_int(tf.other, "events_dropped"), recorded - kept);
	assert_int_equal(get_int(tf.other, "max_events"), max);
	/* The first events are kept: the timeline starts at the start. */
	assert_int_equal(get_us_as_ns(nth_event(&tf, kept - 1), "ts"), kept - 1);
	json_object_put(tf.doc);
	virq_trace_destroy(t);
}

static void test_trace_drops(void **state)
{
	(void)state;
	check_drops(100, 150);
	check_drops(100, 100);
	check_drops(16384 + 10, 20000); /* past a chunk boundary, the last chunk cut short */
}

static void test_trace_write_error(void **state)
{
	(void)state;
	struct virq_trace *t = virq_trace_create(10);

	record(t, VIRQ_VMM_EVENT_RAISE, 1, 0, 0, -1);
	assert_int_equal(virq_trace_write(t, &meta, "/nonexistent-dir/trace.json"), -ENOENT);
	virq_trace_destroy(t);
}

/* ---- Four threads at once, with a write racing them ---- */

#define THREADS 4
#define RUNS_PER_THREAD 10000
#define HANDLER_NS 7

struct recorder {
	struct virq_trace *trace;
	pthread_t thread;
	unsigned id;
};

/* Thread @id plays vCPU @id handling nic0 vector @id: handler at 1000 * k + id, ack HANDLER_NS later. */
static void *recorder_main(void *arg)
{
	struct recorder *r = arg;

	for (uint64_t k = 0; k < RUNS_PER_THREAD; k++) {
		uint64_t ns = 1000000 + 1000 * k + r->id;
		record(r->trace, VIRQ_VMM_EVENT_HANDLER, ns, 0, r->id, (int)r->id);
		record(r->trace, VIRQ_VMM_EVENT_ACK, ns + HANDLER_NS, 0, r->id, (int)r->id);
	}
	return NULL;
}

static void test_trace_concurrent(void **state)
{
	(void)state;
	struct virq_trace *t = virq_trace_create(0);
	struct recorder recorders[THREADS];
	struct trace_file tf;

	config.vcpus = THREADS;
	for (unsigned i = 0; i < THREADS; i++) {
		recorders[i] = (struct recorder){ .trace = t, .id = i };
		assert_int_equal(pthread_create(&recorders[i].thread, NULL, recorder_main, &recorders[i]), 0);
	}
	/* A write while recording goes on sees a consistent part of it. */
	write_and_parse(t, &tf);
	size_t partial = count_phase(&tf, "X");
	assert_true(partial <= THREADS * RUNS_PER_THREAD);
	json_object_put(tf.doc);
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(recorders[i].thread, NULL), 0);

	assert_int_equal(virq_trace_count(t), THREADS * RUNS_PER_THREAD * 2);
	assert_int_equal(virq_trace_dropped(t), 0);
	write_and_parse(t, &tf);
	assert_int_equal(count_phase(&tf, "M"), 1 + 2 * (THREADS + 2));
	assert_int_equal(count_phase(&tf, "X"), THREADS * RUNS_PER_THREAD);
	assert_int_equal(count_phase(&tf, "i"), 0); /* every ack ended its handler's slice */
	assert_int_equal(get_int(tf.other, "events_recorded"), THREADS * RUNS_PER_THREAD * 2);

	/* Every slice is where its thread put it: ts from HANDLER, dur to its ACK, on that vCPU's track. */
	uint64_t seen[THREADS] = { 0 };
	for (size_t i = 0; i < json_object_array_length(tf.events); i++) {
		struct json_object *e = json_object_array_get_idx(tf.events, i);
		if (strcmp(get_str(e, "ph"), "X") != 0)
			continue;
		int64_t vcpu = get_int(e, "tid") - VCPU_TID(0);
		assert_true(vcpu >= 0 && vcpu < THREADS);
		char name[48];
		snprintf(name, sizeof(name), "nic0 vector %" PRId64, vcpu);
		assert_string_equal(get_str(e, "name"), name);
		assert_int_equal(get_us_as_ns(e, "ts"), 1000 * seen[vcpu] + (uint64_t)vcpu);
		assert_int_equal(get_us_as_ns(e, "dur"), HANDLER_NS);
		seen[vcpu]++;
	}
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(seen[i], RUNS_PER_THREAD);
	json_object_put(tf.doc);
	virq_trace_destroy(t);
	make_config();
}

static int setup(void **state)
{
	(void)state;
	make_config();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_trace_events, setup),
		cmocka_unit_test_setup(test_trace_empty_and_unconfigured, setup),
		cmocka_unit_test_setup(test_trace_drops, setup),
		cmocka_unit_test_setup(test_trace_write_error, setup),
		cmocka_unit_test_setup(test_trace_concurrent, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
