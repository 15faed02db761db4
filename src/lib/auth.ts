/**
 * Registry credentials: `uno login` stores them in <uno home>/auth.json (mode 0600, written
 * atomically), in docker's config.json shape ({"auths": {"host": {"auth": base64(user:pass)}}})
 * so people can read it; docker's own ~/.docker/config.json `auths` is read as a fallback so
 * an existing `docker login` works with uno too. Credential helpers (credsStore) are not used.
 */
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

/** Where `uno login` keeps credentials. */
export const authFilePath = (env: NodeJS.ProcessEnv = process.env): string =>
  path.join(paths.unoHome(env), "auth.json");

/** docker keys docker.io under its v1 index URL; other registries under host[:port]. */
function keysFor(domain: string): string[] {
  if (domain === DOCKER_DOMAIN)
    return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];
  return [domain, `https://${domain}`, `http://${domain}`];
}

function readAuths(file: string): AuthFile["auths"] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new CredentialsError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const auths = (JSON.parse(text) as Partial<AuthFile>).auths;
    return auths && typeof auths === "object" ? auths : {};
  } catch (err) {
    throw new CredentialsError(
      `${file} is not valid JSON (${(err as Error).message}); fix or remove it`,
    );
  }
}

function decode(auth: string, file: string): Credentials {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0)
    throw new CredentialsError(`${file}: an "auth" entry is not base64(user:password)`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Credentials for `domain`: uno's own file first, then docker's. */
export function findCredentials(
  domain: string,
  env: NodeJS.ProcessEnv = process.env,
): Credentials | undefined {
  const home = env.HOME ?? os.homedir();
  const dockerConfig = path.join(env.DOCKER_CONFIG ?? path.join(home, ".docker"), "config.json");
  for (const file of [authFilePath(env), dockerConfig]) {
    const auths = readAuths(file);
    for (const k of keysFor(domain)) {
      const a = auths[k]?.auth;
      if (a) return decode(a, file);
    }
  }
  return undefined;
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
