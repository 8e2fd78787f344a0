/* SPDX-License-Identifier: MIT */
/*
 * test_vcpu_run.c - what KVM_RUN does with a guest program: port I/O and MMIO exits and their
 * completion, counted loops, LAPIC register reads, guest RAM, TPR blocking, an interruptible spin that
 * resumes after iret, a vector without a handler, and the program's end.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <virq/kvm.h>
#include <virq/vcpu.h>
#include <virq/vm.h>

#include "kvm_fixture.h"

static void run_once(struct fx_guest *v)
{
	assert_int_equal(virq_ioctl(v->vcpu, KVM_RUN, 0), 0);
}

/* Run to the next exit and check it is an MMIO write of @value to @addr. */
static void expect_mmio_write(struct fx_guest *v, uint64_t addr, uint64_t value, uint32_t len)
{
	uint64_t data = 0;

	run_once(v);
	assert_int_equal(v->run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(v->run->mmio.phys_addr, addr);
	assert_true(v->run->mmio.is_write);
	assert_int_equal(v->run->mmio.len, len);
	memcpy(&data, v->run->mmio.data, len);
	assert_int_equal(data, value);
}

static void test_port_io_mmio_and_loops_exit_and_complete(void **state)
{
	static const char program[] =
		"main:\n"
		"    set r1, 3\n"
		"again:\n"
		"    out 0x80, 1, 0x11\n"
		"    loop r1, again\n"
		"    in r2, 0x60, 2\n"
		"    mmio_write 0xd0000000, 4, r2\n"
		"    mmio_read r3, 0xd0000010, 4\n"
		"    mmio_write 0xd0000020, 8, r3\n"
		"    mmio_read r4, 0xfee00020, 4   ; the local APIC's ID register\n"
		"    mmio_write 0xd0000030, 4, r4\n";
	struct fx_guest v;
	(void)state;

	fx_guest_open(&v, 3, true, program);
	for (int i = 0; i < 3; i++) {
		run_once(&v);
		assert_int_equal(v.run->exit_reason, KVM_EXIT_IO);
		assert_int_equal(v.run->io.direction, KVM_EXIT_IO_OUT);
		assert_int_equal(v.run->io.port, 0x80);
		assert_int_equal(v.run->io.size, 1);
		assert_int_equal(v.run->io.count, 1);
		assert_true(v.run->io.data_offset + 1 <= (uint64_t)virq_ioctl(v.sys, KVM_GET_VCPU_MMAP_SIZE, 0));
		assert_int_equal(((uint8_t *)v.run)[v.run->io.data_offset], 0x11);
	}
	run_once(&v);
	assert_int_equal(v.run->exit_reason, KVM_EXIT_IO);
	assert_int_equal(v.run->io.direction, KVM_EXIT_IO_IN);
	assert_int_equal(v.run->io.port, 0x60);
	uint16_t in = 0xbeef;
	memcpy((uint8_t *)v.run + v.run->io.data_offset, &in, sizeof(in));
	expect_mmio_write(&v, 0xd0000000, 0xbeef, 4);

	run_once(&v);
	assert_int_equal(v.run->exit_reason, KVM_EXIT_MMIO);
	assert_false(v.run->mmio.is_write);
	assert_int_equal(v.run->mmio.phys_addr, 0xd0000010);
	uint32_t reply = 0x12345678;
	memcpy(v.run->mmio.data, &reply, sizeof(reply));
	expect_mmio_write(&v, 0xd0000020, 0x12345678, 8);
	expect_mmio_write(&v, 0xd0000030, 3u << 24, 4);

	/* Falling off the end of main shuts the vCPU down, and it stays down. */
	run_once(&v);
	assert_int_equal(v.run->exit_reason, KVM_EXIT_SHUTDOWN);
	run_once(&v);
	assert_int_equal(v.run->exit_reason, KVM_EXIT_SHUTDOWN);
	fx_guest_close(&v);
}

static void test_mem_write_reaches_guest_ram_and_unbacked_exits(void **state)
{
	static const char program[] =
		"main:\n"
		"    mem_write 0x100010, 4, 0xcafe\n"
		"    mem_write 0x300000, 2, 0x77   ; no slot: an MMIO exit\n"
		"    mmio_read r1, 0x100010, 4     ; RAM: no exit\n"
		"    mmio_write 0xd0000000, 4, r1\n";
	struct fx_guest v;
	(void)state;

	fx_guest_open(&v, 0, true, program);
	uint8_t *ram = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ram != MAP_FAILED);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0x100000, .memory_size = 4096, .userspace_addr = (uintptr_t)ram,
	};
	assert_int_equal(virq_ioctl(v.vm, KVM_SET_USER_MEMORY_REGION, &region), 0);
	expect_mmio_write(&v, 0x300000, 0x77, 2);
	uint32_t word;
	memcpy(&word, ram + 0x10, sizeof(word));
	assert_int_equal(word, 0xcafe);
	expect_mmio_write(&v, 0xd0000000, 0xcafe, 4);
	fx_guest_close(&v);
	munmap(ram, 4096);
}

