/** The seed a test uses: `VSR_MAELSTROM_SEED` to replay one, else one from the clock. Printed by the tests. */
export function testSeed(): number {
  const text = process.env['VSR_MAELSTROM_SEED'];
  if (text === undefined || text === '') return Date.now() % 0x7fff_ffff;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`VSR_MAELSTROM_SEED: expected an integer, got ${JSON.stringify(text)}`);
  return seed;
}
