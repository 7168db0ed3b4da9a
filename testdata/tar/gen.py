#!/usr/bin/env python3
"""Generate the tar fixtures in this directory (run: python3 testdata/tar/gen.py).

Standard library only; the output is deterministic, so re-running it must leave git
clean. The name prefix states what the tests expect:

  ok-*      Go's archive/tar and the gateway both accept, with the same entries
  bad-*     Go's archive/tar rejects (and so must the gateway)
  refuse-*  the gateway refuses by policy, whatever Go does

Ordinary archives come from `tarfile`; the nasty ones are assembled block by block
with `hdr()`, which fills a header field by field and computes the checksum.
"""

import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCK = 512
ZERO = b"\0" * BLOCK
EOA = ZERO * 2

# Field offsets and sizes of a tar header block.
FIELDS = {
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "gid": (116, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "chksum": (148, 8),
    "type": (156, 1),
    "linkname": (157, 100),
    "magic": (257, 6),
    "version": (263, 2),
    "uname": (265, 32),
    "gname": (297, 32),
    "devmajor": (329, 8),
    "devminor": (337, 8),
    "prefix": (345, 155),
    "atime_gnu": (345, 12),
    "ctime_gnu": (357, 12),
    "star_prefix": (345, 131),
    "star_atime": (476, 12),
    "star_ctime": (488, 12),
    "trailer": (508, 4),
}

MAGIC = {
    "ustar": (b"ustar\0", b"00"),
    "gnu": (b"ustar ", b" \0"),
    "v7": (b"", b""),
    "star": (b"ustar\0", b"00"),
}


def octal(n, width):
    return b"%0*o\0" % (width - 1, n)


def b256(n, width):
    """Base-256 (GNU binary) encoding, two's complement, high bit set."""
    raw = (n % (1 << (8 * width))).to_bytes(width, "big")
    return bytes([raw[0] | 0x80]) + raw[1:]


def hdr(name=b"file", type=b"0", size=0, fmt="ustar", chksum=None, signed=False, **kw):
    """One header block. Numeric args may be ints (octal) or raw bytes."""
    b = bytearray(BLOCK)

    def put(field, val):
        off, width = FIELDS[field]
        if isinstance(val, int):
            val = octal(val, width)
        if isinstance(val, str):
            val = val.encode()
        assert len(val) <= width, (field, val)
        b[off : off + len(val)] = val

    magic, version = MAGIC[fmt]
    fields = dict(mode=0o644, uid=1000, gid=1000, mtime=1700000000)
    if fmt != "v7":
        fields.update(uname=b"user", gname=b"group", devmajor=0, devminor=0)
    if fmt == "star":
        fields.update(trailer=b"tar\0", star_atime=0, star_ctime=0)
    fields.update(name=name, type=type, size=size, magic=magic, version=version)
    fields.update(kw)
    for k, v in fields.items():
        put(k, v)
    b[148:156] = b" " * 8
    if chksum is None:
        if signed:
            s = sum(c - 256 if c >= 128 else c for c in b)
        else:
            s = sum(b)
        chksum = b"%06o\0 " % s
    b[148:156] = chksum
    return bytes(b)


def pad(data):
    return data + b"\0" * (-len(data) % BLOCK)


def entry(data=b"", **kw):
    """A header plus its padded body."""
    kw.setdefault("size", len(data))
    return hdr(**kw) + pad(data)


def pax_record(k, v):
    if isinstance(k, str):
        k = k.encode()
    if isinstance(v, str):
        v = v.encode()
    base = len(k) + len(v) + 3
    n = base + len(str(base))
    if len(str(n)) != len(str(base)):
        n = base + len(str(n))
    return b"%d %s=%s\n" % (n, k, v)


def pax(records, type=b"x", raw=None):
    body = raw if raw is not None else b"".join(pax_record(k, v) for k, v in records)
    return entry(body, name=b"PaxHeaders/x", type=type)


def longname(name, type=b"L"):
    return entry(name, name=b"././@LongLink", type=type, fmt="gnu")


def with_tarfile(fmt, members, **tfkw):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt, **tfkw) as tf:
        for info, data in members:
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(data) if data else None)
    return out.getvalue()


