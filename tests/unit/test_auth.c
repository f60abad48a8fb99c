/* Keys and the challenge-response MACs: a wrong, truncated or padded key must
 * never load, and a MAC must bind the key, both nonces, their order and the
 * direction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../common/auth.h"
#include "helpers.h"

#define HEX64 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void expect_key_bytes(const struct bd_key *k)
{
        for (int i = 0; i < BD_KEY_LEN; i++)
                assert_int_equal(k->bytes[i], i);
}

/* ---- parsing ------------------------------------------------------------ */

static void test_parse_ok(void **state)
{
        (void)state;
        struct bd_key k;
        memset(&k, 0xff, sizeof(k));
        assert_bd_ok(bd_key_parse(HEX64, &k));
        expect_key_bytes(&k);
}

/* Key files are written by editors and `echo`: surrounding whitespace and
 * line ends are fine. Upper-case hex is the same key. */
static void test_parse_whitespace_and_case(void **state)
{
        (void)state;
        static const char *const ok[] = {
            HEX64 "\n",
            HEX64 "\r\n",
            HEX64 " \t \n\n",
            "\n  \t" HEX64 "\n",
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                struct bd_key k;
                memset(&k, 0xff, sizeof(k));
                assert_bd_ok(bd_key_parse(ok[i], &k));
                expect_key_bytes(&k);
        }
}

/* A truncated or over-long key must not load as a weaker or different key. */
static void test_parse_wrong_length(void **state)
{
        (void)state;
        char text[200];
        struct bd_key k;
        for (size_t digits = 0; digits < 140; digits++) {
                if (digits == 64)
                        continue;
                memset(text, 'a', digits);
                text[digits] = '\0';
                assert_bd_error(bd_key_parse(text, &k), BD_ERR_TARGET);
        }
        /* 63 and 65 with a newline, as a file would hold them. */
        snprintf(text, sizeof(text), "%.63s\n", HEX64);
        assert_bd_error(bd_key_parse(text, &k), BD_ERR_TARGET);
        snprintf(text, sizeof(text), "%s0\n", HEX64);
        assert_bd_error(bd_key_parse(text, &k), BD_ERR_TARGET);
        assert_bd_error(bd_key_parse("", &k), BD_ERR_TARGET);
        assert_bd_error(bd_key_parse(" \n", &k), BD_ERR_TARGET);
}

static void test_parse_non_hex(void **state)
{
        (void)state;
        struct bd_key k;
        char text[80];
        /* One bad character anywhere among the 64. */
        static const char bad[] = {'g', 'G', 'x', ' ', '-', ':', '\0' + 1, (char)0xc3};
        for (size_t b = 0; b < sizeof(bad); b++) {
                for (int pos = 0; pos < 64; pos += 9) {
                        strcpy(text, HEX64);
                        text[pos] = bad[b];
                        assert_bd_error(bd_key_parse(text, &k), BD_ERR_TARGET);
                }
        }
        /* Spaces between digit pairs ("00 01 02 ...") are not a key format. */
        assert_bd_error(bd_key_parse("00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f "
                                     "10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f",
                                     &k),
                        BD_ERR_TARGET);
        /* A 0x prefix is not hex digits either. */
        assert_bd_error(bd_key_parse("0x" HEX64, &k), BD_ERR_TARGET);
}

static void test_parse_trailing_garbage(void **state)
{
        (void)state;
        struct bd_key k;
        assert_bd_error(bd_key_parse(HEX64 "x", &k), BD_ERR_TARGET);
        assert_bd_error(bd_key_parse(HEX64 "\nsecond line", &k), BD_ERR_TARGET);
        assert_bd_error(bd_key_parse(HEX64 " " HEX64, &k), BD_ERR_TARGET);
        assert_bd_error(bd_key_parse(HEX64 "\n#comment\n", &k), BD_ERR_TARGET);
}

/* ---- key files ---------------------------------------------------------- */

static void test_load_ok(void **state)
{
        (void)state;
        char path[32];
        temp_text(path, HEX64 "\n");
        struct bd_key k;
        memset(&k, 0xff, sizeof(k));
        assert_bd_ok(bd_key_load(path, &k));
        expect_key_bytes(&k);
        unlink(path);
}

