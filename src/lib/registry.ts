/**
 * A client of the OCI distribution API (v2) with Node's built-in fetch: manifests and blobs of
 * one repository, with the auth schemes registries use.
 *
 * A request goes out anonymously (or with basic credentials once a registry asked for them);
 * a 401 carries a `WWW-Authenticate` challenge: `Basic` → retry with the credentials,
 * `Bearer realm=…,service=…,scope=…` → get a token from the realm (with the credentials when
 * known, anonymously otherwise) and retry with it. Still 401 → UnauthorizedError.
 */
import { UnoError } from "./errors.js";
import type { Credentials } from "./auth.js";
import { isLoopback, registryBaseUrl, registryHost } from "./reference.js";

/** The registry has no such repository, tag or digest. */
export class ManifestUnknownError extends UnoError {
  constructor(reference: string, detail: string) {
    super(
      "MANIFEST_UNKNOWN",
      `${reference}: not found in the registry (${detail}); check the name and tag, or 'uno login' if the repository is private`,
    );
  }
}

/** The registry refused our credentials (or we had none and it needs some). */
export class UnauthorizedError extends UnoError {
  constructor(domain: string, haveCredentials: boolean, detail: string) {
    super(
      "UNAUTHORIZED",
      haveCredentials
        ? `${domain}: authentication failed (${detail}); check the credentials with 'uno login ${domain}'`
        : `${domain}: authentication required (${detail}); run 'uno login ${domain}' first`,
    );
  }
}

/** The registry could not be reached or answered something that is not the registry API. */
export class RegistryError extends UnoError {
  constructor(message: string) {
    super("REGISTRY", message);
  }
}

/**
 * The registry could not be reached, stalled, or a download broke off: trying again may work
 * (a pull keeps what it downloaded so far for the next attempt).
 */
export class TransientRegistryError extends RegistryError {}

/** The operation was interrupted (Ctrl-C); exits 130 as a shell does for SIGINT. */
export class InterruptedError extends UnoError {
  constructor(message: string) {
    super("INTERRUPTED", message, 130);
  }
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (quoted or token values). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  for (const p of m[2]!.matchAll(re))
    params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? "").replace(/\\(.)/g, "$1");
  return { scheme: m[1]!.toLowerCase(), params };
}

/** Turns fetch's "fetch failed" into a message naming the registry and the cause. */
function networkError(err: unknown, url: string, insecure: boolean): RegistryError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (err as Error).message;
  const host = new URL(url).host;
  let hint = "check the registry name and your network";
  if (url.startsWith("https:") && /EPROTO|SSL|TLS|wrong version/i.test(String(cause?.message)))
    hint = `the registry may speak plain HTTP: use --insecure if you trust the network`;
  else if (detail === "ECONNREFUSED")
    hint =
      "nothing listens there: is the registry running and the port right?" +
      (!insecure && !isLoopback(host) ? " (uno uses https unless loopback or --insecure)" : "");
  else if (detail === "ENOTFOUND" || detail === "EAI_AGAIN")
    hint = `the host name ${new URL(url).hostname} does not resolve: check the registry name`;
  return new TransientRegistryError(`cannot reach ${url}: ${detail}; ${hint}`);
}

export interface RegistryOptions {
  insecure?: boolean;
  credentials?: Credentials;
  /** Per-request timeout (connect + headers); bodies are streamed without one. */
  timeoutMs?: number;
  /** Aborts every request and body (Ctrl-C): they fail with InterruptedError. */
  signal?: AbortSignal;
}

export class RegistryClient {
  readonly base: string;
  private authorization: string | undefined;

  constructor(
    readonly domain: string,
    readonly repository: string,
    private readonly opts: RegistryOptions = {},
  ) {
    this.base = registryBaseUrl(domain, opts.insecure);
  }

