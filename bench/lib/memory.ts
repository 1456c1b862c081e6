/** Resident set size of another process, from /proc/PID/status (Linux). */
import fs from 'node:fs';

/** VmRSS of `pid` in MB, or undefined when it cannot be read (process gone, not Linux). */
export function rssMb(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface RssSampler {
  /** Stops sampling; the peak and the number of samples taken. */
  stop(): { peakMb: number | undefined; samples: number };
}

/** Samples the RSS of `pid` every `intervalMs` and keeps only the peak. */
export function sampleRss(pid: number, intervalMs = 100): RssSampler {
  let peak: number | undefined;
  let samples = 0;
  const take = () => {
    const value = rssMb(pid);
    if (value === undefined) return;
    samples++;
    if (peak === undefined || value > peak) peak = value;
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakMb: peak, samples };
    },
  };
}

/** Open file descriptors of `pid` (sockets included), from /proc/PID/fd, or undefined. */
export function openFds(pid: number): number | undefined {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** Samples the open descriptors of `pid` every `intervalMs` and keeps the peak. */
export function sampleFds(pid: number, intervalMs = 250): { stop(): number | undefined } {
  let peak: number | undefined;
  const take = () => {
    const value = openFds(pid);
    if (value !== undefined && (peak === undefined || value > peak)) peak = value;
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}