/* A bad file's error names the file, so the operator knows which to fix. */
static void test_load_bad_content(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "",
            "\n",
            "0001020304\n",
            HEX64 "00\n",
            HEX64 "garbage\n",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char path[32];
                temp_text(path, bad[i]);
                struct bd_key k;
                struct bd_error *err = bd_key_load(path, &k);
                assert_non_null(err);
                assert_int_equal(err->code, BD_ERR_TARGET);
                assert_non_null(strstr(err->message, path));
                bd_error_destroy(err);
                unlink(path);
        }
}

/* A key others can read is no secret: refused, saying how to fix it. */
static void test_load_refuses_shared_key(void **state)
{
        (void)state;
        static const mode_t modes[] = {0640, 0604, 0620, 0602, 0660, 0644};
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                char path[32];
                temp_text(path, HEX64 "\n");
                assert_int_equal(chmod(path, modes[i]), 0);
                struct bd_key k;
                struct bd_error *err = bd_key_load(path, &k);
                assert_non_null(err);
                assert_int_equal(err->code, BD_ERR_TARGET);
                assert_non_null(strstr(err->message, "chmod 600"));
                assert_non_null(strstr(err->message, path));
                bd_error_destroy(err);
                assert_int_equal(chmod(path, 0400), 0); /* the owner's alone: fine */
                assert_bd_ok(bd_key_load(path, &k));
                unlink(path);
        }
}

static void test_load_missing(void **state)
{
        (void)state;
        struct bd_key k;
        struct bd_error *err = bd_key_load("/tmp/bdtest-no-such-key-file", &k);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_TARGET);
        assert_non_null(strstr(err->message, "/tmp/bdtest-no-such-key-file"));
        bd_error_destroy(err);
        /* A directory is not a key file. */
        assert_bd_error(bd_key_load("/tmp", &k), BD_ERR_TARGET);
}

/* A key file longer than the loader's read buffer: the header promises that
 * anything but hex digits and whitespace is refused, but only the first 255
 * bytes are read, so garbage after them is never seen. */
static void test_load_garbage_after_long_whitespace(void **state)
{
        (void)state;
        char text[600];
        int n = snprintf(text, sizeof(text), "%s\n", HEX64);
        memset(text + n, '\n', 300);
        strcpy(text + n + 300, "this is not a key file\n");
        char path[32];
        temp_text(path, text);
        struct bd_key k;
        struct bd_error *err = bd_key_load(path, &k);
        unlink(path);
        assert_bd_error(err, BD_ERR_TARGET);
}

/* ---- MACs --------------------------------------------------------------- */

/* A monitor at 10.99.0.4 (queue pair 0x11, UC 0x33) and a NIC at
 * 10.99.0.3 (0x22, UC 0x44) serving one mediated window. */
static const struct bd_auth_channel CH = {
    .monitor_qpn = 0x11,
    .nic_qpn = 0x22,
    .monitor_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 99, 0, 4},
    .nic_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 99, 0, 3},
    .monitor_uc_qpn = 0x33,
    .nic_uc_qpn = 0x44};
static const struct bd_window_desc WIN[1] = {
    {.name = "host2", .base = 0x1000, .length = 0x20000000, .mode = 2, .access = 1}};

struct fixture {
        struct bd_key key, other;
        uint8_t nn[BD_NONCE_LEN], mn[BD_NONCE_LEN];
};

static void setup_fixture(struct fixture *f)
{
        assert_bd_ok(bd_key_parse(HEX64, &f->key));
        f->other = f->key;
        f->other.bytes[BD_KEY_LEN - 1] ^= 1;
        bd_auth_nonce(f->nn);
        bd_auth_nonce(f->mn);
}

