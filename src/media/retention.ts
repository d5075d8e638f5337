/**
 * Recording retention and erasure, on the recordings folder as this process sees it (the
 * Compose file shares it with FreeSWITCH). The layout ({dir}/YYYY/MM/DD/{sessionId}/...,
 * src/media/recording.ts) makes both cheap: retention removes whole day folders older than the
 * cutoff, erasure looks for a session's folder in each day. All of it is asynchronous.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

const DIGITS = (n: number) => new RegExp(`^\\d{${n}}$`);

/** The day folders under `dir`, as [YYYY, MM, DD, path], oldest first. Missing folder: none. */
async function dayFolders(dir: string): Promise<Array<{ day: string; path: string }>> {
  const out: Array<{ day: string; path: string }> = [];
  const list = async (p: string) => (await readdir(p).catch(() => [] as string[])).sort();
  for (const y of (await list(dir)).filter((n) => DIGITS(4).test(n))) {
    for (const m of (await list(join(dir, y))).filter((n) => DIGITS(2).test(n))) {
      for (const d of (await list(join(dir, y, m))).filter((n) => DIGITS(2).test(n))) out.push({ day: `${y}-${m}-${d}`, path: join(dir, y, m, d) });
    }
  }
  return out;
}

/** Removes the day folders whose day ended more than `days` ago (UTC); returns the days removed. */
export async function pruneRecordings(dir: string, days: number, now: Date): Promise<string[]> {
  const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString().slice(0, 10);
  const removed: string[] = [];
  for (const f of await dayFolders(dir)) {
    if (f.day >= cutoff) break;
    await rm(f.path, { recursive: true, force: true });
    removed.push(f.day);
  }
  return removed;
}

/** Removes every recording of these sessions; returns how many session folders were removed. */
export async function eraseRecordings(dir: string, sessionIds: readonly string[]): Promise<number> {
  const safe = new Set(sessionIds.map((s) => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120)));
  let n = 0;
  for (const f of await dayFolders(dir)) {
    for (const name of await readdir(f.path).catch(() => [] as string[])) {
      if (!safe.has(name)) continue;
      await rm(join(f.path, name), { recursive: true, force: true });
      n++;
    }
  }
  return n;
}

export interface RecordingFile {
  /** The file's name: the call's id (keyed Call-ID hash) and .wav. */
  name: string;
  /** YYYY-MM-DD (UTC) of the call. */
  day: string;
  bytes: number;
  path: string;
}

/** The finished recordings of a session (partial files, still being written, are left out). */
export async function listRecordings(dir: string, sessionId: string): Promise<RecordingFile[]> {
  const folder = sessionId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
  const out: RecordingFile[] = [];
  for (const f of await dayFolders(dir)) {
    const names = await readdir(join(f.path, folder)).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.wav') && !n.endsWith('.partial.wav')).sort()) {
      const path = join(f.path, folder, name);
      const st = await stat(path).catch(() => null);
      if (st?.isFile()) out.push({ name, day: f.day, bytes: st.size, path });
    }
  }
  return out;
}
