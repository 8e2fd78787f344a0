/* SPDX-License-Identifier: MIT */
/*
 * test_cli.c - the virq command as a user meets it: every error path prints a message that names the
 * file, the line and what was expected, with the documented exit status; `virq check` fails on an
 * expectation that cannot hold and names it; `--trace` writes Chrome trace-event JSON; `--json` uses the
 * report's column names.
 *
 * VIRQ_BIN is the virq executable and VIRQ_TEST_DATA the folder of this test's scenario files (meson
 * passes both).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

extern char **environ;

struct cli_result {
	int status;     /* exit status */
	char *out, *err;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;

	assert_non_null(f);
	FILE *mem = open_memstream(&text, &len);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, mem);
	fclose(mem);
	fclose(f);
	return text;
}

static const char *data(const char *name)
{
	static char path[4][512];
	static unsigned next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", getenv("VIRQ_TEST_DATA"), name);
	return p;
}

/* Run virq with @args (NULL-terminated), capturing stdout and stderr in temporary files. */
static struct cli_result cli(const char *arg0, ...)
{
	const char *argv[16] = { getenv("VIRQ_BIN"), arg0 };
	char out_path[] = "/tmp/virq-cli-out-XXXXXX", err_path[] = "/tmp/virq-cli-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	posix_spawn_file_actions_t fa;
	struct cli_result r;
	va_list ap;
	pid_t pid;
	int wstatus;
	unsigned n = 2;

	assert_non_null(argv[0]);
	va_start(ap, arg0);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char **)argv, environ), 0);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	posix_spawn_file_actions_destroy(&fa);
	assert_true(WIFEXITED(wstatus));
	r.status = WEXITSTATUS(wstatus);
	r.out = slurp(out_path);
	r.err = slurp(err_path);
	close(out_fd);
	close(err_fd);
	unlink(out_path);
	unlink(err_path);
	return r;
}

static void cli_free(struct cli_result *r)
{
	free(r->out);
	free(r->err);
}

#define assert_contains(haystack, needle)                                                          \
	do {                                                                                       \
		if (!strstr((haystack), (needle)))                                                 \
			fail_msg("expected \"%s\" in:\n%s", (needle), (haystack));                 \
	} while (0)

static void expect_load_error(const char *file, const char *message)
{
	struct cli_result r = cli("run", data(file), NULL);
	assert_int_equal(r.status, 2);
	assert_contains(r.err, message);
	assert_string_equal(r.out, "");
	cli_free(&r);
	r = cli("check", data(file), NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.out, "FAIL");
	assert_contains(r.out, message);
	assert_contains(r.out, "0 passed, 1 failed");
	cli_free(&r);
}

static void test_missing_file(void **state)
{
	expect_load_error("no-such-file.yaml", "no-such-file.yaml");
}

static void test_bad_yaml(void **state)
{
	expect_load_error("bad-yaml.yaml", "bad-yaml.yaml:5:8: YAML syntax error");
	expect_load_error("bad-yaml.yaml", "starts at line 4");
}

static void test_unknown_key(void **state)
{
	expect_load_error("unknown-key.yaml", "unknown-key.yaml:6:");
	expect_load_error("unknown-key.yaml", "traffc");
}

static void test_out_of_range(void **state)
{
	expect_load_error("out-of-range.yaml", "out-of-range.yaml:4:");
	expect_load_error("out-of-range.yaml", "300");
}

static void test_impossible_wiring(void **state)
{
	expect_load_error("bad-wiring.yaml", "bad-wiring.yaml:8:");
	expect_load_error("bad-wiring.yaml", "resample");
}

static void test_usage_errors(void **state)
{
	struct cli_result r = cli("run", "--frobnicate", NULL);
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "unknown option '--frobnicate'");
	cli_free(&r);
	r = cli("check", NULL);
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "no scenario given");
	cli_free(&r);
	r = cli("frobnicate", NULL);
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "unknown command 'frobnicate'");
	cli_free(&r);
	r = cli("run", "--help", NULL);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "examples:");
	cli_free(&r);
}