static void test_monitor_mac_verifies(void **state)
{
        (void)state;
        struct fixture f;
        setup_fixture(&f);
        uint8_t a[BD_MAC_LEN], b[BD_MAC_LEN];
        bd_auth_monitor_mac(&f.key, f.nn, f.mn, &CH, a);
        /* The other side recomputes it from the same key and nonces. */
        struct bd_key copy = f.key;
        uint8_t nn[BD_NONCE_LEN], mn[BD_NONCE_LEN];
        memcpy(nn, f.nn, sizeof(nn));
        memcpy(mn, f.mn, sizeof(mn));
        bd_auth_monitor_mac(&copy, nn, mn, &CH, b);
        assert_true(bd_auth_mac_equal(a, b));
        assert_memory_equal(a, b, BD_MAC_LEN);
        /* Same for the NIC's answer. */
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, WIN, 1, a);
        bd_auth_nic_mac(&copy, nn, mn, &CH, WIN, 1, b);
        assert_true(bd_auth_mac_equal(a, b));
}

/* HMAC-SHA256(key, "bd-monitor\0" || nic_nonce || mon_nonce || channel),
 * the channel as u64 LE queue pair numbers (monitor, NIC), the two 16-byte
 * addresses, then the UC queue pair numbers (monitor, NIC); the NIC's over
 * "bd-nic\0", the nonces the other way, the channel, then the window count
 * and each window (name length, name, base, length, remote_addr, rkey,
 * mode << 8 | access, as u64 LE): pin the construction with vectors
 * computed independently (Python hmac), so both sides keep agreeing. */
static void test_mac_known_vector(void **state)
{
        (void)state;
        struct bd_key k;
        assert_bd_ok(bd_key_parse(HEX64, &k));
        uint8_t nn[BD_NONCE_LEN], mn[BD_NONCE_LEN], mac[BD_MAC_LEN];
        memset(nn, 0x11, sizeof(nn));
        memset(mn, 0x22, sizeof(mn));
        static const uint8_t want_mon[BD_MAC_LEN] = {
            0x3a, 0x91, 0x85, 0xa3, 0x5f, 0xb7, 0x73, 0xed, 0x28, 0xa4, 0xce,
            0x25, 0x22, 0x33, 0xf5, 0x50, 0x40, 0xc7, 0x40, 0x30, 0x86, 0x5a,
            0xd3, 0xd1, 0x2f, 0x57, 0x9a, 0xc8, 0x5f, 0x1f, 0x85, 0xf9};
        static const uint8_t want_nic[BD_MAC_LEN] = {
            0x71, 0x13, 0xfe, 0xc3, 0xaa, 0x91, 0xc1, 0xc2, 0x7a, 0x7e, 0x92,
            0x95, 0x24, 0x06, 0x06, 0x5c, 0x8a, 0x64, 0x65, 0x97, 0x4e, 0x32,
            0x79, 0xe1, 0xe7, 0xf0, 0x66, 0x01, 0x5b, 0x6b, 0xc4, 0x5a};
        bd_auth_monitor_mac(&k, nn, mn, &CH, mac);
        assert_memory_equal(mac, want_mon, BD_MAC_LEN);
        bd_auth_nic_mac(&k, nn, mn, &CH, WIN, 1, mac);
        assert_memory_equal(mac, want_nic, BD_MAC_LEN);
}

static void test_mac_fails_other_key(void **state)
{
        (void)state;
        struct fixture f;
        setup_fixture(&f);
        uint8_t a[BD_MAC_LEN], b[BD_MAC_LEN];
        bd_auth_monitor_mac(&f.key, f.nn, f.mn, &CH, a);
        bd_auth_monitor_mac(&f.other, f.nn, f.mn, &CH, b);
        assert_false(bd_auth_mac_equal(a, b));
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, WIN, 1, a);
        bd_auth_nic_mac(&f.other, f.nn, f.mn, &CH, WIN, 1, b);
        assert_false(bd_auth_mac_equal(a, b));
}

/* Swapping the nonces must change the MAC, or a peer could reuse a proof
 * made for the opposite challenge. */
static void test_mac_fails_swapped_nonces(void **state)
{
        (void)state;
        struct fixture f;
        setup_fixture(&f);
        uint8_t a[BD_MAC_LEN], b[BD_MAC_LEN];
        bd_auth_monitor_mac(&f.key, f.nn, f.mn, &CH, a);
        bd_auth_monitor_mac(&f.key, f.mn, f.nn, &CH, b);
        assert_false(bd_auth_mac_equal(a, b));
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, WIN, 1, a);
        bd_auth_nic_mac(&f.key, f.mn, f.nn, &CH, WIN, 1, b);
        assert_false(bd_auth_mac_equal(a, b));
}

