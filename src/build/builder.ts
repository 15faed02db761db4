/**
 * `uno build`: a Dockerfile's stages built into an OCI image in the store, daemonless.
 *
 * Like docker's classic builder, each step starts from the state the previous one left: a
 * list of layers plus a config. Metadata instructions change the config (a history entry
 * with empty_layer); COPY, ADD, WORKDIR (when it must create the directory) and RUN add a
 * layer. RUN boots the current state as a uno micro-VM: the layers are committed as an
 * intermediate image (manifest + config blobs, never indexed), flattened to EROFS by
 * Image.rootfs, run by an Instance with `keep`, and the writable layer the guest left is
 * the new layer (layer.ts). Every layer step is cached (cache.ts).
 *
 * The build holds the store lock from start to end (as a load does), so a concurrent prune
 * cannot collect a layer the image is about to reference; the final image is indexed by
 * load's commitImages, so a failed build tags nothing.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { findCredentials } from "../lib/auth.js";
import { UnoError, UsageError } from "../lib/errors.js";
import { Image, shortId, statInRoot, tagKey, resolveUser, displayTag } from "../lib/image.js";
import { Instance, removeTree } from "../lib/instance.js";
import { mergeEnv, type EnvEntry } from "../lib/options.js";
import { parseImageRef } from "../lib/reference.js";
import { parsePlatform, pullImage } from "../lib/registry-pull.js";
import type { Store } from "../lib/store.js";
import { flattenLayers, type RootSummary } from "../image/flatten.js";
import { commitImages } from "../image/load.js";
import { MT, type Descriptor } from "../image/oci.js";
import type { DirNode, TreeNode } from "../image/erofs.js";
import { archiveEntries, archiveKind, type ArchiveKind } from "./archive.js";
import { BuildCache } from "./cache.js";
import { BuildContext, entriesDigest, globRegExp, hasGlob } from "./context.js";
import { sha256File } from "../image/rootfs.js";
import {
  keyValues,
  parseDockerfile,
  word,
  words,
  WordSyntaxError,
  type Instruction,
  type ParsedDockerfile,
  type Vars,
} from "./dockerfile.js";
import { BuildContextError, DockerfileError, RunStepError } from "./errors.js";
import {
  applyOwnership,
  storeLayer,
  treeEntries,
  upperEntries,
  type LayerEntry,
  type Ownership,
  type StoredLayer,
} from "./layer.js";

export interface BuildOptions {
  /** The context directory. */
  context: string;
  /** The Dockerfile (default CONTEXT/Dockerfile). */
  dockerfile?: string;
  /** NAME[:TAG] references to tag the result with. */
  tags: string[];
  buildArgs: Map<string, string>;
  noCache?: boolean;
  /** Build up to this stage (name or index) and tag it. */
  target?: string;
  /** Step lines ("Step 2/7 : RUN …"). */
  log: (line: string) => void;
  warn: (message: string) => void;
  /** Where RUN's output goes: the terminal, or nowhere (-q). */
  runOutput: "inherit" | "ignore";
}

export interface BuildResult {
  /** The image ID (config digest). */
  id: string;
  manifest: string;
  tags: string[];
}

interface HistoryEntry {
  created: string;
  created_by: string;
  empty_layer?: boolean;
  comment?: string;
}

/** The container config fields a Dockerfile sets (the OCI ones plus docker's Shell/OnBuild). */
interface RunConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  Shell?: string[];
  OnBuild?: string[];
  [k: string]: unknown;
}

/** Where a stage is: its layers and config, and the cache key chaining every step so far. */
interface State {
  index: number;
  name?: string;
  layers: Descriptor[];
  diffIds: string[];
  history: HistoryEntry[];
  config: RunConfig;
  author?: string;
  /** Time of the last layer step (or the base image's): every later history entry's time. */
  created: string;
  chain: string;
  /** A stored image with exactly these layers (the base), whose root can be reused. */
  image?: Image;
  /** ARGs declared in the stage, with their values (undefined: declared without one). */
  args: Map<string, string | undefined>;
  cmdSetHere: boolean;
  /** The state's root once built (RUN, WORKDIR, --chown names, COPY's destination). */
  root?: { image: Image; erofsPath: string; summary: RootSummary };
}

/** One COPY/ADD source, before it is placed at the destination. */
interface CopyItem {
  /** Its base name (a file copied into a directory keeps it). */
  base: string;
  isDir: boolean;
  /** A directory's own mode, owner and mtime (given to a destination it creates). */
  dirMeta?: { mode: number; uid: number; gid: number; mtime: number };
  /** Its entries placed at `dest` (a directory's contents below it). */
  entries: (dest: string, over: Ownership) => LayerEntry[];
  /** ADD of a local tar: extracted into the destination. */
  archive?: { file: string; kind: ArchiveKind };
}

const DEFAULT_SHELL = ["/bin/sh", "-c"];
const EPOCH = new Date(0).toISOString();
const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

