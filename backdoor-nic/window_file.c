#include "../common/file_map.h"
#include "window.h"

struct bd_error *bd_window_open_file(const char *path, int writable, struct bd_nic_window *w)
{
        /* Linux before 6.2 pins every memory region, read-only ones too, with
         * FOLL_WRITE|FOLL_FORCE, which a read-only shared mapping refuses
         * (EFAULT). So map read-write in this process whenever the file allows
         * it: what a peer may do is decided by the memory key's access flags,
         * read-only unless --allow-write, not by this mapping. */
        struct bd_file_map m;
        struct bd_error *err = bd_file_map(path, writable ? BD_MAP_RW : BD_MAP_RW_IF_POSSIBLE, &m);
        if (err)
                return err;
        w->map = m.data;
        w->map_len = m.size;
        w->desc.length = m.size;
        w->desc.mode = BD_MODE_DIRECT;
        return NULL;
}
