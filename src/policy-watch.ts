import { watch, type FSWatcher } from 'node:fs';

/**
 * Calls `onChange` (debounced) when anything under the given files or folders changes.
 * Editors save in several steps (write temp, rename), so a burst of events is one change.
 */
export function watchPaths(paths: readonly string[], onChange: () => void, debounceMs = 200): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const watchers: FSWatcher[] = paths.map((p) => watch(p, { recursive: true }, fire));
  for (const w of watchers) w.on('error', fire); // a watched folder replaced wholesale: reload and keep going
  return {
    close: () => {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