def info(name, type=tarfile.REGTYPE, linkname="", mode=0o644, mtime=1700000000, uid=1000,
         gid=1000, uname="user", gname="group", pax_headers=None):
    t = tarfile.TarInfo(name)
    t.type, t.linkname, t.mode, t.mtime = type, linkname, mode, mtime
    t.uid, t.gid, t.uname, t.gname = uid, gid, uname, gname
    if pax_headers:
        t.pax_headers = pax_headers
    return t


LONG = "dir-" + "x" * 120 + "/file-" + "y" * 40
LONG_LINK = "target-" + "z" * 150

FIXTURES = {}


def fixture(name, data):
    assert name not in FIXTURES, name
    FIXTURES[name] = data


def basic_members():
    return [
        (info("dir/", tarfile.DIRTYPE, mode=0o755), b""),
        (info("dir/hello.txt"), b"hello, world\n"),
        (info("dir/empty"), b""),
        (info("dir/link", tarfile.SYMTYPE, linkname="hello.txt", mode=0o777), b""),
        (info("dir/hard", tarfile.LNKTYPE, linkname="dir/hello.txt"), b""),
        (info("Dockerfile", mode=0o4755), b"FROM scratch\nCOPY . /\n"),
        (info("big.bin"), bytes(range(256)) * 5),
    ]


# ---- ordinary archives from tarfile -------------------------------------------------

fixture("ok-ustar-basic.tar", with_tarfile(tarfile.USTAR_FORMAT, basic_members()))
fixture("ok-gnu-basic.tar", with_tarfile(tarfile.GNU_FORMAT, basic_members()))
fixture("ok-pax-basic.tar", with_tarfile(tarfile.PAX_FORMAT, basic_members()))
fixture(
    "ok-gnu-longnames.tar",
    with_tarfile(
        tarfile.GNU_FORMAT,
        [
            (info(LONG), b"long\n"),
            (info("short-link", tarfile.SYMTYPE, linkname=LONG_LINK), b""),
            (info(LONG + "-sym", tarfile.SYMTYPE, linkname=LONG_LINK), b""),
        ],
    ),
)
fixture(
    "ok-pax-longnames.tar",
    with_tarfile(
        tarfile.PAX_FORMAT,
        [
            (info(LONG), b"long\n"),
            (info(LONG + "-sym", tarfile.SYMTYPE, linkname=LONG_LINK), b""),
            (info("caf\u00e9/na\u00efve.txt", uname="u" * 40, gname="g" * 40), b"utf8\n"),
            (info("big-ids", uid=3000000, gid=4000000), b"ids\n"),
            (info("old", mtime=-100), b"old\n"),
            (info("future", mtime=10**11), b"future\n"),
            (
                info(
                    "xattrs",
                    pax_headers={
                        "SCHILY.xattr.user.a": "1",
                        "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
                    },
                ),
                b"x\n",
            ),
        ],
    ),
)
fixture(
    "ok-ustar-prefix.tar",
    with_tarfile(tarfile.USTAR_FORMAT, [(info("p" * 80 + "/" + "n" * 60), b"prefixed\n")]),
)

# ---- header-level cases ---------------------------------------------------------------

