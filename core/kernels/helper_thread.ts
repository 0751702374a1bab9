/**
 * A second thread for scalpel's own wasm kernels: a Worker that instantiates a kernel
 * module on the same shared memory and runs one export when told to, while the calling
 * thread runs its own share. The hand-over is a few Atomics on a shared control block
 * (microseconds), so a synchronous kernel can split its work in two and wait.
 *
 * Started by {@link startHelperThread} when the wasm backend runs on more than one
 * thread (core/backend.ts); {@link HelperThread.stop} ends it (else the process would not
 * exit on its own: an idle helper waits on the control block).
 *
 * @module
 */

/**
 * Deno's web Worker, captured when this module loads: Emscripten's threaded wasm build
 * replaces `globalThis.Worker` with node's `worker_threads.Worker` when it starts
 * (core/kernels/threads.ts).
 */
const WebWorker = globalThis.Worker;

const IDLE = 0;
const JOB = 1;
const STOP = 2;
const DONE = 1;
const FAILED = 2;
/** How long the caller waits for the helper's share before calling the helper lost. */
const ANSWER_MS = 120_000;

/** Runs in the helper: waits for a job, runs the export on the arguments, says it is done. */
const WORKER_SOURCE = `
self.onmessage = (e) => {
  const { module, memory, control, name } = e.data;
  const run = new WebAssembly.Instance(module, { env: { memory } }).exports[name];
  self.postMessage("ready");
  for (;;) {
    Atomics.wait(control, 0, ${IDLE});
    if (Atomics.load(control, 0) === ${STOP}) break;
    let status = ${DONE};
    try {
      run(...control.subarray(3, 3 + control[2]));
    } catch (err) {
      status = ${FAILED};
    }
    Atomics.store(control, 0, ${IDLE});
    Atomics.store(control, 1, status);
    Atomics.notify(control, 1);
  }
  self.close();
};
`;

/** A started helper thread running one export of one kernel module. */
export interface HelperThread {
  /** Starts the export on `args` (integers) in the helper; returns at once. */
  readonly start: (args: readonly number[]) => void;
  /** Waits until the started job is done; throws when it failed or the helper is lost. */
  readonly wait: () => void;
  /** Ends the helper (idempotent). */
  readonly stop: () => void;
}

/** Starts a helper that runs export `name` of `module` on `memory` (a shared memory). */
export async function startHelperThread(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  name: string,
): Promise<HelperThread> {
  const control = new Int32Array(new SharedArrayBuffer(4 * 64));
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
  const worker = new WebWorker(url, { type: "module" });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`the kernel helper thread did not start (${e.message})`));
      };
      worker.postMessage({ module, memory, control, name });
    });
  } finally {
    URL.revokeObjectURL(url);
  }
  let stopped = false;
  return {
    start: (args) => {
      if (stopped) throw new Error("kernel helper thread: used after stop");
      control[2] = args.length;
      control.set(args, 3);
      Atomics.store(control, 1, 0);
      Atomics.store(control, 0, JOB);
      Atomics.notify(control, 0);
    },
    wait: () => {
      if (Atomics.wait(control, 1, 0, ANSWER_MS) === "timed-out") {
        throw new Error(`kernel helper thread: no answer in ${ANSWER_MS / 1000} s`);
      }
      if (Atomics.load(control, 1) === FAILED) throw new Error("kernel helper thread: its share of the kernel failed");
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      Atomics.store(control, 0, STOP);
      Atomics.notify(control, 0);
      worker.terminate();
    },
  };
}
