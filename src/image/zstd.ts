/**
 * zstd decompression for `tar+zstd` layers. Node 20's zlib has no zstd, so the stream goes
 * through Debian's `zstd` program (`zstd -d -c`, stdin to stdout): the reference decoder, at
 * native speed, handling every frame kind encoders write (concatenated and skippable frames,
 * long windows up to its default 128 MiB limit). A pure-JS decoder (fzstd) was measured at
 * about a tenth of the speed, and far slower still on long-window frames.
 *
 * The decoder is a Duplex: compressed bytes in, the tar out, with the program's exit status
 * turned into an error so a corrupt or cut frame cannot pass for the end of the stream.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { Duplex, type Readable, type Writable } from "node:stream";
import { UnoError } from "../lib/errors.js";

/** The zstd program is missing, or it refused the data (corrupt frame, window too large). */
export class ZstdError extends UnoError {
  constructor(message: string) {
    super("ZSTD", message);
  }
}

/** The program run; tests may point it elsewhere with $UNO_ZSTD. */
const zstdProgram = (): string => process.env.UNO_ZSTD ?? "zstd";

class ZstdDecoder extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = "";
  private exited = false;

  constructor(private readonly what: string) {
    super();
    const program = zstdProgram();
    this.child = spawn(program, ["-d", "-c", "-q"], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.on("error", (err: NodeJS.ErrnoException) => {
      this.exited = true;
      this.destroy(
        new ZstdError(
          err.code === "ENOENT"
            ? `${what} is zstd-compressed and the zstd program (${program}) is not installed: install it (Debian: apt-get install zstd)`
            : `${what}: cannot run ${program}: ${err.message}`,
        ),
      );
    });
    this.child.stderr.on("data", (d: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += d.toString();
    });
    this.child.stdout.on("data", (d: Buffer) => {
      if (!this.push(d)) this.child.stdout.pause();
    });
    // The input side fails with EPIPE when zstd quits early on bad data; its exit status
    // (below) says why, so this error carries nothing worth reporting.
    this.child.stdin.on("error", () => undefined);
    // 'close' comes after stdout has delivered everything and the status is known.
    this.child.on("close", (code, signal) => {
      this.exited = true;
      if (code === 0) this.push(null);
      else if (!this.destroyed)
        this.destroy(
          new ZstdError(
            `${this.what}: zstd data is corrupt or cut short (${
              this.stderr.trim().replace(/\s+/g, " ") || `zstd exited with ${signal ?? code}`
            })`,
          ),
        );
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // The callback waits for the pipe to take the chunk: zstd's pace is the stream's pace.
    this.child.stdin.write(chunk, () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.child.stdin.end();
    cb();
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.exited) this.child.kill("SIGKILL");
    cb(err);
  }
}

/** A stream that decompresses zstd data; `what` names the data in errors ("layer sha256:…"). */
export function zstdDecompressor(what: string): Duplex {
  return new ZstdDecoder(what);
}

/** zstd's frame magic (little-endian 0xFD2FB528) at the start of `b`. */
export function isZstdMagic(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd;
}
