/* SPDX-License-Identifier: MIT */
/*
 * test_halt_poll.c - KVM's adaptive halt polling, per VM (KVM_CAP_HALT_POLL): the budget grows from 0
 * to 10 µs and doubles while halts end within the VM's maximum, an interrupt that arrives within the
 * budget ends the halt while polling, a halt longer than the maximum drops the budget to 0, and a
 * maximum of 0 turns polling off.
 */
#include <pthread.h>

#include <virq/vcpu.h>
#include <virq/vm.h>

#include "kvm_fixture.h"

static const char guest[] =
	"vector 0x41:\n"
	"    mmio_write 0xd0000000, 4, 0x41\n"
	"    eoi\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"
	"    sti\n"
	"    mmio_write 0xd0000000, 4, 1       ; ready: the APIC accepts interrupts\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

struct late_msi {
	int vm;
	unsigned delay_us;
};

static void *send_msi_later(void *arg)
{
	struct late_msi *m = arg;
	usleep(m->delay_us);
	fx_signal_msi(m->vm, 0, 0x41);
	return NULL;
}

/* One halt of the guest ended by an MSI sent @delay_us after KVM_RUN starts. */
static void halt_once(struct fx_guest *g, unsigned delay_us)
{
	struct late_msi m = { .vm = g->vm, .delay_us = delay_us };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, send_msi_later, &m), 0);
	assert_int_equal(fx_run_to_report(g->vcpu), 0x41);
	pthread_join(t, NULL);
}

static void set_max(struct fx_guest *g, uint64_t ns)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL, .args = { ns } };
	assert_int_equal(virq_ioctl(g->vm, KVM_ENABLE_CAP, &cap), 0);
}

static struct virq_halt_counts halt_counts(struct fx_guest *g)
{
	struct virq_halt_counts c;
	assert_int_equal(virq_vcpu_halt_counts(virq_vcpu_of_fd(g->vcpu), &c), 0);
	return c;
}

static void test_budget_grows_polls_and_shrinks(void **state)
{
	struct fx_guest g;
	struct virq_halt_counts c;
	(void)state;

	fx_guest_open(&g, 0, true, guest);
	assert_int_equal(fx_run_to_report(g.vcpu), 1);
	set_max(&g, 1000000000ull); /* 1 s */
	halt_once(&g, 1000);
	c = halt_counts(&g);
	assert_int_equal(c.poll_ns, 10000); /* KVM's grow start: 10 µs */
	assert_int_equal(c.poll_success, 0);

	/* The budget doubles each time until it covers the 1 ms wait: the halt then ends while polling. */
	for (int i = 0; i < 20 && halt_counts(&g).poll_success == 0; i++)
		halt_once(&g, 1000);
	c = halt_counts(&g);
	assert_true(c.poll_success >= 1);
	assert_true(c.poll_ns >= 1000000);
	assert_true(c.poll_fail >= 1);

	/* A halt longer than the maximum: the budget drops to 0 (KVM's default shrink). */
	set_max(&g, 2000000); /* 2 ms */
	halt_once(&g, 20000);
	assert_int_equal(halt_counts(&g).poll_ns, 0);
	fx_guest_close(&g);
}

static void test_zero_maximum_turns_polling_off(void **state)
{
	struct fx_guest g;
	(void)state;

	fx_guest_open(&g, 0, true, guest); /* opened with KVM_CAP_HALT_POLL 0 */
	assert_int_equal(fx_run_to_report(g.vcpu), 1);
	for (int i = 0; i < 3; i++)
		halt_once(&g, 500);
	struct virq_halt_counts c = halt_counts(&g);
	assert_int_equal(c.poll_ns, 0);
	assert_int_equal(c.poll_success + c.poll_fail, 0);
	assert_true(c.sleeps >= 1);
	fx_guest_close(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_grows_polls_and_shrinks),
		cmocka_unit_test(test_zero_maximum_turns_polling_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
