#include "window.h"

#include <errno.h>
#include <fcntl.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* libpci reports fatal errors through a callback that must not return (its
 * default exits); jump back out and turn them into an error object. */
static char pci_errbuf[256];
static jmp_buf pci_jmp;

__attribute__((noreturn)) static void pci_error_cb(char *msg, ...)
{
        va_list ap;
        va_start(ap, msg);
        vsnprintf(pci_errbuf, sizeof(pci_errbuf), msg, ap);
        va_end(ap);
        longjmp(pci_jmp, 1);
}

static void pci_quiet_cb(char *msg, ...)
{
        (void)msg;
}

static struct bd_error *find_device(const char *selector, int bar, char *sysdir, size_t cap,
                                    int *decodes, uint64_t *size)
{
        struct pci_access *pacc = pci_alloc();
        if (!pacc)
                return &bd_error_nomem;
        pci_errbuf[0] = '\0';
        pacc->error = pci_error_cb;
        pacc->warning = pci_quiet_cb;
        pacc->debug = pci_quiet_cb;
        if (setjmp(pci_jmp)) {
                pci_cleanup(pacc);
                return bd_error_new(BD_ERR_TARGET, "libpci: %s", pci_errbuf);
        }
        pci_init(pacc);
        pci_scan_bus(pacc);

        struct pci_filter filter;
        pci_filter_init(pacc, &filter);
        char sel[64];
        snprintf(sel, sizeof(sel), "%s", selector);
        /* A slot always has a '.', a vendor:device pair never does. */
        char *bad = strchr(sel, '.') ? pci_filter_parse_slot(&filter, sel)
                                     : pci_filter_parse_id(&filter, sel);
        struct bd_error *err = NULL;
        if (bad) {
                err = bd_error_new(BD_ERR_USAGE, "bad PCI selector '%s': %s", selector, bad);
                goto out;
        }
        struct pci_dev *found = NULL;
        for (struct pci_dev *dev = pacc->devices; dev; dev = dev->next) {
                pci_fill_info(dev, PCI_FILL_IDENT | PCI_FILL_BASES | PCI_FILL_SIZES);
                if (pci_filter_match(&filter, dev)) {
                        found = dev;
                        break;
                }
        }
        if (!found) {
                err = bd_error_new(BD_ERR_TARGET, "no PCI device matches '%s'%s%s", selector,
                                   pci_errbuf[0] ? ": " : "", pci_errbuf);
                goto out;
        }
        if (!found->size[bar]) {
                err = bd_error_new(BD_ERR_TARGET, "PCI device %04x:%02x:%02x.%d has no BAR %d",
                                   found->domain, found->bus, found->dev, found->func, bar);
                goto out;
        }
        *size = found->size[bar];
        /* What the device's command register says, not sysfs's enable
         * file: that counts the drivers that enabled it (none, for a
         * device only mapped), while firmware may well have turned memory
         * decoding on. */
        *decodes = !!(pci_read_word(found, PCI_COMMAND) & PCI_COMMAND_MEMORY);
        snprintf(sysdir, cap, "/sys/bus/pci/devices/%04x:%02x:%02x.%d", found->domain, found->bus,
                 found->dev, found->func);
out:
        pci_cleanup(pacc);
        return err;
}

struct bd_error *bd_window_open_pci(const char *selector, int bar, int writable,
                                    struct bd_nic_window *w)
{
        char sysdir[128], path[192];
        uint64_t size = 0;
        int decodes = 0;
        struct bd_error *err = find_device(selector, bar, sysdir, sizeof(sysdir), &decodes, &size);
        if (err)
                return err;

        /* A device that decodes no memory would answer every read with
         * ~0, a wrong answer rather than an error. Enabling it takes
         * CAP_SYS_ADMIN (the packaged unit does not grant it). */
        if (!decodes) {
                snprintf(path, sizeof(path), "%s/enable", sysdir);
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                int ok = fd >= 0 && write(fd, "1", 1) == 1, saved = errno;
                if (fd >= 0)
                        close(fd);
                if (!ok)
                        return bd_error_new(BD_ERR_TARGET,
                                            "%s decodes no memory and cannot be enabled: %s "
                                            "(enabling a PCI device takes CAP_SYS_ADMIN)",
                                            sysdir, strerror(saved));
        }
        snprintf(path, sizeof(path), "%s/resource%d", sysdir, bar);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return bd_error_new(BD_ERR_TARGET, "cannot open %s: %s", path, strerror(errno));
        void *map = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
        int saved = errno;
        close(fd);
        if (map == MAP_FAILED)
                return bd_error_new(BD_ERR_TARGET, "cannot map %s: %s", path, strerror(saved));
        w->map = map;
        w->map_len = size;
        w->desc.length = size;
        w->desc.mode = BD_MODE_MEDIATED;
        return NULL;
}