  private basic(): string | undefined {
    const c = this.opts.credentials;
    return c && `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
  }

  /**
   * fetch with a deadline that is not a limit on the whole transfer (a large layer may take
   * minutes): `timeoutMs` for the answer's headers, then for each gap between body chunks.
   */
  private async send(url: string, init: RequestInit): Promise<Response> {
    const ms = this.opts.timeoutMs ?? 60_000;
    const ctl = new AbortController();
    // Unreferenced: an abandoned body (cancelled after a 401) must not keep the process alive.
    const arm = (): NodeJS.Timeout => setTimeout(() => ctl.abort(), ms).unref();
    let timer = arm();
    const external = this.opts.signal;
    let res: Response;
    try {
      const signal = external ? AbortSignal.any([ctl.signal, external]) : ctl.signal;
      res = await fetch(url, { ...init, signal });
    } catch (err) {
      clearTimeout(timer);
      this.checkInterrupted(url);
      if (ctl.signal.aborted)
        throw new TransientRegistryError(`${url}: no answer within ${ms / 1000} s`);
      throw networkError(err, url, this.opts.insecure ?? false);
    }
    if (res.body === null) {
      clearTimeout(timer);
      return res;
    }
    const rearm = (): void => {
      clearTimeout(timer);
      timer = arm();
    };
    rearm();
    const watched = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, out) => {
          rearm();
          out.enqueue(chunk);
        },
        flush: () => clearTimeout(timer),
      }),
    );
    return new Response(watched, { status: res.status, headers: res.headers });
  }

  /** Throws InterruptedError once the caller's signal fired (a request or body then fails). */
  checkInterrupted(what: string): void {
    if (this.opts.signal?.aborted) throw new InterruptedError(`${what}: interrupted`);
  }

  /** Answers a challenge: sets `authorization` for the retry. */
  private async authenticate(res: Response): Promise<void> {
    const header = res.headers.get("www-authenticate") ?? "";
    const ch = parseChallenge(header);
    if (ch?.scheme === "basic") {
      const b = this.basic();
      if (!b) throw new UnauthorizedError(this.domain, false, "the registry asks for a password");
      this.authorization = b;
      return;
    }
    if (ch?.scheme !== "bearer" || !ch.params.realm)
      throw new UnauthorizedError(
        this.domain,
        this.opts.credentials !== undefined,
        `unsupported challenge "${header}"`,
      );
    this.authorization = `Bearer ${await this.token(ch.params)}`;
  }

  /** Gets a bearer token from the challenge's realm. */
  private async token(p: Record<string, string>): Promise<string> {
    const url = new URL(p.realm!);
    if (url.protocol === "http:" && !this.opts.insecure && !isLoopback(url.host))
      throw new RegistryError(
        `${this.domain}: refusing to send credentials to ${url} over plain HTTP`,
      );
    if (p.service) url.searchParams.set("service", p.service);
    // A ping (/v2/) names no repository: the token then only proves who we are.
    const scope = p.scope ?? (this.repository ? `repository:${this.repository}:pull` : undefined);
    if (scope !== undefined) url.searchParams.set("scope", scope);
    const b = this.basic();
    const res = await this.send(url.toString(), { headers: b ? { authorization: b } : {} });
    if (res.status === 401 || res.status === 403)
      throw new UnauthorizedError(this.domain, b !== undefined, `token server said ${res.status}`);
    if (!res.ok) throw new RegistryError(`${url}: token request failed with HTTP ${res.status}`);
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`${url}: the token server's answer has no token`);
    return token;
  }

  /**
   * GET `path` of the repository, authenticating once when challenged; `range` asks for part
   * of a blob ("bytes=N-"): a 206 answer has it, a 200 the whole blob.
   */
  async get(path: string, accept?: string, range?: string): Promise<Response> {
    return this.getUrl(`${this.base}/v2/${this.repository}/${path}`, accept, range);
  }

  /**
   * Checks the credentials against the registry's base endpoint (/v2/), as `docker login`
   * does, so `uno login` does not store a wrong password.
   * @throws UnauthorizedError, RegistryError
   */
  async ping(): Promise<void> {
    const res = await this.getUrl(`${this.base}/v2/`);
    if (!res.ok)
      throw new RegistryError(
        `${this.base}/v2/ is not a registry API (${await RegistryClient.describe(res)})`,
      );
    await res.body?.cancel();
  }

  private async getUrl(url: string, accept?: string, range?: string): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (accept) headers.accept = accept;
      if (range) headers.range = range;
      if (this.authorization) headers.authorization = this.authorization;
      const res = await this.send(url, { headers });
      if (res.status !== 401) return res;
      await res.body?.cancel();
      if (attempt > 0)
        throw new UnauthorizedError(
          this.domain,
          this.opts.credentials !== undefined,
          `HTTP 401 for ${url}`,
        );
      await this.authenticate(res);
    }
  }

  /** What went wrong with a non-2xx answer, in a sentence. */
  static async describe(res: Response): Promise<string> {
    const text = await res.text().catch(() => "");
    try {
      const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] })
        .errors;
      if (errors?.length)
        return `HTTP ${res.status}: ${errors.map((e) => `${e.code}: ${e.message}`).join("; ")}`;
    } catch {
      /* not the registry's JSON error format */
    }
    return `HTTP ${res.status}`;
  }

  /** The host this client talks to (for messages). */
  get host(): string {
    return registryHost(this.domain);
  }
}
