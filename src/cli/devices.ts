/**
 * devices.ts: `provisiond devices list`, the device inventory.
 */
import type { Argv } from 'yargs';
import type { Config } from '../config/schema';
import { adminRun, io, storeExists, table, withConfig, withStore, type Io, type Outcome } from './common';

/** registerDevices adds the `devices` command group. */
export function registerDevices(y: Argv, out: Outcome): Argv {
  return y.command('devices', 'the device inventory', (d) =>
    d
      .command(
        'list',
        'list the devices that asked for provisioning',
        (a) => withConfig(a).option('json', { type: 'boolean', default: false }),
        (a) => {
          out.pending = adminRun(a.config, (cfg) => devicesList(io(), cfg, { json: a.json }));
        },
      )
      .demandCommand(1, 'name a devices command: list'),
  );
}

/** devicesList prints the inventory. */
export function devicesList(io: Io, config: Config, opts: { json: boolean }): void {
  const list = storeExists(config) ? withStore(config, (s) => s.devices.list()) : [];
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  table(
    io,
    ['DEVICE', 'USER', 'HWADDR', 'IP', 'OS', 'BUILD', 'LAST SEEN', 'LAST OUTCOME', 'REQUESTS', 'FAILURES', 'LAST FAILURE'],
    list.map((d) => [d.key, d.username ?? '-', d.hwaddr ?? '-', d.ip, d.osname ?? '-', d.build ?? '-', d.lastSeen, d.lastOutcome, String(d.requests), String(d.failures), d.lastFailureAt === null ? '-' : `${d.lastFailureAt} ${d.lastFailure ?? ''}`.trim()]),
  );
}
