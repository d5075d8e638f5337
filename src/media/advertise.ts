/**
 * The address FreeSWITCH is told to connect back to (media.eslAdvertiseAddress). `auto` is for
 * replicas that share one configuration (docker compose up --scale): the listen address when it
 * names one, else this host's own address, the first IPv4 address of an interface that is not
 * loopback. Anything else is used as it is (empty: drachtio-fsmrf uses the listen address).
 */
import type { NetworkInterfaceInfo } from 'node:os';

export const AUTO = 'auto';

const WILDCARDS = new Set(['0.0.0.0', '::', '*', '']);

export function eslAdvertiseAddress(advertise: string, listen: string, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  if (advertise !== AUTO) return advertise;
  if (!WILDCARDS.has(listen)) return listen;
  for (const list of Object.values(interfaces)) {
    const found = list?.find((i) => i.family === 'IPv4' && !i.internal);
    if (found) return found.address;
  }
  throw new Error('media.eslAdvertiseAddress is "auto" but this host has no IPv4 address outside loopback: set the address FreeSWITCH reaches maskbridge on');
}
