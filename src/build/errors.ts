/** Typed errors of `uno build` (see src/lib/errors.ts for the conventions). */
import { UnoError } from "../lib/errors.js";

/** A Dockerfile that cannot be parsed or uses something uno build refuses; names file:line. */
export class DockerfileError extends UnoError {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super("DOCKERFILE", `${file}:${line}: ${detail}`);
  }
}

/** A COPY/ADD source that is missing, ignored, or outside the build context. */
export class BuildContextError extends UnoError {
  constructor(message: string) {
    super("BUILD_CONTEXT", message);
  }
}

/**
 * A RUN whose command exited non-zero. The build fails with exit status 1, as docker build
 * does; the command's own status is in the message.
 */
export class RunStepError extends UnoError {
  constructor(
    readonly where: string,
    readonly command: string,
    readonly status: number,
  ) {
    super(
      "BUILD_RUN_FAILED",
      `${where}: the command '${command}' returned a non-zero code: ${status}`,
      1,
    );
  }
}

/** The writable layer a RUN left cannot be read (getfattr missing or failing). */
export class LayerReadError extends UnoError {
  constructor(message: string) {
    super("BUILD_LAYER", message);
  }
}