/* An expectation that cannot hold fails the check, and the message names it with its line and value. */
static void test_unmet_expectation_fails_check(void **state)
{
	struct cli_result r = cli("check", data("unmet.yaml"), data("scripted.yaml"), NULL);
	assert_int_equal(r.status, 1);
	assert_contains(r.out, "FAIL ");
	assert_contains(r.out, "unmet.yaml:");
	assert_contains(r.out, "nic0.vector[0].delivered == 2");
	assert_contains(r.out, "(got 1)");
	assert_contains(r.out, "PASS ");
	assert_contains(r.out, "1 passed, 1 failed");
	cli_free(&r);
}

static void test_json_uses_the_column_names(void **state)
{
	struct cli_result r = cli("run", "--json", data("scripted.yaml"), NULL);
	assert_int_equal(r.status, 0);
	json_object *doc = json_tokener_parse(r.out), *sources, *src, *v;
	assert_non_null(doc);
	assert_true(json_object_object_get_ex(doc, "sources", &sources));
	assert_true(json_object_array_length(sources) >= 1);
	src = json_object_array_get_idx(sources, 0);
	static const char *const keys[] = { "raised", "delivered", "coalesced", "pending", "lost",
					     "p50_ns", "p99_ns", "max_ns" };
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_true(json_object_object_get_ex(src, keys[i], &v));
	json_object_object_get_ex(src, "lost", &v);
	assert_int_equal(json_object_get_int64(v), 0);
	json_object_put(doc);
	cli_free(&r);
}

/* What Perfetto's JSON importer needs: traceEvents, each with name, ph, ts, pid, tid; tracks named. */
static void test_trace_is_chrome_trace_json(void **state)
{
	char path[] = "/tmp/virq-trace-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct cli_result r = cli("run", "--trace", path, data("scripted.yaml"), NULL);
	assert_int_equal(r.status, 0);
	cli_free(&r);
	json_object *doc = json_object_from_file(path), *events, *ev, *v;
	assert_non_null(doc);
	assert_true(json_object_object_get_ex(doc, "traceEvents", &events));
	size_t n = json_object_array_length(events);
	unsigned slices = 0, names = 0, raises = 0;
	for (size_t i = 0; i < n; i++) {
		ev = json_object_array_get_idx(events, i);
		assert_true(json_object_object_get_ex(ev, "name", &v) && json_object_is_type(v, json_type_string));
		assert_true(json_object_object_get_ex(ev, "ph", &v));
		const char *ph = json_object_get_string(v);
		assert_true(json_object_object_get_ex(ev, "pid", &v));
		assert_true(json_object_object_get_ex(ev, "tid", &v));
		if (!strcmp(ph, "M")) {
			names++;
			continue;
		}
		assert_true(json_object_object_get_ex(ev, "ts", &v));
		assert_true(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int));
		if (!strcmp(ph, "X")) {
			assert_true(json_object_object_get_ex(ev, "dur", &v));
			assert_true(json_object_get_double(v) >= 0);
			slices++;
		} else if (!strcmp(ph, "i")) {
			raises++;
		}
	}
	assert_true(names >= 3);  /* two vCPUs and the device */
	assert_true(slices >= 3); /* the scripted file raises three times */
	assert_true(raises >= 3);
	json_object_put(doc);
	unlink(path);
}

/* virq explain: the chain of one source, and a clear error for a source that does not exist. */
static void test_explain(void **state)
{
	struct cli_result r = cli("explain", data("scripted.yaml"), "nic0.vector[1]", NULL);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "nic0.vector[1]  (PCI 00:03.0, MSI-X entry 1)");
	assert_contains(r.out, "(emulated in the engine)");
	assert_contains(r.out, "irqfd        the VFIO trigger is an irqfd on this GSI");
	assert_contains(r.out, "target       vCPU 1, vector 0x31");
	cli_free(&r);
	r = cli("explain", data("scripted.yaml"), "nic7", NULL);
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "no device named 'nic7'");
	cli_free(&r);
}

/*
 * A forwarded INTx line (arm64): explain says forwarded and why, and what the host line did in the
 * file's steps (completed by the guest, re-fired, never unmasked by VFIO); the run's balance line and its
 * JSON carry the same counts.
 */
