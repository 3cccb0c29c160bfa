import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError, describeError } from './errors';
import { Redirecting } from './auth';

export interface Load<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `fn` when `deps` change; keeps the last data while reloading so the screen never goes blank. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Load<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && !(error instanceof Redirecting) && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** An API error in plain words; lost network and 5xx get a retry button (a banner, never a blank screen). */
export function ErrorNotice({ error, onRetry, context }: { error: unknown; onRetry?: () => void; context?: string }) {
  if (!error || error instanceof Redirecting) return null;
  const retryable = error instanceof ApiError ? error.retryable : false;
  return (
    <div class={retryable ? 'banner banner-retry' : 'notice notice-error'} role="alert">
      <p>
        {context ? <strong>{context}: </strong> : null}
        {describeError(error)}
      </p>
      {retryable && onRetry ? (
        <button type="button" class="btn" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

export function Loading({ show }: { show: boolean }) {
  return show ? (
    <p class="loading" role="status">
      Loading…
    </p>
  ) : null;
}

export function fmtDate(s: string | undefined | null): string {
  if (!s) return '—';
  const d = new Date(s);
  if (isNaN(d.getTime())) return s;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/:\d\dZ$/, ' UTC');
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status.toLowerCase()}`}>{status}</span>;
}

/** A modal confirmation (native <dialog>: focus is trapped and Escape closes it). */
export function Confirm(props: {
  title: string;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: unknown;
  onConfirm: () => void;
  onCancel: () => void;
  children?: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    opener.current = document.activeElement;
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => {
      if (opener.current instanceof HTMLElement) opener.current.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="dlg-title"
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          props.onConfirm();
        }}
      >
        <h2 id="dlg-title">{props.title}</h2>
        {props.children}
        <ErrorNotice error={props.error} />
        <div class="actions">
          <button type="submit" class={props.danger ? 'btn btn-danger' : 'btn btn-primary'} disabled={props.busy}>
            {props.busy ? 'Working…' : props.confirmLabel}
          </button>
          <button type="button" class="btn" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** Moves focus to the page heading after navigation, so screen readers announce the new screen. */
export function useFocusHeading(key: string) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, [key]);
  return ref;
}
