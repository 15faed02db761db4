/**
 * Inspect an ELF file's header and program headers (no section headers, no symbols).
 *
 * Only the first few KB of the file are read: the 64-byte ELF header, the program header
 * table and the PT_INTERP string, each read at its offset. The classification follows what
 * the Linux kernel's ELF loader would accept or refuse, so a file classified "ok" here is
 * one the libOS can be asked to load.
 */
import * as fs from "node:fs";
import { BadElfError } from "./errors.js";

/** ELF e_type values uno cares about. */
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

/** Program header types. */
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;

/** e_machine value for x86-64. */
export const EM_X86_64 = 62;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ELF64_EHDR_SIZE = 64;
const ELF64_PHDR_SIZE = 56;
/** The kernel refuses program header tables larger than this (fs/binfmt_elf.c). */
const MAX_PHDR_TABLE = 65536;
/** The kernel refuses interpreter paths longer than PATH_MAX. */
const PATH_MAX = 4096;
/** How much of the file is read up front; enough for the headers of any normal program. */
export const ELF_HEAD_BYTES = 4096;

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/**
 * How the program is linked:
 *  - "static": ET_EXEC without PT_INTERP (classic `gcc -static`),
 *  - "static-pie": ET_DYN without PT_INTERP (`gcc -static-pie`, musl's default static),
 *  - "dynamic": has PT_INTERP; needs the named interpreter (ld.so) at run time.
 */
export type ElfLinkage = "static" | "static-pie" | "dynamic";

/** A 64-bit little-endian x86-64 executable uno understands. */
export interface ElfInfo {
  ok: true;
  type: "exec" | "dyn";
  linkage: ElfLinkage;
  /** True for static and static-pie: runnable without an interpreter. */
  isStatic: boolean;
  /** PT_INTERP contents, e.g. "/lib64/ld-linux-x86-64.so.2" (only when linkage is "dynamic"). */
  interpreter?: string;
  entry: bigint;
  programHeaders: ProgramHeader[];
}

/** Why a file is not an ELF program uno can run. */
export type ElfProblem =
  | "not-elf"
  | "script"
  | "not-64-bit"
  | "big-endian"
  | "not-x86-64"
  | "not-executable"
  | "truncated"
  | "corrupt";

export interface ElfRejection {
  ok: false;
  problem: ElfProblem;
  /** A human sentence, without the file name (e.g. "is a 32-bit ELF (ARM)"). */
  detail: string;
  /** For "not-x86-64"/"not-64-bit": the machine named by e_machine. */
  machine?: string;
  /** For "script": the interpreter line after "#!". */
  interpreter?: string;
}

export type ElfDescription = ElfInfo | ElfRejection;

/** Reads up to `length` bytes at `offset`; returns fewer at end of file. */
export type ReadAt = (offset: number, length: number) => Buffer;

const MACHINES: Record<number, string> = {
  2: "SPARC",
  3: "x86 (i386)",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "S/390",
  40: "ARM",
  43: "SPARC64",
  50: "IA-64",
  62: "x86-64",
  183: "AArch64",
  243: "RISC-V",
  258: "LoongArch",
};

export function machineName(eMachine: number): string {
  return MACHINES[eMachine] ?? `machine ${eMachine}`;
}

function reject(
  problem: ElfProblem,
  detail: string,
  extra: Partial<ElfRejection> = {},
): ElfRejection {
  return { ok: false, problem, detail, ...extra };
}