/** A Dockerfile step in flight: where it is (for messages) and its number. */
interface Step {
  ins: Instruction;
  where: string;
}

export class Builder {
  private readonly df: ParsedDockerfile;
  private readonly ctx: BuildContext;
  private readonly cache: BuildCache;
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly usedBuildArgs = new Set<string>();
  private readonly stages: State[] = [];
  /** Roots of intermediate images this build made, removed at the end. */
  private readonly intermediateRoots = new Set<string>();
  /** Manifest and config blobs of intermediate images this build added, removed at the end. */
  private readonly intermediateBlobs = new Set<string>();
  private stepNo = 0;
  private readonly totalSteps: number;
  /** The -t references, normalized (checked before anything is built). */
  private readonly tags: string[];

  constructor(
    private readonly store: Store,
    private readonly o: BuildOptions,
  ) {
    this.tags = o.tags.map(tagKey);
    // BuildKit's automatic platform ARGs (uno builds linux/amd64 only), for FROM and for a
    // stage's `ARG TARGETARCH`.
    for (const pre of ["BUILD", "TARGET"]) {
      this.globalArgs.set(`${pre}PLATFORM`, "linux/amd64");
      this.globalArgs.set(`${pre}OS`, "linux");
      this.globalArgs.set(`${pre}ARCH`, "amd64");
    }
    this.ctx = new BuildContext(o.context);
    const file = o.dockerfile ?? path.join(o.context, "Dockerfile");
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`cannot read the Dockerfile ${file}: ${(err as Error).message}`);
    }
    this.df = parseDockerfile(text, file);
    this.cache = new BuildCache(store);
    const last = this.targetIndex();
    this.totalSteps =
      this.df.globalArgs.length +
      this.df.stages.slice(0, last + 1).reduce((n, s) => n + 1 + s.body.length, 0);
  }

  private targetIndex(): number {
    if (this.o.target === undefined) return this.df.stages.length - 1;
    const t = this.o.target.toLowerCase();
    const i = this.df.stages.findIndex((s) => stageName(s.from) === t);
    if (i < 0)
      throw new UsageError(`--target ${this.o.target}: no stage of that name in the Dockerfile`);
    return i;
  }

  /** Builds, tags, and returns the image. */
  async build(): Promise<BuildResult> {
    return this.store.withLock(async () => {
      try {
        for (const ins of this.df.globalArgs) {
          this.begin(ins);
          this.declareArgs(ins, this.globalArgs, this.globalVars());
        }
        const last = this.targetIndex();
        for (const stage of this.df.stages.slice(0, last + 1)) {
          const st = await this.from(stage.from, stage.index);
          this.stages.push(st);
          for (const ins of stage.body) await this.step(st, ins);
        }
        for (const k of this.o.buildArgs.keys())
          if (!this.usedBuildArgs.has(k))
            this.o.warn(`the build-arg ${k} was not consumed: no ARG ${k} in the Dockerfile`);
        const result = await this.commit(this.stages[last]!);
        await this.cache.save();
        return result;
      } finally {
        await this.cache.save().catch(() => undefined);
        for (const d of this.intermediateBlobs) this.store.removeBlob(d);
        for (const key of this.intermediateRoots)
          for (const ext of [".erofs", ".json"])
            await fsp.rm(path.join(this.store.erofsDir, key + ext), { force: true });
      }
    });
  }

  private where(ins: Instruction): string {
    return `${this.df.file}:${ins.line}`;
  }

  private begin(ins: Instruction): Step {
    this.stepNo++;
    const flags = [...ins.flags].map(([k, v]) => `--${k}=${v} `).join("");
    this.o.log(`Step ${this.stepNo}/${this.totalSteps} : ${ins.keyword} ${flags}${ins.text}`);
    return { ins, where: this.where(ins) };
  }

  private fail(ins: Instruction, why: string): never {
    throw new DockerfileError(this.df.file, ins.line, why);
  }

  /** Word processing with file:line on syntax errors. */
  private words(ins: Instruction, s: string, vars: Vars): string[] {
    try {
      return words(s, vars, this.df.escape);
    } catch (err) {
      if (err instanceof WordSyntaxError) this.fail(ins, err.message);
      throw err;
    }
  }

  private word(ins: Instruction, s: string, vars: Vars): string {
    try {
      return word(s, vars, this.df.escape);
    } catch (err) {
      if (err instanceof WordSyntaxError) this.fail(ins, err.message);
      throw err;
    }
  }

  private globalVars(): Map<string, string> {
    const m = new Map<string, string>();
    for (const [k, v] of this.globalArgs) if (v !== undefined) m.set(k, v);
    return m;
  }

  /** ARGs with values, then ENV over them: what instructions substitute and RUN sees. */
  private vars(st: State): Map<string, string> {
    const m = new Map<string, string>();
    for (const [k, v] of st.args) if (v !== undefined) m.set(k, v);
    for (const [k, v] of envEntries(st.config)) m.set(k, v);
    return m;
  }

  /** ARG NAME[=default]...: --build-arg wins, then the default, then the global ARG's value. */
  private declareArgs(ins: Instruction, into: Map<string, string | undefined>, vars: Vars): void {
    try {
      for (const [k, dflt] of keyValues(ins.text, vars, this.df.escape, false)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) this.fail(ins, `ARG: invalid name "${k}"`);
        const given = this.o.buildArgs.get(k);
        if (given !== undefined) this.usedBuildArgs.add(k);
        into.set(
          k,
          given ?? dflt ?? (into === this.globalArgs ? undefined : this.globalArgs.get(k)),
        );
      }
    } catch (err) {
      if (err instanceof WordSyntaxError) this.fail(ins, err.message);
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------
  // FROM

  private async from(ins: Instruction, index: number): Promise<State> {
    this.begin(ins);
    const vars = this.globalVars();
    const w = this.words(ins, ins.text, vars);
    if (!(w.length === 1 || (w.length === 3 && w[1]!.toLowerCase() === "as")))
      this.fail(ins, `FROM takes an image and optionally "AS name": FROM ${ins.text}`);
    const platform = ins.flags.get("platform");
    if (platform !== undefined) {
      const value = this.word(ins, platform, vars);
      let p;
      try {
        p = parsePlatform(value);
      } catch {
        this.fail(ins, `FROM --platform=${value}: expected OS/ARCH, e.g. linux/amd64`);
      }
      if (p.os !== "linux" || p.architecture !== "amd64")
        this.fail(ins, `FROM --platform=${platform}: uno runs linux/amd64 images only`);
    }
    const ref = w[0]!;
    const name = w[2]?.toLowerCase();
    if (name !== undefined && !/^[a-z][a-z0-9_.-]*$/.test(name))
      this.fail(
        ins,
        `invalid stage name "${w[2]}": letters, digits, "_", "-", "." starting with a letter`,
      );
    const base = await this.baseState(ins, ref);
    const st: State = { ...base, index, args: new Map(), cmdSetHere: false };
    if (name !== undefined) st.name = name;
    else delete st.name;
    if (st.config.OnBuild?.length)
      this.o.warn(
        `${this.where(ins)}: the base image has ONBUILD triggers; uno build does not run them`,
      );
    delete st.config.OnBuild;
    return st;
  }

  /** The state FROM `ref` starts with: an earlier stage, scratch, or a stored/pulled image. */
  private async baseState(
    ins: Instruction,
    ref: string,
  ): Promise<Omit<State, "index" | "args" | "cmdSetHere">> {
    const stage = this.stageByName(ref);
    if (stage) return cloneState(stage);
    if (ref === "scratch")
      return { layers: [], diffIds: [], history: [], config: {}, created: EPOCH, chain: "scratch" };
    const im = await this.image(ins, ref);
    const c = im.config;
    const st: Omit<State, "index" | "args" | "cmdSetHere"> = {
      layers: [...im.manifest.layers],
      diffIds: [...c.rootfs.diff_ids],
      history: Array.isArray(c.history) ? (structuredClone(c.history) as HistoryEntry[]) : [],
      config: structuredClone(c.config ?? {}) as RunConfig,
      created: c.created ?? EPOCH,
      chain: `image:${im.id}`,
      image: im,
    };
    if (typeof c.author === "string") st.author = c.author;
    return st;
  }

  private stageByName(ref: string): State | undefined {
    const r = ref.toLowerCase();
    return this.stages.find((s) => s.name === r);
  }

  /** A stored image, pulled when absent (the same library call as `uno pull`). */
  private async image(ins: Instruction, ref: string): Promise<Image> {
    const found = Image.find(this.store, ref);
    if (found) return found;
    if (/^[0-9a-f]{4,64}$/.test(ref) || ref.startsWith("sha256:"))
      this.fail(ins, `image ${ref} is not in the store`);
    let domain: string;
    try {
      domain = parseImageRef(ref).domain;
    } catch (err) {
      this.fail(ins, (err as Error).message);
    }
    this.o.log(`Pulling ${ref}`);
    const credentials = findCredentials(domain);
    const pulled = await pullImage(this.store, ref, {
      platform: "linux/amd64",
      ...(credentials ? { credentials } : {}),
    });
    return Image.open(this.store, pulled.manifest);
  }

  // -------------------------------------------------------------------------------------
  // Steps

  private async step(st: State, ins: Instruction): Promise<void> {
    const step = this.begin(ins);
    const vars = this.vars(st);
    const kv = (legacy: boolean): [string, string | undefined][] => {
      try {
        return keyValues(ins.text, vars, this.df.escape, legacy);
      } catch (err) {
        if (err instanceof WordSyntaxError) this.fail(ins, err.message);
        throw err;
      }
    };
    const c = st.config;
    switch (ins.keyword) {
      case "ARG":
        this.declareArgs(ins, st.args, vars);
        // History shows the ARG as written (a --build-arg value may be a secret); the cache
        // chain takes the values, so a different --build-arg misses the cache from here on.
        return this.meta(st, `ARG ${ins.text}`, JSON.stringify([...st.args]));
      case "ENV": {
        const env = new Map(envEntries(c));
        const pairs = kv(true);
        for (const [k, v] of pairs) {
          if (v === undefined) this.fail(ins, `ENV ${k}: missing "=value"`);
          env.set(k, v);
        }
        c.Env = [...env].map(([k, v]) => `${k}=${v}`);
        return this.meta(st, `ENV ${pairs.map(([k, v]) => `${k}=${v ?? ""}`).join(" ")}`);
      }
      case "LABEL": {
        const labels = { ...(c.Labels ?? {}) };
        const pairs = kv(false);
        for (const [k, v] of pairs) {
          if (v === undefined) this.fail(ins, `LABEL ${k}: missing "=value"`);
          labels[k] = v;
        }
        c.Labels = labels;
        return this.meta(st, `LABEL ${pairs.map(([k, v]) => `${k}=${v ?? ""}`).join(" ")}`);
      }
      case "USER": {
        const u = this.words(ins, ins.text, vars);
        if (u.length !== 1 || u[0] === "")
          this.fail(ins, "USER takes one argument: USER name[:group]");
        c.User = u[0]!;
        return this.meta(st, `USER ${c.User}`);
      }
      case "WORKDIR":
        return this.workdir(st, step, vars);
      case "CMD":
      case "ENTRYPOINT": {
        const argv = ins.json ?? [...(c.Shell ?? DEFAULT_SHELL), ins.text];
        if (ins.keyword === "CMD") {
          c.Cmd = argv;
          st.cmdSetHere = true;
        } else {
          c.Entrypoint = argv;
          // Docker: an ENTRYPOINT resets a Cmd inherited from the base image.
          if (!st.cmdSetHere) c.Cmd = null;
        }
        return this.meta(st, `${ins.keyword} ${JSON.stringify(argv)}`);
      }
      case "SHELL":
        c.Shell = ins.json!;
        return this.meta(st, `SHELL ${JSON.stringify(c.Shell)}`);
      case "EXPOSE": {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of this.words(ins, ins.text, vars))
          for (const k of exposeKeys(p, () =>
            this.fail(ins, `EXPOSE ${p}: expected PORT[-PORT][/tcp|/udp]`),
          ))
            ports[k] = {};
        c.ExposedPorts = ports;
        return this.meta(st, `EXPOSE ${Object.keys(ports).join(" ")}`);
      }
      case "STOPSIGNAL":
        c.StopSignal = this.word(ins, ins.text, vars).trim();
        this.o.warn(
          `${step.where}: STOPSIGNAL is recorded in the image config; uno run does not use it yet`,
        );
        return this.meta(st, `STOPSIGNAL ${c.StopSignal}`);
      case "VOLUME": {
        const vols = { ...(c.Volumes ?? {}) };
        for (const v of ins.json ?? this.words(ins, ins.text, vars)) vols[v] = {};
        c.Volumes = vols;
        this.o.warn(
          `${step.where}: VOLUME is recorded in the image config; uno run mounts no volumes (the directories are ordinary ones in the image)`,
        );
        return this.meta(st, `VOLUME ${JSON.stringify(Object.keys(vols))}`);
      }
      case "ONBUILD":
        c.OnBuild = [...(c.OnBuild ?? []), ins.text];
        this.o.warn(
          `${step.where}: ONBUILD is recorded in the image config; uno build does not run such triggers when the image is used as a base`,
        );
        return this.meta(st, `ONBUILD ${ins.text}`);
      case "HEALTHCHECK":
        this.o.warn(
          `${step.where}: HEALTHCHECK is ignored: uno has no health checks (the OCI config has no field for it)`,
        );
        return this.meta(st, `HEALTHCHECK ${ins.text}`);
      case "MAINTAINER":
        st.author = this.word(ins, ins.text, vars);
        this.o.warn(
          `${step.where}: MAINTAINER is deprecated (recorded as the image's author); use LABEL maintainer=…`,
        );
        return this.meta(st, `MAINTAINER ${st.author}`);
      case "COPY":
      case "ADD":
        return this.copy(st, step, vars);
      case "RUN":
        return this.run(st, step);
      case "FROM":
      default:
        this.fail(ins, `unexpected ${ins.keyword}`);
    }
  }

  /** A config-only step: a history entry with empty_layer, and the cache chain moves on. */
  private meta(st: State, createdBy: string, chainExtra = ""): void {
    st.history.push({ created: st.created, created_by: createdBy, empty_layer: true });
    st.chain = sha(`${st.chain}\0${createdBy}\0${chainExtra}`);
  }

  /**
   * A layer step: the cached layer for `key` when there is one (and --no-cache is not
   * given), else `make()`'s; added to the state with its history entry.
   */
  private async layer(
    st: State,
    createdBy: string,
    inputs: string,
    make: () => Promise<StoredLayer>,
  ): Promise<void> {
    const key = sha(`${st.chain}\0${createdBy}\0${inputs}`);
    let entry = this.o.noCache ? undefined : this.cache.get(key);
    if (entry) this.o.log(" ---> Using cache");
    else {
      const l = await make();
      entry = { layer: l.descriptor, diffId: l.diffId, created: new Date().toISOString() };
      this.cache.set(key, entry);
    }
    st.layers.push(entry.layer);
    st.diffIds.push(entry.diffId);
    st.created = entry.created;
    st.history.push({ created: entry.created, created_by: createdBy });
    st.chain = key;
    delete st.image;
    delete st.root;
    this.o.log(` ---> ${entry.layer.digest.slice(7, 19)}`);
  }

  /** The state's root (flattened, as EROFS) and summary, built once per state. */
  private async root(
    st: State,
  ): Promise<{ image: Image; erofsPath: string; summary: RootSummary }> {
    if (st.root) return st.root;
    let image = st.image;
    if (!image) {
      // An intermediate image: only the layers, so its root is keyed by them alone.
      const { manifest } = await this.putImage(
        { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: st.diffIds } },
        st.layers,
        "intermediate",
      );
      image = Image.open(this.store, manifest);
      this.intermediateRoots.add(image.rootfsKey());
    }
    const r = await image.rootfs({ onWarning: this.o.warn });
    st.root = { image, erofsPath: r.erofsPath, summary: r.summary };
    return st.root;
  }

  private async workdir(st: State, step: Step, vars: Vars): Promise<void> {
    const ins = step.ins;
    const w = this.word(ins, ins.text, vars).trim();
    if (w === "") this.fail(ins, "WORKDIR needs a path");
    const dir = path.posix.resolve(st.config.WorkingDir || "/", w);
    st.config.WorkingDir = dir;
    // Docker creates the directory; only the missing components are added (after the
    // image's symlinks: Debian's /bin is usr/bin), so an existing parent (/tmp's 1777) keeps
    // its mode and owner.
    const { summary } = await this.root(st);
    const target = statInRoot(summary, dir);
    if (target.code !== undefined && target.code !== "d")
      this.fail(ins, `WORKDIR ${dir}: ${target.path} is not a directory in the image`);
    const parts = target.path.split("/").filter(Boolean);
    const missing: string[] = [];
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join("/")}`;
      if (missing.length === 0 && summary.paths[p] !== undefined) continue;
      missing.push(p.slice(1));
    }
    if (missing.length === 0) return this.meta(st, `WORKDIR ${dir}`);
    const now = Math.floor(Date.now() / 1000);
    const entries: LayerEntry[] = missing.map((name) => ({
      name,
      type: "directory",
      mode: 0o755,
      uid: 0,
      gid: 0,
      mtime: now,
    }));
    await this.layer(st, `WORKDIR ${dir}`, "", () =>
      storeLayer(this.store, entries, `layer of ${step.where}`),
    );
  }

  // -------------------------------------------------------------------------------------
  // COPY and ADD

  private async copy(st: State, step: Step, vars: Vars): Promise<void> {
    const ins = step.ins;
    const kw = ins.keyword;
    const args = ins.json
      ? ins.json.map((a) => this.word(ins, a, vars))
      : this.words(ins, ins.text, vars);
    if (args.length < 2)
      this.fail(ins, `${kw} requires at least two arguments: ${kw} SOURCE... DEST`);
    const srcs = args.slice(0, -1);
    const destArg = args[args.length - 1]!;
    const flag = (name: string): string | undefined => {
      const v = ins.flags.get(name);
      return v === undefined ? undefined : this.word(ins, v, vars);
    };
    const chown = flag("chown");
    const chmod = flag("chmod");
    if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod))
      this.fail(ins, `--chmod=${chmod}: expected an octal mode such as 0755`);
    const from = flag("from");
    const label = `${kw} ${[...ins.flags].map(([k, v]) => `--${k}=${v} `).join("")}${args.join(" ")}`;
    for (const s of srcs)
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith("git@"))
        throw new BuildContextError(
          `${step.where}: ${kw} ${s}: ${kw === "ADD" ? "ADD from a URL is not supported (uno build works without network access): download the file and COPY it" : "COPY cannot fetch URLs"}`,
        );
    const place = (items: CopyItem[]): Promise<StoredLayer> =>
      this.place(st, step, items, destArg, { chown, chmod });

    if (from !== undefined) {
      // Another stage's or image's files: its cache chain (or image ID) fixes them, so a
      // cached step needs no flattening; on a miss the tree is flattened into `staging`.
      const src = await this.fromSource(st, ins, from);
      const inputs = sha(JSON.stringify([src.key, srcs, chown ?? null, chmod ?? null]));
      await this.layer(st, label, inputs, async () => {
        const staging = this.store.tempPath("build-from");
        try {
          await fsp.mkdir(staging, { mode: 0o700 });
          const tree = await flattenLayers(this.store, src.layers, src.diffIds, staging, {
            onWarning: this.o.warn,
          });
          return await place(
            srcs
              .flatMap((s) => resolveInTree(tree, s, `${step.where}: ${kw}`))
              .map(({ node, name }): CopyItem => {
                const item: CopyItem = {
                  base: name,
                  isDir: node.kind === "dir",
                  entries: (d, over) => [...treeEntries(node, d, over)],
                };
                if (node.kind === "dir")
                  item.dirMeta = {
                    mode: node.mode ?? 0o755,
                    uid: node.uid ?? 0,
                    gid: node.gid ?? 0,
                    mtime: node.mtime ?? 0,
                  };
                return item;
              }),
          );
        } finally {
          await fsp.rm(staging, { recursive: true, force: true });
        }
      });
      return;
    }
    // The context: sources are resolved (and missing ones reported) even when cached; the
    // key takes their names, modes and contents.
    const items = srcs
      .flatMap((s) => this.ctx.resolve(s, `${step.where}: ${kw} ${s}`))
      .map((cs): CopyItem => {
        const kind = kw === "ADD" && cs.stat.isFile() ? archiveKind(cs.host) : undefined;
        const item: CopyItem = {
          base: path.posix.basename(cs.rel === "." ? "" : cs.rel),
          isDir: cs.stat.isDirectory() || kind !== undefined,
          entries: (d, over) => this.ctx.entries(cs, d, over),
        };
        if (kind !== undefined) item.archive = { file: cs.host, kind };
        else if (cs.stat.isDirectory())
          item.dirMeta = {
            mode: cs.stat.mode & 0o7777,
            uid: 0,
            gid: 0,
            mtime: Math.floor(cs.stat.mtimeMs / 1000),
          };
        return item;
      });
    const digests = await Promise.all(
      items.map(async (it) => [
        it.base,
        it.isDir,
        it.dirMeta?.mode ?? null,
        it.archive
          ? await sha256File(it.archive.file)
          : await entriesDigest(it.entries(it.base, {})),
      ]),
    );
    const inputs = sha(JSON.stringify([digests, destArg, chown ?? null, chmod ?? null]));
    await this.layer(st, label, inputs, () => place(items));
  }

  /**
   * Docker's destination rules, then the layer: several sources need a directory
   * destination ending in "/"; a file goes into `dest` when it ends in "/" or is a directory
   * in the image, else becomes `dest`; a directory's contents go into `dest`; a missing
   * `dest` is created — as a copy of the source directory's mode and owner when that is the
   * one source (the directory copied onto a new path), else 0755 root — owned by --chown.
   */
  private async place(
    st: State,
    step: Step,
    items: CopyItem[],
    destArg: string,
    flags: { chown: string | undefined; chmod: string | undefined },
  ): Promise<StoredLayer> {
    const ins = step.ins;
    if (items.length > 1 && !/\/\.?$/.test(destArg))
      this.fail(
        ins,
        `${ins.keyword} with more than one source file: the destination must be a directory ending in "/" (${destArg})`,
      );
    const over = await this.ownership(st, ins, flags.chown, flags.chmod);
    const dest = path.posix.resolve(st.config.WorkingDir || "/", destArg);
    // The destination after the image's symlinks (COPY x /bin/ on Debian writes usr/bin/x:
    // a layer entry below a symlink would be refused); a file keeps its own last component
    // even when that is a symlink (it replaces the link, as docker does).
    const { summary } = await this.root(st);
    const target = statInRoot(summary, dest);
    const destKind = target.code;
    const intoDir = /\/\.?$/.test(destArg) || destArg === "." || destKind === "d";
    const rel = (
      intoDir || items.some((it) => it.isDir)
        ? target.path
        : path.posix.join(
            statInRoot(summary, path.posix.dirname(dest)).path,
            path.posix.basename(dest),
          )
    ).replace(/^\/+/, "");
    const entries: LayerEntry[] = [];
    if (destKind === undefined && (intoDir || items.some((it) => it.isDir))) {
      const meta = (items.length === 1 ? items[0]!.dirMeta : undefined) ?? {
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: Math.floor(Date.now() / 1000),
      };
      entries.push({ name: rel, type: "directory", ...applyOwnership(meta, over) });
    }
    const archives: { file: string; kind: ArchiveKind }[] = [];
    for (const it of items) {
      if (it.archive) archives.push(it.archive);
      else
        entries.push(
          ...it.entries(it.isDir || !intoDir ? rel : path.posix.join(rel, it.base), over),
        );
    }
    const warn = this.o.warn;
    return storeLayer(
      this.store,
      (async function* () {
        yield* entries;
        for (const a of archives) yield* archiveEntries(a.file, a.kind, rel, over, warn);
      })(),
      `layer of ${step.where}`,
    );
  }

  /** --chown=user[:group] (names from the stage's /etc/passwd, /etc/group) and --chmod=octal. */
  private async ownership(
    st: State,
    ins: Instruction,
    chown: string | undefined,
    chmod: string | undefined,
  ): Promise<Ownership> {
    const over: Ownership = {};
    if (chmod !== undefined) over.mode = parseInt(chmod, 8);
    if (chown !== undefined) {
      const [user = "", group] = chown.split(":");
      const numeric = /^\d+$/.test(user) && (group === undefined || /^\d+$/.test(group));
      const summary = numeric ? {} : (await this.root(st)).summary;
      try {
        const u = resolveUser(chown, summary);
        over.uid = u.uid;
        // Docker: a user without a group gets its UID as GID as well.
        over.gid = group === undefined ? u.uid : u.gid;
      } catch (err) {
        this.fail(ins, `--chown=${chown}: ${(err as Error).message}`);
      }
    }
    return over;
  }

  /** The layers of --from=stage|index|image, and a key that fixes their contents. */
  private async fromSource(
    st: State,
    ins: Instruction,
    from: string,
  ): Promise<{ layers: Descriptor[]; diffIds: string[]; key: string }> {
    let stage = this.stageByName(from);
    if (!stage && /^\d+$/.test(from)) {
      stage = this.stages[Number(from)];
      if (!stage || Number(from) >= st.index)
        this.fail(ins, `--from=${from}: no earlier stage with that index`);
    }
    if (stage) return { layers: stage.layers, diffIds: stage.diffIds, key: stage.chain };
    const im = await this.image(ins, from);
    return { layers: im.manifest.layers, diffIds: im.config.rootfs.diff_ids, key: im.id };
  }

  // -------------------------------------------------------------------------------------
  // RUN

  private async run(st: State, step: Step): Promise<void> {
    const ins = step.ins;
    const argv = ins.json ?? [...(st.config.Shell ?? DEFAULT_SHELL), ins.text];
    if (argv.length === 0) this.fail(ins, "RUN [] has no command");
    // Build-args are in RUN's environment but not in the image; ENV wins over them.
    const argEnv: EnvEntry[] = [...st.args].filter(
      (e): e is [string, string] => e[1] !== undefined,
    );
    const env = mergeEnv(argEnv, envEntries(st.config));
    const createdBy = `RUN ${ins.json ? JSON.stringify(argv) : argv.join(" ")}`;
    const inputs = JSON.stringify([env, st.config.User ?? "", st.config.WorkingDir ?? ""]);
    await this.layer(st, createdBy, inputs, async () => {
      const root = await this.root(st);
      const overrides = {
        entrypoint: argv[0]!,
        args: argv.slice(1),
        env,
        ...(st.config.User ? { user: st.config.User } : {}),
        ...(st.config.WorkingDir ? { workdir: st.config.WorkingDir } : {}),
      };
      let spec;
      try {
        spec = root.image.runSpec(overrides, root.summary);
      } catch (err) {
        // The program is not in the image (exit 127 at run time): say so with the step.
        if (err instanceof UnoError)
          throw new UnoError(err.code, `${step.where}: ${err.message}`, 1);
        throw err;
      }
      const inst = await Instance.create({
        image: root.erofsPath,
        command: spec.command,
        args: spec.args,
        imageEnv: spec.imageEnv,
        env,
        ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
        ...(spec.user !== undefined ? { user: spec.user } : {}),
        keep: true,
      });
      try {
        // run() forwards SIGINT/SIGTERM to the VM, so an interrupted RUN fails like a
        // failing one and everything below is cleaned up.
        const out = this.o.runOutput;
        const r = await inst.run(["ignore", out, out]);
        if (r.exitCode !== 0) throw new RunStepError(step.where, argv.join(" "), r.exitCode);
        return await storeLayer(
          this.store,
          upperEntries(inst.upperDir, this.o.warn),
          `layer of ${step.where}`,
        );
      } finally {
        removeTree(inst.dir);
      }
    });
  }

  // -------------------------------------------------------------------------------------
  // The image

  /** Stores `config` and an OCI manifest of it and `layers`; returns both digests. */
  private async putImage(
    config: object,
    layers: Descriptor[],
    what: string,
  ): Promise<{ manifest: string; config: string }> {
    const cd = await this.store.putBlobBytes(Buffer.from(JSON.stringify(config)), {
      what: `${what} config`,
    });
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: cd.digest, size: cd.size },
      layers,
    });
    const md = await this.store.putBlobBytes(Buffer.from(manifest), { what: `${what} manifest` });
    if (what === "intermediate")
      for (const b of [cd, md]) if (b.created) this.intermediateBlobs.add(b.digest);
    return { manifest: md.digest, config: cd.digest };
  }

  private async commit(st: State): Promise<BuildResult> {
    const config: Record<string, unknown> = {
      created: st.created,
      ...(st.author !== undefined ? { author: st.author } : {}),
      architecture: "amd64",
      os: "linux",
      config: st.config,
      rootfs: { type: "layers", diff_ids: st.diffIds },
      history: st.history,
    };
    const tags = this.tags;
    const { manifest, config: configDigest } = await this.putImage(config, st.layers, "image");
    // Indexed like a loaded image: its root is built first, so an image uno cannot run is
    // refused here rather than at `uno run`.
    await commitImages(this.store, async () => [{ manifest, config: configDigest, tags }], {
      prepare: async (im) =>
        void (await Image.open(this.store, im.manifest).rootfs({ onWarning: this.o.warn })),
    });
    this.intermediateRoots.delete(Image.open(this.store, manifest).rootfsKey());
    this.o.log(`Successfully built ${shortId(configDigest)}`);
    for (const t of tags) this.o.log(`Successfully tagged ${displayTag(t)}`);
    return { id: configDigest, manifest, tags };
  }
}

function stageName(from: Instruction): string | undefined {
  const m = /\s+as\s+(\S+)\s*$/i.exec(from.text);
  return m?.[1]?.toLowerCase();
}

function cloneState(s: State): Omit<State, "index" | "args" | "cmdSetHere"> {
  const c: Omit<State, "index" | "args" | "cmdSetHere"> = {
    layers: [...s.layers],
    diffIds: [...s.diffIds],
    history: structuredClone(s.history),
    config: structuredClone(s.config),
    created: s.created,
    chain: s.chain,
  };
  if (s.image) c.image = s.image;
  if (s.author !== undefined) c.author = s.author;
  return c;
}

function envEntries(c: RunConfig): EnvEntry[] {
  return (c.Env ?? []).map((e): EnvEntry => {
    const eq = e.indexOf("=");
    return eq < 0 ? [e, ""] : [e.slice(0, eq), e.slice(eq + 1)];
  });
}

/** EXPOSE 80, 80/udp, 8000-8002/tcp → "80/tcp"… */
function exposeKeys(p: string, bad: () => never): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
  if (!m) bad();
  const lo = Number(m[1]);
  const hi = m[2] !== undefined ? Number(m[2]) : lo;
  if (lo < 1 || hi > 65535 || hi < lo || hi - lo > 1000) bad();
  const proto = (m[3] ?? "tcp").toLowerCase();
  return Array.from({ length: hi - lo + 1 }, (_, i) => `${lo + i}/${proto}`);
}

/**
 * The nodes a COPY --from source names in a flattened tree: a glob over every path, or
 * one path whose symlinks are followed inside the tree (at most 40); a followed source
 * keeps its own name (COPY --from=x /bin/sh /out/ writes /out/sh).
 */
function resolveInTree(
  root: DirNode,
  src: string,
  where: string,
  hops = 0,
  name?: string,
  shown = src,
): { node: TreeNode; name: string }[] {
  const rel = path.posix.normalize(src.replace(/^\/+/, "")).replace(/\/+$/, "");
  if (hasGlob(rel)) {
    const re = globRegExp(rel);
    const hits: { node: TreeNode; name: string }[] = [];
    const walk = (d: DirNode, at: string): void => {
      for (const [n, child] of d.entries) {
        const p = at === "" ? n : `${at}/${n}`;
        if (re.test(p)) hits.push({ node: child, name: n });
        if (child.kind === "dir") walk(child, p);
      }
    };
    walk(root, "");
    if (hits.length === 0)
      throw new BuildContextError(`${where}: ${src} matches nothing in the source stage`);
    return hits;
  }
  const notFound = (): BuildContextError =>
    new BuildContextError(`${where}: ${shown}: not found in the source stage`);
  const parts = rel === "." ? [] : rel.split("/");
  const own = name ?? parts[parts.length - 1] ?? "";
  let node: TreeNode = root;
  const resolved: DirNode[] = [root];
  for (let i = 0; i < parts.length; i++) {
    const c = parts[i]!;
    if (node.kind !== "dir") throw notFound();
    if (c === "..") {
      if (resolved.length > 1) resolved.pop();
      node = resolved[resolved.length - 1]!;
      continue;
    }
    const next: TreeNode | undefined = node.entries.get(c);
    if (next === undefined) throw notFound();
    if (next.kind === "symlink") {
      if (hops >= 40) throw notFound();
      const t = typeof next.target === "string" ? next.target : Buffer.from(next.target).toString();
      const base = t.startsWith("/") ? [] : parts.slice(0, i);
      const rest = [...base, ...t.split("/").filter(Boolean), ...parts.slice(i + 1)];
      return resolveInTree(root, rest.join("/") || ".", where, hops + 1, own, shown);
    }
    node = next;
    if (next.kind === "dir") resolved.push(next);
  }
  return [{ node, name: own }];
}

/** Builds the Dockerfile of `o` into the store. */
export async function buildImage(store: Store, o: BuildOptions): Promise<BuildResult> {
  return new Builder(store, o).build();
}
