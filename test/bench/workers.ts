/**
 * The runner's handle on a client worker process: fork it, send it commands, await its replies
 * (bounded), and stop it. Replies are matched by type; a worker answers one request of a type at
 * a time, which is how the runner uses them.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { stopProcess, track } from './processes.ts';

export class Worker<In extends { type: string }, Out extends { type: string }> {
  readonly pid: number;
  private readonly child: ChildProcess;
  private readonly listeners = new Set<(message: Out) => void>();

  constructor(
    script: string,
    logFile: string,
    readonly name: string,
  ) {
    const fd = openSync(logFile, 'a');
    try {
      this.child = track(
        fork(script, [], { stdio: ['ignore', fd, fd, 'ipc'], serialization: 'advanced', execArgv: [] }),
      );
    } finally {
      closeSync(fd);
    }
    if (this.child.pid === undefined) throw new Error(`could not start ${name}`);
    this.pid = this.child.pid;
    this.child.on('message', (message) => {
      for (const listener of this.listeners) listener(message as Out);
    });
  }

  send(message: In): void {
    this.child.send(message);
  }

  /** Calls `listener` for every message of `type` until the returned function is called. */
  on<T extends Out['type']>(type: T, listener: (message: Extract<Out, { type: T }>) => void): () => void {
    const wrapped = (message: Out): void => {
      if (message.type === type) listener(message as Extract<Out, { type: T }>);
    };
    this.listeners.add(wrapped);
    return () => this.listeners.delete(wrapped);
  }

  /** Sends `message` and resolves with the first reply of `type` (and `match`) within `timeoutMs`. */
  request<T extends Out['type']>(
    message: In,
    type: T,
    timeoutMs: number,
    match: (reply: Extract<Out, { type: T }>) => boolean = () => true,
  ): Promise<Extract<Out, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => {
        done();
        reject(new Error(`${this.name} exited (${code}) before replying ${type}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} did not reply ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(type, (reply) => {
        if (!match(reply)) return;
        done();
        resolve(reply);
      });
      const done = (): void => {
        clearTimeout(timer);
        off();
        this.child.off('exit', onExit);
      };
      this.child.once('exit', onExit);
      this.send(message);
    });
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopProcess(this.child, 3_000);
  }
}
