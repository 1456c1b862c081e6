/**
 * CPU time of other processes, from /proc/PID/stat (Linux): user + system time, as the
 * kernel accounts it (10 ms ticks), so a delta over a load phase is what that process
 * burnt on the cores during it, whatever the other processes on the machine did.
 * Also the kernel's listen-queue overflow counter, to tell dropped SYNs from server errors.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of `pid` in ms (threads included), or undefined when it cannot be read. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}

export interface CpuMeter {
  /** CPU ms each process used since the meter started (undefined: could not be read). */
  stop(): Record<string, number | undefined>;
}

/** Starts counting the CPU of named processes: `{ app: pid, fake: pid }`. */
export function meterCpu(pids: Record<string, number>): CpuMeter {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  return {
    stop() {
      const out: Record<string, number | undefined> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const start = before[name];
        const end = cpuMs(pid);
        out[name] = start === undefined || end === undefined ? undefined : end - start;
      }
      return out;
    },
  };
}

/**
 * The kernel's count of connections dropped because a listen queue was full
 * (TcpExt ListenOverflows in /proc/net/netstat; machine-wide), or undefined.
 */
export function listenOverflows(): number | undefined {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((line) => line.startsWith('TcpExt:'));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const at = names.indexOf('ListenOverflows');
    return at > 0 ? Number(values[at]) : undefined;
  } catch {
    return undefined;
  }
}
