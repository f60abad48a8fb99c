# What a kernel engineer first asks of a vmcore, asked through Debian's
# drgn (run as: drgn -q -c VMCORE -s VMLINUX vmcore_drgn.py). test_lab
# compares each line with bdmon's own answer from the same memory.
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.printk import get_printk_records
from drgn.helpers.linux.percpu import per_cpu

print("release", prog["init_uts_ns"].name.release.string_().decode())
leaders = sorted({t.tgid.value_() for t in for_each_task(prog)})
print("processes", " ".join(str(p) for p in leaders))
print("jiffies_64", prog["jiffies_64"].value_())
print("nr_threads", prog["nr_threads"].value_())
panic = [r.text.decode(errors="replace") for r in get_printk_records(prog)
         if b"Kernel panic - not syncing" in r.text]
print("panic_record", panic[-1] if panic else "none")
from drgn.helpers.linux.cpumask import for_each_possible_cpu


def frames(cpu):
    names = []
    try:
        for f in prog.stack_trace(per_cpu(prog["runqueues"], cpu).curr):
            try:
                names.append(f.name or "?")
            except Exception:
                names.append("?")
    except Exception as e:
        names.append("error: %s" % e)
    return " ".join(names)


cpu = prog["panic_cpu"].counter.value_()
print("panic_cpu", cpu)
if cpu >= 0:
    print("panic_stack", frames(cpu))
    # The others, from the registers their stop interrupt saved.
    for c in for_each_possible_cpu(prog):
        if c != cpu:
            print("cpu%d_stack" % c, frames(c))
print("nr_switches_cpu0", per_cpu(prog["runqueues"], 0).nr_switches.value_())