static void test_tpr_holds_a_vector_until_lowered_and_empty_eoi_is_spurious(void **state)
{
	static const char program[] =
		"vector 0x41:\n"
		"    mmio_write 0xd0000000, 4, 0x41\n"
		"    eoi\n"
		"    iret\n"
		"main:\n"
		"    mmio_write 0xfee000f0, 4, 0x1ff\n"
		"    mmio_write 0xfee00080, 4, 0x50   ; TPR class 5 blocks class 4\n"
		"    mmio_write 0xd0000008, 4, 1\n"
		"    sti\n"
		"    mmio_write 0xd000000c, 4, 2\n"
		"    mmio_write 0xfee00080, 4, 0\n"
		"    mmio_write 0xd0000010, 4, 3\n"
		"    eoi                              ; nothing in service: ignored, counted spurious\n"
		"    mmio_write 0xd0000014, 4, 4\n";
	struct fx_guest v;
	struct virq_vector_counts c;
	(void)state;

	fx_guest_open(&v, 0, true, program);
	expect_mmio_write(&v, 0xd0000008, 1, 4);
	assert_int_equal(fx_signal_msi(v.vm, 0, 0x41), 1);
	expect_mmio_write(&v, 0xd000000c, 2, 4);
	expect_mmio_write(&v, 0xd0000000, 0x41, 4);
	expect_mmio_write(&v, 0xd0000010, 3, 4);
	assert_int_equal(virq_vcpu_vector_counts(virq_vcpu_of_fd(v.vcpu), 0x41, &c), 0);
	assert_int_equal(c.accepted, 1);
	assert_int_equal(c.delivered, 1);
	assert_int_equal(c.handled, 1);
	assert_int_equal(c.eoi, 1);
	assert_int_equal(virq_vcpu_spurious_eoi(virq_vcpu_of_fd(v.vcpu)), 0);
	expect_mmio_write(&v, 0xd0000014, 4, 4);
	assert_int_equal(virq_vcpu_spurious_eoi(virq_vcpu_of_fd(v.vcpu)), 1);
	fx_guest_close(&v);
}

static void test_vector_without_handler_shuts_down(void **state)
{
	static const char program[] =
		"main:\n"
		"    mmio_write 0xfee000f0, 4, 0x1ff\n"
		"    mmio_write 0xd0000000, 4, 1\n"
		"    sti\n"
		"    hlt\n";
	struct fx_guest v;
	struct virq_vector_counts c;
	(void)state;

	fx_guest_open(&v, 0, true, program);
	expect_mmio_write(&v, 0xd0000000, 1, 4);
	assert_int_equal(fx_signal_msi(v.vm, 0, 0x50), 1);
	run_once(&v);
	assert_int_equal(v.run->exit_reason, KVM_EXIT_SHUTDOWN);
	assert_int_equal(virq_vcpu_vector_counts(virq_vcpu_of_fd(v.vcpu), 0x50, &c), 0);
	assert_int_equal(c.unhandled, 1);
	assert_int_equal(c.handled, 0);
	fx_guest_close(&v);
}

struct delayed_msi {
	struct fx_guest *v;
	unsigned delay_us;
};

static void *send_msi_later(void *arg)
{
	struct delayed_msi *d = arg;

	usleep(d->delay_us);
	fx_signal_msi(d->v->vm, 0, 0x41);
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_spin_is_interrupted_and_resumes_its_remaining_time(void **state)
{
	static const char program[] =
		"vector 0x41:\n"
		"    mmio_write 0xd0000000, 4, 0x41\n"
		"    eoi\n"
		"    iret\n"
		"main:\n"
		"    mmio_write 0xfee000f0, 4, 0x1ff\n"
		"    sti\n"
		"    spin 200ms\n"
		"    mmio_write 0xd0000004, 4, 1\n";
	struct fx_guest v;
	struct delayed_msi d = { .v = &v, .delay_us = 20000 };
	pthread_t t;
	(void)state;

	fx_guest_open(&v, 0, true, program);
	uint64_t start = now_ns();
	assert_int_equal(pthread_create(&t, NULL, send_msi_later, &d), 0);
	expect_mmio_write(&v, 0xd0000000, 0x41, 4); /* taken in the middle of the spin */
	uint64_t in_handler = now_ns();
	assert_true(in_handler - start < 200000000ull);
	pthread_join(t, NULL);
	/* The VMM holds the vCPU in the handler's exit for 50 ms: that time does not count against the spin. */
	usleep(50000);
	expect_mmio_write(&v, 0xd0000004, 1, 4);
	assert_true(now_ns() - start >= 200000000ull + 50000000ull);
	fx_guest_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_io_mmio_and_loops_exit_and_complete),
		cmocka_unit_test(test_mem_write_reaches_guest_ram_and_unbacked_exits),
		cmocka_unit_test(test_tpr_holds_a_vector_until_lowered_and_empty_eoi_is_spurious),
		cmocka_unit_test(test_vector_without_handler_shuts_down),
		cmocka_unit_test(test_spin_is_interrupted_and_resumes_its_remaining_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