static void test_forwarded(void **state)
{
	struct cli_result r = cli("explain", data("forwarded.yaml"), "legacy0.intx", NULL);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "pin          INTx A -> SPI 48 (level, hardware-mapped");
	assert_contains(r.out, "mode         forwarded: hardware-mapped SPI 48: the guest's deactivation completes the "
			       "host line directly, no resamplefd round trip");
	assert_contains(r.out, "host line    completed 4 times by the guest (re-fired 2), unmasked by VFIO 0 times");
	assert_contains(r.out, "target       vCPU 0, INTID 48");
	cli_free(&r);
	r = cli("run", data("forwarded.yaml"), NULL);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "legacy0   INTx A  forwarded");
	assert_contains(r.out, "; forwarded lines completed by the guest 4 (re-fired 2), unmasked by VFIO 0");
	cli_free(&r);
	r = cli("run", "--json", data("forwarded.yaml"), NULL);
	assert_int_equal(r.status, 0);
	struct json_object *doc = json_tokener_parse(r.out);
	assert_non_null(doc);
	struct json_object *fwd = NULL;
	assert_true(json_object_object_get_ex(doc, "forwarding", &fwd));
	struct json_object *v = NULL;
	assert_true(json_object_object_get_ex(fwd, "direct_completions", &v));
	assert_int_equal(json_object_get_uint64(v), 4);
	assert_true(json_object_object_get_ex(fwd, "vfio_unmasks", &v));
	assert_int_equal(json_object_get_uint64(v), 0);
	json_object_put(doc);
	cli_free(&r);
}

/*
 * gic v4 (arm64): explain says direct, with the ITS translation, what it means and the counts, and the
 * target follows the guest's MOVI; the run's balance line and its JSON carry the whole run's count of
 * direct injections, which the file's `direct == 3` reads.
 */
static void test_direct(void **state)
{
	struct cli_result r = cli("explain", data("direct.yaml"), "nic0.vector[3]", NULL);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "GSI, route   27: MSI 0x08090040/0x3 with DeviceID 0x18 -> the ITS, EventID 3");
	assert_contains(r.out, "irqfd        the VFIO trigger is an irqfd on this GSI, paired with the VFIO vector (irq "
			       "bypass); 3 messages latched straight into the LPI, 0 handed back to the eventfd; its "
			       "eventfd signalled 0 times so far");
	assert_contains(r.out, "mode         direct: DeviceID 0x18 EventID 3 -> LPI 8195 on vCPU 0 (the device's message "
			       "latches the LPI itself: no eventfd, no engine thread)");
	assert_contains(r.out, "target       vCPU 0, INTID 8195");
	cli_free(&r);
	r = cli("run", data("direct.yaml"), NULL);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "; lost 0; direct to LPI 3");
	cli_free(&r);
	r = cli("run", "--json", data("direct.yaml"), NULL);
	assert_int_equal(r.status, 0);
	struct json_object *doc = json_tokener_parse(r.out);
	assert_non_null(doc);
	struct json_object *direct = NULL, *v = NULL;
	assert_true(json_object_object_get_ex(doc, "direct_lpi", &direct));
	assert_true(json_object_object_get_ex(direct, "injected", &v));
	assert_int_equal(json_object_get_uint64(v), 3);
	assert_true(json_object_object_get_ex(direct, "fallbacks", &v));
	assert_int_equal(json_object_get_uint64(v), 0);
	json_object_put(doc);
	cli_free(&r);
	/* The same VM on a GICv3 host: software, and the engine's reason in words. */
	r = cli("explain", data("direct-off.yaml"), "nic0.vector[3]", NULL);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "irqfd        the VFIO trigger is an irqfd on this GSI, paired with the VFIO vector (irq "
			       "bypass); its eventfd signalled 1 time so far");
	assert_contains(r.out, "mode         software: direct LPI injection off (KVM_CAP_VIRQ_ARM_DIRECT_LPI): a GICv3 "
			       "host, so the host signals the trigger eventfd and the engine's irqfd injects through the "
			       "ITS\n");
	assert_contains(r.out, "target       vCPU 1, INTID 8195");
	cli_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_impossible_wiring),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_unmet_expectation_fails_check),
		cmocka_unit_test(test_json_uses_the_column_names),
		cmocka_unit_test(test_trace_is_chrome_trace_json),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_forwarded),
		cmocka_unit_test(test_direct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