/* Any single flipped bit of either nonce or of the key changes the MAC. */
static void test_mac_fails_flipped_bit(void **state)
{
        (void)state;
        struct fixture f;
        setup_fixture(&f);
        uint8_t good[BD_MAC_LEN], mac[BD_MAC_LEN];
        bd_auth_monitor_mac(&f.key, f.nn, f.mn, &CH, good);
        for (int bit = 0; bit < BD_NONCE_LEN * 8; bit++) {
                uint8_t x[BD_NONCE_LEN];
                memcpy(x, f.nn, sizeof(x));
                x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                bd_auth_monitor_mac(&f.key, x, f.mn, &CH, mac);
                assert_false(bd_auth_mac_equal(good, mac));
                memcpy(x, f.mn, sizeof(x));
                x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                bd_auth_monitor_mac(&f.key, f.nn, x, &CH, mac);
                assert_false(bd_auth_mac_equal(good, mac));
        }
        for (int bit = 0; bit < BD_KEY_LEN * 8; bit++) {
                struct bd_key k = f.key;
                k.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                bd_auth_monitor_mac(&k, f.nn, f.mn, &CH, mac);
                assert_false(bd_auth_mac_equal(good, mac));
        }
        /* And a flipped bit of the MAC itself does not verify. */
        for (int bit = 0; bit < BD_MAC_LEN * 8; bit++) {
                memcpy(mac, good, sizeof(mac));
                mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                assert_false(bd_auth_mac_equal(good, mac));
        }
}

/* A proof belongs to one connection: a relay that is the NIC to the
 * monitor and a monitor to the NIC sees other queue pairs and addresses on
 * each side, and the proof the monitor made on its side does not check
 * out on the NIC's; nor does the NIC's answer once a window in it changes. */
static void test_mac_binds_connection(void **state)
{
        (void)state;
        struct fixture f;
        setup_fixture(&f);
        uint8_t good[BD_MAC_LEN], mac[BD_MAC_LEN];
        bd_auth_monitor_mac(&f.key, f.nn, f.mn, &CH, good);
        struct bd_auth_channel relay[6] = {CH, CH, CH, CH, CH, CH};
        relay[0].monitor_qpn ^= 1;
        relay[1].nic_qpn ^= 0x100;
        relay[2].monitor_addr[15] = 9; /* the relay's address */
        relay[3].nic_addr[14] = 7;
        relay[4].monitor_uc_qpn ^= 2; /* the relay's UC queue pairs */
        relay[5].nic_uc_qpn = 0;
        for (int i = 0; i < 6; i++) {
                bd_auth_monitor_mac(&f.key, f.nn, f.mn, &relay[i], mac);
                assert_false(bd_auth_mac_equal(good, mac));
        }
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, WIN, 1, good);
        for (int i = 0; i < 6; i++) {
                bd_auth_nic_mac(&f.key, f.nn, f.mn, &relay[i], WIN, 1, mac);
                assert_false(bd_auth_mac_equal(good, mac));
        }
        struct bd_window_desc w[2] = {WIN[0], WIN[0]};
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, w, 2, mac); /* one more */
        assert_false(bd_auth_mac_equal(good, mac));
        w[0].rkey = 0x1234; /* a relay's own memory key */
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, w, 1, mac);
        assert_false(bd_auth_mac_equal(good, mac));
        w[0] = WIN[0];
        w[0].access = 2; /* read-only made read-write */
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, w, 1, mac);
        assert_false(bd_auth_mac_equal(good, mac));
        w[0] = WIN[0];
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, w, 1, mac);
        assert_true(bd_auth_mac_equal(good, mac));
}

/* No reflection: the NIC's answer is not the monitor's proof over the same
 * inputs (in either nonce order), so a fake NIC cannot echo the monitor's
 * AUTH back as its WELCOME. */
