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
