/* SPDX-License-Identifier: MIT */
/*
 * test_traffic.c - the device thread's patterns produce about the right number of raises over a short
 * window (loose bounds: the machine has two cores and sanitizers slow it down), round-robin over the
 * chosen causes, stop promptly, and refuse bad descriptions.
 */
#include "host_test.h"

#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t total_raised(struct virq_pci_function *fn, unsigned causes)
{
	uint64_t n = 0;
	for (unsigned k = 0; k < causes; k++)
		n += host_stats(fn, k).raised;
	return n;
}

/* Run @t for 100 ms; returns the raises. Stop must be prompt. */
static uint64_t run(const struct virq_traffic *t, struct virq_pci_function *fn)
{
	assert_int_equal(virq_pci_function_traffic_start(fn, t), 0);
	assert_int_equal(virq_pci_function_traffic_start(fn, t), -EBUSY);
	usleep(100000);
	uint64_t t0 = now_ns();
	virq_pci_function_traffic_stop(fn);
	assert_true(now_ns() - t0 < 200000000ull);
	virq_pci_function_traffic_stop(fn); /* no-op */
	return total_raised(fn, 8);
}

static void test_patterns(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	const struct virq_traffic ts[] = {
		{.pattern = VIRQ_TRAFFIC_FIXED, .rate = 10000},
		{.pattern = VIRQ_TRAFFIC_POISSON, .rate = 10000, .seed = 42},
		{.pattern = VIRQ_TRAFFIC_BURST, .rate = 10000, .burst = 16},
	};
	for (unsigned i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		struct virq_pci_function *fn = host_test_fn(&d);
		uint64_t n = run(&ts[i], fn);
		print_message("pattern %u: %llu raises in 100 ms at 10k/s\n", i, (unsigned long long)n);
		assert_in_range(n, 300, 3000);
		/* Round-robin: every cause got a share. */
		for (unsigned k = 0; k < 8; k++)
			assert_true(host_stats(fn, k).raised >= n / 8 - 1);
		virq_pci_function_destroy(fn);
	}
}

static void test_storm_and_mask(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *fn = host_test_fn(&d);
	struct virq_traffic t = {.pattern = VIRQ_TRAFFIC_STORM, .causes_mask = 0x24};

	uint64_t n = run(&t, fn);
	print_message("storm: %llu raises in 100 ms\n", (unsigned long long)n);
	assert_true(n > 3000);
	assert_int_equal(host_stats(fn, 0).raised, 0);
	assert_true(host_stats(fn, 2).raised > 0);
	assert_true(host_stats(fn, 5).raised > 0);
	virq_pci_function_destroy(fn);
}

static void test_poisson_is_seeded(void **state)
{
	(void)state;
	/* A slow Poisson stream gives about the right count whatever the seed. */
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *a = host_test_fn(&d), *b = host_test_fn(&d);
	struct virq_traffic t = {.pattern = VIRQ_TRAFFIC_POISSON, .rate = 500, .seed = 1};
	uint64_t na = run(&t, a);
	assert_in_range(na, 10, 200);
	virq_pci_function_destroy(a);
	t.seed = 2;
	uint64_t nb = run(&t, b);
	assert_in_range(nb, 10, 200);
	virq_pci_function_destroy(b);
}

static void test_bad_traffic(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *fn = host_test_fn(&d);
	struct virq_traffic t = {.pattern = VIRQ_TRAFFIC_FIXED, .rate = 0};
	assert_int_equal(virq_pci_function_traffic_start(fn, &t), -EINVAL);
	t = (struct virq_traffic){.pattern = VIRQ_TRAFFIC_BURST, .rate = 100, .burst = 0};
	assert_int_equal(virq_pci_function_traffic_start(fn, &t), -EINVAL);
	t = (struct virq_traffic){.pattern = VIRQ_TRAFFIC_FIXED, .rate = 100, .causes_mask = 1u << 8};
	assert_int_equal(virq_pci_function_traffic_start(fn, &t), -EINVAL);
	t = (struct virq_traffic){.pattern = (enum virq_traffic_pattern)9, .rate = 100};
	assert_int_equal(virq_pci_function_traffic_start(fn, &t), -EINVAL);
	assert_int_equal(virq_pci_function_traffic_start(fn, NULL), -EINVAL);
	/* Destroy stops running traffic. */
	t = (struct virq_traffic){.pattern = VIRQ_TRAFFIC_FIXED, .rate = 1000};
	assert_int_equal(virq_pci_function_traffic_start(fn, &t), 0);
	assert_int_equal(virq_pci_function_destroy(fn), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_storm_and_mask),
		cmocka_unit_test(test_poisson_is_seeded),
		cmocka_unit_test(test_bad_traffic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
