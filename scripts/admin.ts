/**
 * `npm run admin -- <command> [arguments] [--json] [--url URL]`: the admin API of one node from the
 * command line (docs/operations.md, "Admin CLI"). The node's address and the admin credential come
 * from the same configuration as `npm start` (SFU_CONFIG, SFU_* variables, <dataDir>/admin-token);
 * --url names another node. People get text; --json prints the answer as one JSON
 * document. Exit codes: 0 done; 1 refused (the server's code, or a broken audit chain) or not found;
 * 2 usage; 69 the node cannot be reached; 78 no credential or an invalid configuration. On failure,
 * stderr has `admin: <CODE>: <message>` (with --json, stdout also has {"error": {code, message}}).
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/config/load.ts';
import { AdminError, adminApi } from './admin/api.ts';
import { COMMANDS, type Command, type Output, type Values } from './admin/commands.ts';

const GLOBAL = { json: { type: 'boolean' }, url: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;
const EXIT: Record<string, number> = { USAGE: 2, SERVER_UNREACHABLE: 69, ADMIN_TOKEN_NOT_FOUND: 78, CONFIG_INVALID: 78 };

const line = (name: string, c: Command) => `  ${[name, ...c.positionals.map((p) => `<${p}>`), c.usage].filter(Boolean).join(' ')}`;
const usage = () => [
  'usage: npm run admin -- <command> [arguments] [--json] [--url http://host:port]',
  '',
  ...Object.entries(COMMANDS).flatMap(([name, c]) => [line(name, c), `      ${c.summary}`]),
  '',
  'The node and the credential: as `npm start` finds them (SFU_CONFIG, SFU_HTTP_HOST/PORT, SFU_ADMIN_TOKEN, else <dataDir>/admin-token).',
].join('\n');

function fail(err: AdminError, json: boolean): never {
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
  process.stderr.write(`admin: ${err.code}: ${err.message}\n`);
  if (err.code === 'USAGE') process.stderr.write(`${usage()}\n`);
  process.exit(EXIT[err.code] ?? 1);
}

/** The command's name (the first positional argument: global options may come before it) and the other arguments. */
function splitCommand(argv: string[]): { name: string | undefined; rest: string[] } {
  const { tokens } = parseArgs({ args: argv, options: GLOBAL, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  if (!first) return { name: undefined, rest: argv };
  return { name: first.value, rest: argv.filter((_, i) => i !== first.index) };
}

async function main(argv: string[]): Promise<void> {
  const { name, rest } = splitCommand(argv);
  if (name === undefined || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const command = COMMANDS[name];
  const json = rest.includes('--json');
  if (!command) fail(new AdminError('USAGE', `unknown command ${JSON.stringify(name)}`), json);
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: { ...GLOBAL, ...command.options }, allowPositionals: true, strict: true }));
  } catch (err) {
    fail(new AdminError('USAGE', (err as Error).message), json);
  }
  if (values.help) {
    process.stdout.write(`${line(name!, command)}\n      ${command.summary}\n`);
    return;
  }
  if (positionals.length !== command.positionals.length) {
    fail(new AdminError('USAGE', `${name} takes ${command.positionals.map((p) => `<${p}>`).join(' ') || 'no arguments'}`), json);
  }
  const args = Object.fromEntries(command.positionals.map((p, i) => [p, positionals[i]!]));
  let output: Output;
  try {
    const api = adminApi({ url: typeof values.url === 'string' ? values.url : undefined });
    output = await command.run(api, args, values);
  } catch (err) {
    if (err instanceof AdminError) fail(err, json);
    if (err instanceof ConfigError) fail(new AdminError(err.code, err.problems.join('; ')), json);
    throw err;
  }
  process.stdout.write(`${json ? JSON.stringify(output.data) : output.text}\n`);
  if (output.failure) {
    process.stderr.write(`admin: ${output.failure.code}: ${output.failure.message}\n`);
    process.exit(1);
  }
}

await main(process.argv.slice(2));
