/**
 * Typed errors of the image store and the image pipeline (load, flatten, run from an image).
 * Every message names the thing at fault (archive path, blob digest, layer and path) and
 * says what the person can do about it.
 */
import { UnoError } from "./errors.js";

/** A blob's bytes do not hash to the digest that names it. */
export class DigestMismatchError extends UnoError {
  constructor(
    public readonly what: string,
    public readonly expected: string,
    public readonly actual: string,
  ) {
    super(
      "DIGEST_MISMATCH",
      `${what}: content does not match its digest (expected ${expected}, got ${actual}); ` +
        `the archive is corrupt or was tampered with: export it again`,
    );
  }
}

/** A blob or archive ends before the size its descriptor or header announced. */
export class TruncatedBlobError extends UnoError {
  constructor(
    public readonly what: string,
    detail: string,
  ) {
    super("TRUNCATED", `${what} is truncated (${detail}); export or copy it again`);
  }
}

/** A manifest, index or layer uses a media type uno does not handle. */
export class UnsupportedMediaTypeError extends UnoError {
  constructor(
    public readonly mediaType: string,
    where: string,
  ) {
    super(
      "UNSUPPORTED_MEDIA_TYPE",
      `${where}: unsupported media type "${mediaType}" (uno handles OCI and Docker schema 2 images with tar, tar+gzip and tar+zstd layers)`,
    );
  }
}

/** The input is not an image archive or layout uno recognises, or its JSON is malformed. */
export class BadImageArchiveError extends UnoError {
  constructor(message: string) {
    super("BAD_IMAGE_ARCHIVE", message);
  }
}

/** A layer holds an entry uno refuses to apply (escapes the root, sparse file, bad link...). */
export class BadLayerError extends UnoError {
  constructor(
    public readonly layer: string,
    public readonly entry: string,
    why: string,
  ) {
    super("BAD_LAYER", `layer ${layer}: ${JSON.stringify(entry)}: ${why}`);
  }
}

/** No stored image matches a reference. */
export class ImageNotFoundError extends UnoError {
  constructor(public readonly reference: string) {
    super(
      "IMAGE_NOT_FOUND",
      `no such image: ${reference} (see 'uno images'; load one with 'uno load -i FILE')`,
    );
  }
}

/** `uno run TARGET`: TARGET is neither a path nor a stored image. */
export class TargetOrImageNotFoundError extends UnoError {
  constructor(public readonly target: string) {
    super(
      "TARGET_NOT_FOUND",
      `no such file, directory or image: ${target} (see 'uno images'; load an image with 'uno load -i FILE')`,
    );
  }
}

/** A reference matches more than one image (an ID prefix that is too short). */
export class AmbiguousImageError extends UnoError {
  constructor(reference: string, count: number) {
    super(
      "AMBIGUOUS_IMAGE",
      `${reference} matches ${count} images: give more digits of the ID or a name:tag`,
    );
  }
}

/** An image cannot be removed because other tags or a --force are needed. */
export class ImageInUseError extends UnoError {
  constructor(message: string) {
    super("IMAGE_IN_USE", message);
  }
}

/** The store cannot be written (full disk, permissions) or its index is unreadable. */
export class StoreError extends UnoError {
  constructor(message: string) {
    super("STORE", message);
  }
}