fixture("ok-ustar-name100.tar", entry(b"a", name=b"n" * 100) + EOA)
fixture(
    "ok-v7.tar",
    entry(b"v7 data", name=b"v7file", fmt="v7", uname=b"ignored", prefix=b"ignored")
    + entry(name=b"v7dir/", type=b"5", fmt="v7")
    + EOA,
)
fixture(
    "ok-star.tar",
    entry(b"star", name=b"file", fmt="star", star_prefix=b"starprefix") + EOA,
)
# GNU magic: atime/ctime parse as numbers, so the "prefix" bytes are not a prefix.
fixture("ok-gnu-prefix-ignored.tar", entry(b"g", name=b"file", fmt="gnu", prefix=b"12345670123") + EOA)
# GNU magic, atime not a number and ASCII: Go applies the bytes as a USTAR prefix.
fixture("ok-gnu-prefix-fallback.tar", entry(b"g", name=b"file", fmt="gnu", prefix=b"evil") + EOA)
# ... but only when they are ASCII.
fixture("ok-gnu-prefix-fallback-nonascii.tar", entry(b"g", name=b"file", fmt="gnu", prefix=b"e\xffvil") + EOA)
# ... and when only ctime does not parse; the prefix then starts at atime.
fixture("ok-gnu-prefix-fallback-ctime.tar", entry(b"g", name=b"file", fmt="gnu", prefix=b"0123", ctime_gnu=b"zz") + EOA)
# USTAR magic with a non-standard version still uses the prefix.
fixture("ok-ustar-prefix-odd-version.tar", entry(b"u", name=b"file", prefix=b"pre", version=b"\0\0") + EOA)
fixture(
    "ok-base256.tar",
    entry(b"12345", name=b"b256", size=b256(5, 12), uid=b256(70000, 8), mtime=b256(1700000001, 12))
    + entry(b"", name=b"neg-mtime", mtime=b256(-5, 12))
    + EOA,
)
fixture(
    "ok-octal-spaces.tar",
    entry(b"sp", name=b"spaces", mode=b"   644 \0", uid=b" 1750 \0\0", size=b"      2    ", gid=b"\0\0\0 12\0 ")
    + EOA,
)
fixture(
    "ok-signed-checksum.tar",
    entry(b"s", name="s\u00e9\u00e8".encode(), signed=True) + EOA,
)
fixture(
    "ok-checksum-spaces.tar",
    # Checksum with a leading space instead of a zero, as some old tars write it.
    hdr(name=b"cs", size=0)[:148] + b" " + hdr(name=b"cs", size=0)[149:] + EOA,
)
# Header-only types: the size field is ignored and the next header follows directly.
fixture(
    "ok-symlink-size.tar",
    hdr(name=b"sym", type=b"2", linkname=b"target", size=512)
    + entry(b"after", name=b"after")
    + hdr(name=b"d/", type=b"5", size=1024)
    + hdr(name=b"hl", type=b"1", linkname=b"after", size=3)
    + EOA,
)
# Type '\0' with a trailing slash is a directory, and so has no body.
fixture(
    "ok-rega-dir.tar",
    hdr(name=b"olddir/", type=b"\0", size=512)
    + entry(b"next", name=b"next")
    + entry(b"rega", name=b"regafile", type=b"\0")
    + pax([("path", "paxdir/")])
    + hdr(name=b"notadir", type=b"\0", size=512)
    + entry(b"n2", name=b"next2")
    + EOA,
)
# Type '0' with a trailing slash stays a regular file.
fixture("ok-reg-trailing-slash.tar", entry(b"x", name=b"file/") + EOA)
fixture(
    "ok-pax-overrides.tar",
    pax([("path", "from-pax"), ("uid", "42"), ("gid", "+43"), ("uname", "paxu"), ("mtime", "1.999"), ("atime", "5"), ("ctime", "-3.25")])
    + entry(b"p", name=b"from-ustar")
    + pax([("mtime", "-1.5")])
    + entry(name=b"neg-frac")
    + pax([("mtime", "-0.5")])
    + entry(name=b"neg-half")
    + pax([("mtime", "7.")])
    + entry(name=b"dot")
    + pax([("size", "7")])
    + entry(b"sevenby", name=b"pax-size", size=0)
    + pax([("linkpath", "ignored-for-files")])
    + entry(b"f", name=b"file-with-linkpath")
    + pax([("linkpath", LONG_LINK)])
    + hdr(name=b"sym", type=b"2", linkname=b"short")
    + EOA,
)
fixture(
    "ok-pax-precedence.tar",
    # Only the last of several x headers counts.
    pax([("path", "first")])
    + pax([("uid", "7")])
    + entry(b"a", name=b"ustar-a")
    # A later empty value replaces an earlier one, and empty means "keep USTAR".
    + pax([("path", "dup1"), ("path", "")])
    + entry(b"b", name=b"ustar-b")
    + pax([("path", "dup1"), ("path", "dup2")])
    + entry(b"c", name=b"ustar-c")
    # GNU long name beats PAX path.
    + pax([("path", "pax-name")])
    + longname(b"gnu-name\0")
    + entry(b"d", name=b"ustar-d")
    + longname(b"gnu-name2\0")
    + pax([("path", "pax-name2")])
    + entry(b"e", name=b"ustar-e")
    # The last long name counts, even an empty one.
    + longname(b"lost\0")
    + longname(b"\0")
    + entry(b"f", name=b"ustar-f")
    # A long name stops at the first NUL.
    + longname(b"cut\0garbage")
    + entry(b"g", name=b"ustar-g")
    + longname(b"lnk\0", type=b"K")
    + hdr(name=b"hard", type=b"1", linkname=b"short")
    + EOA,
)
fixture(
    "ok-pax-records.tar",
    # Length with leading zeros and a plus sign, values with '=' and newlines.
    pax([], raw=b"0020 path=a=b c.txt\n" + b"+16 uname=x y z\n")
    + entry(b"r", name=b"ustar")
    + pax([("SCHILY.xattr.user.empty", ""), ("SCHILY.xattr.user.k", "v1"), ("SCHILY.xattr.user.k", "v2"), ("SCHILY.xattr.", "nokey"), ("comment", "hi"), ("unknown.key", "\x00bin")])
    + entry(b"x", name=b"xattr-file")
    + EOA,
)
fixture(
    "ok-global-header.tar",
    pax([("path", "global-path"), ("comment", "g")], type=b"g")
    + entry(b"1", name=b"one")
    # A pending x header and long name are forgotten at a global header.
    + pax([("path", "lost-pax")])
    + longname(b"lost-long\0")
    + pax([("uid", "not checked in g")], type=b"g")
    + entry(b"2", name=b"two")
    + EOA,
)
fixture("ok-no-zero-blocks.tar", entry(b"x", name=b"noeoa"))
fixture("ok-one-zero-block.tar", entry(b"x", name=b"onezero") + ZERO)
fixture("ok-trailing-garbage.tar", entry(b"x", name=b"t") + EOA + b"garbage after the end" * 50)
fixture("ok-truncated-padding.tar", hdr(name=b"tp", size=3) + b"abc" + b"\0" * 100)
fixture("ok-truncated-pax-padding.tar", entry(b"x", name=b"a") + pax([("path", "dangling")])[: BLOCK + 40])
fixture("ok-dangling-pax.tar", entry(b"x", name=b"a") + pax([("path", "dangling")]))
fixture("ok-dangling-longname.tar", entry(b"x", name=b"a") + longname(b"dangling\0"))
fixture("ok-empty.tar", b"")
fixture("ok-only-eoa.tar", EOA)
fixture("ok-hardlink-data-ignored.tar", hdr(name=b"hl", type=b"1", linkname=b"a", size=5) + entry(b"x", name=b"a") + EOA)