static void test_nic_mac_differs_from_monitor_mac(void **state)
{
        (void)state;
        struct fixture f;
        setup_fixture(&f);
        uint8_t mon[BD_MAC_LEN], nic[BD_MAC_LEN];
        bd_auth_monitor_mac(&f.key, f.nn, f.mn, &CH, mon);
        bd_auth_nic_mac(&f.key, f.nn, f.mn, &CH, WIN, 1, nic);
        assert_false(bd_auth_mac_equal(mon, nic));
        bd_auth_monitor_mac(&f.key, f.mn, f.nn, &CH, mon);
        assert_false(bd_auth_mac_equal(mon, nic));
        /* Even with equal nonces (a peer echoing ours), the labels differ. */
        bd_auth_monitor_mac(&f.key, f.nn, f.nn, &CH, mon);
        bd_auth_nic_mac(&f.key, f.nn, f.nn, &CH, WIN, 1, nic);
        assert_false(bd_auth_mac_equal(mon, nic));
}

/* ---- seals (UC messages) ------------------------------------------------ */

static void seal_pair(struct bd_seal *mon, struct bd_seal *nic)
{
        struct bd_key k;
        assert_bd_ok(bd_key_parse(HEX64, &k));
        uint8_t nn[BD_NONCE_LEN], mn[BD_NONCE_LEN];
        memset(nn, 0x11, sizeof(nn));
        memset(mn, 0x22, sizeof(mn));
        bd_seal_init(mon, &k, nn, mn, &CH, 0);
        bd_seal_init(nic, &k, nn, mn, &CH, 1);
}

/* Session key HMAC-SHA256(key, "bd-uc-session\0" || nic_nonce ||
 * mon_nonce || channel); a message's MAC BLAKE2b-256 keyed with the
 * session key over direction ('M' from the monitor, 'N' from the NIC) ||
 * counter u64 LE || message, behind the message as counter then MAC:
 * pinned with a vector computed independently (Python hmac, hashlib). */
static void test_seal_known_vector(void **state)
{
        (void)state;
        struct bd_seal mon, nic;
        seal_pair(&mon, &nic);
        uint8_t buf[5 + BD_SEAL_LEN];
        memcpy(buf, "hello", 5);
        assert_int_equal(bd_seal_close(&mon, buf, 5), 5 + BD_SEAL_LEN);
        static const uint8_t counter[8] = {1, 0, 0, 0, 0, 0, 0, 0};
        static const uint8_t want[BD_MAC_LEN] = {0xcd, 0x18, 0x14, 0xae, 0x03, 0x63, 0x3c, 0xc6,
                                                 0xdc, 0x01, 0x06, 0x84, 0x15, 0x72, 0x9d, 0xb4,
                                                 0x38, 0x95, 0xdc, 0x3d, 0x27, 0x51, 0x43, 0x26,
                                                 0xe2, 0x4e, 0xf4, 0x75, 0xf8, 0x84, 0xde, 0x33};
        assert_memory_equal(buf + 5, counter, 8);
        assert_memory_equal(buf + 13, want, BD_MAC_LEN);
        assert_int_equal(bd_seal_open(&nic, buf, sizeof(buf)), 5);
}

/* What the NIC takes: each message once, in counter order, from the
 * monitor only, unchanged; a message lost leaves no hole that matters. */
