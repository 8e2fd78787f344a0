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

struct vm {
	int sys, vm, vcpu;
	struct kvm_run *run;
};

static void vm_open(struct vm *v, unsigned vcpu_id, const char *program)
{
	struct kvm_enable_cap poll_off = { .cap = KVM_CAP_HALT_POLL };
	struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };

	v->sys = virq_open();
	v->vm = virq_ioctl(v->sys, KVM_CREATE_VM, 0);
	assert_true(v->vm >= 0);
	assert_int_equal(virq_ioctl(v->vm, KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(virq_ioctl(v->vm, KVM_ENABLE_CAP, &poll_off), 0);
	v->vcpu = virq_ioctl(v->vm, KVM_CREATE_VCPU, vcpu_id);
	assert_true(v->vcpu >= 0);
	assert_int_equal(virq_ioctl(v->vcpu, KVM_SET_MP_STATE, &runnable), 0);
	assert_int_equal(virq_guest_load(v->vcpu, program), 0);
	v->run = virq_vcpu_run_struct(v->vcpu);
	assert_non_null(v->run);
}

static void vm_close(struct vm *v)
{
	assert_int_equal(virq_close(v->vcpu), 0);
	assert_int_equal(virq_close(v->vm), 0);
	assert_int_equal(virq_close(v->sys), 0);
}

static void run_once(struct vm *v)
{
	assert_int_equal(virq_ioctl(v->vcpu, KVM_RUN, 0), 0);
}

/* Run to the next exit and check it is an MMIO write of @value to @addr. */
static void expect_mmio_write(struct vm *v, uint64_t addr, uint64_t value, uint32_t len)
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

static void signal_msi(struct vm *v, uint32_t apic_id, uint32_t vector)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000u | apic_id << 12, .data = vector };
	assert_int_equal(virq_ioctl(v->vm, KVM_SIGNAL_MSI, &msi), 1);
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
	struct vm v;
	(void)state;

	vm_open(&v, 3, program);
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
	vm_close(&v);
}

static void test_mem_write_reaches_guest_ram_and_unbacked_exits(void **state)
{
	static const char program[] =
		"main:\n"
		"    mem_write 0x100010, 4, 0xcafe\n"
		"    mem_write 0x300000, 2, 0x77   ; no slot: an MMIO exit\n"
		"    mmio_read r1, 0x100010, 4     ; RAM: no exit\n"
		"    mmio_write 0xd0000000, 4, r1\n";
	struct vm v;
	(void)state;

	vm_open(&v, 0, program);
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
	vm_close(&v);
	munmap(ram, 4096);
}

static void test_tpr_holds_a_vector_until_lowered(void **state)
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
		"    mmio_write 0xd0000010, 4, 3\n";
	struct vm v;
	struct virq_vector_counts c;
	(void)state;

	vm_open(&v, 0, program);
	expect_mmio_write(&v, 0xd0000008, 1, 4);
	signal_msi(&v, 0, 0x41);
	expect_mmio_write(&v, 0xd000000c, 2, 4);
	expect_mmio_write(&v, 0xd0000000, 0x41, 4);
	expect_mmio_write(&v, 0xd0000010, 3, 4);
	assert_int_equal(virq_vcpu_vector_counts(virq_vcpu_of_fd(v.vcpu), 0x41, &c), 0);
	assert_int_equal(c.accepted, 1);
	assert_int_equal(c.delivered, 1);
	assert_int_equal(c.handled, 1);
	assert_int_equal(c.eoi, 1);
	vm_close(&v);
}

static void test_vector_without_handler_shuts_down(void **state)
{
	static const char program[] =
		"main:\n"
		"    mmio_write 0xfee000f0, 4, 0x1ff\n"
		"    mmio_write 0xd0000000, 4, 1\n"
		"    sti\n"
		"    hlt\n";
	struct vm v;
	struct virq_vector_counts c;
	(void)state;

	vm_open(&v, 0, program);
	expect_mmio_write(&v, 0xd0000000, 1, 4);
	signal_msi(&v, 0, 0x50);
	run_once(&v);
	assert_int_equal(v.run->exit_reason, KVM_EXIT_SHUTDOWN);
	assert_int_equal(virq_vcpu_vector_counts(virq_vcpu_of_fd(v.vcpu), 0x50, &c), 0);
	assert_int_equal(c.unhandled, 1);
	assert_int_equal(c.handled, 0);
	vm_close(&v);
}

struct delayed_msi {
	struct vm *v;
	unsigned delay_us;
};

static void *send_msi_later(void *arg)
{
	struct delayed_msi *d = arg;
	struct kvm_msi msi = { .address_lo = 0xfee00000u, .data = 0x41 };

	usleep(d->delay_us);
	virq_ioctl(d->v->vm, KVM_SIGNAL_MSI, &msi);
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
	struct vm v;
	struct delayed_msi d = { .v = &v, .delay_us = 20000 };
	pthread_t t;
	(void)state;

	vm_open(&v, 0, program);
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
	vm_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_io_mmio_and_loops_exit_and_complete),
		cmocka_unit_test(test_mem_write_reaches_guest_ram_and_unbacked_exits),
		cmocka_unit_test(test_tpr_holds_a_vector_until_lowered),
		cmocka_unit_test(test_vector_without_handler_shuts_down),
		cmocka_unit_test(test_spin_is_interrupted_and_resumes_its_remaining_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
