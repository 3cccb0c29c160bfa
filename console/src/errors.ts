// Turning API failures into plain words shown next to what caused them.
export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  readonly status: number; // 0: the network failed
  readonly problem: Problem | undefined;
  readonly retryAfter: string | undefined;
  constructor(status: number, problem: Problem | undefined, message: string, retryAfter?: string) {
    super(message);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
  /** Lost network or a server-side failure: worth a retry banner. */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
  fieldErrors(): FieldError[] {
    return this.problem?.errors ?? [];
  }
}

const plainStatus: Record<number, string> = {
  400: 'The request was not accepted.',
  401: 'Your session has ended; sign in again.',
  403: 'Your role does not allow this.',
  404: 'It no longer exists.',
  409: 'This conflicts with the current state.',
  412: 'Someone else changed this since you loaded it.',
  413: 'The request is too large.',
  428: 'The change needs the version you edited.',
};

/** One sentence for the user: the problem's detail when the API gave one, else a plain status description. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return 'The network is unreachable: the admin API did not answer. Check your connection and retry.';
    const p = err.problem;
    const base = p?.detail?.trim() || p?.title?.trim() || plainStatus[err.status] || (err.status >= 500 ? 'The service failed to answer.' : `The request failed (${err.status}).`);
    const retry = err.status >= 500 ? (err.retryAfter ? ` Retry in ${err.retryAfter} s.` : ' Retry in a moment.') : '';
    return withStop(base) + retry;
  }
  if (err instanceof Error) return withStop(err.message);
  return 'Something went wrong.';
}

function withStop(s: string): string {
  return /[.!?]$/.test(s) ? s : s + '.';
}

/** Field errors keyed by the body's field name (API uses `a[0].b`), for showing beside each input. */
export function fieldErrorMap(err: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (err instanceof ApiError) for (const e of err.fieldErrors()) m.set(e.field, m.has(e.field) ? `${m.get(e.field)}; ${e.message}` : e.message);
  return m;
}

export async function problemFromResponse(res: Response): Promise<Problem | undefined> {
  const ct = res.headers.get('content-type') ?? '';
  if (!ct.includes('json')) return undefined;
  try {
    return (await res.clone().json()) as Problem;
  } catch {
    return undefined;
  }
}
