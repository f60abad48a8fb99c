/* Synthetic loaded modules for the module symbol tables: a BTF with Linux
 * 6.1's struct module (state, list, name, kallsyms) and struct
 * mod_kallsyms, trimmed to what is read, and builders that lay out
 * modules, their Elf64_Sym tables, string tables and type letters in a
 * buffer used as kernel memory. Shared by the unit test and the fuzz
 * target's seeds. Header only: each test is built from one source file. */
#ifndef BD_TEST_MODSYMS_IMG_H
#define BD_TEST_MODSYMS_IMG_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

/* struct module and struct mod_kallsyms as ms_btf() declares them. */
#define MS_MOD_STATE    0x00
#define MS_MOD_LIST     0x08
#define MS_MOD_NAME     0x18
#define MS_MOD_KALLSYMS 0x58
#define MS_MOD_SIZE     0x60
#define MS_NAME_LEN     56
#define MS_MK_SYMTAB    0
#define MS_MK_NUM       8
#define MS_MK_STRTAB    16
#define MS_MK_TYPETAB   24
#define MS_MK_SIZE      32
#define MS_UNFORMED     3

static inline struct btf *ms_btf(void)
{
        struct btf *w = btf__new_empty();
        if (!w)
                return NULL;
        int u32 = btf__add_int(w, "unsigned int", 4, 0);
        int chr = btf__add_int(w, "char", 1, BTF_INT_CHAR);
        int u8 = btf__add_int(w, "unsigned char", 1, 0);
        int state = btf__add_enum(w, "module_state", 4);
        btf__add_enum_value(w, "MODULE_STATE_LIVE", 0);
        btf__add_enum_value(w, "MODULE_STATE_COMING", 1);
        btf__add_enum_value(w, "MODULE_STATE_GOING", 2);
        btf__add_enum_value(w, "MODULE_STATE_UNFORMED", MS_UNFORMED);
        int lh = btf__add_struct(w, "list_head", 16);
        int lh_ptr = btf__add_ptr(w, lh);
        btf__add_field(w, "next", lh_ptr, 0, 0);
        btf__add_field(w, "prev", lh_ptr, 64, 0);
        int sym = btf__add_struct(w, "elf64_sym", 24);
        btf__add_field(w, "st_name", u32, 0, 0);
        int sym_ptr = btf__add_ptr(w, sym);
        int chr_ptr = btf__add_ptr(w, chr);
        int mk = btf__add_struct(w, "mod_kallsyms", MS_MK_SIZE);
        btf__add_field(w, "symtab", sym_ptr, MS_MK_SYMTAB * 8, 0);
        btf__add_field(w, "num_symtab", u32, MS_MK_NUM * 8, 0);
        btf__add_field(w, "strtab", chr_ptr, MS_MK_STRTAB * 8, 0);
        btf__add_field(w, "typetab", chr_ptr, MS_MK_TYPETAB * 8, 0);
        /* As 6.1 declares it: struct mod_kallsyms __rcu *kallsyms. */
        int rcu = btf__add_type_tag(w, "rcu", mk);
        int mk_ptr = btf__add_ptr(w, rcu);
        int name = btf__add_array(w, u32, chr, MS_NAME_LEN);
        btf__add_struct(w, "module", MS_MOD_SIZE);
        btf__add_field(w, "state", state, MS_MOD_STATE * 8, 0);
        btf__add_field(w, "list", lh, MS_MOD_LIST * 8, 0);
        btf__add_field(w, "name", name, MS_MOD_NAME * 8, 0);
        btf__add_field(w, "kallsyms", mk_ptr, MS_MOD_KALLSYMS * 8, 0);
        /* What a repair script types a module's lock as. */
        btf__add_struct(w, "qspinlock", 4);
        btf__add_field(w, "locked", u8, 0, 0);
        btf__add_field(w, "pending", u8, 8, 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        struct btf *b = raw ? btf__new(raw, size) : NULL;
        btf__free(w);
        return b;
}

/* A buffer seen as kernel memory from virtual base up, allocated upwards;
 * running out is the test's own bug. */
struct ms_img {
        uint8_t *mem;
        size_t size, next;
        uint64_t base;
};

static inline uint64_t ms_alloc(struct ms_img *im, size_t size, size_t align)
{
        im->next = (im->next + align - 1) & ~(align - 1);
        uint64_t va = im->base + im->next;
        im->next += size;
        if (im->next > im->size)
                abort();
        return va;
}

static inline void ms_put(struct ms_img *im, uint64_t va, const void *p, size_t n)
{
        memcpy(im->mem + (va - im->base), p, n);
}

static inline void ms_put64(struct ms_img *im, uint64_t va, uint64_t v)
{
        ms_put(im, va, &v, 8);
}

static inline void ms_put32(struct ms_img *im, uint64_t va, uint32_t v)
{
        ms_put(im, va, &v, 4);
}

/* Link the list_heads at head and node[0..n) into a circular list. */
static inline void ms_link(struct ms_img *im, uint64_t head, const uint64_t *node, size_t n)
{
        uint64_t prev = head;
        for (size_t i = 0; i <= n; i++) {
                uint64_t cur = i < n ? node[i] : head;
                ms_put64(im, prev, cur);
                ms_put64(im, cur + 8, prev);
                prev = cur;
        }
}

/* A struct module; its list_head's address is the result + MS_MOD_LIST. */
static inline uint64_t ms_module(struct ms_img *im, const char *name, uint32_t state,
                                 uint64_t kallsyms)
{
        uint64_t m = ms_alloc(im, MS_MOD_SIZE, 64);
        ms_put32(im, m + MS_MOD_STATE, state);
        ms_put(im, m + MS_MOD_NAME, name, strnlen(name, MS_NAME_LEN));
        ms_put64(im, m + MS_MOD_KALLSYMS, kallsyms);
        return m;
}

static inline uint64_t ms_kallsyms(struct ms_img *im, uint64_t symtab, uint32_t num,
                                   uint64_t strtab, uint64_t typetab)
{
        uint64_t mk = ms_alloc(im, MS_MK_SIZE, 8);
        ms_put64(im, mk + MS_MK_SYMTAB, symtab);
        ms_put32(im, mk + MS_MK_NUM, num);
        ms_put64(im, mk + MS_MK_STRTAB, strtab);
        ms_put64(im, mk + MS_MK_TYPETAB, typetab);
        return mk;
}

struct ms_sym {
        const char *name;
        unsigned char bind, type;
        uint16_t shndx;
        uint64_t value;
        char letter;
};

/* A symbol table as add_kallsyms() leaves it: the null symbol first, the
 * names packed after an empty string, a type letter each. Returns its
 * struct mod_kallsyms. */
static inline uint64_t ms_table(struct ms_img *im, const struct ms_sym *s, uint32_t n)
{
        uint64_t symtab = ms_alloc(im, (n + 1) * sizeof(Elf64_Sym), 8);
        uint64_t typetab = ms_alloc(im, n + 1, 1);
        size_t strsize = 1;
        for (uint32_t i = 0; i < n; i++)
                strsize += strlen(s[i].name) + 1;
        uint64_t strtab = ms_alloc(im, strsize, 1);
        size_t at = 1;
        for (uint32_t i = 0; i < n; i++) {
                Elf64_Sym e = {0};
                e.st_name = (uint32_t)at;
                e.st_info = (unsigned char)ELF64_ST_INFO(s[i].bind, s[i].type);
                e.st_shndx = s[i].shndx;
                e.st_value = s[i].value;
                ms_put(im, symtab + (i + 1) * sizeof(e), &e, sizeof(e));
                ms_put(im, typetab + i + 1, &s[i].letter, 1);
                ms_put(im, strtab + at, s[i].name, strlen(s[i].name) + 1);
                at += strlen(s[i].name) + 1;
        }
        return ms_kallsyms(im, symtab, n + 1, strtab, typetab);
}

#endif
