import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv, readConfigFile, resolveConfig } from '../../src/config.js';
import { JochError } from '../../src/errors.js';

describe('the workers setting', () => {
  it('is 1 by default, a number or auto from the file, JOCH_WORKERS or the flag (later wins)', () => {
    expect(resolveConfig().workers).toBe(1);
    const dir = mkdtempSync(join(tmpdir(), 'joch-workers-config-'));
    writeFileSync(join(dir, 'a.yaml'), 'workers: 3\n');
    writeFileSync(join(dir, 'b.yaml'), 'workers: auto\n');
    expect(resolveConfig(readConfigFile(join(dir, 'a.yaml'))).workers).toBe(3);
    expect(resolveConfig(readConfigFile(join(dir, 'b.yaml'))).workers).toBe(Math.min(availableParallelism(), 64));
    expect(resolveConfig(readConfigFile(join(dir, 'a.yaml')), configFromEnv({ JOCH_WORKERS: '2' })).workers).toBe(2);
    expect(resolveConfig(configFromEnv({ JOCH_WORKERS: '2' }), { workers: 'auto' }).workers).toBe(Math.min(availableParallelism(), 64));
  });

  it('refuses anything else, naming the value', () => {
    for (const bad of ['0', '65', '1.5', 'two', '', '-1']) {
      expect(() => resolveConfig({ workers: bad })).toThrow(JochError);
      expect(() => resolveConfig({ workers: bad })).toThrow(`workers must be auto or a whole number from 1 to 64, not ${JSON.stringify(bad)}`);
    }
    const dir = mkdtempSync(join(tmpdir(), 'joch-workers-config-'));
    writeFileSync(join(dir, 'bad.yaml'), 'workers: many\n');
    expect(() => readConfigFile(join(dir, 'bad.yaml'))).toThrow(/bad\.yaml:1:\d+/);
  });
});
