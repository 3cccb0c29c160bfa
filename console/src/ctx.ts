import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Client } from './api/client';
import type { Access } from './roles';

export interface Ctx {
  api: Client;
  access: Access;
  apiBase: string;
  token: (forceRefresh?: boolean) => Promise<string>;
}

export const AppCtx = createContext<Ctx | null>(null);

export function useCtx(): Ctx {
  const c = useContext(AppCtx);
  if (!c) throw new Error('no app context');
  return c;
}
