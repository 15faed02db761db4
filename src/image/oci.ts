/**
 * OCI / Docker schema 2 documents (manifest, index, config), their media types, and image
 * references (docker's naming: "busybox" is docker.io/library/busybox:latest).
 */
import { z } from "zod";
import { BadImageArchiveError, UnsupportedMediaTypeError } from "../lib/image-errors.js";
import { BadReferenceError, DOCKER_DOMAIN, parseImageRef, repositoryOf } from "../lib/reference.js";

export const MT = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerNdGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ociLayerNd: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerForeign: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

export type Compression = "none" | "gzip" | "zstd";

/** How a layer of this media type is compressed; throws for media types that are not layers. */
export function layerCompression(mediaType: string, where: string): Compression {
  switch (mediaType) {
    case MT.ociLayer:
    case MT.ociLayerNd:
    case "application/vnd.docker.image.rootfs.diff.tar":
      return "none";
    case MT.ociLayerGzip:
    case MT.ociLayerNdGzip:
    case MT.dockerLayerGzip:
    case MT.dockerLayerForeign:
      return "gzip";
    case MT.ociLayerZstd:
      return "zstd";
    default:
      throw new UnsupportedMediaTypeError(mediaType, where);
  }
}

export const isManifestType = (mt: string | undefined): boolean =>
  mt === MT.ociManifest || mt === MT.dockerManifest;
export const isIndexType = (mt: string | undefined): boolean =>
  mt === MT.ociIndex || mt === MT.dockerList;
export const isConfigType = (mt: string): boolean => mt === MT.ociConfig || mt === MT.dockerConfig;

const digestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, "a sha256:<64 hex> digest");

export const descriptorSchema = z
  .object({
    mediaType: z.string(),
    digest: digestSchema,
    size: z.number().int().nonnegative(),
    annotations: z.record(z.string()).optional(),
    platform: z
      .object({ architecture: z.string(), os: z.string(), variant: z.string().optional() })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type Descriptor = z.infer<typeof descriptorSchema>;

export const manifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    config: descriptorSchema,
    layers: z.array(descriptorSchema),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();
export type Manifest = z.infer<typeof manifestSchema>;

export const indexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    manifests: z.array(descriptorSchema),
  })
  .passthrough();
export type ImageIndex = z.infer<typeof indexSchema>;

const nullableStrings = z.array(z.string()).nullish();

export const configSchema = z
  .object({
    architecture: z.string().optional(),
    os: z.string().optional(),
    created: z.string().optional(),
    config: z
      .object({
        User: z.string().optional(),
        ExposedPorts: z.record(z.unknown()).nullish(),
        Env: nullableStrings,
        Entrypoint: nullableStrings,
        Cmd: nullableStrings,
        WorkingDir: z.string().optional(),
        Labels: z.record(z.string()).nullish(),
      })
      .passthrough()
      .nullish(),
    rootfs: z.object({ type: z.string(), diff_ids: z.array(digestSchema) }),
  })
  .passthrough();
export type ImageConfig = z.infer<typeof configSchema>;

/** Parses JSON bytes against a schema; errors name `what`. */
export function parseJson<T>(
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  data: Uint8Array | string,
  what: string,
): T {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === "string" ? data : Buffer.from(data).toString("utf8"));
  } catch (err) {
    throw new BadImageArchiveError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new BadImageArchiveError(
      `${what} is malformed: ${issue.path.join(".") || "value"}: ${issue.message}`,
    );
  }
  return r.data;
}

// ---------------------------------------------------------------------------------------
// References

const DEFAULT_DOMAIN = DOCKER_DOMAIN;

/** A parsed image reference: repository with registry domain, and a tag and/or digest. */
export interface Reference {
  /** "docker.io/library/busybox" */
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * Parses "name[:tag][@sha256:…]" with docker's defaults (docker.io, library/, latest when
 * neither tag nor digest), by the same rules as `uno pull` (src/lib/reference.ts). Returns
 * undefined when `s` is not a valid reference.
 */
export function parseReference(s: string): Reference | undefined {
  let r;
  try {
    r = parseImageRef(s);
  } catch (err) {
    if (err instanceof BadReferenceError) return undefined;
    throw err;
  }
  const ref: Reference = { repository: repositoryOf(r) };
  if (r.tag !== undefined) ref.tag = r.tag;
  if (r.digest !== undefined) ref.digest = r.digest;
  return ref;
}

/** "docker.io/library/busybox:latest" – the key tags are stored under. */
export function formatReference(r: Reference): string {
  return r.repository + (r.tag !== undefined ? `:${r.tag}` : "") + (r.digest ? `@${r.digest}` : "");
}

/** docker's short form of a repository: docker.io/library/x → x, docker.io/u/x → u/x. */
export function familiarRepository(repository: string): string {
  if (repository.startsWith(`${DEFAULT_DOMAIN}/library/`))
    return repository.slice(`${DEFAULT_DOMAIN}/library/`.length);
  if (repository.startsWith(`${DEFAULT_DOMAIN}/`))
    return repository.slice(DEFAULT_DOMAIN.length + 1);
  return repository;
}

/** Splits a stored tag key into repository and tag. */
export function splitTagKey(key: string): { repository: string; tag: string } {
  const colon = key.lastIndexOf(":");
  return { repository: key.slice(0, colon), tag: key.slice(colon + 1) };
}
