import { readdir, readFile } from 'node:fs/promises';
import { processCpuSeconds } from '../../src/media/worker-cpu.ts';

/**
 * CPU seconds a process's live threads have run, from the scheduler's nanosecond clock
 * (`se.sum_exec_runtime` in /proc/<pid>/task/<tid>/sched, user + system, including the kernel's
 * send path for loopback packets it runs on that thread). /proc/<pid>/stat counts 10 ms ticks,
 * which needs long windows; this lets a short window (the quick run) still measure. Falls back to
 * /proc/<pid>/stat where the sched files are missing. Both sides of a comparison must use the same one.
 */
export async function threadCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const tids = await readdir(`/proc/${pid}/task`);
    let ms = 0;
    for (const tid of tids) {
      const sched = await readFile(`/proc/${pid}/task/${tid}/sched`, 'utf8').catch(() => '');
      const m = /se\.sum_exec_runtime\s*:\s*([\d.]+)/.exec(sched);
      if (!m) return await processCpuSeconds(pid);
      ms += Number(m[1]);
    }
    return ms / 1000;
  } catch {
    return processCpuSeconds(pid);
  }
}
