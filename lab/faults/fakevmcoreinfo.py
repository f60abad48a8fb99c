#!/usr/bin/env python3
"""Forged copies of host2's VMCOREINFO: bdlab inject host2 fakevmcoreinfo,
and the lab tests that look for them.

  make RAM PHYS OUT   write OUT: pages that each start with a copy of the
                      VMCOREINFO at physical PHYS of RAM (host2's memory
                      file), one field changed per kind, so that only the
                      kernel behind the copy can tell it from the real one
  plant RAM PHYS      write one forged copy into the first all-zero page of
                      RAM (a copy of host2's memory) below PHYS; print its
                      address
  find RAM PHYS       print "forged N below M first ADDR": copies in RAM whose
                      text is not the real one, how many lie below PHYS, and
                      the address of the first
"""
import sys

PAGE = 4096


def text_of(page):
    """The text of a copy as bdmon would take it (printable, OSRELEASE=
    first, a PAGESIZE= line), else None."""
    if page[12:23] == b"VMCOREINFO\0":  # the ELF note: 24 bytes of header
        size = int.from_bytes(page[4:8], "little")
        text = page[24:24 + min(size, PAGE - 24)].split(b"\0")[0]
    else:
        text = page.split(b"\0")[0]
    printable = all(c == 10 or 0x20 <= c <= 0x7e for c in text)
    if printable and text.startswith(b"OSRELEASE=") and b"\nPAGESIZE=" in text:
        return text
    return None


def text_at(ram, phys):
    ram.seek(phys)
    return text_of(ram.read(PAGE))


def change(text, key, value):
    lines = text.decode().splitlines()
    out = [key + "=" + value(line.split("=", 1)[1]) if line.startswith(key + "=") else line
           for line in lines]
    assert out != lines, key
    return ("\n".join(out) + "\n").encode()


def forgeries(real):
    yield change(real, "OSRELEASE", lambda v: "6.6.6-forged")
    yield change(real, "BUILD-ID", lambda v: "f" * len(v))
    yield change(real, "SYMBOL(init_uts_ns)", lambda v: "%x" % (int(v, 16) + 0x1000))
    yield change(real, "NUMBER(phys_base)", lambda v: str(int(v) + (2 << 20)))
    yield change(real, "SYMBOL(init_top_pgt)", lambda v: "%x" % (int(v, 16) + 0x3000))


def make(ram_path, phys, out_path, copies=64):
    with open(ram_path, "rb") as ram:
        real = text_at(ram, phys)
    assert real, "no VMCOREINFO at %#x" % phys
    with open(out_path, "wb") as out:
        for _ in range(copies):
            for forged in forgeries(real):
                out.write(forged.ljust(PAGE, b"\0"))


def find(ram_path, phys):
    with open(ram_path, "rb") as ram:
        real = text_at(ram, phys)
        ram.seek(0)
        forged = below = 0
        first = None
        at = 0
        while chunk := ram.read(64 * PAGE):
            for off in range(0, len(chunk) - PAGE + 1, PAGE):
                text = text_of(chunk[off:off + PAGE])
                if text and text != real:
                    forged += 1
                    below += at + off < phys
                    first = at + off if first is None else first
            at += len(chunk)
    print("forged %d below %d first %#x" % (forged, below, first or 0))


def plant(ram_path, phys):
    with open(ram_path, "r+b") as ram:
        real = text_at(ram, phys)
        for at in range(PAGE, phys, PAGE):
            ram.seek(at)
            if not any(ram.read(PAGE)):
                ram.seek(at)
                ram.write(next(forgeries(real)))
                print("%#x" % at)
                return
    sys.exit("no zero page below %#x" % phys)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3], 0), sys.argv[4])
    elif sys.argv[1] == "plant":
        plant(sys.argv[2], int(sys.argv[3], 0))
    elif sys.argv[1] == "find":
        find(sys.argv[2], int(sys.argv[3], 0))
    else:
        sys.exit(__doc__)
