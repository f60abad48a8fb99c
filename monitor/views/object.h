/* Typed access to kernel memory: an object is an address and a BTF type, and
 * members, array elements and pointer targets are objects too. This file
 * finds objects: a type by name, a variable by symbol, and an access path
 * from an object to another; object_print.h prints them. This is what
 * `bdmon print` is built on; views that must also work without BTF use
 * struct bd_layout instead. Every read goes through the program's kernel
 * reader, so a wild pointer is an error for that object, never a crash. */
#ifndef BD_OBJECT_H
#define BD_OBJECT_H

#include <stdint.h>

#include "../kernel/program.h"

struct bd_object {
        uint64_t addr;      /* kernel virtual address of the first byte */
        uint32_t type_id;   /* as declared, typedefs and qualifiers kept */
        uint8_t bit_offset; /* within the byte at addr, for bitfields */
        uint8_t bit_size;   /* 0 unless a bitfield */
};

/* A BTF type by name: "task_struct" or "struct task_struct" (a struct or
 * union), else any named type ("u64", "int", "pid_t"). */
struct bd_error *bd_object_find_type(const struct btf *btf, const char *name, uint32_t *id);

/* The variable SYMBOL: typed by BTF when the kernel's BTF describes it (per-
 * CPU variables, *percpu set), else by type_name, else by a short table of
 * well-known globals (init_task, init_mm, init_pid_ns, init_uts_ns,
 * jiffies_64). */
struct bd_error *bd_object_variable(struct bd_program *prog, const char *symbol,
                                    const char *type_name, struct bd_object *out, int *percpu);

/* Apply an access path: ".member", "[N]", both repeated ("mm.pgd",
 * "cpus_mask.bits[0]"). A pointer met on the way is followed (read from
 * memory), as with ->. Errors name the step that failed. */
struct bd_error *bd_object_path(struct bd_program *prog, const struct bd_object *in,
                                const char *path, struct bd_object *out);

/* An integer-like value (int, enum, pointer, bitfield) from avail bytes at
 * buf, sign-extended when its type is signed; -1 for any other type. */
int bd_object_scalar(const struct btf *btf, uint32_t id, const uint8_t *buf, size_t avail,
                     unsigned bit_off, unsigned bits, uint64_t *v, int *sgn);
/* The value of an integer-like object, read from the target. */
struct bd_error *bd_object_value(struct bd_program *prog, const struct bd_object *o, uint64_t *v,
                                 int *is_signed);

#endif
