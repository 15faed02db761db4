/**
 * Image references for `uno pull`, parsed as docker parses them, with an error that says what
 * is wrong instead of a bare "invalid":
 *
 *   busybox                         docker.io/library/busybox:latest
 *   user/app:1.0                    docker.io/user/app:1.0
 *   ghcr.io/o/app@sha256:<hex>      by digest
 *   localhost:5000/app:dev          a registry with a port
 *
 * The first path component is a registry when it has a "." or ":" or is "localhost" (docker's
 * rule), else the name lives on docker.io, whose API is served by registry-1.docker.io.
 */
import { UnoError } from "./errors.js";

export const DOCKER_DOMAIN = "docker.io";
/** Where docker.io's registry API actually answers. */
export const DOCKER_REGISTRY_HOST = "registry-1.docker.io";

export interface ImageRef {
  /** "docker.io", "localhost:5000" */
  domain: string;
  /** The repository path within the registry: "library/busybox". */
  path: string;
  tag?: string;
  digest?: string;
}

/** A reference `uno pull` cannot parse. */
export class BadReferenceError extends UnoError {
  constructor(
    public readonly reference: string,
    why: string,
  ) {
    super(
      "BAD_REFERENCE",
      `invalid image reference "${reference}": ${why} (expected [REGISTRY/]NAME[:TAG][@sha256:DIGEST], e.g. busybox:latest)`,
    );
  }
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DOMAIN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/** Splits "@sha256:…" off `s`; checks the digest's form. */
function splitDigest(ref: string, s: string): [string, string | undefined] {
  const at = s.indexOf("@");
  if (at < 0) return [s, undefined];
  const digest = s.slice(at + 1);
  if (!/^sha256:[0-9a-f]{64}$/.test(digest))
    throw new BadReferenceError(ref, `"${digest}" is not a sha256:<64 lowercase hex> digest`);
  return [s.slice(0, at), digest];
}

/** Splits ":tag" (a colon after the last "/") off `s`; checks the tag's form. */
function splitTag(ref: string, s: string): [string, string | undefined] {
  const colon = s.lastIndexOf(":");
  if (colon <= s.lastIndexOf("/")) return [s, undefined];
  const tag = s.slice(colon + 1);
  if (!TAG.test(tag))
    throw new BadReferenceError(
      ref,
      `tag "${tag}" must be 1-128 letters, digits, "_", "." or "-" and not start with "." or "-"`,
    );
  return [s.slice(0, colon), tag];
}

/** Parses `s` with docker's defaults (docker.io, library/, latest). */
export function parseImageRef(s: string): ImageRef {
  if (s === "") throw new BadReferenceError(s, "it is empty");
  if (/\s/.test(s)) throw new BadReferenceError(s, "it contains white space");
  const [withTag, digest] = splitDigest(s, s);
  const [name, tag] = splitTag(s, withTag);
  if (name === "") throw new BadReferenceError(s, "the name is empty");
  const parts = name.split("/");
  let domain = DOCKER_DOMAIN;
  const first = parts[0]!;
  if (parts.length > 1 && (/[.:]/.test(first) || first === "localhost" || /[A-Z]/.test(first))) {
    if (!DOMAIN.test(first)) throw new BadReferenceError(s, `"${first}" is not a registry host`);
    domain = first === "index.docker.io" ? DOCKER_DOMAIN : first;
    parts.shift();
  }
  for (const p of parts) {
    if (!COMPONENT.test(p))
      throw new BadReferenceError(
        s,
        p === ""
          ? "a name component is empty"
          : /[A-Z]/.test(p)
            ? `"${p}": repository names must be lowercase`
            : `"${p}" is not a valid name component (lowercase letters, digits, ".", "_", "-")`,
      );
  }
  if (name.length > 255) throw new BadReferenceError(s, "the name is longer than 255 characters");
  if (domain === DOCKER_DOMAIN && parts.length === 1) parts.unshift("library");
  const ref: ImageRef = { domain, path: parts.join("/") };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = "latest";
  return ref;
}

/** "docker.io/library/busybox": the repository as the store's tags name it. */
export const repositoryOf = (r: ImageRef): string => `${r.domain}/${r.path}`;

/** The reference in full: "docker.io/library/busybox:latest", "h/x@sha256:…". */
export function formatImageRef(r: ImageRef): string {
  return (
    repositoryOf(r) + (r.tag !== undefined ? `:${r.tag}` : "") + (r.digest ? `@${r.digest}` : "")
  );
}

/** What the manifest request names: the digest when there is one (it pins the image). */
export const manifestReference = (r: ImageRef): string => r.digest ?? r.tag ?? "latest";

/** The host (with port) the registry API of `domain` answers on. */
export const registryHost = (domain: string): string =>
  domain === DOCKER_DOMAIN ? DOCKER_REGISTRY_HOST : domain;

/** The host part of "host:port", "[::1]:5000", "::1". */
export function hostName(hostPort: string): string {
  const v6 = /^\[([^\]]+)\]/.exec(hostPort);
  if (v6) return v6[1]!;
  if ((hostPort.match(/:/g) ?? []).length > 1) return hostPort; // bare IPv6
  return hostPort.replace(/:\d+$/, "");
}

/** 127.0.0.0/8, ::1 and localhost: the only hosts plain HTTP is used for without --insecure. */
export function isLoopback(hostPort: string): boolean {
  const h = hostName(hostPort).toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((x) => Number(x) <= 255);
}

/** The base URL of a registry's API: https unless loopback or --insecure. */
export function registryBaseUrl(domain: string, insecure = false): string {
  const host = registryHost(domain);
  return `${insecure || isLoopback(host) ? "http" : "https"}://${host}`;
}
