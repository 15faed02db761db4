/**
 * The raw bytes of PAX extended headers, which tar-stream only hands out decoded as UTF-8.
 * An xattr value (`SCHILY.xattr.NAME`) is binary (a capability set, an ACL): decoded, every
 * byte that is not UTF-8 becomes U+FFFD and the value is lost. PaxTap watches the tar stream
 * on its way to tar-stream, follows the archive's structure (512-byte headers, data padded
 * to 512 bytes) and keeps, for each entry in order, the records of the PAX header that
 * precedes it, as bytes.
 *
 * It does not decide anything: flatten.ts uses a raw value only when it decodes to exactly
 * what tar-stream reported for the same key of the same entry, so a disagreement between the
 * two parsers can never put one entry's xattrs on another.
 */
import { Transform, type TransformCallback } from "node:stream";

const BLOCK = 512;
/** A larger PAX header is not kept (tar-stream still reads it); its values stay decoded. */
const MAX_PAX = 1 << 20;

/** Record key → raw value of one PAX extended header ("LEN KEY=VALUE\n" records). */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let at = 0;
  while (at < buf.length) {
    const space = buf.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(buf.subarray(at, space).toString("latin1"));
    if (!Number.isInteger(len) || len <= space - at || at + len > buf.length) break;
    const record = buf.subarray(space + 1, at + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) out.set(record.subarray(0, eq).toString("utf8"), record.subarray(eq + 1));
    at += len;
  }
  return out;
}

/** The size field of a tar header: octal text, or base-256 when its high bit is set. */
function headerSize(h: Buffer): number {
  const field = h.subarray(124, 136);
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  // Octal digits, which some writers pad with leading spaces or zeros and end with NUL/space.
  const digits = /^[\0 ]*([0-7]*)/.exec(field.toString("latin1"))![1]!;
  return digits === "" ? 0 : parseInt(digits, 8);
}

/** A pass-through stream that records each tar entry's raw PAX header (see above). */
export class PaxTap extends Transform {
  /** One item per entry tar-stream will emit, in order: its PAX records, if it had any. */
  private readonly entries: (Map<string, Buffer> | undefined)[] = [];
  private header = Buffer.alloc(0);
  /** Bytes of the current member's data (with padding) still to pass. */
  private skip = 0;
  /** The PAX header being read: its size and the bytes so far. */
  private capture: { size: number; chunks: Buffer[]; got: number } | undefined;
  private pending: Map<string, Buffer> | undefined;

  /** The next entry's raw PAX records (call once per entry tar-stream emits). */
  next(): Map<string, Buffer> | undefined {
    return this.entries.shift();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.scan(chunk);
    cb(null, chunk);
  }

  private scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        const c = this.capture;
        if (c && c.got < c.size) {
          const part = chunk.subarray(i, i + Math.min(n, c.size - c.got));
          c.chunks.push(Buffer.from(part));
          c.got += part.length;
        }
        this.skip -= n;
        i += n;
        if (this.skip === 0 && c) {
          this.pending = parsePaxRecords(Buffer.concat(c.chunks));
          this.capture = undefined;
        }
        continue;
      }
      const n = Math.min(BLOCK - this.header.length, chunk.length - i);
      this.header = Buffer.concat([this.header, chunk.subarray(i, i + n)]);
      i += n;
      if (this.header.length === BLOCK) this.member(this.header);
    }
  }

  /** A complete 512-byte header. */
  private member(h: Buffer): void {
    this.header = Buffer.alloc(0);
    if (h.every((b) => b === 0)) return; // end-of-archive blocks
    const type = String.fromCharCode(h[156]!);
    const size = headerSize(h);
    this.skip = Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x") {
      this.capture = size > 0 && size <= MAX_PAX ? { size, chunks: [], got: 0 } : undefined;
      this.pending = undefined;
    } else if (type !== "g" && type !== "L" && type !== "K") {
      // A real entry: the PAX header before it (if any) is its own.
      this.entries.push(this.pending);
      this.pending = undefined;
    }
  }
}
