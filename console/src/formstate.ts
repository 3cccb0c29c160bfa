// Half-filled forms survive a sign-in redirect: their state lives in sessionStorage (this tab only,
// cleared when the tab closes) until the form is submitted or discarded.
const PREFIX = 'cvi-console.form.';

export interface Store {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}

export function saveForm<T>(key: string, value: T, store: Store = sessionStorage): void {
  try {
    store.setItem(PREFIX + key, JSON.stringify({ v: 1, value }));
  } catch {
    // Storage full or disabled: the form still works, it just does not survive a redirect.
  }
}

export function loadForm<T>(key: string, isValid: (x: unknown) => x is T, store: Store = sessionStorage): T | undefined {
  const raw = store.getItem(PREFIX + key);
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as { v?: number; value?: unknown };
    if (parsed.v === 1 && isValid(parsed.value)) return parsed.value;
  } catch {
    // fall through
  }
  store.removeItem(PREFIX + key);
  return undefined;
}

export function clearForm(key: string, store: Store = sessionStorage): void {
  store.removeItem(PREFIX + key);
}
