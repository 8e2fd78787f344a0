/* SPDX-License-Identifier: MIT */
/*
 * test_errors.c - every way a scenario file can be wrong, each with its exact message and position:
 * YAML syntax, unknown keys, wrong shapes, bad units, out-of-range values, impossible wiring, bad steps
 * and bad expectations. Table-driven: a file body and the one message it must produce.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scenario/scenario.h"

/* Lines 1-9 of most cases: an MSI-X NIC and an INTx device on a 2-vCPU VM. */
#define HEAD                      \
	"name: t\n"               \
	"vm: { vcpus: 2 }\n"      \
	"devices:\n"              \
	"  - name: nic0\n"        \
	"    pci: 00:03.0\n"      \
	"    msix: { vectors: 4 }\n" \
	"  - name: legacy0\n"     \
	"    pci: 00:04.0\n"      \
	"    intx: { pin: A }\n"
/* A device list that ends with nic0 (lines 1-6), to add keys to nic0 from line 7. */
#define NIC                       \
	"name: t\n"               \
	"vm: { vcpus: 2 }\n"      \
	"devices:\n"              \
	"  - name: nic0\n"        \
	"    pci: 00:03.0\n"      \
	"    msix: { vectors: 4 }\n"

/* One forwarded INTx device (lines 3-4), for arm64 cases. */
#define FWD "devices:\n  - { name: l0, pci: 00:04.0, intx: { pin: A }, delivery: forwarded }\n"

/* One MSI-X device delivering through irqfds (line 3), for gic v4 cases. */
#define DIRECT_NIC "devices: [ { name: n, pci: 00:03.0, msix: { vectors: 2 } } ]\n"

/* What a file needs besides vm, for cases about vm. */
#define ONE_DEVICE "devices: [ { name: n, pci: 00:01.0, intx: { pin: A } } ]\nrun: 1s\n"

struct error_case {
	const char *what;
	const char *text;
	const char *message;
};

