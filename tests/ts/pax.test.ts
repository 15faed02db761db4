/**
 * PaxTap (src/image/pax.ts) against tars written by hand, byte by byte, with the header
 * kinds that move an archive's structure around: PAX headers with binary values, a PAX
 * global header, GNU long names, sizes in base-256 and in space-padded octal. Each entry
 * tar-stream emits must get its own PAX records, as raw bytes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import { PaxTap, parsePaxRecords } from "../../src/image/pax.js";

/** One "LEN KEY=VALUE\n" record; LEN counts itself. */
function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A ustar header block; `size` as 11 octal digits unless `sizeField` gives the 12 bytes. */
function header(name: string, type: string, size: number, sizeField?: Buffer): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, "latin1");
  h.write("0000000\0", 108, "latin1");
  h.write("0000000\0", 116, "latin1");
  (sizeField ?? Buffer.from(size.toString(8).padStart(11, "0") + "\0", "latin1")).copy(h, 124);
  h.write("00000000000\0", 136, "latin1");
  h.write(type, 156, "latin1");
  h.write("ustar\x0000", 257, "latin1");
  h.fill(" ", 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  return h;
}

/** A member: its header and its data padded to 512 bytes. */
function member(name: string, type: string, data: Buffer, sizeField?: Buffer): Buffer {
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header(name, type, data.length, sizeField), data, pad]);
}

/** Base-256 size field (GNU's encoding for sizes past 8 GiB, legal for any). */
function base256(n: number): Buffer {
  const f = Buffer.alloc(12);
  f[0] = 0x80;
  f.writeUInt32BE(n, 8);
  return f;
}

describe("PaxTap", () => {
  it("gives each entry the raw records of its own PAX header", async () => {
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80]);
    const archive = Buffer.concat([
      member("pax-global", "g", record("comment", Buffer.from("global"))),
      member("pax", "x", record("SCHILY.xattr.user.a", binary)),
      member("a", "0", Buffer.from("first\n")),
      member("b", "0", Buffer.from("no pax header\n"), base256(14)),
      member("././@LongLink", "L", Buffer.from("d/" + "n".repeat(120) + "\0")),
      member("pax", "x", record("SCHILY.xattr.user.c", Buffer.from([1, 2, 3]))),
      member("c", "0", Buffer.from("long\n"), Buffer.from("          5\0", "latin1")),
      member("d", "5", Buffer.alloc(0)),
      Buffer.alloc(1024),
    ]);
    const tap = new PaxTap();
    const extract = tar.extract();
    const seen: { name: string; raw: Map<string, Buffer> | undefined; data: string }[] = [];
    const reading = (async () => {
      for await (const entry of extract) {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        seen.push({
          name: entry.header.name,
          raw: tap.next(),
          data: Buffer.concat(chunks).toString(),
        });
      }
    })();
    // Fed in 7-byte pieces so headers and records are split across chunks.
    const pieces = Array.from({ length: Math.ceil(archive.length / 7) }, (_, i) =>
      archive.subarray(i * 7, i * 7 + 7),
    );
    await Promise.all([
      pipeline(Readable.from(pieces), tap, extract as unknown as NodeJS.WritableStream),
      reading,
    ]);
    assert.deepEqual(
      seen.map((e) => [e.name, e.data]),
      [
        ["a", "first\n"],
        ["b", "no pax header\n"],
        [`d/${"n".repeat(120)}`, "long\n"],
        ["d", ""],
      ],
    );
    assert.deepEqual(seen[0]!.raw?.get("SCHILY.xattr.user.a"), binary);
    assert.equal(seen[1]!.raw, undefined);
    assert.deepEqual(seen[2]!.raw?.get("SCHILY.xattr.user.c"), Buffer.from([1, 2, 3]));
    assert.equal(seen[3]!.raw, undefined);
    assert.equal(tap.next(), undefined, "more entries recorded than tar-stream emitted");
  });

  it("parses records whose values hold newlines, '=' and NUL", () => {
    const value = Buffer.from("a=b\nc\0d");
    const buf = Buffer.concat([record("k1", value), record("k2", Buffer.alloc(0))]);
    const r = parsePaxRecords(buf);
    assert.deepEqual([...r.keys()], ["k1", "k2"]);
    assert.deepEqual(r.get("k1"), value);
    assert.equal(r.get("k2")!.length, 0);
    // A record whose length runs past the end stops the parse instead of reading garbage.
    assert.equal(parsePaxRecords(Buffer.from("99 k=v\n")).size, 0);
  });
});
