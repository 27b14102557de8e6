// One piece of synchronous work (better-sqlite3 reads, file copies) in a worker thread of its own,
// so that the service's event loop keeps answering requests meanwhile. The worker module reads
// its input from `workerData` and answers once through answerFromThread().

import { parentPort, Worker } from 'node:worker_threads';

type Answer<T> = { ok: true; result: T } | { ok: false; message: string };

/** Runs the worker module at `moduleUrl` with `data`; resolves with its result, rejects with its error's message. */
export function runOffThread<T>(moduleUrl: URL, data: unknown, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(moduleUrl, { workerData: data });
    let answered = false;
    worker.once('message', (message: Answer<T>) => {
      answered = true;
      if (message.ok) resolve(message.result);
      else reject(new Error(message.message));
    });
    worker.once('error', (err) => {
      answered = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the ${what} thread exited with ${code} before it answered`));
    });
  });
}

/** In a worker module: runs `work` and sends its result, or its error's message, to runOffThread. */
export async function answerFromThread<T>(work: () => T | Promise<T>): Promise<void> {
  let answer: Answer<T>;
  try {
    answer = { ok: true, result: await work() };
  } catch (err) {
    answer = { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(answer);
}