# ---- archives Go rejects --------------------------------------------------------------

good = entry(b"x", name=b"file")
fixture("bad-checksum.tar", hdr(name=b"f", chksum=b"0000000\0") + EOA)
fixture("bad-checksum-garbage.tar", hdr(name=b"f", chksum=b"12x4\0   ") + EOA)
fixture("bad-zero-then-nonzero.tar", good + ZERO + good + EOA)
fixture("bad-truncated-header.tar", good + good[:300])
fixture("bad-truncated-data.tar", hdr(name=b"f", size=1000) + b"x" * 600)
fixture("bad-truncated-second-zero.tar", good + ZERO + ZERO[:100])
fixture("bad-truncated-pax.tar", pax([("path", "p" * 700)])[:BLOCK + 300])
fixture("bad-octal-digit.tar", entry(b"x", name=b"f", mode=b"0000678\0") + EOA)
fixture("bad-octal-inner-space.tar", entry(b"x", name=b"f", uid=b"12 34\0\0\0") + EOA)
fixture("bad-devmajor.tar", entry(b"x", name=b"f", devmajor=b"zz\0") + EOA)
fixture("bad-star-atime.tar", entry(b"x", name=b"f", fmt="star", star_atime=b"nope\0") + EOA)
fixture("bad-negative-size.tar", hdr(name=b"f", size=b256(-1, 12)) + EOA)
fixture("bad-base256-overflow.tar", entry(b"x", name=b"f", mtime=b"\x80\xff" + b"\xff" * 10) + EOA)
fixture("bad-pax-length.tar", pax([], raw=b"99 path=x\n") + good + EOA)
fixture("bad-pax-short-length.tar", pax([], raw=b"3 a\n") + good + EOA)
fixture("bad-pax-no-newline.tar", pax([], raw=b"10 path=xy") + good + EOA)
fixture("bad-pax-no-equals.tar", pax([], raw=b"9 pathxy\n") + good + EOA)
fixture("bad-pax-nul-path.tar", pax([("path", "a\0b")]) + good + EOA)
fixture("bad-pax-nul-key.tar", pax([("foo\0bar", "v")]) + good + EOA)
fixture("bad-pax-uid.tar", pax([("uid", "12a")]) + good + EOA)
fixture("bad-pax-size.tar", pax([("size", "1e3")]) + good + EOA)
fixture("bad-pax-negative-size.tar", pax([("size", "-1")]) + good + EOA)
fixture("bad-pax-mtime.tar", pax([("mtime", "1.5x")]) + good + EOA)
fixture("bad-pax-atime.tar", pax([("atime", ".5")]) + good + EOA)
fixture("bad-pax-sparse-order.tar", pax([("GNU.sparse.numbytes", "1")]) + good + EOA)
fixture("bad-global-bad-record.tar", pax([], type=b"g", raw=b"5 x\n") + good + EOA)
fixture("bad-pax-too-large.tar", hdr(name=b"big", type=b"x", size=(1 << 20) + 1) + b"5 a=\n" * 1000)
fixture("bad-longname-too-large.tar", hdr(name=b"big", type=b"L", size=(1 << 20) + 1, fmt="gnu") + b"a" * 5000)

