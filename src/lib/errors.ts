/**
 * Typed errors raised by the uno library.
 *
 * Every error carries:
 *  - `code`: a stable machine-readable identifier (e.g. "KVM_UNAVAILABLE"),
 *  - `message`: a sentence a person can act on,
 *  - `exitCode`: the process exit status the CLI uses for it. 125 follows docker's
 *    convention for "the runtime itself failed" (as opposed to the program it runs).
 */
export class UnoError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    public readonly exitCode = 125,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad command-line usage or an invalid option value. */
export class UsageError extends UnoError {
  constructor(message: string) {
    super("USAGE", message);
  }
}

/** /dev/kvm is missing or cannot be opened. */
export class KvmUnavailableError extends UnoError {
  constructor(
    message: string,
    public readonly reason: "missing" | "permission" | "other",
  ) {
    super("KVM_UNAVAILABLE", message);
  }
}

/** The thing the user asked to run does not exist. */
export class TargetNotFoundError extends UnoError {
  constructor(public readonly target: string) {
    super("TARGET_NOT_FOUND", `no such file or directory: ${target}`);
  }
}

/** A file is not an ELF program uno can run (not ELF, wrong class/arch, corrupt, dynamic...). */
export class BadElfError extends UnoError {
  constructor(
    public readonly file: string,
    message: string,
    public readonly reason: string,
  ) {
    super("BAD_ELF", message);
  }
}

/** A build output (uno-vmm, libos.elf) is missing. */
export class NotBuiltError extends UnoError {
  constructor(
    public readonly what: string,
    public readonly path: string,
  ) {
    super("NOT_BUILT", `${what} not found at ${path}: run \`make\` first`);
  }
}

/** Failure to start or supervise the VMM process. */
export class VmmError extends UnoError {
  constructor(message: string) {
    super("VMM", message);
  }
}

/** A host port asked for with -p cannot be bound (in use, privileged, not this host's address). */
export class PortUnavailableError extends UnoError {
  constructor(message: string) {
    super("PORT_UNAVAILABLE", message);
  }
}