static void test_seal_refuses_forged_replayed_reflected(void **state)
{
        (void)state;
        struct bd_seal mon, nic;
        seal_pair(&mon, &nic);
        uint8_t a[16 + BD_SEAL_LEN], b[16 + BD_SEAL_LEN], x[16 + BD_SEAL_LEN];
        memset(a, 'a', 16);
        memset(b, 'b', 16);
        size_t na = bd_seal_close(&mon, a, 16), nb = bd_seal_close(&mon, b, 16);
        /* Every flipped bit, of the message, counter or MAC, is refused. */
        for (size_t bit = 0; bit < na * 8; bit++) {
                memcpy(x, a, na);
                x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                assert_int_equal(bd_seal_open(&nic, x, na), 0);
        }
        assert_int_equal(bd_seal_open(&nic, a, na - 1), 0); /* cut short */
        assert_int_equal(bd_seal_open(&nic, a, BD_SEAL_LEN), 0);
        /* b overtakes a (a was lost): taken; a, then b again, are not. */
        assert_int_equal(bd_seal_open(&nic, b, nb), 16);
        assert_int_equal(bd_seal_open(&nic, a, na), 0);
        assert_int_equal(bd_seal_open(&nic, b, nb), 0);
        /* The monitor's own message, reflected back to it, is refused. */
        memset(x, 'c', 16);
        size_t nx = bd_seal_close(&mon, x, 16);
        struct bd_seal mon2 = mon;
        assert_int_equal(bd_seal_open(&mon2, x, nx), 0);
        /* The NIC's answer opens at the monitor. */
        size_t nr = bd_seal_close(&nic, x, 16);
        assert_int_equal(bd_seal_open(&mon, x, nr), 16);
        /* Another session (another nonce) opens nothing of this one. */
        struct bd_key k;
        assert_bd_ok(bd_key_parse(HEX64, &k));
        uint8_t nn[BD_NONCE_LEN], mn[BD_NONCE_LEN];
        memset(nn, 0x11, sizeof(nn));
        memset(mn, 0x23, sizeof(mn));
        struct bd_seal other;
        bd_seal_init(&other, &k, nn, mn, &CH, 1);
        memset(b, 'b', 16);
        nb = bd_seal_close(&mon, b, 16);
        assert_int_equal(bd_seal_open(&other, b, nb), 0);
        assert_int_equal(bd_seal_open(&nic, b, nb), 16);
}

static void test_mac_equal(void **state)
{
        (void)state;
        uint8_t a[BD_MAC_LEN], b[BD_MAC_LEN];
        memset(a, 0x5a, sizeof(a));
        memcpy(b, a, sizeof(b));
        assert_int_equal(bd_auth_mac_equal(a, b), 1);
        /* A difference in the first or last byte alone is seen. */
        b[0] ^= 0x80;
        assert_int_equal(bd_auth_mac_equal(a, b), 0);
        b[0] ^= 0x80;
        b[BD_MAC_LEN - 1] ^= 1;
        assert_int_equal(bd_auth_mac_equal(a, b), 0);
        memset(b, 0, sizeof(b));
        memset(a, 0, sizeof(a));
        assert_int_equal(bd_auth_mac_equal(a, b), 1);
}

static void test_nonces_differ(void **state)
{
        (void)state;
        uint8_t a[BD_NONCE_LEN], b[BD_NONCE_LEN], zero[BD_NONCE_LEN] = {0};
        bd_auth_nonce(a);
        bd_auth_nonce(b);
        assert_memory_not_equal(a, b, BD_NONCE_LEN);
        assert_memory_not_equal(a, zero, BD_NONCE_LEN);
        /* Many in a row: no repeats among them. */
        static uint8_t many[64][BD_NONCE_LEN];
        for (int i = 0; i < 64; i++)
                bd_auth_nonce(many[i]);
        for (int i = 0; i < 64; i++)
                for (int j = i + 1; j < 64; j++)
                        assert_memory_not_equal(many[i], many[j], BD_NONCE_LEN);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_ok),
            cmocka_unit_test(test_parse_whitespace_and_case),
            cmocka_unit_test(test_parse_wrong_length),
            cmocka_unit_test(test_parse_non_hex),
            cmocka_unit_test(test_parse_trailing_garbage),
            cmocka_unit_test(test_load_ok),
            cmocka_unit_test(test_load_bad_content),
            cmocka_unit_test(test_load_refuses_shared_key),
            cmocka_unit_test(test_load_missing),
            cmocka_unit_test(test_load_garbage_after_long_whitespace),
            cmocka_unit_test(test_monitor_mac_verifies),
            cmocka_unit_test(test_mac_known_vector),
            cmocka_unit_test(test_mac_binds_connection),
            cmocka_unit_test(test_mac_fails_other_key),
            cmocka_unit_test(test_mac_fails_swapped_nonces),
            cmocka_unit_test(test_mac_fails_flipped_bit),
            cmocka_unit_test(test_nic_mac_differs_from_monitor_mac),
            cmocka_unit_test(test_seal_known_vector),
            cmocka_unit_test(test_seal_refuses_forged_replayed_reflected),
            cmocka_unit_test(test_mac_equal),
            cmocka_unit_test(test_nonces_differ),
        };
        return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