/** Converts a file offset/size to a number, or undefined when it cannot be a real offset. */
function toOffset(v: bigint): number | undefined {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/**
 * Classify an ELF image from a reader over its bytes.
 * @param fileSize total size of the file, used to tell "truncated" from "corrupt".
 */
export function describeElfFrom(readAt: ReadAt, fileSize: number): ElfDescription {
  const head = readAt(0, Math.min(ELF_HEAD_BYTES, fileSize));

  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) {
    const line = head
      .subarray(2, 2 + 256)
      .toString("latin1")
      .split("\n")[0]!
      .trim();
    return reject("script", `is a script (#!${line}), not an ELF program`, {
      interpreter: line.split(/\s+/)[0] || undefined,
    });
  }
  const magic = head.subarray(0, 4);
  if (!magic.equals(ELF_MAGIC.subarray(0, magic.length)) || head.length === 0) {
    return reject(
      "not-elf",
      fileSize === 0 ? "is empty, not an ELF program" : "is not an ELF program",
    );
  }
  if (head.length < 6) {
    // Starts like an ELF file but ends before the class/byte-order bytes.
    return reject("truncated", `is truncated (${fileSize} bytes, an ELF header is 64)`);
  }

  const eiClass = head[4]!;
  const eiData = head[5]!;
  if (eiData !== 1 && eiData !== 2) {
    return reject("corrupt", `has a corrupt ELF header (byte order ${eiData})`);
  }
  if (eiClass !== 2) {
    if (eiClass !== 1) {
      return reject("corrupt", `has a corrupt ELF header (class ${eiClass})`);
    }
    // ELF32: e_machine is at the same offset (18) as in ELF64.
    let machine: string | undefined;
    if (head.length >= 20) {
      machine = machineName(eiData === 1 ? head.readUInt16LE(18) : head.readUInt16BE(18));
    }
    return reject(
      "not-64-bit",
      `is a 32-bit ELF${machine ? ` (${machine})` : ""}; uno runs 64-bit x86-64 programs`,
      { machine },
    );
  }
  if (eiData !== 1) {
    let machine: string | undefined;
    if (head.length >= 20) machine = machineName(head.readUInt16BE(18));
    return reject(
      "big-endian",
      `is a big-endian ELF${machine ? ` (${machine})` : ""}; uno runs x86-64 programs`,
      { machine },
    );
  }
  if (head.length < ELF64_EHDR_SIZE) {
    return reject(
      "truncated",
      `is truncated (${fileSize} bytes, a 64-bit ELF header is ${ELF64_EHDR_SIZE})`,
    );
  }

  const eType = head.readUInt16LE(16);
  const eMachine = head.readUInt16LE(18);
  const entry = head.readBigUInt64LE(24);
  const phoffBig = head.readBigUInt64LE(32);
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);

  if (eMachine !== EM_X86_64) {
    const machine = machineName(eMachine);
    return reject("not-x86-64", `is a 64-bit ELF for ${machine}; uno runs x86-64 programs`, {
      machine,
    });
  }
  if (eType !== ET_EXEC && eType !== ET_DYN) {
    const what =
      eType === ET_REL
        ? "a relocatable object (.o), not an executable: link it first"
        : eType === ET_CORE
          ? "a core dump, not an executable"
          : `an ELF of type ${eType}, not an executable`;
    return reject("not-executable", `is ${what}`);
  }

  if (phnum === 0) {
    return reject("corrupt", "has no program headers (corrupt or not a program)");
  }
  if (phnum === 0xffff) {
    // PN_XNUM: the real count lives in section header 0; no real executable needs this.
    return reject("corrupt", "has an extended program header count (PN_XNUM), not supported");
  }
  if (phentsize !== ELF64_PHDR_SIZE) {
    return reject("corrupt", `has a corrupt ELF header (program header size ${phentsize})`);
  }
  const tableSize = phnum * ELF64_PHDR_SIZE;
  if (tableSize > MAX_PHDR_TABLE) {
    return reject("corrupt", `has a corrupt ELF header (${phnum} program headers)`);
  }
  const phoff = toOffset(phoffBig);
  if (phoff === undefined || phoff + tableSize > fileSize) {
    return reject(
      phoff !== undefined && phoff < fileSize ? "truncated" : "corrupt",
      phoff !== undefined && phoff < fileSize
        ? "is truncated (the program header table runs past the end of the file)"
        : "has a corrupt ELF header (program headers outside the file)",
    );
  }
  const table =
    phoff + tableSize <= head.length
      ? head.subarray(phoff, phoff + tableSize)
      : readAt(phoff, tableSize);
  if (table.length < tableSize) {
    return reject(
      "truncated",
      "is truncated (the program header table runs past the end of the file)",
    );
  }

  const programHeaders: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * ELF64_PHDR_SIZE;
    programHeaders.push({
      type: table.readUInt32LE(o),
      flags: table.readUInt32LE(o + 4),
      offset: table.readBigUInt64LE(o + 8),
      vaddr: table.readBigUInt64LE(o + 16),
      filesz: table.readBigUInt64LE(o + 32),
      memsz: table.readBigUInt64LE(o + 40),
      align: table.readBigUInt64LE(o + 48),
    });
  }

  const loads = programHeaders.filter((p) => p.type === PT_LOAD);
  if (loads.length === 0) {
    return reject("corrupt", "has no loadable segments (corrupt or not a program)");
  }
  for (const p of loads) {
    if (p.filesz > p.memsz) {
      return reject("corrupt", "has a corrupt segment (file size larger than memory size)");
    }
    const off = toOffset(p.offset);
    const sz = toOffset(p.filesz);
    if (off === undefined || sz === undefined || off + sz > fileSize) {
      return reject("truncated", "is truncated (a loadable segment runs past the end of the file)");
    }
  }

  const interps = programHeaders.filter((p) => p.type === PT_INTERP);
  let interpreter: string | undefined;
  if (interps.length > 1) {
    return reject("corrupt", "has more than one interpreter (PT_INTERP) header");
  }
  if (interps.length === 1) {
    const p = interps[0]!;
    const off = toOffset(p.offset);
    const sz = toOffset(p.filesz);
    if (sz === undefined || sz < 2 || sz > PATH_MAX) {
      return reject("corrupt", "has a corrupt interpreter (PT_INTERP) header");
    }
    if (off === undefined || off + sz > fileSize) {
      return reject(
        "truncated",
        "is truncated (the interpreter path runs past the end of the file)",
      );
    }
    const raw = off + sz <= head.length ? head.subarray(off, off + sz) : readAt(off, sz);
    if (raw.length < sz) {
      return reject(
        "truncated",
        "is truncated (the interpreter path runs past the end of the file)",
      );
    }
    if (raw[sz - 1] !== 0) {
      return reject("corrupt", "has a corrupt interpreter path (not NUL-terminated)");
    }
    interpreter = raw.subarray(0, raw.indexOf(0)).toString("utf8");
    if (interpreter.length === 0) {
      return reject("corrupt", "has an empty interpreter path");
    }
  }

  const type = eType === ET_EXEC ? "exec" : "dyn";
  const linkage: ElfLinkage =
    interpreter !== undefined ? "dynamic" : type === "exec" ? "static" : "static-pie";
  const info: ElfInfo = {
    ok: true,
    type,
    linkage,
    isStatic: linkage !== "dynamic",
    entry,
    programHeaders,
  };
  if (interpreter !== undefined) info.interpreter = interpreter;
  return info;
}

