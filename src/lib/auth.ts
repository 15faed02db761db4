/**
 * Registry credentials: `uno login` stores them in <uno home>/auth.json (mode 0600, written
 * atomically), in docker's config.json shape ({"auths": {"host": {"auth": base64(user:pass)}}})
 * so people can read it. docker's own ~/.docker/config.json ($DOCKER_CONFIG) is read next, as
 * docker reads it, so an existing `docker login` works with uno too: a credential helper named
 * for the registry in `credHelpers`, else the `credsStore` helper, is asked with docker's
 * protocol (`docker-credential-NAME get`, the server on stdin, JSON on stdout); when it has
 * nothing for the registry, or no helper is set, the `auths` entry is used. uno never writes
 * to docker's file or helpers.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UnoError } from "./errors.js";
import * as paths from "./paths.js";
import { DOCKER_DOMAIN } from "./reference.js";

export interface Credentials {
  username: string;
  password: string;
}

/** The credentials file cannot be read or written. */
export class CredentialsError extends UnoError {
  constructor(message: string) {
    super("CREDENTIALS", message);
  }
}

interface AuthFile {
  auths: Record<string, { auth?: string }>;
}

/** The parts of docker's config.json uno reads. */
interface DockerConfig {
  auths: AuthFile["auths"];
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Where `uno login` keeps credentials. */
export const authFilePath = (env: NodeJS.ProcessEnv = process.env): string =>
  path.join(paths.unoHome(env), "auth.json");

/** docker keys docker.io under its v1 index URL; other registries under host[:port]. */
function keysFor(domain: string): string[] {
  if (domain === DOCKER_DOMAIN)
    return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];
  return [domain, `https://${domain}`, `http://${domain}`];
}

function readConfig(file: string): DockerConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { auths: {} };
    throw new CredentialsError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: Partial<DockerConfig>;
  try {
    json = JSON.parse(text) as Partial<DockerConfig>;
  } catch (err) {
    throw new CredentialsError(
      `${file} is not valid JSON (${(err as Error).message}); fix or remove it`,
    );
  }
  const out: DockerConfig = {
    auths: json.auths && typeof json.auths === "object" ? json.auths : {},
  };
  if (typeof json.credsStore === "string" && json.credsStore !== "")
    out.credsStore = json.credsStore;
  if (json.credHelpers && typeof json.credHelpers === "object") out.credHelpers = json.credHelpers;
  return out;
}

const readAuths = (file: string): AuthFile["auths"] => readConfig(file).auths;

/** How long a credential helper may take (one that asks for a passphrase may be slow). */
const HELPER_TIMEOUT_MS = 60_000;

/**
 * Asks docker credential helper `name` for `server`'s credentials: undefined when it has
 * none (docker's "credentials not found" answer).
 */
function askHelper(
  name: string,
  server: string,
  file: string,
  env: NodeJS.ProcessEnv,
): Credentials | undefined {
  const program = `docker-credential-${name}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    throw new CredentialsError(`${file}: credential helper name "${name}" is not a program name`);
  const r = spawnSync(program, ["get"], {
    input: server,
    env,
    timeout: HELPER_TIMEOUT_MS,
    maxBuffer: 1 << 20,
  });
  const stdout = r.stdout?.toString().trim() ?? "";
  // EPIPE: the helper exited without reading the server name; its status and output say why.
  if (r.error && (r.error as NodeJS.ErrnoException).code !== "EPIPE") {
    const e = r.error as NodeJS.ErrnoException;
    throw new CredentialsError(
      e.code === "ENOENT"
        ? `${file} names the credential helper "${name}" but ${program} is not in PATH: install it or change ${file}`
        : `${program} get: ${e.code === "ETIMEDOUT" ? `no answer in ${HELPER_TIMEOUT_MS / 1000} s` : e.message}`,
    );
  }
  // docker's helpers answer this exact text (exit 1) for a server they know nothing about.
  if (r.status !== 0 && /credentials not found/i.test(stdout)) return undefined;
  if (r.status !== 0)
    throw new CredentialsError(
      `${program} get for ${server} failed (exit ${r.status ?? r.signal}): ${
        (stdout || r.stderr.toString().trim()).slice(0, 300) || "no message"
      }`,
    );
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(stdout) as typeof answer;
  } catch {
    throw new CredentialsError(`${program} get for ${server} did not answer JSON`);
  }
  if (typeof answer.Username !== "string" || typeof answer.Secret !== "string")
    throw new CredentialsError(`${program} get for ${server}: the answer lacks Username/Secret`);
  // docker's marker for an OAuth identity token, which a registry takes only in a token
  // request of its own (grant_type=refresh_token), not as a password.
  if (answer.Username === "<token>")
    throw new CredentialsError(
      `${program} holds an identity token for ${server}, which uno cannot use yet: 'uno login ${server}' with a password or access token`,
    );
  return { username: answer.Username, password: answer.Secret };
}

function decode(auth: string, file: string): Credentials {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0)
    throw new CredentialsError(`${file}: an "auth" entry is not base64(user:password)`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The `auth` entry of `auths` for `domain`, decoded. */
function fromAuths(
  auths: AuthFile["auths"],
  domain: string,
  file: string,
): Credentials | undefined {
  for (const k of keysFor(domain)) {
    const a = auths[k]?.auth;
    if (a) return decode(a, file);
  }
  return undefined;
}

/**
 * Credentials for `domain`: uno's own file first, then docker's config (its credential
 * helper for the registry, else its credsStore, else its `auths`).
 * @throws CredentialsError when a file is unreadable or a helper fails.
 */
export function findCredentials(
  domain: string,
  env: NodeJS.ProcessEnv = process.env,
): Credentials | undefined {
  const own = fromAuths(readAuths(authFilePath(env)), domain, authFilePath(env));
  if (own) return own;
  const home = env.HOME ?? os.homedir();
  const file = path.join(env.DOCKER_CONFIG ?? path.join(home, ".docker"), "config.json");
  const config = readConfig(file);
  const keys = keysFor(domain);
  const helper =
    keys.map((k) => config.credHelpers?.[k]).find((h) => typeof h === "string" && h !== "") ??
    config.credsStore;
  // docker names a registry to its helpers as it keys it: the v1 URL for Docker Hub.
  const fromHelper = helper !== undefined ? askHelper(helper, keys[0]!, file, env) : undefined;
  return fromHelper ?? fromAuths(config.auths, domain, file);
}

/** Writes `auths` to uno's file: a 0600 temp file beside it, fsynced, renamed over it. */
function writeAuths(auths: AuthFile["auths"], env: NodeJS.ProcessEnv): void {
  const file = authFilePath(env);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const fd = fs.openSync(tmp, "wx", 0o600);
    try {
      fs.writeSync(fd, JSON.stringify({ auths }, null, 2) + "\n");
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new CredentialsError(`cannot write ${file}: ${(err as Error).message}`);
  }
}

/** Stores credentials for `domain` (replacing older ones). */
export function saveCredentials(
  domain: string,
  c: Credentials,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const auths = readAuths(authFilePath(env));
  for (const k of keysFor(domain)) delete auths[k];
  auths[keysFor(domain)[0]!] = {
    auth: Buffer.from(`${c.username}:${c.password}`).toString("base64"),
  };
  writeAuths(auths, env);
}

/** Forgets uno's credentials for `domain`; false when there were none. */
export function removeCredentials(domain: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const auths = readAuths(authFilePath(env));
  const had = keysFor(domain).filter((k) => k in auths);
  for (const k of had) delete auths[k];
  if (had.length > 0) writeAuths(auths, env);
  return had.length > 0;
}
