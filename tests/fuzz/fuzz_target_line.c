/* libFuzzer target: bd_target_parse_line on one line of a config file, and
 * bd_target_parse_spec on the same text as a command-line source.
 *
 * Invariants: a target has a name, a source of its kind and (for a NIC) a
 * key and a port in 1..65535, every field NUL-terminated inside its array;
 * a refusal comes with an error object (freed here); a blank or comment
 * line gives neither. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/source/target.h"
#include "fuzz_check.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_target(const struct bd_target *t)
{
        CHECK(TERMINATED(t->name) && TERMINATED(t->host) && TERMINATED(t->key) &&
              TERMINATED(t->path));
        if (t->kind == BD_TARGET_NIC) {
                CHECK(t->host[0]);
                CHECK(t->port >= 1 && t->port <= 65535);
        } else {
                CHECK(t->kind == BD_TARGET_FILE);
                CHECK(t->path[0]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *line = malloc(size + 1);
        CHECK(line);
        memcpy(line, data, size);
        line[size] = '\0';

        struct bd_target t;
        struct bd_error *err = (struct bd_error *)1;
        int rc = bd_target_parse_line(line, &t, &err);
        if (rc == 1) {
                CHECK(err == NULL);
                check_target(&t);
                CHECK(t.name[0] && !strchr(t.name, '#'));
                if (t.kind == BD_TARGET_NIC)
                        CHECK(t.key[0]);
        } else {
                CHECK(rc == 0);
                if (err) {
                        CHECK(err->code == BD_ERR_TARGET && err->message[0]);
                        bd_error_destroy(err);
                }
        }

        static const char *const keys[] = {NULL, "/etc/backdoors/k"};
        for (int k = 0; k < 2; k++) {
                err = bd_target_parse_spec(line, keys[k], &t);
                if (err) {
                        CHECK(err->code == BD_ERR_TARGET || err->code == BD_ERR_USAGE);
                        bd_error_destroy(err);
                } else {
                        check_target(&t);
                        CHECK(TERMINATED(t.name));
                        if (t.kind == BD_TARGET_NIC)
                                CHECK(keys[k] && !strcmp(t.key, keys[k]));
                }
        }
        free(line);
        return 0;
}
