/* SPDX-License-Identifier: MIT */
/*
 * test_units.c - the strict scalar parsers of scenario files (units.c): every accepted form, the
 * rejected ones (trailing junk, overflow, fractions that do not come out whole), and the message forms.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scenario/internal.h"

static void test_duration(void **state)
{
	static const struct { const char *s; uint64_t ns; } ok[] = {
		{ "0", 0 }, { "3s", 3000000000ull }, { "500ms", 500000000ull }, { "2us", 2000 },
		{ "2\xc2\xb5s", 2000 }, { "250ns", 250 }, { "1.5ms", 1500000 }, { "10min", 600000000000ull },
		{ "0s", 0 },
	};
	static const char *const bad[] = {
		"", "3", "3 s", "3sec", "s", "1.5ns", "ms", "-1s", "1..5s", "99999999999999999999s", "3s ",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t ns = 12345;
		assert_int_equal(virq_parse_duration(ok[i].s, &ns), 0);
		assert_int_equal(ns, ok[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ns;
		assert_int_equal(virq_parse_duration(bad[i], &ns), -EINVAL);
	}
	uint64_t ns;
	assert_int_equal(virq_parse_duration(NULL, &ns), -EINVAL);
}

static void test_rate(void **state)
{
	uint64_t r;
	assert_int_equal(virq_parse_rate("20k/s", &r), 0);
	assert_int_equal(r, 20000);
	assert_int_equal(virq_parse_rate("2000/s", &r), 0);
	assert_int_equal(r, 2000);
	assert_int_equal(virq_parse_rate("1.5M/s", &r), 0);
	assert_int_equal(r, 1500000);
	assert_int_equal(virq_parse_rate("20q/s", &r), -EINVAL);
	assert_int_equal(virq_parse_rate("20k", &r), -EINVAL);
	assert_int_equal(virq_parse_rate("/s", &r), -EINVAL);
}

static void test_count(void **state)
{
	uint64_t v;
	assert_int_equal(virq_parse_count("12", &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(virq_parse_count("0x800", &v), 0);
	assert_int_equal(v, 0x800);
	assert_int_equal(virq_parse_count("0xffffffffffffffff", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(virq_parse_count("20k", &v), 0);
	assert_int_equal(v, 20000);
	assert_int_equal(virq_parse_count("1.5M", &v), 0);
	assert_int_equal(v, 1500000);
	assert_int_equal(virq_parse_count("3G", &v), 0);
	assert_int_equal(v, 3000000000ull);
	static const char *const bad[] = { "", "2x", "0x", "0x1g", "1.5", "-1", "0x10000000000000000", "1 k", "k" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(virq_parse_count(bad[i], &v), -EINVAL);
}

static void test_bool(void **state)
{
	bool b = false;
	assert_int_equal(virq_parse_bool("true", &b), 0);
	assert_true(b);
	assert_int_equal(virq_parse_bool("no", &b), 0);
	assert_false(b);
	assert_int_equal(virq_parse_bool("on", &b), 0);
	assert_true(b);
	assert_int_equal(virq_parse_bool("yesno", &b), -EINVAL);
	assert_int_equal(virq_parse_bool("1", &b), -EINVAL);
}

static void test_pci(void **state)
{
	uint16_t rid;
	assert_int_equal(virq_parse_pci("00:03.0", &rid), 0);
	assert_int_equal(rid, 0x18);
	assert_int_equal(virq_parse_pci("0000:01:1f.7", &rid), 0);
	assert_int_equal(rid, 0x1ff);
	assert_int_equal(virq_parse_pci("ff:00.1", &rid), 0);
	assert_int_equal(rid, 0xff01);
	static const char *const bad[] = { "00:20.0", "00:03.8", "0:03.0", "00:03", "00:03.0x", "zz:00.0", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(virq_parse_pci(bad[i], &rid), -EINVAL);
}

static void test_format_duration(void **state)
{
	static const struct { uint64_t ns; const char *s; } cases[] = {
		{ 0, "0ns" }, { 250, "250ns" }, { 2000, "2us" }, { 6200000, "6.2ms" }, { 3000000000ull, "3s" },
		{ 1250000, "1.3ms" }, { UINT64_MAX, "18446744073s" },
		{ 999960000, "1s" }, { 999960, "1ms" }, { 999940000, "999.9ms" }, /* rounding up a unit */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		virq_format_duration(cases[i].ns, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration), cmocka_unit_test(test_rate), cmocka_unit_test(test_count),
		cmocka_unit_test(test_bool),     cmocka_unit_test(test_pci),  cmocka_unit_test(test_format_duration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
