/**
 * The webgpu backend: `@tensorflow/tfjs-backend-webgpu` 4.22 on Deno's WebGPU
 * (`navigator.gpu`, wgpu underneath: Vulkan on Linux, OpenGL ES through EGL as a
 * fallback). Loaded only when asked for, so wasm runs pay nothing for it. On a machine
 * with a GPU and its Vulkan driver it runs there; on one without, Mesa's software
 * Vulkan driver (lavapipe, Debian's `mesa-vulkan-drivers`) runs it on the CPU, far
 * slower than wasm — correct, and what CI tests.
 *
 * Where tfjs-backend-webgpu and Deno do not fit, this module works around it:
 *
 * - **No synchronous reads.** tfjs-backend-webgpu reads a tensor synchronously
 *   (`dataSync`) by copying its GPU buffer through a 2D `OffscreenCanvas`; Deno's
 *   OffscreenCanvas (2.8+) offers only `webgpu` and `bitmaprenderer` contexts, so that
 *   read dies on `getContext("2d")` being null ("Cannot read properties of null (reading
 *   'clearRect')"), and there is no other way to wait for a GPU buffer synchronously.
 *   The engine reads asynchronously where a backend cannot read synchronously
 *   (core/read.ts); the backend made here refuses a synchronous read of a tensor whose
 *   values are not already on the CPU with an error that says so.
 * - **Our own backend factory.** tfjs-backend-webgpu registers a factory that requests
 *   its own adapter, pushes `["bgra8unorm-storage"]` (an array, not a feature name) into
 *   the required features, and reads `adapter.info` after `requestDevice`. Deno 2.1
 *   rejected both of the latter (tensorflow/tfjs#8518, denoland/deno#28135, "The adapter
 *   cannot be reused"); Deno 2.9.6 accepts them, checked. The factory here uses the
 *   adapter the backend choice already probed (one adapter, one device), reads its info
 *   before creating the device and asks only for features by name.
 * - **Adapter requests print to stderr on headless machines.** With Mesa's Vulkan
 *   driver installed, every `requestAdapter()` tries a Wayland connection; with neither
 *   `WAYLAND_DISPLAY` nor `XDG_RUNTIME_DIR` set (a server, CI), libwayland-client prints
 *   "error: XDG_RUNTIME_DIR is invalid or not set in the environment." twice. For the
 *   duration of the request an absolute `WAYLAND_DISPLAY` that does not exist makes that
 *   connection fail silently (see {@link requestAdapter}).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { BackendError } from "./errors.ts";

/** What asking Deno's WebGPU for an adapter found. */
export type AdapterProbe =
  /** No `navigator.gpu` in this runtime. */
  | { readonly _tag: "NoWebGPU" }
  /** `requestAdapter()` found none (no driver wgpu can use). */
  | { readonly _tag: "NoAdapter" }
  | {
    readonly _tag: "Adapter";
    readonly adapter: GPUAdapter;
    readonly info: GPUAdapterInfo;
    /** A software rasteriser (llvmpipe, lavapipe, SwiftShader, WARP…), not a GPU. */
    readonly software: boolean;
  };

/**
 * Whether an adapter is a CPU pretending to be a GPU: one WebGPU marks as a fallback
 * adapter, one with Mesa's software vendor id (0x10005), or one whose name says so.
 */
export const isSoftwareAdapter = (
  info: { readonly description: string; readonly vendor: string; readonly isFallbackAdapter?: boolean },
): boolean =>
  info.isFallbackAdapter === true || info.vendor === "65541" || info.vendor === "0x10005" ||
  /llvmpipe|lavapipe|softpipe|swiftshader|software|microsoft basic render|\bwarp\b/i.test(info.description);

/** The adapter's name for log lines: `llvmpipe (LLVM 15.0.6, 256 bits), software`. */
export const adapterLabel = (probe: Extract<AdapterProbe, { _tag: "Adapter" }>): string =>
  `${probe.info.description || probe.info.vendor || "unnamed adapter"}${probe.software ? ", software" : ""}`;

/**
 * `gpu.requestAdapter()` without the Wayland probe's stderr noise on a headless machine
 * (module doc): when neither `WAYLAND_DISPLAY` nor `XDG_RUNTIME_DIR` is set, an absolute
 * `WAYLAND_DISPLAY` that does not exist is set for the duration of the request.
 */
const requestAdapter = async (gpu: GPU): Promise<GPUAdapter | null> => {
  let unset: (() => void) | undefined;
  try {
    if (Deno.env.get("WAYLAND_DISPLAY") === undefined && Deno.env.get("XDG_RUNTIME_DIR") === undefined) {
      Deno.env.set("WAYLAND_DISPLAY", "/nonexistent/scalpel-headless");
      unset = () => Deno.env.delete("WAYLAND_DISPLAY");
    }
  } catch {
    // no permission to read or set the environment: the request still works, with the noise
  }
  try {
    return await gpu.requestAdapter({ powerPreference: "high-performance" });
  } finally {
    unset?.();
  }
};

