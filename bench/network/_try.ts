import { networkBench } from './index.ts';
const [only, reps, imp, after] = process.argv.slice(2);
const r = await networkBench({ repetitions: Number(reps ?? 1), warmUpSeconds: 10, beforeSeconds: 10, impairedSeconds: Number(imp ?? 40), afterSeconds: Number(after ?? 30), only: only === 'all' ? undefined : only?.split(','), log: (l) => process.stderr.write(l + '\n') });
process.stdout.write(JSON.stringify(r) + '\n');