/** Classify an ELF image held entirely in memory (handy for tests and small files). */
export function describeElf(buf: Buffer): ElfDescription {
  return describeElfFrom((offset, length) => buf.subarray(offset, offset + length), buf.length);
}

/**
 * Classify the ELF file at `file`, reading only its headers.
 * Throws BadElfError if the file cannot be opened or is not a regular file.
 */
export function inspectElfFile(file: string): ElfDescription {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === "ENOENT"
        ? "no such file or directory"
        : err.code === "EACCES"
          ? "permission denied"
          : err.message;
    throw new BadElfError(file, `cannot open ${file}: ${why}`, "unreadable");
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      throw new BadElfError(file, `${file} is not a regular file`, "not-a-file");
    }
    const readAt: ReadAt = (offset, length) => {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const n = fs.readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    };
    return describeElfFrom(readAt, st.size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Asynchronous form of inspectElfFile. */
export async function inspectElf(file: string): Promise<ElfDescription> {
  return inspectElfFile(file);
}

/** A sentence explaining why `name` can't be run, for a rejected or dynamic ELF. */
export function explainElf(name: string, d: ElfDescription): string | undefined {
  if (!d.ok) {
    if (d.problem === "script") {
      return (
        `${name} ${d.detail}; uno runs a script only from a root directory that contains its ` +
        `interpreter: uno run DIR -- /path/to/script`
      );
    }
    return `${name} ${d.detail}`;
  }
  if (d.linkage === "dynamic") {
    return (
      `${name} is dynamically linked (interpreter ${d.interpreter}); uno runs static programs ` +
      `for now — link with -static or use a root directory containing the interpreter once ` +
      `dynamic loading lands`
    );
  }
  return undefined;
}

/**
 * Require `file` to be a static (or static-PIE) x86-64 executable.
 * @param name how to name the file in the error message (defaults to the path).
 * @throws BadElfError with a message a person can act on.
 */
export function requireStaticElf(file: string, name = file): ElfInfo {
  const d = inspectElfFile(file);
  const why = explainElf(name, d);
  if (why !== undefined || !d.ok) {
    throw new BadElfError(file, why ?? `${name} is not runnable`, d.ok ? "dynamic" : d.problem);
  }
  return d;
}