# ---- archives the gateway refuses by policy -------------------------------------------

fixture("refuse-fifo.tar", hdr(name=b"fifo", type=b"6") + EOA)
fixture("refuse-chardev.tar", hdr(name=b"null", type=b"3", devmajor=1, devminor=3) + EOA)
fixture("refuse-blockdev.tar", hdr(name=b"sda", type=b"4", devmajor=8) + EOA)
fixture("refuse-contiguous.tar", entry(b"c", name=b"c", type=b"7") + EOA)
fixture("refuse-unknown-type.tar", entry(b"z", name=b"z", type=b"Z") + EOA)
fixture("refuse-gnu-sparse.tar", hdr(name=b"sparse", type=b"S", fmt="gnu") + EOA)
fixture("refuse-gnu-dumpdir.tar", entry(b"d\0", name=b"dd/", type=b"D", fmt="gnu") + EOA)
fixture("refuse-gnu-volume.tar", hdr(name=b"label", type=b"V", fmt="gnu") + EOA)
fixture(
    "refuse-pax-sparse.tar",
    pax([("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", "s"), ("GNU.sparse.realsize", "3")])
    + entry(b"1\n0\n3\n" + b"\0" * 506 + b"abc", name=b"GNUSparseFile.0/s")
    + EOA,
)
fixture("refuse-pax-sparse-name-only.tar", pax([("GNU.sparse.name", "s")]) + good + EOA)
fixture("refuse-control-name.tar", entry(b"x", name=b"a\nb") + EOA)
fixture("refuse-del-name.tar", entry(b"x", name=b"a\x7fb") + EOA)
fixture("refuse-control-link.tar", hdr(name=b"l", type=b"2", linkname=b"t\x1b[0m") + EOA)
fixture("refuse-empty-name.tar", entry(b"x", name=b"") + EOA)
fixture("refuse-empty-link.tar", hdr(name=b"l", type=b"2", linkname=b"") + EOA)
fixture("refuse-long-path.tar", pax([("path", "d/" * 2500)]) + good + EOA)
fixture("refuse-negative-uid.tar", entry(b"x", name=b"f", uid=b256(-1, 8)) + EOA)
fixture("refuse-pax-negative-gid.tar", pax([("gid", "-2")]) + good + EOA)
fixture("refuse-huge-uid.tar", pax([("uid", str(1 << 40))]) + good + EOA)
fixture("refuse-negative-mode.tar", entry(b"x", name=b"f", mode=b256(-1, 8)) + EOA)
fixture("refuse-symlink-negative-size.tar", hdr(name=b"l", type=b"2", linkname=b"t", size=b256(-1, 12)) + EOA)


def main():
    for old in os.listdir(HERE):
        if old.endswith(".tar") and old not in FIXTURES:
            os.remove(os.path.join(HERE, old))
    for name, data in sorted(FIXTURES.items()):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    print(f"{len(FIXTURES)} fixtures written to {HERE}")


if __name__ == "__main__":
    main()