/** Ask this runtime's `navigator.gpu` for an adapter. */
export const probeAdapter = (): Promise<AdapterProbe> =>
  probeAdapterOf((globalThis.navigator as { gpu?: GPU } | undefined)?.gpu);

/** Ask `gpu` (a runtime's `navigator.gpu`, undefined where there is none) for an adapter. */
export const probeAdapterOf = async (gpu: GPU | undefined): Promise<AdapterProbe> => {
  if (gpu === undefined || gpu === null) return { _tag: "NoWebGPU" };
  const adapter = await requestAdapter(gpu);
  if (adapter === null) return { _tag: "NoAdapter" };
  const info = adapter.info;
  return { _tag: "Adapter", adapter, info, software: isSoftwareAdapter(info) };
};

/** The one paragraph for a probe that found no usable adapter. */
export const unavailable = (probe: Exclude<AdapterProbe, { _tag: "Adapter" }>): BackendError => {
  if (probe._tag === "NoWebGPU") {
    return new BackendError({
      backend: "webgpu",
      detail: "this Deno has no WebGPU (navigator.gpu is undefined); Deno releases from before WebGPU became " +
        "stable expose it only when started with --unstable-webgpu",
      fix: "Run scalpel with Deno 2.9.6, as the README does (`npx -y deno@2.9.6 task scalpel run FILE --backend " +
        "webgpu`), or add --unstable-webgpu to your own `deno run` command; or use --backend wasm.",
    });
  }
  const restricted = Deno.env.get("DENO_WEBGPU_BACKEND");
  return new BackendError({
    backend: "webgpu",
    detail: "Deno's WebGPU found no adapter (navigator.gpu.requestAdapter() returned null): no graphics driver it " +
      "can use is installed — on Linux it needs a Vulkan driver, or OpenGL ES through EGL" +
      (restricted ? ` (DENO_WEBGPU_BACKEND=${restricted} limits which of these it tries)` : ""),
    fix: "Install your GPU's Vulkan driver; on a machine without a GPU, Mesa's software Vulkan driver runs it on " +
      "the CPU, much slower than wasm (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`). Or use --backend wasm.",
  });
};

let adapterInUse: string | undefined;

/** The adapter the webgpu backend runs on (undefined before it started). */
export const webgpuAdapter = (): string | undefined => adapterInUse;

/**
 * Make webgpu the active tfjs backend on `probe`'s adapter: load tfjs-backend-webgpu
 * (its kernels), register the factory of this module in place of the package's, and
 * switch to it. A second call switches back to the backend already made.
 */
export const activateWebgpu = async (probe: Extract<AdapterProbe, { _tag: "Adapter" }>): Promise<void> => {
  if (tf.findBackend("webgpu") == null) {
    // A variable specifier keeps tfjs-backend-webgpu out of the static module graph.
    const specifier = "@tensorflow/tfjs-backend-webgpu";
    const webgpu: typeof import("@tensorflow/tfjs-backend-webgpu") = await import(specifier);
    if (tf.findBackendFactory("webgpu") != null) tf.removeBackend("webgpu");
    tf.registerBackend("webgpu", () => makeBackend(webgpu.WebGPUBackend, probe), 1);
  }
  if (!(await tf.setBackend("webgpu"))) throw new Error('tf.setBackend("webgpu") returned false');
  await tf.ready();
  adapterInUse = adapterLabel(probe);
};

/** A device on the probed adapter and tfjs's backend on it (module doc: why not the package's factory). */
const makeBackend = async (
  Backend: typeof WebGPUBackend,
  { adapter, info }: Extract<AdapterProbe, { _tag: "Adapter" }>,
): Promise<WebGPUBackend> => {
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    // timestamp queries time kernels for tf.profile; nothing else of the package's list is used here
    requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
    // tfjs-backend-webgpu sizes its work from these limits: ask for what the adapter offers
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  return new (class extends Backend {
    override readSync(dataId: object) {
      // values already on the CPU (uploaded from JavaScript, or read once with data()) need no GPU read
      if (this.tensorMap.get(dataId)?.values != null) return super.readSync(dataId);
      throw new Error(
        "a tensor on the webgpu backend was read synchronously (dataSync / arraySync), which " +
          "tfjs-backend-webgpu cannot do under Deno (it needs a 2D OffscreenCanvas): read it with data(), " +
          "through core/read.ts",
      );
    }
  })(device, info);
};
