import { expect, test } from 'vitest';
import { kvMachine } from '@vsr/kv';
import { Cluster } from '../src/index.js';

test('smoke: register, write, read, view change', () => {
  const c = new Cluster({ replicaCount: 3, machine: kvMachine });
  c.request(0, 'a', 0);
  c.deliverAll();
  c.request(0, 'a', 1, { type: 'write', key: 'x', value: 'one' });
  c.deliverAll();
  c.request(0, 'a', 2, { type: 'read', key: 'x' });
  c.deliverAll();
  c.fire(0, 'heartbeat');
  c.deliverAll();
  console.log(c.describe());
  c.crash(0);
  c.fire(1, 'primary-timeout');
  c.deliverAll();
  console.log(c.describe());
  c.request(1, 'a', 3, { type: 'read', key: 'x' });
  c.deliverAll();
  console.log(c.trace.join('\n'));
  console.log(c.describe());
  expect(c.repliesTo('a').map((r) => r.reply.type)).toEqual(['reply', 'reply', 'reply', 'reply']);
});
