/**
 * Two replicas tolerate no failure (f = 0, a quorum is one replica), so a view change can
 * complete inside the step that starts it: the new primary is its own quorum. The handler that
 * started it must then stop, not count the message in a view change that is already over.
 */
import { expect, test } from 'vitest';
import { checkReplicaInvariants } from '../src/index.js';
import { Drive } from './drive.js';

function restartedPrimary(): Drive {
  const drive = new Drive(2, checkReplicaInvariants);
  drive.request(0, 'c', 0, null);
  drive.deliverAll();
  drive.request(0, 'c', 1, 5);
  drive.deliverAll();
  // A primary restarted from storage cannot know what its view committed: it changes views.
  drive.crash(0);
  drive.restart(0);
  expect(drive.at(0)).toMatchObject({ status: 'view-change', viewNumber: 1 });
  return drive;
}

test.each(['start-view-change', 'do-view-change'])('the new primary of a two-replica cluster takes a %s that starts and completes its view change', (first) => {
  const drive = restartedPrimary();
  drive.deliverAll((envelope) => envelope.message.type === first);
  expect(drive.at(1)).toMatchObject({ status: 'normal', viewNumber: 1, lastNormalView: 1 });
  expect(drive.at(1).primary).not.toBeNull();
  drive.deliverAll();
  expect(drive.at(0)).toMatchObject({ status: 'normal', viewNumber: 1, primary: null });
  drive.request(1, 'c', 2, 7);
  drive.deliverAll();
  expect(drive.replies.at(-1)).toMatchObject({ type: 'reply', requestNumber: 2, result: 12 });
  expect(drive.rejects).toEqual([]);
});
