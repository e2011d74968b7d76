/** Processes the lab started, checked by PID and command, so that a reused PID is never signalled. */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

/** The command line of `pid` (its arguments), or undefined when it is gone or a zombie. */
export async function commandLine(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name in parentheses, which may itself hold spaces.
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs `command` (compared by file name: redis-server rewrites the rest of its title). */
export async function isProcess(pid: number, command: string): Promise<boolean> {
  const argv = await commandLine(pid);
  const first = argv?.[0]?.split(' ')[0];
  return first !== undefined && basename(first) === basename(command);
}
