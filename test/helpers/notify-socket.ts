/**
 * A stand-in for systemd's notify socket: a Unix datagram socket (which Node cannot open, so a
 * small python3 process holds it) that records each message and, like systemd, closes the
 * BARRIER=1 file descriptors it receives so that `systemd-notify` returns.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const LISTENER = `
import os, socket, sys, json, array
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print("ready", flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4) + socket.CMSG_SPACE(12))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
            for fd in fds:
                os.close(fd)
    print(json.dumps(data.decode()), flush=True)
`;

export interface NotifySocket {
  readonly path: string;
  readonly messages: string[];
  close(): Promise<void>;
}

export async function startNotifySocket(): Promise<NotifySocket> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-notify-'));
  const path = join(dir, 'notify');
  const child: ChildProcess = spawn('python3', ['-c', LISTENER, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const messages: string[] = [];
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('notify socket did not start within 5 s')), 5_000);
    lines.on('line', (line) => {
      if (line === 'ready') {
        clearTimeout(timer);
        resolve();
      } else {
        messages.push(JSON.parse(line) as string);
      }
    });
    child.once('exit', (code) => reject(new Error(`notify socket exited with ${code}`)));
  });
  return {
    path,
    messages,
    async close() {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
