/* SPDX-License-Identifier: MIT */
/*
 * handle.h - the process-wide handle table behind every descriptor virq returns.
 *
 * A handle is a real descriptor (a memfd named after its kind) that virq creates and owns, so it never
 * collides with the caller's descriptors and shows up in /proc/self/fd. The table maps the descriptor
 * number to a kind (an ops table) and an object. It is its own small part so that the engine's front
 * (system, VM, vCPU and device handles) and the host simulation (VFIO device handles) can both hand out
 * descriptors without depending on each other.
 *
 * Threads: every call may be made from any thread. The table sits behind one mutex; a lookup takes a
 * reference, so closing a handle while another thread is inside an ioctl on it is safe: the object is
 * released when that ioctl drops its reference.
 */
#ifndef VIRQ_HANDLE_H
#define VIRQ_HANDLE_H

struct virq_handle;

struct virq_handle_ops {
	const char *name; /* the memfd's name, e.g. "virq-vm" */
	/* An ioctl on the handle: a value >= 0 or -errno. */
	long (*ioctl)(void *object, unsigned long request, unsigned long arg);
	/* Optional: the descriptor was closed (other ioctls may still hold references). */
	void (*closed)(void *object);
	/* The last reference went away. */
	void (*release)(void *object);
};

/* A new descriptor for @object. Returns the fd, or -errno and @object is not consumed. */
int virq_handle_create(const struct virq_handle_ops *ops, void *object);

/*
 * Find the handle of @fd and take a reference. With @kind non-NULL, a handle of another kind is -ENOTTY.
 * -EBADF if @fd is not an open descriptor, -ENOTTY if it is open but not virq's.
 */
int virq_handle_get(int fd, const struct virq_handle_ops *kind, struct virq_handle **out);
void virq_handle_put(struct virq_handle *h);
void *virq_handle_object(const struct virq_handle *h);
const struct virq_handle_ops *virq_handle_kind(const struct virq_handle *h);

/* The object behind @fd if it is of @kind (borrowed: valid while @fd stays open), else NULL and errno. */
void *virq_handle_borrow(int fd, const struct virq_handle_ops *kind);

/* Dispatch an ioctl to the handle's kind. Returns its value or -errno. */
long virq_handle_ioctl(int fd, unsigned long request, unsigned long arg);

/* Close @fd: 0, or -EBADF if it is not one of ours. */
int virq_handle_close(int fd);

#endif /* VIRQ_HANDLE_H */
