// SPDX-License-Identifier: GPL-2.0
/*
 * bdfault: the lab's kernel-side fault injector. Writing a kind to
 * /proc/bdfault makes the kernel fail that way, the way real bugs do:
 *
 *   oops        a NULL write in the writer's context (the writer dies,
 *               the kernel lives on, tainted D)
 *   softlockup  a kthread bound to the last online cpu spins with
 *               preemption off (ticks go on, nothing else runs there)
 *   hardlockup  the same with interrupts off (no ticks either)
 *   hung        a kthread sleeps in TASK_UNINTERRUPTIBLE
 *   lockleak    bdfault_leak's lock word is left held (as by code that
 *               forgot to unlock) and a kthread bound to the last cpu
 *               spins on it with preemption off: a soft lockup that never
 *               ends, for `bdmon repair ... unlock`
 *   lockfree    releases bdfault_leak (the lab's teardown of lockleak)
 *
 * Lockups and hangs end by themselves after spin_ms / hang_ms, so the lab
 * recovers without a reboot; a leaked lock stays leaked until released.
 * Their kthread writes "end" to end_file as it stops (bdlab stamps the
 * write on the lab host): no task in user space has to notice, which a
 * lockup can hold off until long after it ended.
 */
#include <linux/cpumask.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/timekeeping.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

static unsigned int spin_ms = 8000;
module_param(spin_ms, uint, 0644);
MODULE_PARM_DESC(spin_ms, "how long a lockup lasts (ms)");
static unsigned int hang_ms = 20000;
module_param(hang_ms, uint, 0644);
MODULE_PARM_DESC(hang_ms, "how long a hung task sleeps (ms)");

static char *end_file;
module_param(end_file, charp, 0644);
MODULE_PARM_DESC(end_file, "written when a lockup or a hang ends (a file in the lab's share)");

static void mark_end(void)
{
        struct file *f;
        loff_t pos = 0;

        if (!end_file || !*end_file)
                return;
        f = filp_open(end_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (IS_ERR(f)) {
                pr_warn("bdfault: %s: error %ld\n", end_file, PTR_ERR(f));
                return;
        }
        kernel_write(f, "end\n", 4, &pos);
        filp_close(f, NULL);
}

/* Work queued behind the spinner: something waits for the stuck cpu. */
static void waiter_fn(struct work_struct *w) {}
static DECLARE_WORK(waiter, waiter_fn);

/* Spins by the clock, not by mdelay(): a delay loop calibrated on a loaded
 * TCG host can run many times too short, and a lockup that ends early is
 * one the monitor rightly does not see. */
static int spin_fn(void *irqs_off)
{
        unsigned long flags = 0;
        u64 start, end;

        /* Said in the log, so that a lab test that saw no lockup can tell
         * a fault that never ran, or ran short, from one the monitor
         * missed. */
        pr_info("bdfault: %s lockup on cpu %d for %u ms\n", irqs_off ? "hard" : "soft",
                smp_processor_id(), spin_ms);
        queue_work_on(smp_processor_id(), system_wq, &waiter);
        if (irqs_off)
                local_irq_save(flags);
        else
                preempt_disable();
        start = ktime_get_mono_fast_ns();
        end = start + (u64)spin_ms * NSEC_PER_MSEC;
        while (ktime_get_mono_fast_ns() < end)
                cpu_relax();
        if (irqs_off)
                local_irq_restore(flags);
        else
                preempt_enable();
        pr_info("bdfault: lockup on cpu %d ended after %llu ms\n", smp_processor_id(),
                (ktime_get_mono_fast_ns() - start) / NSEC_PER_MSEC);
        mark_end();
        return 0;
}

/* A spinlock leaked by "kernel code": held by nobody, with no preempt-count
 * or interrupt imbalance left behind, only the lock word. */
static DEFINE_SPINLOCK(bdfault_leak);

static int lock_fn(void *unused)
{
        spin_lock(&bdfault_leak);
        spin_unlock(&bdfault_leak);
        return 0;
}

static int hang_fn(void *unused)
{
        set_current_state(TASK_UNINTERRUPTIBLE);
        schedule_timeout(msecs_to_jiffies(hang_ms));
        mark_end();
        return 0;
}

static int start(int (*fn)(void *), void *arg, const char *name, int bind)
{
        struct task_struct *t = kthread_create(fn, arg, "bdfault-%s", name);

        if (IS_ERR(t))
                return PTR_ERR(t);
        if (bind)
                kthread_bind(t, cpumask_last(cpu_online_mask));
        wake_up_process(t);
        return 0;
}

static ssize_t bdfault_write(struct file *f, const char __user *ubuf, size_t len, loff_t *off)
{
        char kind[32];
        size_t n = min(len, sizeof(kind) - 1);
        int err = 0;

        if (copy_from_user(kind, ubuf, n))
                return -EFAULT;
        kind[n] = '\0';
        strim(kind);
        if (!strcmp(kind, "oops"))
                *(volatile int *)NULL = 0x0bad;
        else if (!strcmp(kind, "softlockup"))
                err = start(spin_fn, NULL, "soft", 1);
        else if (!strcmp(kind, "hardlockup"))
                err = start(spin_fn, (void *)1, "hard", 1);
        else if (!strcmp(kind, "hung"))
                err = start(hang_fn, NULL, "hung", 0);
        else if (!strcmp(kind, "lockleak")) {
                /* The lock word alone: spin_lock would also disable
                 * preemption, and this task returns to user space. */
                do_raw_spin_lock(&bdfault_leak.rlock);
                err = start(lock_fn, NULL, "lock", 1);
        } else if (!strcmp(kind, "lockfree"))
                do_raw_spin_unlock(&bdfault_leak.rlock);
        else
                err = -EINVAL;
        return err ? err : len;
}

static const struct proc_ops bdfault_ops = {
    .proc_write = bdfault_write,
};

static int __init bdfault_init(void)
{
        return proc_create("bdfault", 0200, NULL, &bdfault_ops) ? 0 : -ENOMEM;
}

static void __exit bdfault_exit(void)
{
        remove_proc_entry("bdfault", NULL);
}

module_init(bdfault_init);
module_exit(bdfault_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Backdoors lab fault injector");