static const struct error_case cases[] = {
	/* YAML itself */
	{ "syntax", HEAD "run: 1s\n  b: [\n", "t.yaml:11:4: YAML syntax error: mapping values are not allowed in this context" },
	{ "unclosed flow", NIC "    traffic: { pattern: fixed, rate: 1k/s\nrun: 1s\n",
	  "t.yaml:8:4: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping that starts at "
	  "line 7); inside [ ] or { }, quote values with brackets: \"nic0.vector[2].pending\"" },
	{ "brackets in a flow list", HEAD "steps:\n  - expect: [ nic0.vector[2].pending ]\n",
	  "t.yaml:11:26: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence that starts at "
	  "line 11); inside [ ] or { }, quote values with brackets: \"nic0.vector[2].pending\"" },
	{ "duplicate key", NIC "    msix: { vectors: 2 }\nrun: 1s\n", "t.yaml:7:5: duplicate key 'msix' (first at line 6)" },
	{ "alias", "name: &n t\ndescription: *n\n",
	  "t.yaml:2:14: alias '*n': anchors and aliases are not supported in scenario files" },
	{ "two documents", HEAD "run: 1s\n---\nname: u\n",
	  "t.yaml:11:1: a second YAML document starts here (a scenario file holds one)" },
	{ "empty", "", "t.yaml: the file is empty (expected a scenario: name, vm, devices, run, expect)" },
	{ "top level list", "- name: t\n", "t.yaml:1:1: the top level: expected a mapping (key: value), got a list" },

	/* keys and shapes (libcyaml's log, located) */
	{ "unknown key", NIC "    traffc: { pattern: fixed }\nrun: 1s\n",
	  "t.yaml:7:5: unknown key 'traffc' in device (expected one of: name, pci, msix, intx, delivery, traffic)" },
	{ "unknown top-level key", HEAD "runn: 1s\n",
	  "t.yaml:10:1: unknown key 'runn' in the top level (expected one of: name, description, vm, devices, guest, run, "
	  "settle, steps, expect)" },
	{ "unknown nested key", NIC "    traffic: { pattern: fixed, rate: 1k/s, jitter: 1 }\nrun: 1s\n",
	  "t.yaml:7:44: unknown key 'jitter' in traffic (expected one of: pattern, rate, burst, seed, vectors)" },
	{ "missing key", "name: t\nvm: { vcpus: 1 }\ndevices:\n  - name: nic0\n    msix: { vectors: 1 }\nrun: 1s\n",
	  "t.yaml:4:5: missing key 'pci' in device" },
	{ "missing top-level key", "name: t\nvm: { vcpus: 1 }\nrun: 1s\n", "t.yaml:1:1: missing key 'devices' in the top level" },
	{ "missing pin", HEAD "  - name: l2\n    pci: 00:05.0\n    intx: {}\nrun: 1s\n", "t.yaml:12:5: missing key 'pin' in intx" },
	{ "list for a scalar", NIC "    traffic: { pattern: fixed, rate: [1k/s] }\nrun: 1s\n",
	  "t.yaml:7:32: rate: expected a single value, got a list" },
	{ "scalar for a list", HEAD "guest:\n  - { device: nic0, affinity: 0 }\nrun: 1s\n",
	  "t.yaml:11:21: affinity: expected a list, got a single value" },
	{ "scalar for a mapping", "name: t\nvm: 2\n", "t.yaml:2:1: vm: expected a mapping (key: value), got a single value" },
	{ "list entry wrong shape", HEAD "guest:\n  - nic0\nrun: 1s\n",
	  "t.yaml:11:5: guest[0]: expected a mapping (key: value), got a single value" },
	{ "bad enum", NIC "    delivery: polled\nrun: 1s\n",
	  "t.yaml:7:5: delivery: 'polled' is not one of: irqfd, resample, userspace, posted, remapped, forwarded" },
	{ "bad pattern", NIC "    traffic: { pattern: Fixed, rate: 1k/s }\nrun: 1s\n",
	  "t.yaml:7:16: pattern: 'Fixed' is not one of: fixed, poisson, burst, storm, none" },
	{ "bad pin", HEAD "  - name: l2\n    pci: 00:05.0\n    intx: { pin: E }\nrun: 1s\n",
	  "t.yaml:12:13: pin: 'E' is not one of: A, B, C, D" },
	{ "bad driver", HEAD "guest:\n  - { device: nic0, driver: e1000 }\nrun: 1s\n",
	  "t.yaml:11:21: driver: 'e1000' is not one of: nic, intx, intx-no-ack" },
	{ "bad gic", "name: t\nvm: { arch: arm64, vcpus: 2, gic: v5 }\n" ONE_DEVICE,
	  "t.yaml:2:30: gic: 'v5' is not one of: v3, v4" },
	{ "gic as a number", "name: t\nvm:\n  arch: arm64\n  gic: 4\n" ONE_DEVICE,
	  "t.yaml:4:3: gic: '4' is not one of: v3, v4" },
	{ "gic v4 on x86_64", "name: t\nvm: { arch: x86_64, gic: v4 }\n" ONE_DEVICE,
	  "t.yaml:2:21: gic applies to arm64 VMs (this one is x86_64, with a local APIC and an IOAPIC; its MSIs skip "
	  "the eventfd with delivery posted)" },
	{ "gic v3 on the default arch", "name: t\nvm:\n  vcpus: 2\n  gic: v3\n" ONE_DEVICE,
	  "t.yaml:4:3: gic applies to arm64 VMs (this one is x86_64, with a local APIC and an IOAPIC; its MSIs skip "
	  "the eventfd with delivery posted)" },
	{ "gic before arch", "name: t\nvm:\n  gic: v4\n  vcpus: 1\n" ONE_DEVICE,
	  "t.yaml:3:3: gic applies to arm64 VMs (this one is x86_64, with a local APIC and an IOAPIC; its MSIs skip "
	  "the eventfd with delivery posted)" },
	{ "unknown vm key", "name: t\nvm: { arch: arm64, gicv4: true }\n" ONE_DEVICE,
	  "t.yaml:2:20: unknown key 'gicv4' in vm (expected one of: arch, vcpus, halt_poll, msix_table, gic)" },
	{ "arm64 spurious_eoi", "name: t\nvm:\n  arch: arm64\n" ONE_DEVICE "expect:\n  - spurious_eoi == 0\n",
	  "t.yaml:7:5: expectation 'spurious_eoi == 0': spurious_eoi is not measured on arm64 (it counts local APIC "
	  "EOIs); use the sources' handler_runs and delivered instead" },

	/* units and ranges */
	{ "bad rate", NIC "    traffic: { pattern: fixed, rate: 20q/s }\nrun: 1s\n",
	  "t.yaml:7:32: rate: '20q/s' is not a rate (expected e.g. 20k/s)" },
	{ "rate out of range", NIC "    traffic: { pattern: fixed, rate: 20M/s }\nrun: 1s\n",
	  "t.yaml:7:32: rate: 20M/s is out of range (1/s..10M/s)" },
	{ "vcpus out of range", "name: t\nvm: { vcpus: 300 }\n" ONE_DEVICE, "t.yaml:2:7: vcpus: 300 is out of range (1..64)" },
	{ "vcpus boundary", "name: t\nvm: { vcpus: 65 }\n" ONE_DEVICE, "t.yaml:2:7: vcpus: 65 is out of range (1..64)" },
	{ "vcpus zero", "name: t\nvm: { vcpus: 0 }\n" ONE_DEVICE, "t.yaml:2:7: vcpus: 0 is out of range (1..64)" },
	{ "vcpus junk", "name: t\nvm: { vcpus: 2x }\n" ONE_DEVICE, "t.yaml:2:7: vcpus: '2x' is not a number (expected e.g. 1)" },
	{ "halt_poll unit", "name: t\nvm: { vcpus: 1, halt_poll: 10 }\n" ONE_DEVICE,
	  "t.yaml:2:17: halt_poll: '10' is not a duration (expected e.g. 3s, 500ms, 2us)" },
	{ "vectors out of range", "name: t\nvm: { vcpus: 1 }\ndevices:\n  - { name: n, pci: 00:01.0, msix: { vectors: 65 } }\n",
	  "t.yaml:4:38: vectors: 65 is out of range (1..64)" },
	{ "bar out of range", NIC "    traffic: { pattern: none }\n  - { name: n, pci: 00:01.0, msix: { vectors: 1, table: { bar: 6 } } }\n",
	  "t.yaml:8:59: bar: 6 is out of range (0..5)" },
	{ "offset unaligned", NIC "  - { name: n, pci: 00:01.0, msix: { vectors: 1, pba: { offset: 0x804 } } }\n",
	  "t.yaml:7:57: offset: 0x804 is not 8-byte aligned" },
	{ "run too long", HEAD "run: 11min\n", "t.yaml:10:1: run: 11min is out of range (0..600s)" },
	{ "run unit", HEAD "run: 3\n", "t.yaml:10:1: run: '3' is not a duration (expected e.g. 3s, 500ms, 2us)" },
	{ "settle zero", HEAD "run: 1s\nsettle: 0\n", "t.yaml:11:1: settle: 0 is out of range (1ms..600s)" },
	{ "handler unit", HEAD "guest:\n  - { device: nic0, handler: 2 us }\nrun: 1s\n",
	  "t.yaml:11:21: handler: '2 us' is not a duration (expected e.g. 3s, 500ms, 2us)" },
	{ "masked not a boolean", HEAD "guest:\n  - { device: nic0, masked: maybe }\nrun: 1s\n",
	  "t.yaml:11:21: masked: 'maybe' is not a boolean (expected true or false)" },
	{ "bad pci", NIC "  - { name: n, pci: 00:20.0, intx: { pin: A } }\n",
	  "t.yaml:7:16: pci: '00:20.0' is not a PCI address (expected BB:DD.F, e.g. 00:03.0)" },
	{ "bad name", NIC "  - { name: 2nic, pci: 00:01.0, intx: { pin: A } }\n",
	  "t.yaml:7:7: name: '2nic' is not a device name (letters, digits, '_' and '-', at most 31, not starting with a digit)" },
	{ "reserved name", NIC "  - { name: latency, pci: 00:01.0, intx: { pin: A } }\n",
	  "t.yaml:7:7: name: 'latency' is a word of the expectation language; choose another" },
	{ "empty name", "name: ''\nvm: { vcpus: 1 }\ndevices: [ { name: n, pci: 00:01.0, intx: { pin: A } } ]\nrun: 1s\n",
	  "t.yaml:1:1: name: a scenario needs a name" },
	{ "nothing to do", HEAD, "t.yaml:1:1: the scenario: nothing to do: give run a duration (e.g. run: 3s) or add steps" },
	{ "no devices", "name: t\nvm: { vcpus: 1 }\ndevices: []\nrun: 1s\n", "t.yaml:3:1: devices: a scenario needs at least one device" },

	/* wiring */
	{ "resample without intx", NIC "    delivery: resample\nrun: 1s\n",
	  "t.yaml:7:5: device nic0: delivery resample needs an intx pin" },
	{ "irqfd without msix", HEAD "  - { name: l2, pci: 00:05.0, intx: { pin: B }, delivery: irqfd }\nrun: 1s\n",
	  "t.yaml:10:49: device l2: delivery irqfd needs msix" },
	{ "userspace without msix", HEAD "  - { name: l2, pci: 00:05.0, intx: { pin: B }, delivery: userspace }\nrun: 1s\n",
	  "t.yaml:10:49: device l2: delivery userspace needs msix" },
	{ "posted without msix", HEAD "  - { name: l2, pci: 00:05.0, intx: { pin: B }, delivery: posted }\nrun: 1s\n",
	  "t.yaml:10:49: device l2: delivery posted needs msix" },
	{ "remapped without msix", HEAD "  - { name: l2, pci: 00:05.0, intx: { pin: B }, delivery: remapped }\nrun: 1s\n",
	  "t.yaml:10:49: device l2: delivery remapped needs msix" },
	{ "posted on arm64", "name: t\nvm: { arch: arm64, vcpus: 2 }\ndevices:\n  - name: nic0\n    pci: 00:03.0\n"
	  "    msix: { vectors: 4 }\n    delivery: posted\nrun: 1s\n",
	  "t.yaml:7:5: device nic0: delivery posted needs VT-d interrupt remapping: x86_64 only (arm64 MSIs go "
	  "through the ITS; use irqfd)" },
	{ "remapped on arm64", "name: t\nvm:\n  arch: arm64\ndevices:\n  - { name: nic0, pci: 00:03.0, msix: { vectors: 2 }, "
	  "delivery: remapped }\nrun: 1s\n",
	  "t.yaml:5:55: device nic0: delivery remapped needs VT-d interrupt remapping: x86_64 only (arm64 MSIs go "
	  "through the ITS; use irqfd)" },
	{ "msix and intx", NIC "    intx: { pin: B }\nrun: 1s\n",
	  "t.yaml:7:5: device nic0 has both msix and intx; give it one (msix for irqfd, posted, remapped or userspace "
	  "delivery, intx for resample or forwarded)" },
	{ "forwarded on x86_64", HEAD "    delivery: forwarded\nrun: 1s\n",
	  "t.yaml:10:5: device legacy0: delivery forwarded needs an Arm GIC (hardware-mapped SPIs): arm64 only (use "
	  "resample on x86_64)" },
	{ "forwarded without intx", "name: t\nvm: { arch: arm64, vcpus: 2 }\ndevices:\n  - name: nic0\n    pci: 00:03.0\n"
	  "    msix: { vectors: 4 }\n    delivery: forwarded\nrun: 1s\n",
	  "t.yaml:7:5: device nic0: delivery forwarded needs an intx pin" },
	{ "forwarded with the nic driver", "name: t\nvm: { arch: arm64 }\n" FWD "guest:\n  - { device: l0, driver: nic }\n"
	  "run: 1s\n",
	  "t.yaml:6:19: driver: nic drives MSI-X vectors, but device l0 delivers through INTx (delivery forwarded)" },
	{ "forwarded line retargeted", "name: t\nvm: { arch: arm64, vcpus: 2 }\n" FWD "steps:\n  - guest: { mask: l0.intx }\n",
	  "t.yaml:6:14: mask: l0.intx is an INTx line; the guest masks and retargets MSI-X vectors" },
	{ "no interrupt", NIC "  - { name: n, pci: 00:01.0 }\n", "t.yaml:7:5: device n has no interrupt (expected msix or intx)" },
	{ "duplicate pci", HEAD "  - { name: nic1, pci: 00:03.0, msix: { vectors: 1 } }\nrun: 1s\n",
	  "t.yaml:10:19: pci 00:03.0 is used by nic0 and nic1" },
	{ "duplicate name", HEAD "  - { name: nic0, pci: 00:05.0, msix: { vectors: 1 } }\nrun: 1s\n",
	  "t.yaml:10:7: device name 'nic0' is used twice (devices[0] and devices[2])" },
	{ "table and pba overlap", NIC "  - { name: n, pci: 00:01.0, msix: { vectors: 64, pba: { offset: 0x200 } } }\n",
	  "t.yaml:7:30: device n: the MSI-X table (bar 2, 0x0..0x3ff) and PBA (0x200..0x207) overlap" },
	{ "table over the registers", NIC "  - { name: n, pci: 00:01.0, msix: { vectors: 1, table: { bar: 0, offset: 0x800 } } }\n",
	  "t.yaml:7:50: device n: the MSI-X table (bar 0, 0x800..0x80f) overlaps the device registers in bar 0 (0x0..0xfff)" },
	{ "pba over the registers", NIC "  - { name: n, pci: 00:01.0, msix: { vectors: 1, pba: { bar: 0 } } }\n",
	  "t.yaml:7:50: device n: the MSI-X pba (bar 0, 0x800..0x807) overlaps the device registers in bar 0 (0x0..0xfff)" },
	{ "traffic needs a rate", NIC "    traffic: { pattern: poisson }\nrun: 1s\n",
	  "t.yaml:7:5: device nic0: poisson traffic needs a rate (e.g. rate: 20k/s)" },
	{ "storm takes no rate", NIC "    traffic: { pattern: storm, rate: 1k/s }\nrun: 1s\n",
	  "t.yaml:7:32: rate: storm traffic takes no rate" },
	{ "burst only for burst", NIC "    traffic: { pattern: fixed, rate: 1k/s, burst: 4 }\nrun: 1s\n",
	  "t.yaml:7:44: burst: only the burst pattern takes a burst size" },
	{ "traffic vector out of range", NIC "    traffic: { pattern: fixed, rate: 1k/s, vectors: [1, 4] }\nrun: 1s\n",
	  "t.yaml:7:57: vectors[1]: device nic0 has no vector 4 (it has 4: 0..3)" },
	{ "guest unknown device", HEAD "guest:\n  - { device: nic9 }\nrun: 1s\n",
	  "t.yaml:11:7: device: no device named 'nic9' (devices: nic0, legacy0)" },
	{ "guest twice", HEAD "guest:\n  - { device: nic0 }\n  - { device: nic0 }\nrun: 1s\n",
	  "t.yaml:12:7: device nic0 already has a guest entry (guest[0])" },
	{ "nic driver on intx", HEAD "guest:\n  - { device: legacy0, driver: nic }\nrun: 1s\n",
	  "t.yaml:11:24: driver: nic drives MSI-X vectors, but device legacy0 delivers through INTx (delivery resample)" },
	{ "intx driver on msix", HEAD "guest:\n  - { device: nic0, driver: intx-no-ack }\nrun: 1s\n",
	  "t.yaml:11:21: driver: an intx driver drives an INTx line, but device nic0 delivers through MSI-X (delivery irqfd)" },
	{ "affinity vcpu", HEAD "guest:\n  - device: nic0\n    affinity: [0, 1, 5]\nrun: 1s\n",
	  "t.yaml:12:22: guest[0].affinity[2]: vCPU 5 does not exist (the VM has 2)" },
	{ "affinity vcpu boundary", HEAD "guest:\n  - { device: nic0, affinity: [1, 2] }\nrun: 1s\n",
	  "t.yaml:11:35: guest[0].affinity[1]: vCPU 2 does not exist (the VM has 2)" },
	{ "affinity too long", HEAD "guest:\n  - { device: legacy0, affinity: [0, 1] }\nrun: 1s\n",
	  "t.yaml:11:24: affinity: 2 entries, but device legacy0 has 1 INTx line" },
	{ "retarget on intx", HEAD "guest:\n  - { device: legacy0, retarget: 1s }\nrun: 1s\n",
	  "t.yaml:11:24: retarget: only the nic driver retargets its vectors" },
	{ "masked on intx", HEAD "guest:\n  - { device: legacy0, masked: true }\nrun: 1s\n",
	  "t.yaml:11:24: masked: only the nic driver can start with its vectors masked" },

	/* steps */
	{ "empty step", HEAD "steps:\n  - {}\n",
	  "t.yaml:11:5: steps[0]: a step has exactly one of raise, guest, wait or expect; this one has 0" },
	{ "two keys in a step", HEAD "steps:\n  - raise: nic0.vector[1]\n    wait: 1ms\n",
	  "t.yaml:11:5: steps[0]: a step has exactly one of raise, guest, wait or expect; this one has 2" },
	{ "unknown step", HEAD "steps:\n  - sleep: 1ms\n",
	  "t.yaml:11:5: unknown key 'sleep' in step (expected one of: raise, guest, wait, expect)" },
	{ "raise unknown device", HEAD "steps:\n  - raise: nic9.vector[0]\n",
	  "t.yaml:11:5: raise: no device named 'nic9' (devices: nic0, legacy0)" },
	{ "raise vector out of range", HEAD "steps:\n  - raise: nic0.vector[4]\n",
	  "t.yaml:11:5: raise: vector 4 does not exist (nic0 has 4: 0..3)" },
	{ "raise vector of intx", HEAD "steps:\n  - raise: legacy0.vector[0]\n",
	  "t.yaml:11:5: raise: legacy0 has no MSI-X vectors (it delivers through INTx: write legacy0.intx)" },
	{ "raise intx of msix", HEAD "steps:\n  - raise: nic0.intx\n",
	  "t.yaml:11:5: raise: nic0 has no INTx source (it delivers through MSI-X: write nic0.vector[K])" },
	{ "raise not a source", HEAD "steps:\n  - raise: nic0\n",
	  "t.yaml:11:5: raise: 'nic0' is not a source (expected DEVICE.vector[K] or DEVICE.intx)" },
	{ "guest mask intx", HEAD "steps:\n  - guest: { mask: legacy0.intx }\n",
	  "t.yaml:11:14: mask: legacy0.intx is an INTx line; the guest masks and retargets MSI-X vectors" },
	{ "guest two actions", HEAD "steps:\n  - guest: { mask: \"nic0.vector[1]\", unmask: \"nic0.vector[1]\" }\n",
	  "t.yaml:11:5: guest: expected exactly one of mask, unmask or retarget, got 2" },
	{ "guest retarget without vcpu", HEAD "steps:\n  - guest:\n      retarget: nic0.vector[1]\n",
	  "t.yaml:11:5: guest: retarget needs a vcpu (e.g. { retarget: nic0.vector[2], vcpu: 1 })" },
	{ "guest vcpu without retarget", HEAD "steps:\n  - guest:\n      mask: nic0.vector[1]\n      vcpu: 1\n",
	  "t.yaml:11:5: guest: vcpu goes with retarget only" },
	{ "guest retarget bad vcpu", HEAD "steps:\n  - guest:\n      retarget: nic0.vector[1]\n      vcpu: 2\n",
	  "t.yaml:13:7: vcpu: vCPU 2 does not exist (the VM has 2)" },
	{ "guest mask out of range", HEAD "steps:\n  - guest:\n      mask: nic0.vector[9]\n",
	  "t.yaml:12:7: mask: vector 9 does not exist (nic0 has 4: 0..3)" },
	{ "guest unknown action", HEAD "steps:\n  - guest: { pause: 1 }\n",
	  "t.yaml:11:14: unknown key 'pause' in guest action (expected one of: mask, unmask, retarget, vcpu)" },
	{ "wait unit", HEAD "steps:\n  - wait: 10 ms\n", "t.yaml:11:5: wait: '10 ms' is not a duration (expected e.g. 3s, 500ms, 2us)" },

	/* expectations */
	{ "unknown field", HEAD "run: 1s\nexpect: [ lots == 0 ]\n",
	  "t.yaml:11:11: expectation 'lots == 0': unknown field 'lots' (expected one of: raised, delivered, coalesced, "
	  "pending, lost, stale, handler_runs, vcpu[N], latency.p50, latency.p99, latency.max, balanced, spurious_eoi, "
	  "posted, remapped, direct_completions, vfio_unmasks, direct, or DEVICE.<field>)" },
	{ "posted without an IOMMU", HEAD "run: 1s\nexpect:\n  - posted > 0\n",
	  "t.yaml:12:5: expectation 'posted > 0': posted counts messages the IOMMU posted, and no device here is behind "
	  "one (give a device delivery posted or remapped)" },
	{ "direct_completions without forwarding", "name: t\nvm: { arch: arm64 }\n" ONE_DEVICE "expect:\n"
	  "  - direct_completions > 0\n",
	  "t.yaml:6:5: expectation 'direct_completions > 0': direct_completions counts what happened to forwarded INTx "
	  "lines, and no device here is forwarded (give an arm64 INTx device delivery forwarded)" },
	{ "direct on gic v3", "name: t\nvm: { arch: arm64 }\n" DIRECT_NIC "run: 1s\nexpect:\n  - direct > 0\n",
	  "t.yaml:6:5: expectation 'direct > 0': direct counts MSIs injected straight into LPIs, and this VM's GIC is "
	  "a v3 (set vm.gic: v4)" },
	{ "direct on explicit gic v3", "name: t\nvm: { arch: arm64, gic: v3 }\n" DIRECT_NIC "run: 1s\nexpect: direct\n",
	  "t.yaml:5:1: expectation 'direct': direct counts MSIs injected straight into LPIs, and this VM's GIC is a v3 "
	  "(set vm.gic: v4)" },
	{ "direct on x86_64", HEAD "run: 1s\nexpect:\n  - direct >= 1\n",
	  "t.yaml:12:5: expectation 'direct >= 1': direct counts MSIs an arm64 VM's GICv4 injects straight into LPIs, "
	  "and this VM is x86_64 (its counterpart is posted, with delivery posted)" },
	{ "direct without an irqfd device", "name: t\nvm: { arch: arm64, gic: v4 }\n" FWD "run: 1s\nexpect:\n"
	  "  - direct > 0\n",
	  "t.yaml:7:5: expectation 'direct > 0': direct counts MSIs injected straight into LPIs, and no device here "
	  "delivers MSI-X through irqfds (give an MSI-X device delivery irqfd)" },
	{ "direct without an irqfd device (userspace)", "name: t\nvm: { arch: arm64, gic: v4 }\ndevices:\n"
	  "  - { name: n, pci: 00:03.0, msix: { vectors: 2 }, delivery: userspace }\nrun: 1s\nexpect:\n  - direct > 0\n",
	  "t.yaml:7:5: expectation 'direct > 0': direct counts MSIs injected straight into LPIs, and no device here "
	  "delivers MSI-X through irqfds (give an MSI-X device delivery irqfd)" },
	{ "direct per device", "name: t\nvm: { arch: arm64, gic: v4 }\n" DIRECT_NIC "run: 1s\nexpect:\n"
	  "  - n.direct > 0\n",
	  "t.yaml:6:5: expectation 'n.direct > 0': unknown field 'direct' (expected one of: raised, delivered, "
	  "coalesced, pending, lost, stale, handler_runs, vcpu[N], latency.p50, latency.p99, latency.max, balanced)" },
	{ "vfio_unmasks per device", "name: t\nvm: { arch: arm64 }\n" FWD "run: 1s\nexpect:\n  - l0.vfio_unmasks == 0\n",
	  "t.yaml:7:5: expectation 'l0.vfio_unmasks == 0': unknown field 'vfio_unmasks' (expected one of: raised, "
	  "delivered, coalesced, pending, lost, stale, handler_runs, vcpu[N], latency.p50, latency.p99, latency.max, "
	  "balanced)" },
	{ "remapped per device", NIC "    delivery: remapped\nrun: 1s\nexpect:\n  - nic0.remapped > 0\n",
	  "t.yaml:10:5: expectation 'nic0.remapped > 0': unknown field 'remapped' (expected one of: raised, "
	  "delivered, coalesced, pending, lost, stale, handler_runs, vcpu[N], latency.p50, latency.p99, latency.max, "
	  "balanced)" },
	{ "unknown device field", HEAD "run: 1s\nexpect:\n  - nic0.spurious_eoi == 0\n",
	  "t.yaml:12:5: expectation 'nic0.spurious_eoi == 0': unknown field 'spurious_eoi' (expected one of: raised, "
	  "delivered, coalesced, pending, lost, stale, handler_runs, vcpu[N], latency.p50, latency.p99, latency.max, "
	  "balanced)" },
	{ "unknown device", HEAD "run: 1s\nexpect:\n  - nic9.lost == 0\n",
	  "t.yaml:12:5: expectation 'nic9.lost == 0': no device named 'nic9' (devices: nic0, legacy0)" },
	{ "vector out of range", HEAD "run: 1s\nexpect:\n  - nic0.vector[7].delivered == 1\n",
	  "t.yaml:12:5: expectation 'nic0.vector[7].delivered == 1': vector 7 does not exist (nic0 has 4: 0..3)" },
	{ "vcpu out of range", HEAD "run: 1s\nexpect:\n  - nic0.vcpu[2] == 0\n",
	  "t.yaml:12:5: expectation 'nic0.vcpu[2] == 0': vcpu[2]: vCPU 2 does not exist (the VM has 2)" },
	{ "latency needs a duration", HEAD "run: 1s\nexpect: legacy0.latency.p99 < 5\n",
	  "t.yaml:11:1: expectation 'legacy0.latency.p99 < 5': '5' is not a duration (a latency compares with e.g. 5ms, 800us)" },
	{ "count is not a duration", HEAD "run: 1s\nexpect: lost < 5ms\n",
	  "t.yaml:11:1: expectation 'lost < 5ms': '5ms' is not a count (expected e.g. 0, 12, 20k)" },
	{ "unknown latency", HEAD "run: 1s\nexpect: nic0.latency.p95 < 5ms\n",
	  "t.yaml:11:1: expectation 'nic0.latency.p95 < 5ms': unknown latency 'latency.p95' (expected latency.p50, "
	  "latency.p99 or latency.max)" },
	{ "bad operator", HEAD "run: 1s\nexpect: nic0.lost = 0\n",
	  "t.yaml:11:1: expectation 'nic0.lost = 0': expected a comparison (==, !=, <, <=, >, >=) or the end, got '= 0'" },
	{ "balanced compared", HEAD "run: 1s\nexpect: balanced == 1\n",
	  "t.yaml:11:1: expectation 'balanced == 1': 'balanced' is true or false: it takes no comparison" },
	{ "trailing words", HEAD "run: 1s\nexpect: lost == 0 always\n",
	  "t.yaml:11:1: expectation 'lost == 0 always': unexpected 'always' after the value" },
	{ "empty expectation", HEAD "run: 1s\nexpect: [ '' ]\n",
	  "t.yaml:11:11: expectation '': empty expectation (expected e.g. 'lost == 0')" },
	{ "missing index", HEAD "run: 1s\nexpect: nic0.vector.lost\n",
	  "t.yaml:11:1: expectation 'nic0.vector.lost': expected '[' after 'vector'" },
	{ "expect mapping", HEAD "run: 1s\nexpect:\n  - lost: 0\n",
	  "t.yaml:12:5: expect[0]: expected an expression such as 'lost == 0', got a mapping (quote expressions that "
	  "contain ': ')" },
	{ "step expect list in list", HEAD "steps:\n  - expect:\n    - lost == 0\n    - [ lost ]\n",
	  "t.yaml:13:7: expect[1]: expected an expression such as 'lost == 0', got a list" },
};

static void test_error_cases(void **state)
{
	unsigned failed = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct virq_scenario *sc = NULL;
		char err[1024] = "";
		int r = virq_scenario_load_text("t.yaml", cases[i].text, strlen(cases[i].text), &sc, err, sizeof(err));
		if (r != -EINVAL || strcmp(err, cases[i].message)) {
			print_error("case '%s': got %d\n  \"%s\"\nwanted -EINVAL\n  \"%s\"\n", cases[i].what, r, err,
			            cases[i].message);
			failed++;
		}
		assert_null(sc);
		virq_scenario_free(sc);
	}
	assert_int_equal(failed, 0);
}

/* Messages are cut to the buffer, never overrun it, and a zero-length buffer is allowed. */
static void test_short_buffer(void **state)
{
	struct virq_scenario *sc = NULL;
	char err[16];
	memset(err, 'x', sizeof(err));
	assert_int_equal(virq_scenario_load_text("t.yaml", "name: [", 7, &sc, err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'x');
	assert_int_equal(virq_scenario_load_text("t.yaml", "name: [", 7, &sc, err, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_cases),
		cmocka_unit_test(test_short_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
